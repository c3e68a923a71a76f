import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { nowUs } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { AuditEvent, AuditEventType, Protocol, SessionStatus } from '../core/events.js';
import { GroupCommitter } from './group-commit.js';
import type { LedgerStore, LedgerHead, LedgerRecord, SessionFilter, SessionSummary, StoredRecord, NewRecord, AppendOptions } from './ledger.js';
import { checkPgReadable, migratePg } from './postgres-schema.js';
import { recordOps, type SqlOp } from './projection.js';
import { pgTsQuery, type CommandHit, type SearchFilter, type SearchPage } from './search.js';
import { GENESIS_HASH } from './canonical.js';
import { PRUNED_PAYLOAD } from './sqlite-schema.js';

/**
 * The PostgreSQL ledger store (`ledger.postgres`). Each gateway process opens its own log (a new
 * log id per start) and group-commits to it over one dedicated connection; reads go through a small
 * pool and see every log. Per-log reads (head, scan, checkpoints, hashes) are answered for the
 * store's current log; forLog() gives a reader of another one (verify walks them all).
 */

/** `?` placeholders (the projection's store-neutral SQL) to PostgreSQL's `$n`. */
const pgSql = (sql: string): string => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

type Row = Record<string, unknown>;
const num = (v: unknown): number => Number(v);

function toSummary(r: Row): SessionSummary {
  return {
    id: r.id as string, protocol: r.protocol as Protocol, connection: r.connection as string | null, status: r.status as SessionStatus,
    subject: r.subject as string | null, groups: JSON.parse(r.groups as string) as string[], authorizedBy: r.authorized_by as string | null,
    issuer: r.issuer as string | null, tokenId: r.token_id as string | null, tokenSha256: r.token_sha256 as string | null,
    ciJob: r.ci_job as string | null, clientUser: r.client_user as string | null, clientApplication: r.client_application as string | null,
    clientAddress: r.client_address as string | null, startedAt: num(r.started_us), endedAt: r.ended_us === null ? null : num(r.ended_us),
    statements: num(r.statements), errors: num(r.errors), reason: r.reason as string | null,
  };
}

function toRecord(r: Row): LedgerRecord {
  return {
    seq: num(r.seq), time: num(r.time_us), sessionId: r.session_id as string, type: r.type as AuditEventType,
    event: JSON.parse(r.payload as string) as AuditEvent, prevHash: r.prev_hash as string, hash: r.hash as string,
  };
}

