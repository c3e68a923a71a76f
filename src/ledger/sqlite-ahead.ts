import type BetterSqlite3 from 'better-sqlite3';
import { closeSync, constants, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { GENESIS_HASH, recordHash } from './canonical.js';
import type { SequencedRecord } from './group-commit.js';
import { recordInsert, type SqlOp } from './projection.js';
import { prepared } from './sqlite-statements.js';

/**
 * `ledger.durability: process` with the SQLite store: the records' bytes are written ahead of the
 * SQLite file, to append-only files next to it (`<ledger>.ahead`, `.ahead.1`), with one write() on the
 * gateway's own thread, and the statement is forwarded once that write returned. The insert into
 * SQLite follows on the writer thread (SqliteLedger's insert queue).
 *
 * Why: in durability process nothing on the statement's path waits for the disk, yet before this
 * every statement waited for a round trip to the writer thread and its SQLite transaction, about
 * 0.28 ms of the 0.52 ms the gateway added at one client (docs/performance.md, run 5). A write()
 * to a file has the same guarantee as SQLite's commit with synchronous=NORMAL: the bytes are the
 * operating system's, so they survive the gateway being killed, not the host crashing.
 *
 * One line per record: seq, time, session id (JSON), type, previous hash, hash, then the canonical
 * payload (JSON: it has no raw tab or newline), separated by tabs. Two files used in turn, each
 * emptied once SQLite holds its last record (AheadLog, ROTATE_BYTES). At start, before
 * anything is appended, `replayAhead` inserts the records SQLite does not have yet (a gateway
 * killed between the write and the insert), checking that each one continues the chain.
 */

/**
 * The log is two files used in turn (`<ledger>.ahead`, `<ledger>.ahead.1`): once the one written
 * to has reached ROTATE_BYTES, writing moves to the other (emptied first), and the full one is
 * emptied as soon as SQLite holds its last record. Under steady load SQLite is always a few
 * batches behind, so a single file would never be seen wholly inserted and would grow forever.
 */
export const ROTATE_BYTES = 4 * 1024 * 1024;

/** The ahead log's two files, for a ledger file. */
export function aheadFiles(ledgerFile: string): [string, string] {
  return [`${ledgerFile}.ahead`, `${ledgerFile}.ahead.1`];
}

/** The ahead log's first file (the one written to first after a start). */
export function aheadFile(ledgerFile: string): string {
  return aheadFiles(ledgerFile)[0];
}

function line(r: SequencedRecord): string {
  return `${r.seq}\t${r.time}\t${JSON.stringify(r.sessionId)}\t${r.event.type}\t${r.prevHash}\t${r.hash}\t${r.payload}\n`;
}

function empty(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, 0);
  } finally {
    closeSync(fd);
  }
}

export class AheadLog {
  private readonly files: [string, string];
  /** the file written to */
  private at = 0;
  private fd: number;
  private size: number;
  /** the last record written to the file written to */
  private lastSeq = 0;
  /** the other file while it holds records SQLite may not have yet: the last of them */
  private full: number | null = null;
  /** set when a failed write could not be undone: every later write fails (fail closed) */
  private broken: string | null = null;

