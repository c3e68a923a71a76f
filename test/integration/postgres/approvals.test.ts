import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import postgres from 'postgres';
import type { ApprovalDecidedEvent, ApprovalRequestedEvent, AuditEvent, PgResultEvent } from '../../../src/core/events.js';
import { TokenVerifier } from '../../../src/identity/verifier.js';
import type { Principal } from '../../../src/identity/principal.js';
import { cli, endedSession, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';

/**
 * Held statements end to end: a real client waits on a review rule, reviewers with real OIDC
 * tokens decide through the gateway's broker, and the ledger shows request, decision and reviewer.
 */

let env: GatewayEnv;
let verifier: TokenVerifier;
beforeAll(async () => {
  env = await startEnv({
    config: {
      policies: [
        { name: 'review-customer-writes', match: { statement: ['update', 'delete'], tables: ['customers'] }, action: 'review', reviewers: ['dba'], timeout: '30s' },
        { name: 'review-quick', match: { text: 'quick_timeout_probe' }, action: 'review', reviewers: ['dba'], timeout: '300ms' },
      ],
    },
  });
  verifier = new TokenVerifier(env.loaded.config.identity);
});
afterAll(async () => env?.dispose());

type PgError = Error & { code?: string };

const principal = async (clientId: string): Promise<Principal> => verifier.verify(await env.token(clientId));

/** A node-postgres client, and the approval ids announced to it by NOTICE, as they come. */
async function client(clientId = 'ci-agent') {
  const c = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: await env.token(clientId) });
  c.on('error', () => undefined);
  const waiting: Array<(id: string) => void> = [];
  const notices: string[] = [];
  c.on('notice', (n) => {
    notices.push(n.message ?? '');
    const id = /approval id (ap_[a-z0-9]+)/.exec(n.message ?? '')?.[1];
    if (id) waiting.shift()?.(id);
  });
  await c.connect();
  return { c, notices, nextApproval: () => new Promise<string>((resolve) => waiting.push(resolve)) };
}

async function events(): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const r of env.gateway.ledger.scan()) out.push(JSON.parse(r.payload) as AuditEvent);
  return out;
}

const decidedFor = (all: AuditEvent[], id: string) => all.find((e): e is ApprovalDecidedEvent => e.type === 'approval.decided' && e.approvalId === id);

async function customerName(id: number): Promise<string> {
  const rows = await env.cluster.query<{ name: string }>('SELECT name FROM customers WHERE id = $1', [id], 'orders');
  return rows[0]!.name;
}