export class PostgresLedger implements LedgerStore {
  private writerClient: pg.Client | null = null;
  private log: GroupCommitter<SqlOp[]> | null = null;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly currentLog: string,
    private readonly where: string,
    private readonly ownsPool: boolean,
  ) {}

  static async open(url: string, options: { readonly?: boolean; durability?: 'strict' | 'process' } = {}): Promise<PostgresLedger> {
    const where = url.replace(/\/\/[^@/]*@/, '//***@');
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    pool.on('error', () => undefined);
    try {
      const c = await pool.connect();
      try {
        if (options.readonly) await checkPgReadable(c, where);
        else await migratePg(c, where);
      } finally {
        c.release();
      }
      if (options.readonly) {
        const last = await pool.query('SELECT log_id FROM gatehouse.logs ORDER BY created_us DESC LIMIT 1');
        return new PostgresLedger(pool, (last.rows[0]?.log_id as string | undefined) ?? '', where, true);
      }
      const store = new PostgresLedger(pool, randomUUID(), where, true);
      await store.startWriter(url, options.durability ?? 'strict');
      return store;
    } catch (e) {
      await pool.end().catch(() => undefined);
      if (e instanceof GatehouseError) throw e;
      throw new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', `cannot open ledger ${where}: ${(e as Error).message}`, { cause: e });
    }
  }

  private async startWriter(url: string, durability: 'strict' | 'process'): Promise<void> {
    const c = new pg.Client({ connectionString: url });
    c.on('error', () => undefined);
    await c.connect();
    // process: a commit returns once the server has it, before its WAL reaches the disk (the server
    // flushes within a few hundred ms): nothing is lost if the gateway dies, the tail may be if the
    // database server crashes
    if (durability === 'process') await c.query('SET synchronous_commit = off');
    await c.query('INSERT INTO gatehouse.logs (log_id, created_us, host) VALUES ($1, $2, $3)', [this.currentLog, nowUs(), hostname()]);
    // the views records/commands and the log_id defaults follow this setting
    await c.query("SELECT set_config('gatehouse.log_id', $1, false), set_config('search_path', 'gatehouse', false)", [this.currentLog]);
    this.writerClient = c;
    this.log = new GroupCommitter<SqlOp[]>(async (rows, extras) => {
      await c.query('BEGIN');
      try {
        for (const op of [...extras.flat(), ...rows.flatMap(recordOps)]) await c.query(pgSql(op.sql), op.params);
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    });
  }

  /** A reader of another log in the same database (shares this store's pool). */
  forLog(logId: string): PostgresLedger {
    return new PostgresLedger(this.pool, logId, this.where, false);
  }

  async logs(): Promise<string[]> {
    return (await this.pool.query('SELECT log_id FROM gatehouse.logs ORDER BY created_us, log_id')).rows.map((r) => r.log_id as string);
  }

  private writable(): GroupCommitter<SqlOp[]> {
    if (!this.log) throw new TypeError('ledger opened read-only');
    return this.log;
  }

  append(records: readonly NewRecord[], opts: AppendOptions = {}): Promise<number[]> {
    return this.writable().append(records, undefined, opts.behind === true);
  }

  treeHead(): { size: number; root: string } {
    return this.writable().treeHead();
  }

  onCommit(listener: (size: number) => void): () => void {
    return this.writable().onCommit(listener);
  }

  async prune(beforeUs: number, retention: string): Promise<number> {
    const r = await this.pool.query(
      `SELECT count(*) AS n, max(seq) AS up_to FROM gatehouse.all_records WHERE log_id = $1 AND time_us < $2 AND pruned = 0
       AND type NOT IN ('ledger.checkpoint', 'ledger.pruned')`,
      [this.currentLog, beforeUs],
    );
    const n = num(r.rows[0]!.n);
    if (n === 0) return 0;
    const upTo = num(r.rows[0]!.up_to);
    const where = `seq <= ? AND time_us < ? AND pruned = 0 AND type NOT IN ('ledger.checkpoint', 'ledger.pruned')`;
    const ops: SqlOp[] = [
      { sql: `DELETE FROM commands WHERE seq IN (SELECT seq FROM records WHERE ${where})`, params: [upTo, beforeUs] },
      { sql: `UPDATE records SET payload = ?, pruned = 1 WHERE ${where}`, params: [PRUNED_PAYLOAD, upTo, beforeUs] },
    ];
    await this.writable().append([{ sessionId: '', time: nowUs(), event: { type: 'ledger.pruned', before: beforeUs, upToSeq: upTo, count: n, retention } }], ops);
    return n;
  }

  async logId(): Promise<string> {
    return this.currentLog;
  }

  async head(): Promise<LedgerHead> {
    const r = await this.pool.query('SELECT seq, hash FROM gatehouse.all_records WHERE log_id = $1 ORDER BY seq DESC LIMIT 1', [this.currentLog]);
    return r.rows[0] ? { seq: num(r.rows[0].seq), hash: r.rows[0].hash as string } : { seq: 0, hash: GENESIS_HASH };
  }

  async listSessions(f: SessionFilter): Promise<SessionSummary[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, ...values: unknown[]) => {
      let sql = clause;
      for (const v of values) {
        params.push(v);
        sql = sql.replace('?', `$${params.length}`);
      }
      where.push(sql);
    };
    if (f.identity !== undefined) add('subject = ?', f.identity);
    if (f.connection !== undefined) add('connection = ?', f.connection);
    if (f.status !== undefined) add('status = ?', f.status);
    if (f.ciJob !== undefined) add('ci_job = ?', f.ciJob);
    if (f.since !== undefined) add('started_us >= ?', f.since);
    if (f.until !== undefined) add('started_us < ?', f.until);
    if (f.group !== undefined) add('groups::jsonb @> ?::jsonb', JSON.stringify([f.group]));
    if (f.protocol !== undefined) add('protocol = ?', f.protocol);
    if (f.token !== undefined) add('(token_id = ? OR token_sha256 = ?)', f.token, f.token);
    if (f.text !== undefined) add('id IN (SELECT session_id FROM gatehouse.all_commands WHERE tsv @@ to_tsquery(\'simple\', ?))', pgTsQuery(f.text));
    if (f.cursor !== undefined) {
      const m = /^(\d+):(.+)$/.exec(f.cursor);
      if (!m) throw new GatehouseError('GH_ERR_USAGE', `--cursor "${f.cursor}" is not a cursor from a previous page`);
      const after = f.order === 'oldest' ? '>' : '<';
      add(`(started_us ${after} ? OR (started_us = ? AND id ${after} ?))`, Number(m[1]), Number(m[1]), m[2]!);
    }
    params.push(f.limit ?? 100);
    const dir = f.order === 'oldest' ? 'ASC' : 'DESC';
    const sql = `SELECT * FROM gatehouse.sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY started_us ${dir}, id ${dir} LIMIT $${params.length}`;
    return (await this.pool.query(sql, params)).rows.map(toSummary);
  }

  async sessionIdsWithPrefix(prefix: string, limit: number): Promise<string[]> {
    const r = await this.pool.query('SELECT id FROM gatehouse.sessions WHERE id >= $1 AND id < $2 ORDER BY id LIMIT $3', [prefix, `${prefix}\uffff`, limit]);
    return r.rows.map((x) => x.id as string);
  }

  async getSession(id: string): Promise<SessionSummary | null> {
    const r = await this.pool.query('SELECT * FROM gatehouse.sessions WHERE id = $1', [id]);
    return r.rows[0] ? toSummary(r.rows[0] as Row) : null;
  }

  /** The log a session was recorded in (for evidence, which proves against that log's tree). */
  async sessionLog(id: string): Promise<string | null> {
    const r = await this.pool.query('SELECT log_id FROM gatehouse.all_records WHERE session_id = $1 LIMIT 1', [id]);
    return (r.rows[0]?.log_id as string | undefined) ?? null;
  }

  async sessionRecords(id: string): Promise<LedgerRecord[]> {
    const r = await this.pool.query('SELECT * FROM gatehouse.all_records WHERE session_id = $1 ORDER BY log_id, seq', [id]);
    return r.rows.map((row) => toRecord(row as Row));
  }

  async *scan(pageSize = 5000, afterSeq = 0): AsyncIterable<StoredRecord> {
    let after = afterSeq;
    for (;;) {
      const r = await this.pool.query('SELECT * FROM gatehouse.all_records WHERE log_id = $1 AND seq > $2 ORDER BY seq LIMIT $3', [this.currentLog, after, pageSize]);
      for (const row of r.rows as Row[]) {
        yield {
          seq: num(row.seq), time: num(row.time_us), sessionId: row.session_id as string, type: row.type as string,
          payload: row.payload as string, prevHash: row.prev_hash as string, hash: row.hash as string,
        };
      }
      if (r.rows.length < pageSize) return;
      after = num(r.rows.at(-1)!.seq);
    }
  }

  async firstSeqAt(timeUs: number): Promise<number | null> {
    const r = await this.pool.query('SELECT min(seq) AS seq FROM gatehouse.all_records WHERE log_id = $1 AND time_us >= $2', [this.currentLog, timeUs]);
    return r.rows[0]?.seq === null ? null : num(r.rows[0]!.seq);
  }

  async checkpoints(): Promise<LedgerRecord[]> {
    return this.recordsOfType('ledger.checkpoint');
  }

  async recordsOfType(type: AuditEventType): Promise<LedgerRecord[]> {
    const r = await this.pool.query('SELECT * FROM gatehouse.all_records WHERE log_id = $1 AND type = $2 ORDER BY seq', [this.currentLog, type]);
    return r.rows.map((row) => toRecord(row as Row));
  }

  async hashes(upTo: number): Promise<string[]> {
    const r = await this.pool.query({ text: 'SELECT hash FROM gatehouse.all_records WHERE log_id = $1 AND seq <= $2 ORDER BY seq', values: [this.currentLog, upTo], rowMode: 'array' });
    return (r.rows as Array<[string]>).map((x) => x[0]);
  }

  async searchCommands(f: SearchFilter): Promise<SearchPage> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, v: unknown) => {
      params.push(v);
      where.push(clause.replace('?', `$${params.length}`));
    };
    if (f.text !== undefined) add("c.tsv @@ to_tsquery('simple', ?)", pgTsQuery(f.text));
    if (f.identity !== undefined) add('s.subject = ?', f.identity);
    if (f.group !== undefined) add('s.groups::jsonb @> ?::jsonb', JSON.stringify([f.group]));
    if (f.connection !== undefined) add('s.connection = ?', f.connection);
    if (f.protocol !== undefined) add('s.protocol = ?', f.protocol);
    if (f.status !== undefined) add('s.status = ?', f.status);
    if (f.ciJob !== undefined) add('s.ci_job = ?', f.ciJob);
    if (f.result !== undefined) add('c.status = ?', f.result);
    if (f.token !== undefined) {
      params.push(f.token);
      where.push(`(s.token_id = $${params.length} OR s.token_sha256 = $${params.length})`);
    }
    if (f.since !== undefined) add('c.time_us >= ?', f.since);
    if (f.until !== undefined) add('c.time_us < ?', f.until);
    // across logs the cursor is a time: pages go back in time
    if (f.cursor !== undefined) add('c.time_us < ?', f.cursor);
    const limit = f.limit ?? 50;
    params.push(limit + 1);
    const r = await this.pool.query(
      `SELECT c.*, s.subject, s.connection, s.authorized_by, s.ci_job FROM gatehouse.all_commands c
       LEFT JOIN gatehouse.sessions s ON s.id = c.session_id ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY c.time_us DESC, c.seq DESC LIMIT $${params.length}`,
      params,
    );
    const hits: CommandHit[] = (r.rows as Row[]).slice(0, limit).map((x) => ({
      seq: num(x.seq), time: num(x.time_us), sessionId: x.session_id as string, type: x.type as string, text: x.text as string,
      status: x.status as string | null, tag: x.tag as string | null, rows: x.rows === null ? null : num(x.rows), sqlstate: x.sqlstate as string | null,
      subject: x.subject as string | null, connection: x.connection as string | null, authorizedBy: x.authorized_by as string | null, ciJob: x.ci_job as string | null,
    }));
    return { hits, next: r.rows.length > limit ? hits.at(-1)!.time : null };
  }

  async close(): Promise<void> {
    await this.log?.close();
    await this.writerClient?.end().catch(() => undefined);
    if (this.ownsPool) await this.pool.end().catch(() => undefined);
  }
}

