import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { prepared } from './sqlite-statements.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { nowUs } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { AuditEvent, AuditEventType, Protocol, SessionStatus } from '../core/events.js';
import { GENESIS_HASH } from './canonical.js';
import type {
  LedgerHead, LedgerReader, LedgerStore, LedgerRecord, NewRecord, SessionFilter, SessionSummary, StoredRecord, AppendOptions } from './ledger.js';
import { recordInsert, type SqlOp } from './projection.js';
import { catchUp, projectedSeq, SqliteProjector } from './sqlite-projector.js';
import { AheadInserter, AheadLog, aheadFile, replayAhead } from './sqlite-ahead.js';
import { checkReadable, migrate, PRUNED_PAYLOAD } from './sqlite-schema.js';
import { SqliteWriteThread } from './sqlite-writer.js';
import { GroupCommitter } from './group-commit.js';
import { searchError, searchSql, sessionFilterSql, type CommandHit, type SearchFilter, type SearchPage } from './search.js';

interface SessionRow {
  id: string; protocol: string; connection: string | null; status: string; subject: string | null; groups: string;
  authorized_by: string | null; issuer: string | null; token_id: string | null; token_sha256: string | null;
  ci_job: string | null; client_user: string | null; client_application: string | null; client_address: string | null;
  started_us: number; ended_us: number | null; statements: number; errors: number; reason: string | null;
}

interface RecordRow {
  seq: number; time_us: number; session_id: string; type: string; payload: string; prev_hash: string; hash: string;
}

function toSummary(r: SessionRow): SessionSummary {
  return {
    id: r.id, protocol: r.protocol as Protocol, connection: r.connection, status: r.status as SessionStatus,
    subject: r.subject, groups: JSON.parse(r.groups) as string[], authorizedBy: r.authorized_by, issuer: r.issuer,
    tokenId: r.token_id, tokenSha256: r.token_sha256, ciJob: r.ci_job, clientUser: r.client_user,
    clientApplication: r.client_application, clientAddress: r.client_address, startedAt: r.started_us,
    endedAt: r.ended_us, statements: r.statements, errors: r.errors, reason: r.reason,
  };
}

function openAheadLog(ledgerFile: string, rotateBytes?: number): AheadLog {
  try {
    return new AheadLog(ledgerFile, rotateBytes);
  } catch (e) {
    throw new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', `cannot open ${aheadFile(ledgerFile)}: ${(e as Error).message}`, { cause: e });
  }
}

/** A session filter matching at least this many sessions is "broad" (search plans, search.ts). */
const BROAD_SESSIONS = 200;

function toRecord(r: RecordRow): LedgerRecord {
  return {
    seq: r.seq, time: r.time_us, sessionId: r.session_id, type: r.type as AuditEventType,
    event: JSON.parse(r.payload) as AuditEvent, prevHash: r.prev_hash, hash: r.hash,
  };
}

export interface SqliteLedgerOptions {
  /** open for reading only (operator commands); append() then throws */
  readonly?: boolean;
  /**
   * strict (default): a batch counts as written once SQLite committed it with synchronous=FULL (an fsync);
   * process: once its records are written to the ahead log (sqlite-ahead.ts), SQLite (synchronous=NORMAL) behind
   */
  durability?: 'strict' | 'process';
  /** the ahead log's file size at which writing moves to its other file (default 4 MiB; tests set it small) */
  aheadRotateBytes?: number;
}

/**
 * The SQLite ledger store. Appends are group-committed: every append that arrives while a commit
 * is in flight joins the next one, so concurrent sessions share an fsync (WAL, synchronous=FULL).
 * Sequence numbers and the hash chain are assigned on this thread when a batch is dispatched and
 * only become the head once the commit succeeded; a failed commit leaves the head untouched.
 */
export class SqliteLedger implements LedgerStore {
  private readonly db: BetterSqlite3.Database;
  private readonly writer: SqliteWriteThread | null;
  private readonly log: GroupCommitter<SqlOp[]> | null = null;
  /** the sessions, commands and full-text projections, filled behind the records (sqlite-projector.ts) */
  private readonly projector: SqliteProjector | null = null;
  /** durability process: records written ahead of SQLite, inserted behind (sqlite-ahead.ts) */
  private readonly ahead: AheadInserter | null = null;
  private closing: Promise<void> | null = null;

