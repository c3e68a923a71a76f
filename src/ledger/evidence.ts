import type { KeyObject } from 'node:crypto';
import { GatehouseError } from '../core/errors.js';
import type { LedgerCheckpointEvent } from '../core/events.js';
import { recordHash } from './canonical.js';
import { keyIdOf, verifyCheckpoint, type SignedCheckpoint } from './checkpoint.js';
import type { LedgerReader, StoredRecord } from './ledger.js';
import { PRUNED_PAYLOAD } from './sqlite-schema.js';
import { inclusionProof, leafHash, verifyInclusion } from './merkle.js';

/**
 * Evidence bundles: one self-contained JSON file with a session's records exactly as stored, each
 * with its Merkle inclusion proof against a signed checkpoint. verifyEvidence needs nothing but the
 * bundle and the public key (no config, no database). The format is specified in
 * docs/evidence-format.md so an auditor can write their own verifier.
 */

export const EVIDENCE_FORMAT = 'gatehouse-evidence/1';

/** A record exactly as stored (`payload`: the canonical JSON of the event, as hashed) with its proof. */
export interface EvidenceRecord extends StoredRecord {
  /** hex sibling hashes, RFC 9162 audit path of leaf seq-1 in the checkpoint's tree */
  proof: string[];
}

export interface EvidenceBundle {
  format: typeof EVIDENCE_FORMAT;
  sessionId: string;
  logId: string;
  keyId: string;
  checkpoint: SignedCheckpoint;
  records: EvidenceRecord[];
}

export async function buildEvidence(reader: LedgerReader, sessionId: string): Promise<EvidenceBundle> {
  const records = await reader.sessionRecords(sessionId);
  if (records.length === 0) throw new GatehouseError('GH_ERR_SESSION_NOT_FOUND', `no session with id ${sessionId} in the ledger (list them with: gatehouse sessions)`);
  const lastSeq = records.at(-1)!.seq;
  const cp = (await reader.checkpoints()).map((r) => r.event as LedgerCheckpointEvent).find((c) => c.treeSize >= lastSeq);
  if (!cp) {
    throw new GatehouseError(
      'GH_ERR_CHECKPOINT_MISSING',
      `no signed checkpoint covers this session yet (its last record is ${lastSeq}); the gateway signs one every few seconds while it runs, or at shutdown — try again shortly`,
    );
  }
  const { type: _type, ...checkpoint } = cp;
  const leaves = (await reader.hashes(cp.treeSize)).map(leafHash);
  const stored = new Map<number, { payload: string; prevHash: string; hash: string }>();
  for await (const r of reader.scan()) {
    if (r.sessionId === sessionId) stored.set(r.seq, r);
    if (r.seq >= lastSeq) break;
  }
  if ([...stored.values()].some((r) => r.payload === PRUNED_PAYLOAD)) {
    throw new GatehouseError('GH_ERR_SESSION_NOT_FOUND', `the records of session ${sessionId} were pruned by retention; only their hashes remain`);
  }
  return {
    format: EVIDENCE_FORMAT,
    sessionId,
    logId: cp.logId,
    keyId: cp.keyId,
    checkpoint,
    records: records.map((r) => {
      const s = stored.get(r.seq)!;
      return {
        seq: r.seq, time: r.time, sessionId: r.sessionId, type: r.type, payload: s.payload, prevHash: s.prevHash, hash: s.hash,
        proof: inclusionProof(leaves, r.seq - 1, cp.treeSize).map((b) => b.toString('hex')),
      };
    }),
  };
}

export type EvidenceResult = { ok: true; records: number; treeSize: number; keyId: string } | { ok: false; problem: string };

/** Checks a bundle offline: checkpoint signature, then every record's hash and inclusion proof. */
export function verifyEvidence(bundle: unknown, publicKey: KeyObject): EvidenceResult {
  const b = bundle as Partial<EvidenceBundle> | null;
  if (!b || b.format !== EVIDENCE_FORMAT || !b.checkpoint || !Array.isArray(b.records)) {
    return { ok: false, problem: `not a ${EVIDENCE_FORMAT} bundle` };
  }
  const cp = b.checkpoint;
  if (cp.keyId !== keyIdOf(publicKey)) return { ok: false, problem: `the bundle is signed with key ${cp.keyId}, the given public key is ${keyIdOf(publicKey)}` };
  if (!verifyCheckpoint(cp, publicKey)) return { ok: false, problem: 'the checkpoint signature is not valid' };
  if (b.records.length === 0) return { ok: false, problem: 'the bundle holds no records' };
  const root = Buffer.from(cp.rootHash, 'hex');
  for (const r of b.records) {
    if (r.sessionId !== b.sessionId) return { ok: false, problem: `record ${r.seq} belongs to session ${r.sessionId}, not ${b.sessionId}` };
    let type: unknown;
    try {
      type = (JSON.parse(r.payload) as { type?: unknown }).type;
    } catch {
      return { ok: false, problem: `record ${r.seq}: payload is not JSON` };
    }
    if (type !== r.type) return { ok: false, problem: `record ${r.seq}: type "${r.type}" differs from its payload's "${String(type)}"` };
    const hash = recordHash({ seq: r.seq, time: r.time, sessionId: r.sessionId, payload: r.payload, prevHash: r.prevHash });
    if (hash !== r.hash) return { ok: false, problem: `record ${r.seq} was altered (its content no longer matches its hash)` };
    const proof = r.proof.map((p) => Buffer.from(p, 'hex'));
    if (!verifyInclusion(leafHash(r.hash), r.seq - 1, cp.treeSize, proof, root)) {
      return { ok: false, problem: `record ${r.seq} is not in the signed tree of ${cp.treeSize} records (inclusion proof fails)` };
    }
  }
  return { ok: true, records: b.records.length, treeSize: cp.treeSize, keyId: cp.keyId };
}
