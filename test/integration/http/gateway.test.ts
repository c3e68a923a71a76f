import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { AuditEvent, HttpRequestEvent, HttpResponseEvent } from '../../../src/core/events.js';
import type { LedgerRecord } from '../../../src/ledger/ledger.js';
import { renderText } from '../../../src/report/render-text.js';
import { buildSessionReport } from '../../../src/report/session-report.js';
import { principal } from '../../support/approvals.js';
import { UPSTREAM_API_KEY, UPSTREAM_BEARER, UPSTREAM_PASSWORD, startHttpEnv, type HttpEnv } from '../../support/http-env.js';

let env: HttpEnv;
let agent: string;

beforeAll(async () => {
  env = await startHttpEnv();
  agent = await env.token('ci-agent');
});
afterAll(async () => env?.dispose());

const ofType = <T extends AuditEvent['type']>(rs: LedgerRecord[], t: T) =>
  rs.filter((r) => r.event.type === t).map((r) => r.event as Extract<AuditEvent, { type: T }>);

const secrets = [UPSTREAM_BEARER, UPSTREAM_PASSWORD, UPSTREAM_API_KEY, Buffer.from(`svc:${UPSTREAM_PASSWORD}`).toString('base64')];

describe('HTTP gateway: forwarding', () => {
  it('GET through /c/<name>/ with curl: the upstream sees the gateway\'s bearer, never the agent\'s token', async () => {
    const r = await env.curl(['-i', '-H', `Authorization: Bearer ${agent}`, '-H', 'Connection: close, X-Agent-Hop', '-H', 'X-Agent-Hop: 1', '-H', 'TE: trailers',
      `${env.url}/c/api/v1/items?q=shoes&access_token=leaky&page=2`]);
    expect(r.code, r.stderr).toBe(0);
    const [head, body] = r.stdout.split('\r\n\r\n') as [string, string];
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    const echoed = JSON.parse(body) as { url: string; headers: Record<string, string> };
    expect(echoed.url).toBe('/api/v1/items?q=shoes&access_token=leaky&page=2');
    expect(echoed.headers.authorization).toBe(`Bearer ${UPSTREAM_BEARER}`);
    expect(echoed.headers.host).toBe(`127.0.0.1:${env.upstreamPort}`);
    expect(echoed.headers['x-agent-hop']).toBeUndefined();
    expect(echoed.headers.te).toBeUndefined();
    expect(JSON.stringify(echoed)).not.toContain(agent);
    // response hop-by-hop headers dropped, others kept
    expect(head.toLowerCase()).not.toContain('x-upstream-hop');
    expect(head.toLowerCase()).not.toContain('keep-alive: timeout=5');
    expect(head.toLowerCase()).toContain('x-upstream-plain: passes');
    const rs = await env.sessionRecords('ci-agent', 'api');
    expect(rs.map((x) => x.event.type)).toEqual(['session.start', 'http.request', 'http.response', 'session.end']);
    const start = ofType(rs, 'session.start')[0]!;
    expect(start).toMatchObject({ protocol: 'http', connection: 'api', upstream: { host: '127.0.0.1', port: env.upstreamPort, database: null, user: 'bearer', tls: false } });
    const req = ofType(rs, 'http.request')[0]!;
    expect(req).toMatchObject({ method: 'GET', path: '/api/v1/items', query: { q: 'shoes', access_token: '****', page: '2' } });
    expect(req.headers['user-agent']).toMatch(/^curl\//);
    expect(req.headers.authorization).toBeUndefined();
    const res = ofType(rs, 'http.response')[0]!;
    expect(res).toMatchObject({ requestSeq: rs[1]!.seq, status: 'ok', statusCode: 200, headers: { 'content-type': 'application/json', 'x-request-id': 'req-123' }, error: null });
    // the upstream echoes the credential: the recorded sample has it scrubbed
    expect(res.responseBody.sample).toBe(body.replace(UPSTREAM_BEARER, '****'));
    expect(JSON.stringify(req)).not.toContain('leaky');
    const text = JSON.stringify(rs);
    for (const s of [...secrets, agent]) expect(text).not.toContain(s);
    // the session report names the request and its outcome
    const [summary] = await env.gateway.ledger.listSessions({ identity: 'ci-agent', connection: 'api', limit: 1 });
    const report = renderText(buildSessionReport(summary!, rs));
    expect(report).toContain('http.request  GET /api/v1/items?access_token=****&page=2&q=shoes');
    expect(report).toMatch(/upstream +127\.0\.0\.1:\d+ \(credential bearer\)/);
    expect(report).toMatch(new RegExp(`response to #${rs[1]!.seq}: status 200, request body 0 bytes`));
    expect(report).not.toContain('payload removed');
  });

  it('selects the connection by Host (port ignored, any case), and the whole path is the agent\'s', async () => {
    const r = await env.curl(['-H', `Authorization: Bearer ${agent}`, '-H', 'Host: api.INTERNAL.test:8443', `${env.url}/v1/things`]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { url: string }).url).toBe('/api/v1/things');
  });

  it('injects basic and header credentials; the credential header is not recorded even when listed', async () => {
    const b = await request(`${env.url}/c/basic-api/x`, { headers: { authorization: `Bearer ${agent}` } });
    const bj = (await b.body.json()) as { headers: Record<string, string> };
    expect(bj.headers.authorization).toBe(`Basic ${Buffer.from(`svc:${UPSTREAM_PASSWORD}`).toString('base64')}`);
    const k = await request(`${env.url}/c/key-api/y`, { headers: { authorization: `Bearer ${agent}`, 'x-api-key': 'agent-tries-its-own' } });
    const kj = (await k.body.json()) as { headers: Record<string, string> };
    expect(kj.headers['x-api-key']).toBe(UPSTREAM_API_KEY);
    expect(kj.headers.authorization).toBeUndefined();
    const rs = await env.sessionRecords('ci-agent', 'key-api');
    expect(ofType(rs, 'http.request')[0]!.headers['x-api-key']).toBeUndefined();
    expect(ofType(rs, 'session.start')[0]!.upstream.user).toBe('header');
  });

  it('reaches an https upstream with a private CA (the connection\'s ca)', async () => {
    const r = await request(`${env.url}/c/secure-api/status`, { headers: { authorization: `Bearer ${agent}` } });
    expect(r.statusCode).toBe(200);
    const j = (await r.body.json()) as { url: string; headers: Record<string, string> };
    expect(j.url).toBe('/v2/status');
    expect(j.headers.authorization).toBe(`Bearer ${UPSTREAM_BEARER}`);
    const rs = await env.sessionRecords('ci-agent', 'secure-api');
    expect(ofType(rs, 'session.start')[0]!.upstream.tls).toBe(true);
  });

  it('refuses a path that climbs above the base path with 400, without forwarding', async () => {
    const before = env.seen.length;
    const r = await env.curl(['--path-as-is', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${agent}`, `${env.url}/c/api/v1/../../admin`]);
    expect(r.stdout.trim().split('\n').pop()).toBe('400');
    expect(JSON.parse(r.stdout.trim().split('\n')[0]!)).toMatchObject({ error: { code: 'GH_ERR_PROTOCOL' } });
    expect(env.seen.length).toBe(before);
  });
});

describe('HTTP gateway: refusals', () => {
  it('no token: 401 with WWW-Authenticate, recorded as auth.denied (before the connection is looked at)', async () => {
    const r = await request(`${env.url}/c/no-such/x`);
    expect(r.statusCode).toBe(401);
    expect(r.headers['www-authenticate']).toMatch(/^Bearer realm="gatehouse", error="invalid_token", error_description="no token was given/);
    expect(await r.body.json()).toMatchObject({ error: { code: 'GH_ERR_TOKEN_MISSING' } });
    const denied = (await env.allRecords()).map((x) => x.event).filter((e) => e.type === 'auth.denied' && e.code === 'GH_ERR_TOKEN_MISSING');
    expect(denied.at(-1)).toMatchObject({ protocol: 'http', connection: 'no-such', identity: null });
  });

  it('a bad token: 401 and auth.denied with the token only hashed', async () => {
    const forged = `${agent.slice(0, -6)}AAAAAA`;
    const r = await env.curl(['-i', '-H', `Authorization: Bearer ${forged}`, `${env.url}/c/api/x`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 401/);
    expect(r.stdout.toLowerCase()).toContain('www-authenticate: bearer realm="gatehouse", error="invalid_token"');
    const all = await env.allRecords();
    const denied = all.map((x) => x.event).filter((e) => e.type === 'auth.denied' && e.code === 'GH_ERR_TOKEN_SIGNATURE');
    expect(denied.length).toBeGreaterThan(0);
    expect(JSON.stringify(all)).not.toContain(forged);
    expect(env.logText()).not.toContain(forged);
  });

  it('an unknown connection: 404 JSON, recorded', async () => {
    const r = await request(`${env.url}/c/no-such/x`, { headers: { authorization: `Bearer ${agent}` } });
    expect(r.statusCode).toBe(404);
    expect(await r.body.json()).toMatchObject({ error: { code: 'GH_ERR_CONNECTION_UNKNOWN' } });
    const r2 = await request(`${env.url}/nowhere`, { headers: { authorization: `Bearer ${agent}` } });
    expect(r2.statusCode).toBe(404);
    await r2.body.dump();
    const denied = (await env.allRecords()).map((x) => x.event).filter((e) => e.type === 'auth.denied' && e.code === 'GH_ERR_CONNECTION_UNKNOWN');
    expect(denied.at(-2)).toMatchObject({ protocol: 'http', connection: 'no-such', identity: { subject: 'ci-agent' } });
  });

  it('a group not mapped to the connection: 403, recorded, not forwarded', async () => {
    const before = env.seen.length;
    const r = await request(`${env.url}/c/dba-api/x`, { headers: { authorization: `Bearer ${agent}` } });
    expect(r.statusCode).toBe(403);
    expect(await r.body.json()).toMatchObject({ error: { code: 'GH_ERR_ACCESS_DENIED' } });
    expect(env.seen.length).toBe(before);
    const denied = (await env.allRecords()).map((x) => x.event).filter((e) => e.type === 'auth.denied' && e.code === 'GH_ERR_ACCESS_DENIED');
    expect(denied.at(-1)).toMatchObject({ connection: 'dba-api', identity: { subject: 'ci-agent' } });
  });
});

describe('HTTP gateway: refusals of requests with bodies', () => {
  it('an agent still sending a large body reads its refusal (no reset): 401, 403 unmapped, 403 blocked', async () => {
    const big = () => Buffer.alloc(5 * 1024 * 1024, 0x61);
    const noToken = await request(`${env.url}/c/api/x`, { method: 'POST', body: big() });
    expect(noToken.statusCode).toBe(401);
    await noToken.body.dump();
    const unmapped = await request(`${env.url}/c/dba-api/x`, { method: 'POST', headers: { authorization: `Bearer ${agent}` }, body: big() });
    expect(unmapped.statusCode).toBe(403);
    await unmapped.body.dump();
    const blocked = await request(`${env.url}/c/api/items/7`, { method: 'DELETE', headers: { authorization: `Bearer ${agent}` }, body: big() });
    expect(blocked.statusCode).toBe(403);
    expect(await blocked.body.json()).toMatchObject({ error: { code: 'GH_ERR_POLICY_BLOCKED' } });
  });
});

describe('HTTP gateway: policy', () => {
  it('a blocked request: 403 with the rule\'s reason, recorded, and the upstream never saw it', async () => {
    const r = await env.curl(['-X', 'DELETE', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${agent}`, `${env.url}/c/api/items/%34%32`]);
    const [body, code] = r.stdout.split('\n') as [string, string];
    expect(code).toBe('403');
    expect(JSON.parse(body)).toEqual({ error: { code: 'GH_ERR_POLICY_BLOCKED', message: 'blocked by policy "no-deletes": items are not deleted by agents' } });
    expect(env.seen.some((s) => s.method === 'DELETE')).toBe(false);
    const rs = await env.sessionRecords('ci-agent', 'api');
    expect(ofType(rs, 'http.request')[0]).toMatchObject({ method: 'DELETE', path: '/api/items/%34%32', decision: { action: 'block', policy: 'no-deletes' } });
    expect(ofType(rs, 'http.response')[0]).toMatchObject({ status: 'blocked', statusCode: null });
  });

  it('a request held for review is forwarded once a reviewer approves it', async () => {
    const pending = request(`${env.url}/c/api/deploy/prod`, {
      method: 'POST', headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' }, body: '{"version":"1.2.3"}',
    });
    let id: string | undefined;
    for (let i = 0; i < 400 && !id; i++) {
      id = env.gateway.approvals.list().find((a) => a.connection === 'api' && a.state === 'pending')?.id;
      if (!id) await new Promise((r) => setTimeout(r, 10));
    }
    expect(id).toBeDefined();
    expect(env.seen.some((s) => s.url === '/api/deploy/prod')).toBe(false);
    await env.gateway.approvals.decide(id!, principal('dba-alice', ['dba']), { approve: true });
    const r = await pending;
    expect(r.statusCode).toBe(200);
    const j = (await r.body.json()) as { bodyBytes: number; method: string };
    expect(j).toMatchObject({ method: 'POST', bodyBytes: 19 });
    const rs = await env.sessionRecords('ci-agent', 'api');
    expect(rs.map((x) => x.event.type)).toEqual(['session.start', 'http.request', 'approval.requested', 'approval.decided', 'http.response', 'session.end']);
    expect(ofType(rs, 'http.request')[0]!.decision).toMatchObject({ action: 'review', policy: 'deploys-reviewed', approvalId: id });
    const res = ofType(rs, 'http.response')[0]! as HttpResponseEvent;
    expect(res.requestBody).toMatchObject({ bytes: 19, sample: '{"version":"1.2.3"}' });
  });

  it('a denied review: 403 GH_ERR_APPROVAL_DENIED, never forwarded', async () => {
    const pending = request(`${env.url}/c/api/deploy/staging`, { method: 'POST', headers: { authorization: `Bearer ${agent}` }, body: 'x' });
    let id: string | undefined;
    for (let i = 0; i < 400 && !id; i++) {
      id = env.gateway.approvals.list().find((a) => a.connection === 'api' && a.state === 'pending')?.id;
      if (!id) await new Promise((r) => setTimeout(r, 10));
    }
    await env.gateway.approvals.decide(id!, principal('dba-alice', ['dba']), { approve: false, reason: 'not today' });
    const r = await pending;
    expect(r.statusCode).toBe(403);
    expect(await r.body.json()).toMatchObject({ error: { code: 'GH_ERR_APPROVAL_DENIED', message: expect.stringContaining('denied by dba-alice: not today') } });
    expect(env.seen.some((s) => s.url === '/api/deploy/staging')).toBe(false);
    const req = ofType(await env.sessionRecords('ci-agent', 'api'), 'http.request')[0] as HttpRequestEvent;
    expect(req.path).toBe('/api/deploy/staging');
  });

  it('the credential is in no log line', () => {
    const log = env.logText();
    for (const s of [...secrets, agent]) expect(log).not.toContain(s);
  });
});