  constructor(readonly file: string, options: SqliteLedgerOptions = {}) {
    try {
      if (options.readonly) {
        this.db = new Database(file, { readonly: true, fileMustExist: true });
        prepared(this.db, 'PRAGMA busy_timeout = 5000').run();
        checkReadable(this.db, file);
        this.writer = null;
      } else {
        mkdirSync(dirname(file), { recursive: true });
        this.db = new Database(file);
        prepared(this.db, 'PRAGMA journal_mode = WAL').run();
        prepared(this.db, 'PRAGMA synchronous = FULL').run();
        prepared(this.db, 'PRAGMA busy_timeout = 5000').run();
        migrate(this.db, file);
        // records a killed gateway wrote ahead of SQLite (durability process), whatever the mode now
        replayAhead(this.db, file);
        this.writer = new SqliteWriteThread(file, options.durability === 'process' ? 'NORMAL' : 'FULL');
      }
    } catch (e) {
      if (e instanceof GatehouseError) throw e;
      throw new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', `cannot open ledger ${file}: ${(e as Error).message}`, { cause: e });
    }
    if (this.writer) {
      const writer = this.writer;
      // records a killed gateway committed ahead of their projections
      catchUp(this.db);
      const projector = (this.projector = new SqliteProjector(writer, projectedSeq(this.db)));
      const last = prepared(this.db, 'SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1').get() as LedgerHead | undefined;
      const hashes = (prepared(this.db, 'SELECT hash FROM records ORDER BY seq').raw().iterate() as Iterable<[string]>);
      const ahead = (this.ahead = options.durability === 'process'
        ? new AheadInserter(openAheadLog(file, options.aheadRotateBytes), (ops) => writer.run(ops), (rows) => projector.committed(rows))
        : null);
      this.log = new GroupCommitter<SqlOp[]>(
        async (rows, extras) => {
          if (ahead) return ahead.commit(rows, extras.flat());
          const reply = await writer.run([...extras.flat(), ...rows.map(recordInsert)]);
          if (!reply.ok) throw new Error(reply.error ?? 'unknown');
          projector.committed(rows);
        },
        last ?? undefined,
        (function* () {
          for (const [h] of hashes) yield h;
        })(),
      );
    }
  }

  /**
   * In the writing process, before reading: waits until SQLite and its projections hold every
   * record appended so far (or until writing them failed: the reader answers from what is there).
   */
  private async settle(): Promise<void> {
    await this.ahead?.drain();
    await this.projector?.settle();
  }

  /** Size and Merkle root of the committed records (write mode). */
  treeHead(): { size: number; root: string } {
    return this.writable().treeHead();
  }

  /** Called after every successful commit with the new tree size. Returns an unsubscribe function. */
  onCommit(listener: (size: number) => void): () => void {
    return this.writable().onCommit(listener);
  }

  private writable(): GroupCommitter<SqlOp[]> {
    if (!this.log) throw new TypeError('ledger opened read-only');
    return this.log;
  }

  async logId(): Promise<string> {
    const row = prepared(this.db, "SELECT value FROM meta WHERE key = 'log_id'").get() as { value: string } | undefined;
    return row?.value ?? '';
  }

  async checkpoints(): Promise<LedgerRecord[]> {
    return this.recordsOfType('ledger.checkpoint');
  }

  async logs(): Promise<string[]> {
    return [await this.logId()];
  }

  forLog(): LedgerReader {
    return this;
  }

  async sessionLog(sessionId: string): Promise<string | null> {
    await this.ahead?.drain();
    const row = prepared(this.db, 'SELECT 1 FROM records WHERE session_id = ? LIMIT 1').get(sessionId);
    return row ? this.logId() : null;
  }