describe('approvals', () => {
  it('a held statement runs once a reviewer approves it, and the ledger links statement, request and decision', async () => {
    const { c, nextApproval, notices } = await client();
    const announced = nextApproval();
    const result = c.query("UPDATE customers SET name = name || '' WHERE id = 1");
    const id = await announced;
    expect(notices[0]).toContain('policy "review-customer-writes"');
    expect(env.gateway.approvals.list().map((a) => a.id)).toContain(id);
    await env.gateway.approvals.decide(id, await principal('dba-alice'), { approve: true, reason: 'routine fix' });
    expect((await result).rowCount).toBe(1);
    await c.end();

    const all = await events();
    const stmt = all.find((e) => e.type === 'pg.query' && e.decision?.approvalId === id);
    expect(stmt).toMatchObject({ decision: { action: 'review', policy: 'review-customer-writes' } });
    const requested = all.find((e): e is ApprovalRequestedEvent => e.type === 'approval.requested' && e.approvalId === id);
    expect(requested).toMatchObject({ requester: { subject: 'ci-agent' }, policy: 'review-customer-writes', reviewers: ['dba'], connection: 'orders' });
    expect(decidedFor(all, id)).toMatchObject({ decision: 'approved', by: 'reviewer', reviewer: { subject: 'dba-alice' }, reason: 'routine fix' });
  });

  it('a denied statement is not run: the client gets 42501 naming the reviewer and reason, and the session goes on', async () => {
    const before = await customerName(2);
    const { c, nextApproval } = await client();
    const announced = nextApproval();
    const result = c.query("UPDATE customers SET name = 'evil' WHERE id = 2").catch((e: PgError) => e);
    await env.gateway.approvals.decide(await announced, await principal('dba-alice'), { approve: false, reason: 'not during the freeze' });
    const err = (await result) as PgError;
    expect(err.code).toBe('42501');
    expect(err.message).toMatch(/^approval ap_\w+ was denied by dba-alice: not during the freeze$/);
    expect(await customerName(2)).toBe(before);
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await c.end();
    const all = await events();
    const blocked = all.filter((e): e is PgResultEvent => e.type === 'pg.result' && e.status === 'blocked');
    expect(blocked.some((r) => r.error?.message.includes('not during the freeze'))).toBe(true);
  });

  it('no decision within the timeout is a denial', async () => {
    const { c } = await client();
    const err = (await c.query("SELECT 'quick_timeout_probe'").catch((e: PgError) => e)) as PgError;
    expect(err.code).toBe('42501');
    expect(err.message).toMatch(/timed out/);
    await c.end();
    const all = await events();
    const timedOut = all.filter((e): e is ApprovalDecidedEvent => e.type === 'approval.decided' && e.by === 'timeout');
    expect(timedOut).toHaveLength(1);
    expect(timedOut[0]).toMatchObject({ decision: 'denied', reviewer: null });
  });

  it('refuses self-approval and reviewers outside the reviewer groups', async () => {
    const { c, nextApproval } = await client('dba-alice');
    const announced = nextApproval();
    const result = c.query('UPDATE customers SET name = name WHERE id = 3');
    const id = await announced;
    await expect(env.gateway.approvals.decide(id, await principal('dba-alice'), { approve: true })).rejects.toMatchObject({ code: 'GH_ERR_APPROVAL_FORBIDDEN', message: 'you may not approve your own request' });
    await expect(env.gateway.approvals.decide(id, await principal('intern-bot'), { approve: true })).rejects.toMatchObject({ code: 'GH_ERR_APPROVAL_FORBIDDEN' });
    // still waiting: another reviewer decides
    await env.gateway.approvals.decide(id, await principal('dba-bob'), { approve: true });
    expect((await result).rowCount).toBe(1);
    await expect(env.gateway.approvals.decide(id, await principal('dba-bob'), { approve: false })).rejects.toMatchObject({ code: 'GH_ERR_APPROVAL_DECIDED' });
    await c.end();
  });

  it('holds extended-protocol statements at Execute, with their parameters', async () => {
    const { c, nextApproval } = await client();
    const announced = nextApproval();
    const result = c.query({ text: 'UPDATE customers SET name = name WHERE id = $1', values: [4] });
    const id = await announced;
    expect(env.gateway.approvals.get(id)?.text).toBe('UPDATE customers SET name = name WHERE id = $1');
    await env.gateway.approvals.decide(id, await principal('dba-bob'), { approve: true });
    expect((await result).rowCount).toBe(1);
    await c.end();
  });

  it('a time-bound grant lets the same requester run the same statement shape without waiting', async () => {
    const { c, nextApproval } = await client();
    const announced = nextApproval();
    const first = c.query('DELETE FROM customers WHERE id = -1');
    await env.gateway.approvals.decide(await announced, await principal('dba-bob'), { approve: true, grantMs: 60_000 });
    await first;
    // other constants, same shape: no hold (a hold would never end here, nobody approves it)
    expect((await c.query('DELETE FROM customers WHERE id = -2')).rowCount).toBe(0);
    await c.end();
    const all = await events();
    expect(all.filter((e) => e.type === 'approval.decided' && e.by === 'grant')).toHaveLength(1);
    // the grant is for this requester only
    expect(env.gateway.approvals.grantFor('dba-alice', 'orders', env.gateway.approvals.activeGrants()[0]!.shape)).toBeNull();
  });

  it('CancelRequest while waiting ends the wait as a denial (57014) and nothing runs', async () => {
    const before = await customerName(5);
    let announcedResolve!: (id: string) => void;
    const announced = new Promise<string>((resolve) => (announcedResolve = resolve));
    const sql = postgres({
      host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: await env.token('ci-agent'), ssl: false, max: 1,
      onnotice: (n) => {
        const id = /approval id (ap_[a-z0-9]+)/.exec(String(n.message))?.[1];
        if (id) announcedResolve(id);
      },
    });
    const q = sql`UPDATE customers SET name = 'cancelled?' WHERE id = 5`;
    const outcome = q.then(() => null, (e: PgError) => e);
    const id = await announced;
    q.cancel();
    const err = await outcome;
    expect(err?.code).toBe('57014');
    expect(await customerName(5)).toBe(before);
    await sql.end();
    const all = await events();
    expect(decidedFor(all, id)).toMatchObject({ decision: 'denied', by: 'cancelled' });
    expect(all.some((e) => e.type === 'pg.cancel')).toBe(true);
  });

  it('a client that leaves while waiting ends the wait; the statement never runs', async () => {
    const before = await customerName(1);
    const { c, nextApproval } = await client();
    const announced = nextApproval();
    void c.query("UPDATE customers SET name = 'gone' WHERE id = 1").catch(() => undefined);
    const id = await announced;
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    // the session's end is recorded after the wait was ended
    await endedSession(env, 'ci-agent');
    const all = await events();
    expect(decidedFor(all, id)).toMatchObject({ decision: 'denied', by: 'cancelled' });
    expect(env.gateway.approvals.get(id)?.decision?.by).toBe('cancelled');
    expect(await customerName(1)).toBe(before);
  });

  it('the session report shows each decision, the approval request and its reviewer', async () => {
    let sessionId = '';
    for await (const r of env.gateway.ledger.scan()) {
      const e = JSON.parse(r.payload) as AuditEvent;
      if (e.type === 'approval.decided' && e.by === 'reviewer' && e.reason === 'routine fix') {
        sessionId = r.sessionId;
        break;
      }
    }
    expect(sessionId).not.toBe('');
    const r = await cli(env, ['report', sessionId]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/policy: review by "review-customer-writes" \(.*\), approval ap_\w+/);
    expect(r.stdout).toMatch(/approval\.requested\s+ap_\w+ for statement #\d+: policy review-customer-writes/);
    expect(r.stdout).toMatch(/approval\.decided\s+ap_\w+ approved by dba-alice: routine fix; once; waited/);
  });
});
