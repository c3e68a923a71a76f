import type { RecordedValue } from '../../core/events.js';
import type { SessionMasker } from '../../masking/session.js';
import { classify } from '../../policy/classify.js';
import { decisionRecord, type CommandGate, type GateDecision } from '../../policy/gate.js';
import type { NoticeFields } from './backend.js';
import type { CommandRef } from './result.js';

/**
 * The relay's side of guardrails and masking for commands: what a decided command becomes (the
 * types the session driver resolves), the error a blocked one gets, what its record says, and the
 * decisions masking adds (output it could not follow is blocked before it runs).
 */

/** How a gated command's answer reaches the client: as the server sends it, or replaced by `error`. */
export interface Gate {
  state: 'allow' | 'block' | 'pending';
  /** with 'block': the error the client sees in place of the server's */
  error: NoticeFields | null;
}

/** A command that waits for a reviewer; the driver resolves `gate` and then sends one of the two. */
export interface HeldCommand {
  kind: 'held';
  approvalId: string;
  decision: GateDecision;
  text: string;
  ref: CommandRef;
  original: Buffer;
  /** a stand-in the server rejects, sent when the command is denied */
  substitute: Buffer;
  gate: Gate;
}

export type ClientOut = Buffer | HeldCommand;

/** The error the client sees for a blocked command. */
export function blockedError(d: GateDecision): NoticeFields {
  return {
    severity: 'ERROR',
    code: '42501',
    message: `blocked by policy "${d.policy}": ${d.reason}`,
    detail: 'The gateway did not run this statement. The decision is recorded in the audit ledger.',
    hint: d.policy === 'unparsable-sql' ? 'Check the statement\'s syntax.' : 'Ask the gateway\'s administrators if you need this statement to run.',
  };
}

/** The decision as the command's record carries it: omitted for the plain default allow. */
export function recorded(d: GateDecision, approvalId?: string): { decision?: ReturnType<typeof decisionRecord> } {
  return d.action === 'allow' && d.policy === 'default' ? {} : { decision: decisionRecord(d, approvalId) };
}

export const ALLOWED_CURSOR: GateDecision = { action: 'allow', policy: 'default', reason: 'a cursor declared in SQL', reviewers: [], timeoutMs: 0, shape: null };

/**
 * The policy's decision, then masking's: a COPY ... TO STDOUT that masking could not follow
 * (binary data, or column rules, which a COPY's data does not name) is blocked, never let out
 * in clear.
 */
export function decideSql(gate: CommandGate, m: SessionMasker | null, text: string): GateDecision {
  const d = gate.sql(text);
  if (d.action === 'block' || !m?.active) return d;
  for (const op of classify(text).operations) {
    if (!op.copy?.to) continue;
    const why = op.copy.binary
      ? 'binary COPY output cannot be masked; use text format'
      : m.hasColumnRules ? 'COPY ... TO STDOUT cannot be masked column by column; use SELECT' : null;
    if (why) return { action: 'block', policy: 'masking', reason: why, reviewers: [], timeoutMs: 0, shape: null };
  }
  return d;
}

/** Bound parameters as the ledger keeps them: detectors mask sensitive values there too. */
export function maskRecorded(m: SessionMasker | null, values: RecordedValue[]): RecordedValue[] {
  if (!m?.active) return values;
  return values.map((v) => {
    if (typeof v === 'string') return m.maskText(v);
    if (v !== null && 'truncated' in v) return { ...v, prefix: m.maskText(v.prefix) };
    return v;
  });
}
