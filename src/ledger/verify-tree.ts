import type { KeyObject } from 'node:crypto';
import type { LedgerCheckpointEvent } from '../core/events.js';
import { keyIdOf, verifyCheckpoint, type SignedCheckpoint } from './checkpoint.js';
import type { LedgerReader } from './ledger.js';
import { leafHash, MerkleFrontier } from './merkle.js';
import { verifyChain, type VerifyProgress } from './verify.js';

/**
 * The full ledger check: the hash chain (verify.ts), then the Merkle tree against every signed
 * checkpoint in the ledger and against checkpoints held outside it (witness copies). The chain
 * catches edits, deletions, insertions and reordering; the signed roots catch a chain rewritten
 * and re-hashed end to end; a witness checkpoint catches truncation back to an older, internally
 * consistent state.
 */

export interface TreeVerifyOptions {
  publicKey: KeyObject | null;
  witness: SignedCheckpoint[];
}

export type LedgerVerifyResult =
  | {
      ok: true;
      records: number;
      headSeq: number;
      headHash: string;
      root: string;
      checkpoints: number;
      /** key id the signatures were checked with, or null when no key was given */
      keyId: string | null;
      witnessed: number;
    }
  | { ok: false; records: number; badSeq: number; problem: string };

export async function verifyLedger(reader: LedgerReader, opts: TreeVerifyOptions, onProgress?: VerifyProgress): Promise<LedgerVerifyResult> {
  const chain = await verifyChain(reader, onProgress);
  if (!chain.ok) return chain;
  const logId = await reader.logId();
  const own = (await reader.checkpoints()).map((r) => ({ seq: r.seq, c: r.event as LedgerCheckpointEvent }));
  const sizes = new Set<number>([...own.map((o) => o.c.treeSize), ...opts.witness.map((w) => w.treeSize)]);
  const roots = new Map<number, string>();
  const frontier = new MerkleFrontier();
  for await (const r of reader.scan()) {
    frontier.append(leafHash(r.hash));
    if (sizes.has(frontier.size)) roots.set(frontier.size, frontier.root().toString('hex'));
  }
  const fail = (badSeq: number, problem: string): LedgerVerifyResult => ({ ok: false, records: chain.records, badSeq, problem });
  // the largest size whose signed root matched: a mismatch beyond it points at the records after it
  let goodUpTo = 0;
  for (const { seq, c } of own) {
    if (c.logId !== logId) return fail(seq, `checkpoint record ${seq} names log ${c.logId}, this ledger is ${logId}`);
    if (c.treeSize >= seq) return fail(seq, `checkpoint record ${seq} claims ${c.treeSize} records before it`);
    if (opts.publicKey && !verifyCheckpoint(c, opts.publicKey)) {
      return fail(seq, `checkpoint record ${seq} has an invalid signature (key ${c.keyId}; checked with ${keyIdOf(opts.publicKey)})`);
    }
    if (roots.get(c.treeSize) !== c.rootHash) {
      return fail(goodUpTo + 1, `records ${goodUpTo + 1}..${c.treeSize} differ from what checkpoint record ${seq} signed (the chain was rewritten)`);
    }
    goodUpTo = Math.max(goodUpTo, c.treeSize);
  }
  for (const w of opts.witness) {
    if (w.logId !== logId) continue; // another gateway's log
    if (opts.publicKey && !verifyCheckpoint(w, opts.publicKey)) {
      return fail(chain.records + 1, `a witness checkpoint of ${w.treeSize} records has an invalid signature; the witness file cannot be trusted`);
    }
    if (w.treeSize > chain.records) {
      return fail(chain.records + 1, `the ledger was truncated: a signed witness checkpoint covers ${w.treeSize} records, the ledger holds ${chain.records}`);
    }
    if (roots.get(w.treeSize) !== w.rootHash) {
      const before = Math.max(0, ...own.map((o) => o.c.treeSize).filter((n) => n < w.treeSize && roots.get(n) !== undefined));
      return fail(before + 1, `records ${before + 1}..${w.treeSize} differ from the signed witness checkpoint of ${w.treeSize} records`);
    }
  }
  return {
    ok: true, records: chain.records, headSeq: chain.headSeq, headHash: chain.headHash, root: frontier.root().toString('hex'),
    checkpoints: own.length, keyId: opts.publicKey ? keyIdOf(opts.publicKey) : null,
    witnessed: opts.witness.filter((w) => w.logId === logId).length,
  };
}

/** Reads a witness file: one signed checkpoint per line (JSON), as the Checkpointer writes it. */
export function parseWitness(text: string, file: string): SignedCheckpoint[] {
  const out: SignedCheckpoint[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let v: Partial<SignedCheckpoint>;
    try {
      v = JSON.parse(line) as Partial<SignedCheckpoint>;
    } catch {
      throw new Error(`${file}:${i + 1}: not JSON`);
    }
    if (typeof v.logId !== 'string' || typeof v.treeSize !== 'number' || typeof v.rootHash !== 'string' || typeof v.time !== 'number' ||
      typeof v.keyId !== 'string' || typeof v.signature !== 'string') {
      throw new Error(`${file}:${i + 1}: not a signed checkpoint`);
    }
    out.push(v as SignedCheckpoint);
  });
  return out;
}
