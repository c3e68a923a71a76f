import type { GatehouseError } from '../../core/errors.js';
import type { AuditEvent, RecordedValue } from '../../core/events.js';
import type { SessionMasker } from '../../masking/session.js';
import type { CommandGate } from '../../policy/gate.js';
import type { ColumnDescription, TxStatus } from './backend.js';
import type { Gate } from './relay-gate.js';
import { ResultRecorder, type CommandRef, type SampleLimits } from './result.js';

/**
 * What the two directions of the relay share: the client side adds prepared statements, portals
 * and the answers it expects (one queue entry per request, in the order the server answers them);
 * the server side reads the head of that queue to tie each answer to its command, and collects the
 * records of a chunk here.
 */

export interface RelayLimits extends SampleLimits {
  maxClientMessageBytes: number;
  maxServerMessageBytes: number;
  maxParamBytes: number;
  maxPreparedStatements: number;
}

export interface PendingRecord {
  event: AuditEvent;
  time: number;
  /** set for commands: receives the record's seq */
  ref: CommandRef | null;
}

export interface StatementInfo {
  text: string;
  columns: ColumnDescription[] | null;
}

export interface PortalInfo {
  statement: string;
  text: string;
  params: RecordedValue[];
  resultFormats: number[];
  columns: ColumnDescription[] | null;
}

/** An answer the server owes, one per request sent (a simple Query's covers all its statements). */
export type Expect =
  | { k: 'simple'; ref: CommandRef; index: number; result: ResultRecorder | null; gate: Gate | null }
  | { k: 'parse'; ref: CommandRef | null; gate: Gate | null }
  | { k: 'bind' }
  | { k: 'describe'; target: 'S' | 'P'; name: string }
  | { k: 'execute'; ref: CommandRef; portal: PortalInfo | null; result: ResultRecorder | null; gate: Gate | null }
  | { k: 'close' }
  | { k: 'sync' }
  | { k: 'function'; ref: CommandRef; result: ResultRecorder | null; gate: Gate | null };

export const gateOf = (h: Expect | undefined): Gate | null =>
  h && (h.k === 'simple' || h.k === 'parse' || h.k === 'execute' || h.k === 'function') ? h.gate : null;

export class RelayState {
  readonly statements = new Map<string, StatementInfo>();
  readonly portals = new Map<string, PortalInfo>();
  // a head index instead of Array#shift (which copies): trimmed now and then in shift()
  private readonly queue: Expect[] = [];
  private qHead = 0;
  txStatus: TxStatus = 'I';
  /** the result receiving COPY IN data from the client */
  copyIn: ResultRecorder | null = null;
  lastCommandRef: CommandRef | null = null;
  /** results (and errors) recorded while reading the current server chunk */
  records: PendingRecord[] = [];
  /** the server ended the session or broke the protocol during the current chunk */
  fatal: GatehouseError | null = null;
  statementsSeen = 0;
  errorsSeen = 0;

  constructor(
    readonly limits: RelayLimits,
    readonly gate: CommandGate,
    readonly masker: SessionMasker | null,
  ) {}

  expect(e: Expect): void {
    this.queue.push(e);
  }

  head(): Expect | undefined {
    return this.queue[this.qHead];
  }

  shift(): void {
    this.qHead += 1;
    if (this.qHead > 1024 && this.qHead * 2 > this.queue.length) {
      this.queue.splice(0, this.qHead);
      this.qHead = 0;
    }
  }

  /** Whether an answer is still owed. */
  get pending(): boolean {
    return this.qHead < this.queue.length;
  }

  /** seq of the command the server is working on, if any (for cancel records). */
  runningCommandSeq(): number | null {
    for (let i = this.qHead; i < this.queue.length; i++) {
      const e = this.queue[i]!;
      if (e.k === 'simple' || e.k === 'execute' || e.k === 'function') return e.ref.seq;
    }
    return null;
  }

  /** A chunk from the server has been read: every open result but `current` (done by the caller) ends its chunk. */
  endOfChunk(current: ResultRecorder | null): void {
    for (let i = this.qHead; i < this.queue.length; i++) {
      const e = this.queue[i]!;
      if ((e.k === 'simple' || e.k === 'execute' || e.k === 'function') && e.result && e.result !== current) e.result.endOfChunk();
    }
  }

  /** The result the next result message belongs to, created on first use. */
  resultFor(h: Expect | undefined): ResultRecorder | null {
    if (!h) return null;
    if (h.k === 'simple') {
      h.result ??= new ResultRecorder(h.ref, h.index, this.limits, null, []);
      return h.result;
    }
    if (h.k === 'execute') {
      const columns = h.portal ? (h.portal.columns ?? this.statements.get(h.portal.statement)?.columns ?? null) : null;
      h.result ??= new ResultRecorder(h.ref, 0, this.limits, columns, h.portal?.resultFormats ?? []);
      return h.result;
    }
    if (h.k === 'function') {
      h.result ??= new ResultRecorder(h.ref, 0, this.limits, null, []);
      return h.result;
    }
    return null;
  }
}
