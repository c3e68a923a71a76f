import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/app.js';
import { ApprovalBroker } from '../../src/approvals/broker.js';
import type { ApprovalJson, GrantJson } from '../../src/approvals/view.js';
import { parseConfig } from '../../src/core/config.js';
import type { Logger } from '../../src/core/log.js';
import { startDevIssuer, type DevIssuer } from '../../src/identity/dev-issuer.js';
import { TokenVerifier } from '../../src/identity/verifier.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { input } from '../support/approvals.js';
import { AUDIENCE, CLIENTS } from '../support/gateway-fixture.js';

/**
 * The reviewers' API through fastify.inject(), with real tokens from a real OIDC provider verified
 * by the gateway's own TokenVerifier, and a real broker over a SQLite ledger.
 */

// the same issuer audience and clients (with their groups) as the gateway tests

let dir: string;
let idp: DevIssuer;
let ledger: SqliteLedger;
let broker: ApprovalBroker;
let app: FastifyInstance;
let verifier: TokenVerifier;
const tokens: Record<string, string> = {};
const logLines: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-api-'));
  idp = await startDevIssuer({ audience: AUDIENCE, clients: CLIENTS, ciJobClaim: 'ci_job_id' });
  const config = parseConfig({ identity: { issuer: idp.issuer, audience: AUDIENCE, ciJobClaim: 'ci_job_id' }, ledger: { sqlite: './ledger.db' }, listeners: {} });
  const log: Logger = pino({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, cb) => (logLines.push(c.toString()), cb()) }));
  verifier = new TokenVerifier(config.identity, log);
  ledger = new SqliteLedger(join(dir, 'ledger.db'));
  broker = new ApprovalBroker({ ledger, log });
  app = buildApi({ broker, verifier, log });
  await app.ready();
  for (const c of CLIENTS) tokens[c.clientId] = await idp.token(c.clientId);
});

