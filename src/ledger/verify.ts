import { GENESIS_HASH, recordHash } from './canonical.js';
import type { LedgerReader } from './ledger.js';
import type { LedgerPrunedEvent } from '../core/events.js';
import { PRUNED_PAYLOAD } from './sqlite-schema.js';

export interface VerifyOk {
  ok: true;
  records: number;
  headSeq: number;
  headHash: string;
}

export interface VerifyFailure {
  ok: false;
  records: number;
  /** the first record that does not verify (for a gap: the first missing seq) */
  badSeq: number;
  problem: string;
}

export type VerifyResult = VerifyOk | VerifyFailure;

export interface VerifyProgress {
  (checked: number): void;
}

/**
 * Walks the hash chain from the first record: sequence numbers must run 1, 2, 3 ... without gaps,
 * each record's prev_hash must equal the previous record's hash, and each hash must equal the
 * SHA-256 recomputed from the stored fields. Names the first record that fails.
 */
export async function verifyChain(reader: LedgerReader, onProgress?: VerifyProgress): Promise<VerifyResult> {
  // a payload may be absent only where a retention record says it was pruned
  const prunings = (await reader.recordsOfType('ledger.pruned')).map((r) => r.event as LedgerPrunedEvent);
  const mayBePruned = (seq: number, time: number) => prunings.some((p) => seq <= p.upToSeq && time < p.before);
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let count = 0;
  for await (const r of reader.scan()) {
    if (r.seq !== expectedSeq) {
      const problem =
        r.seq > expectedSeq
          ? `record ${expectedSeq}${r.seq - expectedSeq > 1 ? `..${r.seq - 1}` : ''} is missing (deleted)`
          : `record ${r.seq} appears out of order after ${expectedSeq - 1}`;
      return { ok: false, records: count, badSeq: expectedSeq, problem };
    }
    if (r.prevHash !== prevHash) {
      return {
        ok: false,
        records: count,
        badSeq: r.seq,
        problem: `record ${r.seq} does not link to record ${r.seq - 1} (prev_hash differs: a record was inserted, removed or reordered)`,
      };
    }
    if (r.payload === PRUNED_PAYLOAD) {
      if (!mayBePruned(r.seq, r.time)) {
        return { ok: false, records: count, badSeq: r.seq, problem: `record ${r.seq} has no payload but no retention record covers it (content removed)` };
      }
      prevHash = r.hash;
      expectedSeq += 1;
      count += 1;
      continue;
    }
    const actual = recordHash({ seq: r.seq, time: r.time, sessionId: r.sessionId, payload: r.payload, prevHash: r.prevHash });
    if (actual !== r.hash) {
      return { ok: false, records: count, badSeq: r.seq, problem: `record ${r.seq} was altered (its content no longer matches its hash)` };
    }
    let type: unknown;
    try {
      type = (JSON.parse(r.payload) as { type?: unknown }).type;
    } catch {
      type = undefined;
    }
    if (type !== r.type) {
      return { ok: false, records: count, badSeq: r.seq, problem: `record ${r.seq} has type column "${r.type}" but its payload says ${String(type)}` };
    }
    prevHash = r.hash;
    expectedSeq += 1;
    count += 1;
    if (onProgress && count % 10_000 === 0) onProgress(count);
  }
  return { ok: true, records: count, headSeq: expectedSeq - 1, headHash: prevHash };
}