  /** At start, after replayAhead (both files hold nothing SQLite lacks). */
  constructor(ledgerFile: string, private readonly rotateBytes = ROTATE_BYTES) {
    this.files = aheadFiles(ledgerFile);
    this.fd = openSync(this.files[0], 'a', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  /** Writes a batch's records; throws (and leaves the files as they were) when it cannot. */
  write(rows: readonly SequencedRecord[]): void {
    if (this.broken !== null) throw new Error(this.broken);
    if (this.size >= this.rotateBytes && this.full === null) this.rotate();
    let text = '';
    for (const r of rows) text += line(r);
    const bytes = Buffer.from(text, 'utf8');
    const before = this.size;
    try {
      // O_APPEND: every write goes to the end; a short write (a full disk) is continued or fails
      for (let off = 0; off < bytes.length; ) off += writeSync(this.fd, bytes, off, bytes.length - off);
      this.size += bytes.length;
      this.lastSeq = rows[rows.length - 1]!.seq;
    } catch (e) {
      try {
        ftruncateSync(this.fd, before);
      } catch (t) {
        this.broken = `the ledger's ahead log ${this.file(this.at)} could not be restored after a failed write: ${(t as Error).message}`;
      }
      throw e;
    }
  }

  private file(i: number): string {
    return i === 0 ? this.files[0] : this.files[1];
  }

  private rotate(): void {
    const next = 1 - this.at;
    // emptied: it holds nothing SQLite lacks (full === null); O_APPEND like the first file, so
    // that writes after an ftruncate go to the new end, not to the old offset (a hole of zeros)
    const fd = openSync(this.file(next), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND, 0o600);
    closeSync(this.fd);
    this.full = this.lastSeq;
    this.fd = fd;
    this.at = next;
    this.size = 0;
  }

  /**
   * SQLite holds every record up to `seq`; `all`: and nothing written here is waiting. Empties the
   * full file once SQLite has its last record, and the file written to once it has everything.
   */
  inserted(seq: number, all: boolean): void {
    try {
      if (this.full !== null && seq >= this.full) {
        empty(this.file(1 - this.at));
        this.full = null;
      }
      if (all && this.size >= this.rotateBytes && this.broken === null) {
        ftruncateSync(this.fd, 0);
        this.size = 0;
      }
    } catch {
      // kept as they are: replay skips what SQLite already has, and the next call tries again
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

/**
 * Inserts the records of the ahead log that SQLite does not hold yet (those after its last
 * record, each continuing the chain), in one transaction, then empties the log. Reads each file up
 * to its first incomplete line and stops at the first record that does not continue the chain (a
 * write cut short by a host crash: it was never acknowledged). Returns how many records it inserted.
 */
export function replayAhead(db: BetterSqlite3.Database, ledgerFile: string): number {
  const files = aheadFiles(ledgerFile).filter((f) => existsSync(f));
  const lines: Array<{ seq: number; time: number; sessionId: string; type: string; prevHash: string; hash: string; payload: string }> = [];
  for (const file of files) {
    for (const l of readFileSync(file, 'utf8').split('\n')) {
      const f = l.split('\t');
      if (f.length < 7) break;
      let sessionId: string;
      try {
        sessionId = JSON.parse(f[2]!) as string;
      } catch {
        break;
      }
      lines.push({ seq: Number(f[0]), time: Number(f[1]), sessionId, type: f[3]!, prevHash: f[4]!, hash: f[5]!, payload: f.slice(6).join('\t') });
    }
  }
  if (lines.length === 0) return 0;
  // the two files in turn: the older one's records come first
  lines.sort((a, b) => a.seq - b.seq);
  const head = (prepared(db, 'SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined)
    ?? { seq: 0, hash: GENESIS_HASH };
  const rows: Array<[number, number, string, string, string, string, string]> = [];
  let { seq, hash } = head;
  for (const r of lines) {
    if (r.seq <= seq) continue; // SQLite has it already
    if (r.seq !== seq + 1 || r.prevHash !== hash) break;
    if (recordHash({ seq: r.seq, time: r.time, sessionId: r.sessionId, payload: r.payload, prevHash: r.prevHash }) !== r.hash) break;
    rows.push([r.seq, r.time, r.sessionId, r.type, r.payload, r.prevHash, r.hash]);
    seq = r.seq;
    hash = r.hash;
  }
  db.transaction(() => {
    const insert = prepared(db, 'INSERT INTO records (seq, time_us, session_id, type, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)');
    for (const r of rows) insert.run(r);
  }).immediate();
  // everything they held is in SQLite now (or was never acknowledged)
  for (const f of files) empty(f);
  return rows.length;
}

/** After a failed insert (the store unwritable), the next try. */
const RETRY_MS = 1000;

/**
 * The group committer's commit in durability process: the batch goes to the ahead log (the
 * statement waits for that write only), then into a queue that the writer thread inserts into
 * SQLite, every batch queued since the last insert in one transaction, in order. A batch written
 * to the ahead log is committed: an insert that fails is retried (every RETRY_MS) and never lost.
 * Fail closed: once an insert failed, a new batch first waits for the queue to go in, and is
 * refused (nothing written) when it does not. The batches that get ahead of a failing store are
 * the ones written while its first failing insert ran (a few milliseconds); they are in the ahead
 * log and retried, never lost. A start with records SQLite still refuses fails with the store's
 * error, the records kept in the ahead log.
 */
export class AheadInserter {
  /** batches in the ahead log, not yet in SQLite, in order */
  private queue: Array<readonly SequencedRecord[]> = [];
  private inserting = false;
  private failure: string | null = null;
  private retry: NodeJS.Timeout | null = null;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly log: AheadLog,
    /** runs the ops in one SQLite transaction on the writer thread */
    private readonly run: (ops: SqlOp[]) => Promise<{ ok: boolean; error?: string }>,
    /** called with the records of every successful insert, in order */
    private readonly inserted: (rows: readonly SequencedRecord[]) => void,
  ) {}

  async commit(rows: readonly SequencedRecord[], extras: readonly SqlOp[]): Promise<void> {
    if (this.failure !== null || extras.length > 0) {
      await this.drain();
      if (this.failure !== null) throw new Error(this.failure);
    }
    if (extras.length > 0) {
      // a batch with its own SQL (retention's pruning, with the record that says so) is committed
      // to SQLite directly, in one transaction: the ahead log holds records, not their side effects
      const reply = await this.run([...extras, ...rows.map(recordInsert)]);
      if (!reply.ok) throw new Error(`the ledger cannot write to its store: ${reply.error ?? 'unknown error'}`);
      this.inserted(rows);
      return;
    }
    this.log.write(rows);
    this.queue.push(rows);
    this.pump();
  }

  /** Resolves once SQLite holds every batch written so far, or once an insert failed. */
  drain(): Promise<void> {
    if (!this.inserting && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.pump();
    });
  }

  private pump(): void {
    if (this.retry) {
      clearTimeout(this.retry);
      this.retry = null;
    }
    if (this.inserting || this.queue.length === 0) return;
    const batches = this.queue;
    this.queue = [];
    this.inserting = true;
    const ops: SqlOp[] = [];
    for (const b of batches) for (const r of b) ops.push(recordInsert(r));
    void this.run(ops).then((reply) => {
      this.inserting = false;
      if (reply.ok) {
        this.failure = null;
        for (const b of batches) this.inserted(b);
        const last = batches[batches.length - 1]!;
        this.log.inserted(last[last.length - 1]!.seq, this.queue.length === 0);
        if (this.queue.length > 0) return this.pump();
        return this.wake();
      }
      // keep them, in order, ahead of anything queued since; the ahead log holds them too
      this.failure = `the ledger cannot write to its store: ${reply.error ?? 'unknown error'}`;
      this.queue = batches.concat(this.queue);
      this.wake();
      this.retry = setTimeout(() => {
        this.retry = null;
        this.pump();
      }, RETRY_MS);
      this.retry.unref();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  close(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.log.close();
  }
}