  async recordsOfType(type: AuditEventType): Promise<LedgerRecord[]> {
    await this.ahead?.drain();
    const rows = prepared(this.db, 'SELECT * FROM records WHERE type = ? ORDER BY seq').all(type) as RecordRow[];
    return rows.map(toRecord);
  }

  /**
   * Retention: replaces the payloads of records older than `beforeUs` with the pruned marker, in
   * the same commit as the ledger.pruned record that says so. Checkpoint and pruning records are
   * kept whole. Returns the pruned count (0: nothing to do, nothing recorded).
   */
  async prune(beforeUs: number, retention: string): Promise<number> {
    await this.settle();
    const row = prepared(this.db, `SELECT count(*) AS n, max(seq) AS upTo FROM records WHERE time_us < ? AND pruned = 0 AND type NOT IN ('ledger.checkpoint', 'ledger.pruned')`)
      .get(beforeUs) as { n: number; upTo: number | null };
    if (row.n === 0 || row.upTo === null) return 0;
    const where = `seq <= ? AND time_us < ? AND pruned = 0 AND type NOT IN ('ledger.checkpoint', 'ledger.pruned')`;
    const ops: SqlOp[] = [
      { sql: `DELETE FROM commands WHERE seq IN (SELECT seq FROM records WHERE ${where})`, params: [row.upTo, beforeUs] },
      { sql: `UPDATE records SET payload = ?, pruned = 1 WHERE ${where}`, params: [PRUNED_PAYLOAD, row.upTo, beforeUs] },
    ];
    const event: AuditEvent = { type: 'ledger.pruned', before: beforeUs, upToSeq: row.upTo, count: row.n, retention };
    await this.writable().append([{ sessionId: '', time: nowUs(), event }], ops);
    return row.n;
  }

  async searchCommands(f: SearchFilter): Promise<SearchPage> {
    await this.settle();
    // how many sessions the session filter selects decides the plan (see searchSql)
    const sessions = sessionFilterSql(f);
    const many = sessions !== null && (prepared(this.db, `SELECT count(*) AS n FROM (SELECT 1 FROM sessions WHERE ${sessions.where} LIMIT ${BROAD_SESSIONS})`)
      .get(...sessions.params) as { n: number }).n >= BROAD_SESSIONS;
    const { sql, params } = searchSql(f, many);
    let rows: Array<Record<string, unknown>>;
    try {
      rows = prepared(this.db, sql).all(...params) as Array<Record<string, unknown>>;
    } catch (e) {
      throw f.text !== undefined ? searchError(e, f.text) : e;
    }
    const limit = f.limit ?? 50;
    const hits: CommandHit[] = rows.slice(0, limit).map((r) => ({
      seq: r.seq as number, time: r.time_us as number, sessionId: r.session_id as string, type: r.type as string, text: r.text as string,
      status: r.status as string | null, tag: r.tag as string | null, rows: r.rows as number | null, sqlstate: r.sqlstate as string | null,
      subject: r.subject as string | null, connection: r.connection as string | null, authorizedBy: r.authorized_by as string | null,
      ciJob: r.ci_job as string | null,
    }));
    return { hits, next: rows.length > limit ? hits.at(-1)!.seq : null };
  }

  async hashes(upTo: number): Promise<string[]> {
    await this.ahead?.drain();
    return (prepared(this.db, 'SELECT hash FROM records WHERE seq <= ? ORDER BY seq').raw().all(upTo) as Array<[string]>).map((r) => r[0]);
  }

  append(records: readonly NewRecord[], opts: AppendOptions = {}): Promise<number[]> {
    return this.writable().append(records, undefined, opts.behind === true);
  }

  async head(): Promise<LedgerHead> {
    await this.ahead?.drain();
    const last = prepared(this.db, 'SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1').get() as
      | { seq: number; hash: string }
      | undefined;
    return last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
  }

