import { describe, expect, it } from 'vitest';
import {
  PathError, hostName, isTextual, recordedHeaders, recordedQuery, selectConnection, upstreamPath, withoutHopByHop,
} from '../../../src/protocols/http/request-parts.js';
import type { HttpConnectionConfig } from '../../../src/core/config.js';

const conn = (name: string, hosts: string[] = []): HttpConnectionConfig => ({
  name, type: 'http', url: 'http://upstream/api', hosts, credential: { type: 'none' }, groups: ['g'], recordHeaders: [], timeout: 1000,
});

describe('upstream path', () => {
  it('joins the base path and the agent path', () => {
    expect(upstreamPath('/api', '/v1/items')).toEqual({ raw: '/api/v1/items', decoded: '/api/v1/items' });
    expect(upstreamPath('/api/', '/v1/')).toEqual({ raw: '/api/v1/', decoded: '/api/v1/' });
    expect(upstreamPath('/', '')).toEqual({ raw: '/', decoded: '/' });
    expect(upstreamPath('/api', '')).toEqual({ raw: '/api', decoded: '/api' });
  });
  it('removes dot segments (also percent-encoded) within the agent part', () => {
    expect(upstreamPath('/api', '/a/./b/../c').raw).toBe('/api/a/c');
    expect(upstreamPath('/api', '/a/%2e%2E/c').raw).toBe('/api/c');
    expect(upstreamPath('/api', '/a/b/..').raw).toBe('/api/a/');
    expect(upstreamPath('/api', '/a/.').raw).toBe('/api/a/');
  });
  it('refuses to climb above the base path', () => {
    expect(() => upstreamPath('/api', '/../admin')).toThrow(PathError);
    expect(() => upstreamPath('/api', '/a/../../admin')).toThrow(PathError);
    expect(() => upstreamPath('/api', '/%2e%2e/admin')).toThrow(PathError);
    expect(() => upstreamPath('/api', '/.%2E/admin')).toThrow(PathError);
    expect(() => upstreamPath('/api', '/a\\..\\..\\b')).toThrow(PathError);
  });
  it('percent-decodes for policy only, and refuses malformed escapes', () => {
    expect(upstreamPath('/api', '/users/j%C3%BCrgen/a%2Fb')).toEqual({ raw: '/api/users/j%C3%BCrgen/a%2Fb', decoded: '/api/users/jürgen/a/b' });
    expect(() => upstreamPath('/api', '/bad%zz')).toThrow(PathError);
    expect(() => upstreamPath('/api', '/nul%00')).toThrow(PathError);
  });
});

describe('connection selection', () => {
  const cs = [conn('api', ['API.example.com']), conn('other')];
  it('takes the Host header first (port ignored, any case)', () => {
    expect(selectConnection(cs, 'api.EXAMPLE.com:8443', '/c/other/x')).toEqual({ name: 'api', rest: '/c/other/x', by: 'host' });
  });
  it('else the /c/<name> prefix, stripped', () => {
    expect(selectConnection(cs, '127.0.0.1:8443', '/c/other/v1/x')).toEqual({ name: 'other', rest: '/v1/x', by: 'path' });
    expect(selectConnection(cs, '127.0.0.1', '/c/other')).toEqual({ name: 'other', rest: '', by: 'path' });
    expect(selectConnection(cs, undefined, '/v1/x')).toEqual({ name: null, rest: '/v1/x', by: null });
    expect(selectConnection(cs, undefined, '/c//x').name).toBeNull();
  });
  it('host names', () => {
    expect(hostName('[::1]:8443')).toBe('[::1]');
    expect(hostName('Example.COM')).toBe('example.com');
    expect(hostName(undefined)).toBeNull();
  });
});

describe('recorded query', () => {
  it('masks secret-looking parameter values and keeps the rest', () => {
    expect(recordedQuery('?q=shoes&access_token=abc&api_key=k&X-Amz-Signature=s&page=2&page=3&sessionid=x&Password=p&sig=1')).toEqual({
      q: 'shoes', access_token: '****', api_key: '****', 'X-Amz-Signature': '****', page: ['2', '3'], sessionid: '****', Password: '****', sig: '****',
    });
    expect(recordedQuery('')).toEqual({});
    expect(recordedQuery('?a=%20b+c')).toEqual({ a: ' b c' });
  });
});

describe('hop-by-hop headers', () => {
  it('removes RFC 9110 connection-specific fields and those Connection lists', () => {
    const out = withoutHopByHop({
      connection: 'keep-alive, X-Custom-Hop', 'keep-alive': 'timeout=5', 'x-custom-hop': '1', te: 'trailers', trailer: 'x', 'transfer-encoding': 'chunked',
      upgrade: 'websocket', 'proxy-authorization': 'Basic x', 'proxy-authenticate': 'Basic', 'proxy-connection': 'keep-alive', 'content-type': 'text/plain', 'x-keep': ['a', 'b'],
      'x-undefined': undefined,
    });
    expect(out).toEqual({ 'content-type': 'text/plain', 'x-keep': ['a', 'b'] });
  });
});

describe('recorded headers', () => {
  it('keeps only the listed ones, never credentials or cookies', () => {
    const h = { 'content-type': 'application/json', authorization: 'Bearer t', cookie: 'a=b', 'x-api-key': 'k', accept: ['a', 'b'], 'x-other': 'o' };
    expect(recordedHeaders(h, ['Content-Type', 'authorization', 'cookie', 'x-api-key', 'accept'], 'X-Api-Key')).toEqual({ 'content-type': 'application/json', accept: 'a, b' });
  });
});

describe('textual content types', () => {
  it.each([
    ['text/plain; charset=utf-8', true], ['application/json', true], ['application/problem+json', true], ['application/xml', true], ['image/svg+xml', true],
    ['application/x-www-form-urlencoded', true], ['application/octet-stream', false], ['image/png', false], [undefined, false], ['APPLICATION/JSON', true],
  ])('%s → %s', (t, want) => expect(isTextual(t)).toBe(want));
});
