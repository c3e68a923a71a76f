import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApprovalBroker } from '../../../src/approvals/broker.js';
import type { ApprovalDecidedEvent } from '../../../src/core/events.js';
import { silentLogger } from '../../../src/core/log.js';
import { SqliteLedger } from '../../../src/ledger/sqlite.js';
import { input, principal } from '../../support/approvals.js';

/** The broker's rules against a real SQLite ledger: every request and decision must be on record. */

const alice = principal('dba-alice', ['dba']);
const intern = principal('intern-bot', ['interns']);

let dir: string;
let ledger: SqliteLedger;
let broker: ApprovalBroker;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-broker-'));
  ledger = new SqliteLedger(join(dir, 'ledger.db'));
  broker = new ApprovalBroker({ ledger, log: silentLogger });
});

afterEach(async () => {
  await broker.close();
  await ledger.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

async function decided(): Promise<ApprovalDecidedEvent[]> {
  return (await ledger.recordsOfType('approval.decided')).map((r) => r.event as ApprovalDecidedEvent);
}

describe('ApprovalBroker', () => {
  it('records the request, and an approval by a reviewer lets the statement run once', async () => {
    const { approval, outcome } = await broker.request(input());
    expect(broker.list().map((a) => a.id)).toEqual([approval.id]);
    const requested = await ledger.recordsOfType('approval.requested');
    expect(requested).toHaveLength(1);
    expect(requested[0]).toMatchObject({ sessionId: 'sess-1', event: { approvalId: approval.id, requester: { subject: 'ci-agent' }, reviewers: ['dba'] } });

    const after = await broker.decide(approval.id, alice, { approve: true, reason: 'checked the ticket' });
    expect(after).toMatchObject({ state: 'approved', decision: { by: 'reviewer', reviewer: { subject: 'dba-alice' }, scope: { kind: 'once' } } });
    expect(await outcome).toMatchObject({ decision: 'approved', by: 'reviewer', reason: 'checked the ticket' });
    expect(await decided()).toEqual([expect.objectContaining({ approvalId: approval.id, decision: 'approved', by: 'reviewer', reason: 'checked the ticket' })]);
    expect(broker.list()).toEqual([]);
    expect(broker.get(approval.id)?.state).toBe('approved');
    // once means once: the same statement asks again
    const again = await broker.request(input());
    expect(again.approval.state).toBe('pending');
  });

  it('a denial is recorded with the reviewer and reason', async () => {
    const { approval, outcome } = await broker.request(input());
    await broker.decide(approval.id, alice, { approve: false, reason: 'not during business hours' });
    expect(await outcome).toMatchObject({ decision: 'denied', by: 'reviewer', reviewer: { subject: 'dba-alice' }, reason: 'not during business hours' });
    expect(await decided()).toEqual([expect.objectContaining({ decision: 'denied', by: 'reviewer' })]);
  });

  it('no decision before the timeout is a recorded denial', async () => {
    const { approval, outcome } = await broker.request(input({ timeoutMs: 50 }));
    expect(await outcome).toMatchObject({ decision: 'denied', by: 'timeout', reviewer: null });
    expect(await decided()).toEqual([expect.objectContaining({ approvalId: approval.id, decision: 'denied', by: 'timeout' })]);
    expect(broker.get(approval.id)?.state).toBe('denied');
    await expect(broker.decide(approval.id, alice, { approve: true })).rejects.toMatchObject({ code: 'GH_ERR_APPROVAL_DECIDED' });
  });

  it('refuses self-approval and reviewers outside the groups, and records nothing for them', async () => {
    const self = principal('ci-agent', ['ci-agents', 'dba']); // the requester, even though in the reviewer group
    const { approval } = await broker.request(input());
    await expect(broker.decide(approval.id, self, { approve: true })).rejects.toMatchObject({ code: 'GH_ERR_APPROVAL_FORBIDDEN', message: expect.stringContaining('your own') });
    await expect(broker.decide(approval.id, intern, { approve: true })).rejects.toMatchObject({ code: 'GH_ERR_APPROVAL_FORBIDDEN', message: expect.stringContaining('dba') });
    await expect(broker.decide(approval.id, intern, { approve: false })).rejects.toMatchObject({ code: 'GH_ERR_APPROVAL_FORBIDDEN' });
    expect(await decided()).toEqual([]);
    expect(broker.get(approval.id)?.state).toBe('pending');
  });

  it('a second decision is refused as already decided; unknown ids as not found', async () => {
    const { approval } = await broker.request(input());
    const bob = principal('dba-bob', ['dba']);
    const [first, second] = await Promise.allSettled([
      broker.decide(approval.id, alice, { approve: true }),
      broker.decide(approval.id, bob, { approve: false }),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(second).toMatchObject({ status: 'rejected', reason: { code: 'GH_ERR_APPROVAL_DECIDED' } });
    await expect(broker.decide(approval.id, bob, { approve: false })).rejects.toMatchObject({ code: 'GH_ERR_APPROVAL_DECIDED' });
    await expect(broker.decide('ap_doesnotexist', alice, { approve: true })).rejects.toMatchObject({ code: 'GH_ERR_APPROVAL_NOT_FOUND' });
    expect(await decided()).toHaveLength(1);
  });

  it('a grant covers the same requester, connection and shape until it ends, and nothing else', async () => {
    const { approval, outcome } = await broker.request(input());
    await broker.decide(approval.id, alice, { approve: true, grantMs: 60_000 });
    const d = await outcome;
    expect(d).toMatchObject({ decision: 'approved', scope: { kind: 'grant', grantId: `gr_${approval.id.slice(3)}` } });
    expect(broker.activeGrants()).toEqual([expect.objectContaining({ subject: 'ci-agent', connection: 'orders', shape: 'fp-delete-orders-by-id', grantedBy: 'dba-alice' })]);

    const covered = await broker.request(input({ text: 'DELETE FROM orders WHERE id = 2' }));
    expect(await covered.outcome).toMatchObject({ decision: 'approved', by: 'grant', reviewer: null });
    expect(covered.approval.state).toBe('approved');

    const otherShape = await broker.request(input({ shape: 'fp-delete-all-orders' }));
    const otherConnection = await broker.request(input({ connection: 'billing' }));
    const otherSubject = await broker.request(input({ requester: principal('other-agent', ['ci-agents']) }));
    for (const r of [otherShape, otherConnection, otherSubject]) expect(r.approval.state).toBe('pending');
    expect(broker.list()).toHaveLength(3);

    await expect(broker.decide(otherShape.approval.id, alice, { approve: false, grantMs: 60_000 })).rejects.toMatchObject({ code: 'GH_ERR_USAGE' });
    await expect(broker.decide(otherShape.approval.id, alice, { approve: true, grantMs: 25 * 3_600_000 })).rejects.toMatchObject({ code: 'GH_ERR_USAGE' });
    expect((await decided()).map((e) => e.by)).toEqual(['reviewer', 'grant']);
  });

  it('recover(): requests pending at a restart are recorded as denied, grants in force come back', async () => {
    const granted = await broker.request(input());
    await broker.decide(granted.approval.id, alice, { approve: true, grantMs: 3_600_000 });
    const stranded = await broker.request(input({ shape: 'fp-drop-table', sessionId: 'sess-2' }));
    // the gateway dies here: the ledger file keeps what was durable, the old broker is gone
    await ledger.close();
    const stale = broker;
    ledger = new SqliteLedger(join(dir, 'ledger.db'));
    broker = new ApprovalBroker({ ledger, log: silentLogger });
    expect(await broker.recover(ledger)).toEqual({ denied: 1, grants: 1 });

    const records = await ledger.recordsOfType('approval.decided');
    const restart = records.find((r) => (r.event as ApprovalDecidedEvent).approvalId === stranded.approval.id);
    expect(restart).toMatchObject({ sessionId: 'sess-2', event: { decision: 'denied', by: 'restart', reviewer: null } });
    expect(broker.activeGrants()).toEqual([expect.objectContaining({ approvalId: granted.approval.id, subject: 'ci-agent', grantedBy: 'dba-alice' })]);
    const covered = await broker.request(input());
    expect(await covered.outcome).toMatchObject({ by: 'grant', decision: 'approved' });
    // a second recovery finds nothing left to deny
    expect(await broker.recover(ledger)).toMatchObject({ denied: 0 });
    // the dead broker's waiting timer must not outlive the test (its ledger is closed: it only logs)
    await stale.close();
  });
});