  async listSessions(f: SessionFilter): Promise<SessionSummary[]> {
    await this.settle();
    const where: string[] = [];
    const params: Array<string | number> = [];
    if (f.identity !== undefined) { where.push('subject = ?'); params.push(f.identity); }
    if (f.connection !== undefined) { where.push('connection = ?'); params.push(f.connection); }
    if (f.status !== undefined) { where.push('status = ?'); params.push(f.status); }
    if (f.ciJob !== undefined) { where.push('ci_job = ?'); params.push(f.ciJob); }
    if (f.since !== undefined) { where.push('started_us >= ?'); params.push(f.since); }
    if (f.until !== undefined) { where.push('started_us < ?'); params.push(f.until); }
    if (f.group !== undefined) { where.push('EXISTS (SELECT 1 FROM json_each(groups) g WHERE g.value = ?)'); params.push(f.group); }
    if (f.protocol !== undefined) { where.push('protocol = ?'); params.push(f.protocol); }
    if (f.token !== undefined) { where.push('(token_id = ? OR token_sha256 = ?)'); params.push(f.token, f.token); }
    if (f.text !== undefined) {
      where.push('id IN (SELECT c.session_id FROM commands c WHERE c.seq IN (SELECT rowid FROM commands_fts WHERE commands_fts MATCH ?))');
      params.push(f.text);
    }
    if (f.cursor !== undefined) {
      const m = /^(\d+):(.+)$/.exec(f.cursor);
      if (!m) throw new GatehouseError('GH_ERR_USAGE', `--cursor "${f.cursor}" is not a cursor from a previous page`);
      const after = f.order === 'oldest' ? '>' : '<';
      where.push(`(started_us ${after} ? OR (started_us = ? AND id ${after} ?))`);
      params.push(Number(m[1]), Number(m[1]), m[2]!);
    }
    const dir = f.order === 'oldest' ? 'ASC' : 'DESC';
    const sql = `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY started_us ${dir}, id ${dir} LIMIT ?`;
    params.push(f.limit ?? 100);
    try {
      return (prepared(this.db, sql).all(...params) as SessionRow[]).map(toSummary);
    } catch (e) {
      throw f.text !== undefined ? searchError(e, f.text) : e;
    }
  }

  async sessionIdsWithPrefix(prefix: string, limit: number): Promise<string[]> {
    await this.settle();
    // range scan on the primary key: prefix <= id < prefix + U+FFFF
    return (prepared(this.db, 'SELECT id FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT ?').all(prefix, `${prefix}\uffff`, limit) as Array<{ id: string }>).map((r) => r.id);
  }

  async getSession(id: string): Promise<SessionSummary | null> {
    await this.settle();
    const row = prepared(this.db, 'SELECT * FROM sessions WHERE id = ?').get(id) as SessionRow | undefined;
    return row ? toSummary(row) : null;
  }

  async sessionRecords(id: string): Promise<LedgerRecord[]> {
    await this.ahead?.drain();
    const rows = prepared(this.db, 'SELECT * FROM records WHERE session_id = ? ORDER BY seq').all(id) as RecordRow[];
    return rows.map(toRecord);
  }

  async firstSeqAt(timeUs: number): Promise<number | null> {
    await this.ahead?.drain();
    const row = prepared(this.db, 'SELECT min(seq) AS seq FROM records WHERE time_us >= ?').get(timeUs) as { seq: number | null };
    return row.seq;
  }

  async *scan(pageSize = 5000, afterSeq = 0): AsyncIterable<StoredRecord> {
    await this.ahead?.drain();
    const page = prepared(this.db, 'SELECT * FROM records WHERE seq > ? ORDER BY seq LIMIT ?');
    let after = afterSeq;
    for (;;) {
      const rows = page.all(after, pageSize) as RecordRow[];
      for (const r of rows) {
        yield { seq: r.seq, time: r.time_us, sessionId: r.session_id, type: r.type, payload: r.payload, prevHash: r.prev_hash, hash: r.hash };
      }
      if (rows.length < pageSize) return;
      after = rows[rows.length - 1]!.seq;
    }
  }

  /** Waits for queued appends to finish, then closes the store. */
  async close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      await this.log?.close();
      await this.settle();
      this.projector?.close();
      this.ahead?.close();
      await this.writer?.close();
      this.db.close();
    })();
    return this.closing;
  }
}

