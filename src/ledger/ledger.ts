import type { AuditEvent, AuditEventType, Protocol, SessionStatus } from '../core/events.js';
import type { SearchFilter, SearchPage } from './search.js';

/**
 * The ledger: an append-only, hash-chained log of audit events, plus a sessions index derived
 * from it. Records are never updated or deleted by the application; the sessions index is a
 * projection kept in the same transaction as the records it summarises.
 */

export interface NewRecord {
  sessionId: string;
  /** µs since the epoch */
  time: number;
  event: AuditEvent;
}

export interface LedgerRecord {
  seq: number;
  time: number;
  sessionId: string;
  type: AuditEventType;
  event: AuditEvent;
  prevHash: string;
  hash: string;
}

/** A record exactly as stored, for verification (payload kept as the stored text). */
export interface StoredRecord {
  seq: number;
  time: number;
  sessionId: string;
  type: string;
  payload: string;
  prevHash: string;
  hash: string;
}

export interface SessionSummary {
  id: string;
  protocol: Protocol;
  connection: string | null;
  status: SessionStatus;
  subject: string | null;
  groups: string[];
  authorizedBy: string | null;
  issuer: string | null;
  tokenId: string | null;
  tokenSha256: string | null;
  ciJob: string | null;
  clientUser: string | null;
  clientApplication: string | null;
  clientAddress: string | null;
  startedAt: number;
  endedAt: number | null;
  statements: number;
  errors: number;
  reason: string | null;
}

export interface SessionFilter {
  /** full-text search over the session's commands (FTS5 syntax) */
  text?: string;
  group?: string;
  protocol?: string;
  /** jti-based token id, or the token's SHA-256 */
  token?: string;
  /** continue after this cursor (from the previous page) */
  cursor?: string;
  /** by start time then id: newest first (the default) or oldest first; a cursor continues in its order */
  order?: 'newest' | 'oldest';
  identity?: string;
  connection?: string;
  status?: SessionStatus;
  ciJob?: string;
  /** µs */
  since?: number;
  /** µs */
  until?: number;
  limit?: number;
}

export interface LedgerHead {
  seq: number;
  hash: string;
}

export interface AppendOptions {
  /**
   * Records of what already happened (a result, an exit status): nobody waits on them before going
   * on, so they may wait a few milliseconds to share the next write-ahead commit. Still durable
   * before the promise resolves.
   */
  behind?: boolean;
}

export interface LedgerWriter {
  /**
   * Appends records in order. The promise resolves once they are durable (fsynced) and yields
   * their sequence numbers; it rejects with GH_ERR_LEDGER_UNAVAILABLE when the store cannot
   * append, in which case none of the given records were stored.
   */
  append(records: readonly NewRecord[], opts?: AppendOptions): Promise<number[]>;
  close(): Promise<void>;
}

export interface LedgerReader {
  head(): Promise<LedgerHead>;
  listSessions(filter: SessionFilter): Promise<SessionSummary[]>;
  getSession(id: string): Promise<SessionSummary | null>;
  sessionRecords(id: string): Promise<LedgerRecord[]>;
  /** Every record in seq order, as stored, in pages. */
  scan(pageSize?: number, afterSeq?: number): AsyncIterable<StoredRecord>;
  /** The first seq recorded at or after a time (µs), or null. */
  firstSeqAt(timeUs: number): Promise<number | null>;
  /** This log's id (a UUID fixed when the store was created). */
  logId(): Promise<string>;
  /** Every signed checkpoint record, in order. */
  checkpoints(): Promise<LedgerRecord[]>;
  /** Every record of one type, in order. */
  recordsOfType(type: AuditEventType): Promise<LedgerRecord[]>;
  /** Recorded commands matching text and session filters, newest first, paged. */
  searchCommands(filter: SearchFilter): Promise<SearchPage>;
  /** Record hashes of seq 1..upTo, in order (the Merkle tree's leaf data). */
  hashes(upTo: number): Promise<string[]>;
  close(): Promise<void>;
}

export type Ledger = LedgerWriter & LedgerReader;

/** A ledger store as the gateway and the operator commands use it (SQLite or PostgreSQL). */
export interface LedgerStore extends Ledger {
  /** size and Merkle root of this process's log (write mode) */
  treeHead(): { size: number; root: string };
  /** called after every successful commit with the new tree size; returns an unsubscribe function */
  onCommit(listener: (size: number) => void): () => void;
  /** retention: prune payloads older than beforeUs, recorded in the same commit; returns the count */
  prune(beforeUs: number, retention: string): Promise<number>;
  /** every log in the store (one for SQLite; one per gateway start for PostgreSQL) */
  logs(): Promise<string[]>;
  /** a reader of one log */
  forLog(logId: string): LedgerReader;
  /** the log a session was recorded in */
  sessionLog(sessionId: string): Promise<string | null>;
  /** session ids starting with a prefix (at most `limit`), for commands that accept a short id */
  sessionIdsWithPrefix(prefix: string, limit: number): Promise<string[]>;
}