afterAll(async () => {
  await app?.close();
  await broker?.close();
  await ledger?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

const auth = (client: string) => ({ authorization: `Bearer ${tokens[client]}` });

async function held(over: Parameters<typeof input>[0] = {}) {
  const requester = over.requester ?? (await verifier.verify(tokens['ci-agent']!));
  return broker.request(input({ ...over, requester }));
}

describe('approvals API', () => {
  it('health needs no token; everything else answers 401 with the token error as detail', async () => {
    expect((await app.inject({ url: '/api/health' })).json()).toEqual({ status: 'ok' });

    const none = await app.inject({ url: '/api/approvals' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="gatehouse"');
    expect(none.json()).toMatchObject({ error: { code: 'GH_ERR_UNAUTHENTICATED', detail: 'GH_ERR_TOKEN_MISSING', message: expect.stringContaining('Bearer') } });

    const basic = await app.inject({ url: '/api/approvals', headers: { authorization: 'Basic Zm9vOmJhcg==' } });
    expect(basic.json()).toMatchObject({ error: { code: 'GH_ERR_UNAUTHENTICATED', detail: 'GH_ERR_TOKEN_MISSING' } });

    const garbage = await app.inject({ url: '/api/approvals', headers: { authorization: 'Bearer not-a-jwt' } });
    expect(garbage.statusCode).toBe(401);
    expect(garbage.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(garbage.json()).toMatchObject({ error: { code: 'GH_ERR_UNAUTHENTICATED', detail: 'GH_ERR_TOKEN_MALFORMED' } });

    const other = await idp.token('dba-alice', { resource: 'api://something-else' });
    const wrongAudience = await app.inject({ method: 'POST', url: '/api/approvals/ap_x/approve', headers: { authorization: `Bearer ${other}` }, payload: {} });
    expect(wrongAudience.statusCode).toBe(401);
    expect(wrongAudience.json()).toMatchObject({ error: { code: 'GH_ERR_UNAUTHENTICATED', detail: 'GH_ERR_TOKEN_AUDIENCE' } });

    // altered signature: a real token with its payload swapped
    const [h, , s] = tokens['intern-bot']!.split('.');
    const [, p] = tokens['dba-alice']!.split('.');
    const forged = await app.inject({ url: '/api/approvals', headers: { authorization: `Bearer ${h}.${p}.${s}` } });
    expect(forged.json()).toMatchObject({ error: { detail: 'GH_ERR_TOKEN_SIGNATURE' } });
  });

  it('any authenticated principal lists and shows requests; unknown ids are 404', async () => {
    const { approval } = await held();
    const list = await app.inject({ url: '/api/approvals', headers: auth('intern-bot') });
    expect(list.statusCode).toBe(200);
    const approvals = (list.json() as { approvals: ApprovalJson[] }).approvals;
    expect(approvals.map((a) => a.id)).toContain(approval.id);
    expect(approvals.find((a) => a.id === approval.id)).toMatchObject({
      state: 'pending', connection: 'orders', requester: { subject: 'ci-agent', ciJob: '4711' }, text: 'DELETE FROM orders WHERE id = 1', decision: null,
      requestedAtIso: expect.stringMatching(/Z$/), expiresAtIso: expect.stringMatching(/Z$/),
    });
    expect(list.headers['cache-control']).toBe('no-store');

    const show = await app.inject({ url: `/api/approvals/${approval.id}`, headers: auth('ci-agent') });
    expect(show.json()).toMatchObject({ approval: { id: approval.id, policy: 'prod-deletes', reviewers: ['dba'] } });

    const missing = await app.inject({ url: '/api/approvals/ap_nosuchapproval', headers: auth('dba-alice') });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: { code: 'GH_ERR_APPROVAL_NOT_FOUND' } });
    await app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/deny`, headers: auth('dba-alice'), payload: {} });
  });

  it('a reviewer-group member approves: the held statement is released, and a second decision is 409', async () => {
    const { approval, outcome } = await held();
    const res = await app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/approve`, headers: auth('dba-alice'), payload: { reason: 'ticket OPS-7' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ approval: { id: approval.id, state: 'approved', decision: { by: 'reviewer', reviewer: { subject: 'dba-alice' }, reason: 'ticket OPS-7', scope: { kind: 'once' } } } });
    expect(await outcome).toMatchObject({ decision: 'approved', by: 'reviewer', reviewer: { subject: 'dba-alice', groups: ['dba', 'staff'] } });

    const again = await app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/deny`, headers: auth('dba-bob'), payload: { reason: 'too late' } });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'GH_ERR_APPROVAL_DECIDED' } });

    // decided requests drop out of the default list but show with ?state=all
    const pending = (await app.inject({ url: '/api/approvals', headers: auth('dba-bob') })).json() as { approvals: ApprovalJson[] };
    expect(pending.approvals.map((a) => a.id)).not.toContain(approval.id);
    const all = (await app.inject({ url: '/api/approvals?state=all', headers: auth('dba-bob') })).json() as { approvals: ApprovalJson[] };
    expect(all.approvals.find((a) => a.id === approval.id)).toMatchObject({ state: 'approved', decision: { decidedAtIso: expect.stringMatching(/Z$/) } });
  });

  it('403 for a principal outside the reviewer groups and for self-approval; a denial releases the waiter as denied', async () => {
    const { approval, outcome } = await held();
    const intern = await app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/approve`, headers: auth('intern-bot'), payload: {} });
    expect(intern.statusCode).toBe(403);
    expect(intern.json()).toMatchObject({ error: { code: 'GH_ERR_APPROVAL_FORBIDDEN', message: expect.stringContaining('dba') } });

    // alice asks for something herself: she may not approve it, bob may deny it
    const own = await held({ requester: await verifier.verify(tokens['dba-alice']!) });
    const self = await app.inject({ method: 'POST', url: `/api/approvals/${own.approval.id}/approve`, headers: auth('dba-alice'), payload: {} });
    expect(self.statusCode).toBe(403);
    expect(self.json()).toMatchObject({ error: { code: 'GH_ERR_APPROVAL_FORBIDDEN', message: expect.stringContaining('own') } });
    expect((await app.inject({ method: 'POST', url: `/api/approvals/${own.approval.id}/deny`, headers: auth('dba-bob') })).statusCode).toBe(200);
    expect(await own.outcome).toMatchObject({ decision: 'denied', reviewer: { subject: 'dba-bob' } });

    const deny = await app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/deny`, headers: auth('dba-bob'), payload: { reason: 'use the archive job' } });
    expect(deny.statusCode).toBe(200);
    expect(await outcome).toMatchObject({ decision: 'denied', by: 'reviewer', reason: 'use the archive job' });
  });

  it('approve with a grant: later statements of the same shape pass without review; grants are listed', async () => {
    const { approval } = await held({ shape: 'fp-grant-test' });
    const res = await app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/approve`, headers: auth('dba-bob'), payload: { grant: '30m' } });
    expect(res.statusCode).toBe(200);
    const decision = (res.json() as { approval: ApprovalJson }).approval.decision!;
    expect(decision.scope).toMatchObject({ kind: 'grant', grantId: `gr_${approval.id.slice(3)}` });
    expect(decision.scope.kind === 'grant' && decision.scope.until - decision.decidedAt).toBe(30 * 60_000_000);

    const grants = (await app.inject({ url: '/api/grants', headers: auth('ci-agent') })).json() as { grants: GrantJson[] };
    expect(grants.grants).toEqual([expect.objectContaining({ approvalId: approval.id, subject: 'ci-agent', connection: 'orders', shape: 'fp-grant-test', grantedBy: 'dba-bob', untilIso: expect.stringMatching(/Z$/) })]);
    const next = await held({ shape: 'fp-grant-test', text: 'DELETE FROM orders WHERE id = 99' });
    expect(await next.outcome).toMatchObject({ decision: 'approved', by: 'grant' });
  });

  it('refuses bad bodies with 400 (and oversized ones with 413) before deciding anything', async () => {
    const { approval } = await held();
    const post = (payload: string | object, headers: Record<string, string> = {}) =>
      app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/approve`, headers: { ...auth('dba-alice'), 'content-type': 'application/json', ...headers }, payload });
    const badGrant = await post({ grant: 'forever' });
    expect(badGrant.statusCode).toBe(400);
    expect(badGrant.json()).toMatchObject({ error: { code: 'GH_ERR_USAGE', message: expect.stringContaining('grant') } });
    const tooLong = await post({ grant: '48h' });
    expect(tooLong.json()).toMatchObject({ error: { code: 'GH_ERR_USAGE', message: expect.stringContaining('24 h') } });
    expect((await post({ reason: 'ok', approve: false })).json()).toMatchObject({ error: { code: 'GH_ERR_USAGE', message: expect.stringContaining('approve') } });
    expect((await post({ reason: 42 })).statusCode).toBe(400);
    expect((await post('{"reason": ')).json()).toMatchObject({ error: { code: 'GH_ERR_USAGE' } });
    const huge = await post({ reason: 'x'.repeat(20_000) });
    expect(huge.statusCode).toBe(413);
    expect(huge.json()).toMatchObject({ error: { code: 'GH_ERR_USAGE' } });
    expect((await app.inject({ url: '/api/approvals?state=everything', headers: auth('dba-alice') })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/nothing-here', headers: auth('dba-alice') })).statusCode).toBe(404);
    expect(broker.get(approval.id)?.state).toBe('pending');
  });

  it('never logs a token or the Authorization header', async () => {
    const text = logLines.join('');
    expect(text).toContain('api request');
    for (const t of Object.values(tokens)) expect(text).not.toContain(t.split('.')[2]!);
    expect(text.toLowerCase()).not.toContain('bearer ey');
  });
});
