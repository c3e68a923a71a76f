import { describe, expect, it } from 'vitest';
import { apiBaseUrl, approveHint, reviewCommands } from '../../../src/approvals/review-commands.js';
import { parseConfig } from '../../../src/core/config.js';
import { GatehouseError } from '../../../src/core/errors.js';

/** listeners.api and approvals: defaults that keep older configs valid, strict validation, the derived URL. */

const BASE = { identity: { issuer: 'https://idp.example', audience: 'api://gatehouse' }, ledger: { sqlite: './l.db' }, listeners: {} };

function refused(raw: unknown): string {
  try {
    parseConfig(raw, 'gatehouse.yaml');
  } catch (e) {
    if (e instanceof GatehouseError) return e.message;
    throw e;
  }
  throw new Error('config was accepted');
}

describe('approvals configuration', () => {
  it('a config without them stays valid: no API, no webhook', () => {
    const c = parseConfig(BASE);
    expect(c.listeners.api).toBeUndefined();
    expect(c.approvals).toEqual({});
    expect(apiBaseUrl(c)).toBeNull();
    expect(reviewCommands('ap_x', null).approve).toBe('gatehouse approvals approve ap_x');
  });

  it('applies the defaults of listeners.api and approvals.webhook', () => {
    const c = parseConfig({ ...BASE, listeners: { api: {} }, approvals: { webhook: { url: 'https://hooks.slack.com/services/T/B/x' } } });
    expect(c.listeners.api).toEqual({ host: '127.0.0.1', port: 8480 });
    expect(c.approvals.webhook).toEqual({ url: 'https://hooks.slack.com/services/T/B/x', format: 'json', timeout: 5_000 });
    expect(apiBaseUrl(c)).toBe('http://127.0.0.1:8480');
  });

  it('derives the API URL from the listener (https with TLS, loopback for "any"), or takes approvals.url', () => {
    const at = (api: object, approvals: object = {}) => apiBaseUrl(parseConfig({ ...BASE, listeners: { api }, approvals }));
    expect(at({ host: '0.0.0.0', port: 9000, tls: { selfSigned: true } })).toBe('https://127.0.0.1:9000');
    expect(at({ host: '::' })).toBe('http://[::1]:8480');
    expect(at({ host: 'gh.internal', tls: { cert: 'c.pem', key: 'k.pem' } })).toBe('https://gh.internal:8480');
    expect(at({}, { url: 'https://gatehouse.example.com/' })).toBe('https://gatehouse.example.com');
    expect(approveHint('https://gatehouse.example.com')('ap_abc')).toBe('a reviewer runs: gatehouse approvals approve ap_abc --url https://gatehouse.example.com');
  });

  it('names the key of a bad value', () => {
    expect(refused({ ...BASE, approvals: { webhook: { url: 'not a url' } } })).toContain('approvals.webhook.url');
    expect(refused({ ...BASE, approvals: { webhook: { url: 'https://h.example', format: 'teams' } } })).toContain('approvals.webhook.format');
    expect(refused({ ...BASE, approvals: { webhook: { url: 'https://h.example', secret: 'short' } } })).toContain('approvals.webhook.secret');
    expect(refused({ ...BASE, approvals: { webhook: { url: 'https://h.example', timeout: 'soon' } } })).toContain('approvals.webhook.timeout');
    expect(refused({ ...BASE, approvals: { hook: {} } })).toContain('approvals');
    expect(refused({ ...BASE, listeners: { api: { port: 70000 } } })).toContain('listeners.api.port');
    expect(refused({ ...BASE, listeners: { api: { tls: { selfSigned: false } } } })).toContain('listeners.api.tls');
  });
});
