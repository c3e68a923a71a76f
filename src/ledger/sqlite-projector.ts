import type BetterSqlite3 from 'better-sqlite3';
import type { AuditEvent } from '../core/events.js';
import { sessionOps, type SqlOp } from './projection.js';
import { prepared } from './sqlite-statements.js';
import type { SqliteWriteThread } from './sqlite-writer.js';

/**
 * The SQLite store fills its projections (the sessions and commands tables and the commands'
 * full-text index) behind the records instead of in the write-ahead commit.
 *
 * Why: what must be durable before a statement is forwarded is the record and its place in the
 * hash chain. Projecting in the same commit made every small commit also rewrite the sessions
 * row, two command indexes and a fresh FTS5 segment: about 60 WAL pages per commit against 2–3
 * for the record alone, and a third of the gateway's CPU per statement under load
 * (docs/performance.md, run 6). Here committed records' projections are queued and written by
 * the same writer thread in their own commits, several hundred records at a time, at most
 * PROJECT_DELAY_MS after the records (or at once when a reader needs them: every reader of the
 * projections in this process calls settle() first, so it sees every record committed before).
 *
 * `meta.projected_seq` is the last record the projections hold, written in the same commit as
 * they are. After a crash the next start projects the records after it from their payloads
 * (catchUp), before the gateway serves: the records are the truth, the projections are rebuilt
 * from them. Another process reading the file (the CLI) sees the projections as of the last
 * projection commit: at most PROJECT_DELAY_MS behind a running gateway, or, after a gateway was
 * killed, the records it committed in its last moments only once it starts again.
 */

/** Records' projections written in one commit at most; more go in the next. */
const MAX_PROJECT_RECORDS = 512;
/** How long committed records wait at most for their projections while nobody asks for them. */
export const PROJECT_DELAY_MS = 25;
/** After a failed projection commit (the store unwritable), the next try. */
const RETRY_MS = 1000;

const SET_PROJECTED = "INSERT OR REPLACE INTO meta (key, value) VALUES ('projected_seq', ?)";

interface Committed {
  seq: number;
  time: number;
  sessionId: string;
  event: AuditEvent;
}

export class SqliteProjector {
  private ops: SqlOp[] = [];
  /** records whose projections are queued (not yet sent) */
  private count = 0;
  /** the last committed record queued so far, and the last one the projections hold */
  private upTo: number;
  private projected: number;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private waiters: Array<{ upTo: number; resolve: () => void }> = [];
  private closed = false;

  constructor(private readonly writer: SqliteWriteThread, projectedSeq: number) {
    this.upTo = projectedSeq;
    this.projected = projectedSeq;
  }

  /** Queues the projections of records just committed (in seq order). */
  committed(rows: readonly Committed[]): void {
    if (rows.length === 0) return;
    for (const r of rows) for (const op of sessionOps(r.seq, r.sessionId, r.time, r.event)) this.ops.push(op);
    this.count += rows.length;
    this.upTo = rows[rows.length - 1]!.seq;
    if (this.count >= MAX_PROJECT_RECORDS) this.kick();
    else this.schedule(PROJECT_DELAY_MS);
  }

  /**
   * Resolves once the projections hold every record committed before the call, or once writing
   * them failed (the reader then answers from what the projections hold; they are retried).
   */
  settle(): Promise<void> {
    const target = this.upTo;
    if (this.projected >= target || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ upTo: target, resolve });
      this.kick();
    });
  }

  private schedule(ms: number): void {
    if (this.timer || this.running || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.kick();
    }, ms);
    // a ledger with nothing else to do must not keep the process alive; close() settles it
    this.timer.unref();
  }

  private kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    // one projection commit at a time: the one running kicks again when it ends
    if (this.running || this.count === 0 || this.closed) return;
    const ops = this.ops;
    const count = this.count;
    const upTo = this.upTo;
    this.ops = [];
    this.count = 0;
    this.running = true;
    void this.writer.run([...ops, { sql: SET_PROJECTED, params: [String(upTo)] }]).then((reply) => {
      this.running = false;
      if (reply.ok) {
        this.projected = upTo;
        this.release((w) => w.upTo <= upTo);
        if (this.count >= MAX_PROJECT_RECORDS || this.waiters.length > 0) this.kick();
        else if (this.count > 0) this.schedule(PROJECT_DELAY_MS);
        return;
      }
      // the store cannot be written right now: keep the ops, in order, and try again later;
      // readers waiting get what the projections hold now rather than an error
      this.ops = ops.concat(this.ops);
      this.count += count;
      this.release(() => true);
      this.schedule(RETRY_MS);
    });
  }

  /** After the ledger's last settle(): no more tries (a retry after a failure would start the closed writer again). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private release(which: (w: { upTo: number }) => boolean): void {
    const done = this.waiters.filter(which);
    this.waiters = this.waiters.filter((w) => !which(w));
    for (const w of done) w.resolve();
  }
}

/** The last record the projections hold (meta.projected_seq). */
export function projectedSeq(db: BetterSqlite3.Database): number {
  const row = prepared(db, "SELECT value FROM meta WHERE key = 'projected_seq'").get() as { value: string } | undefined;
  return row ? Number(row.value) : 0;
}

/**
 * At start, before anything is appended: projects the records after meta.projected_seq (those a
 * gateway committed before it was killed, ahead of their projections) from their payloads, in
 * one transaction on this connection. Returns how many records it projected.
 */
export function catchUp(db: BetterSqlite3.Database): number {
  const from = projectedSeq(db);
  const rows = prepared(db, 'SELECT seq, time_us, session_id, payload FROM records WHERE seq > ? ORDER BY seq').all(from) as Array<{
    seq: number; time_us: number; session_id: string; payload: string;
  }>;
  if (rows.length === 0) return 0;
  db.transaction(() => {
    for (const r of rows) {
      // a pruned payload has no type and projects nothing
      const event = JSON.parse(r.payload) as AuditEvent;
      for (const op of sessionOps(r.seq, r.session_id, r.time_us, event)) prepared(db, op.sql).run(op.params);
    }
    prepared(db, SET_PROJECTED).run(String(rows[rows.length - 1]!.seq));
  }).immediate();
  return rows.length;
}
