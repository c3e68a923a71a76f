import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/core/events.js';
import { GroupCommitter, type SequencedRecord } from '../../../src/ledger/group-commit.js';

/**
 * The group committer with a store that records each batch and answers when the test says so:
 * which records share a commit, and in which order, is what decides how long a client waits.
 */

const ev = (n: number): AuditEvent => ({ type: 'pg.cancel', statementSeq: n });
const rec = (n: number) => [{ sessionId: 's', time: n, event: ev(n) }];

function store() {
  const batches: number[][] = [];
  const pending: Array<() => void> = [];
  const commit = (rows: SequencedRecord[]) => {
    batches.push(rows.map((r) => (r.event as { statementSeq: number }).statementSeq));
    return new Promise<void>((resolve) => pending.push(resolve));
  };
  return { batches, commit, release: () => pending.shift()?.() };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('group commit', () => {
  it('commits the urgent appends of one turn of the event loop together, and appends that arrive meanwhile together in the next commit', async () => {
    const s = store();
    const g = new GroupCommitter<never>(s.commit);
    const a = g.append(rec(1));
    const b = g.append(rec(2));
    // at the end of this turn, so that every client whose statement came with the same poll joins
    expect(s.batches).toEqual([]);
    await tick();
    expect(s.batches).toEqual([[1, 2]]);
    const c = g.append(rec(3));
    const d = g.append(rec(4));
    await tick();
    // one commit at a time: these wait for the one in flight
    expect(s.batches).toEqual([[1, 2]]);
    s.release();
    expect(await Promise.all([a, b])).toEqual([[1], [2]]);
    await tick();
    expect(s.batches).toEqual([[1, 2], [3, 4]]);
    s.release();
    expect(await Promise.all([c, d])).toEqual([[3], [4]]);
  });

  it('lets a record of what already happened ride with the next write-ahead record: one commit, in order', async () => {
    const s = store();
    const g = new GroupCommitter<never>(s.commit);
    const result = g.append(rec(1), undefined, true);
    await tick();
    // nothing committed yet: a result alone does not start a commit at once
    expect(s.batches).toEqual([]);
    const next = g.append(rec(2));
    await tick();
    expect(s.batches).toEqual([[1, 2]]);
    s.release();
    expect(await result).toEqual([1]);
    expect(await next).toEqual([2]);
  });

  it('commits records of what already happened on their own after a short delay', async () => {
    const s = store();
    const g = new GroupCommitter<never>(s.commit);
    const result = g.append(rec(1), undefined, true);
    const committed = new Promise<void>((resolve) => {
      const poll = () => (s.batches.length > 0 ? resolve() : setTimeout(poll, 1));
      poll();
    });
    await committed;
    expect(s.batches).toEqual([[1]]);
    s.release();
    expect(await result).toEqual([1]);
  });

  it('close() commits what waits behind before it resolves', async () => {
    const s = store();
    const g = new GroupCommitter<never>(s.commit);
    const result = g.append(rec(1), undefined, true);
    const closing = g.close();
    await tick();
    expect(s.batches).toEqual([[1]]);
    s.release();
    await closing;
    expect(await result).toEqual([1]);
  });
});
