import type pg from 'pg';
import { GatehouseError } from '../core/errors.js';

/**
 * The PostgreSQL ledger schema. Several gateways share one database; each gateway process appends
 * to its own log (log_id), so appends never serialize across gateways: a log's seq and hash chain
 * are assigned by the one process that owns it. Migrations are versioned, run at start under an
 * advisory lock, and a store written by a newer Gatehouse is refused.
 *
 * The SQLite store's tables have the same columns, so one projection (projection.ts) feeds both.
 */
export const PG_SCHEMA_VERSION = 1;

// Tables live in the schema "gatehouse". The writer's connection sets gatehouse.log_id; the views
// "records" and "commands" show and accept only that log's rows, so the store-neutral SQL of the
// projections (projection.ts) runs unchanged and can never touch another gateway's log.
const MIGRATIONS: Record<number, string> = {
  1: `
    CREATE SCHEMA IF NOT EXISTS gatehouse;
    CREATE TABLE gatehouse.meta (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE gatehouse.logs (log_id text PRIMARY KEY, created_us bigint NOT NULL, host text NOT NULL);
    CREATE TABLE gatehouse.all_records (
      log_id text NOT NULL DEFAULT current_setting('gatehouse.log_id') REFERENCES gatehouse.logs,
      seq bigint NOT NULL,
      time_us bigint NOT NULL,
      session_id text NOT NULL,
      type text NOT NULL,
      payload text NOT NULL,
      prev_hash text NOT NULL,
      hash text NOT NULL,
      pruned integer NOT NULL DEFAULT 0,
      PRIMARY KEY (log_id, seq)
    );
    CREATE INDEX all_records_session ON gatehouse.all_records (session_id, log_id, seq);
    CREATE INDEX all_records_type ON gatehouse.all_records (log_id, type, seq);
    CREATE INDEX all_records_time ON gatehouse.all_records (log_id, time_us);
    CREATE FUNCTION gatehouse.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.pruned = 0 AND NEW.pruned = 1 AND NEW.payload = '{"pruned":true}'
         AND NEW.log_id = OLD.log_id AND NEW.seq = OLD.seq AND NEW.hash = OLD.hash AND NEW.prev_hash = OLD.prev_hash
         AND NEW.time_us = OLD.time_us AND NEW.session_id = OLD.session_id AND NEW.type = OLD.type THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'ledger records are append-only (retention may only prune a payload)';
    END $$;
    CREATE TRIGGER all_records_append_only BEFORE UPDATE OR DELETE ON gatehouse.all_records
      FOR EACH ROW EXECUTE FUNCTION gatehouse.append_only();
    CREATE VIEW gatehouse.records AS
      SELECT seq, time_us, session_id, type, payload, prev_hash, hash, pruned FROM gatehouse.all_records
      WHERE log_id = current_setting('gatehouse.log_id', true);
    CREATE TABLE gatehouse.sessions (
      id text PRIMARY KEY, log_id text NOT NULL DEFAULT current_setting('gatehouse.log_id'), protocol text NOT NULL,
      connection text, status text NOT NULL, subject text, groups text NOT NULL DEFAULT '[]', authorized_by text, issuer text,
      token_id text, token_sha256 text, ci_job text, client_user text, client_application text, client_address text,
      started_us bigint NOT NULL, ended_us bigint, statements integer NOT NULL DEFAULT 0, errors integer NOT NULL DEFAULT 0, reason text
    );
    CREATE INDEX sessions_started ON gatehouse.sessions (started_us DESC, id DESC);
    CREATE INDEX sessions_subject ON gatehouse.sessions (subject, started_us DESC);
    CREATE INDEX sessions_ci_job ON gatehouse.sessions (ci_job, started_us DESC);
    CREATE INDEX sessions_token ON gatehouse.sessions (token_id);
    CREATE TABLE gatehouse.all_commands (
      log_id text NOT NULL DEFAULT current_setting('gatehouse.log_id'), seq bigint NOT NULL, session_id text NOT NULL,
      time_us bigint NOT NULL, type text NOT NULL, text text NOT NULL, status text, tag text, rows bigint, sqlstate text,
      tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
      PRIMARY KEY (log_id, seq)
    );
    CREATE INDEX all_commands_tsv ON gatehouse.all_commands USING gin (tsv);
    CREATE INDEX all_commands_time ON gatehouse.all_commands (time_us DESC);
    CREATE VIEW gatehouse.commands AS
      SELECT seq, session_id, time_us, type, text, status, tag, rows, sqlstate FROM gatehouse.all_commands
      WHERE log_id = current_setting('gatehouse.log_id', true);
  `,
};

async function version(c: pg.ClientBase): Promise<number> {
  const t = await c.query("SELECT to_regclass('gatehouse.meta') IS NOT NULL AS present");
  if (!(t.rows[0] as { present: boolean }).present) return 0;
  const r = await c.query("SELECT value FROM gatehouse.meta WHERE key = 'schema_version'");
  return r.rows.length > 0 ? Number((r.rows[0] as { value: string }).value) : 0;
}

export async function migratePg(c: pg.ClientBase, where: string): Promise<void> {
  await c.query('BEGIN');
  try {
    // one gateway migrates at a time; the others wait and then find the schema current
    await c.query("SELECT pg_advisory_xact_lock(hashtext('gatehouse_ledger_migrate'))");
    const v = await version(c);
    if (v > PG_SCHEMA_VERSION) {
      throw new GatehouseError('GH_ERR_LEDGER_SCHEMA', `ledger ${where} has schema version ${v}, this Gatehouse understands up to ${PG_SCHEMA_VERSION}: upgrade Gatehouse`);
    }
    for (let n = v + 1; n <= PG_SCHEMA_VERSION; n++) await c.query(MIGRATIONS[n]!);
    await c.query(
      "INSERT INTO gatehouse.meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
      [String(PG_SCHEMA_VERSION)],
    );
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

export async function checkPgReadable(c: pg.ClientBase, where: string): Promise<void> {
  const v = await version(c);
  if (v === 0) throw new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', `ledger ${where} is empty: no gateway has written to it yet`);
  if (v !== PG_SCHEMA_VERSION) {
    throw new GatehouseError('GH_ERR_LEDGER_SCHEMA', `ledger ${where} has schema version ${v}; this Gatehouse uses ${PG_SCHEMA_VERSION}${v < PG_SCHEMA_VERSION ? ': start the gateway once to migrate it' : ': upgrade Gatehouse'}`);
  }
}
