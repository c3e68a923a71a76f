import type BetterSqlite3 from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { GatehouseError } from '../core/errors.js';

/** Schema versions this binary knows. Migrations run in order at start; a newer store is refused. */
export const SCHEMA_VERSION = 1;

const MIGRATIONS: Record<number, string> = {
  1: `
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE records (
      seq INTEGER PRIMARY KEY,
      time_us INTEGER NOT NULL,
      session_id TEXT NOT NULL,
      type TEXT NOT NULL,
      payload TEXT NOT NULL,
      prev_hash TEXT NOT NULL,
      hash TEXT NOT NULL
    );
    CREATE INDEX records_session ON records (session_id, seq);
    -- defence in depth: the application never rewrites history (the hash chain is what detects it)
    CREATE TRIGGER records_no_update BEFORE UPDATE ON records BEGIN SELECT RAISE(ABORT, 'ledger records are append-only'); END;
    CREATE TRIGGER records_no_delete BEFORE DELETE ON records BEGIN SELECT RAISE(ABORT, 'ledger records are append-only'); END;
    CREATE TABLE sessions (
      id TEXT PRIMARY KEY,
      protocol TEXT NOT NULL,
      connection TEXT,
      status TEXT NOT NULL,
      subject TEXT,
      groups TEXT NOT NULL DEFAULT '[]',
      authorized_by TEXT,
      issuer TEXT,
      token_id TEXT,
      token_sha256 TEXT,
      ci_job TEXT,
      client_user TEXT,
      client_application TEXT,
      client_address TEXT,
      started_us INTEGER NOT NULL,
      ended_us INTEGER,
      statements INTEGER NOT NULL DEFAULT 0,
      errors INTEGER NOT NULL DEFAULT 0,
      reason TEXT
    );
    CREATE INDEX sessions_started ON sessions (started_us DESC);
    CREATE INDEX sessions_subject ON sessions (subject, started_us DESC);
    CREATE INDEX sessions_connection ON sessions (connection, started_us DESC);
    CREATE INDEX sessions_ci_job ON sessions (ci_job, started_us DESC);
    CREATE INDEX sessions_status ON sessions (status, started_us DESC);
  `,
};

function currentVersion(db: BetterSqlite3.Database): number {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
  if (!hasMeta) return 0;
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  return row ? Number(row.value) : 0;
}

/** Brings the store to SCHEMA_VERSION; refuses a store written by a newer Gatehouse. */
export function migrate(db: BetterSqlite3.Database, file: string): void {
  const version = currentVersion(db);
  if (version > SCHEMA_VERSION) {
    throw new GatehouseError(
      'GH_ERR_LEDGER_SCHEMA',
      `ledger ${file} has schema version ${version}, this Gatehouse understands up to ${SCHEMA_VERSION}: upgrade Gatehouse`,
    );
  }
  if (version === SCHEMA_VERSION) return;
  db.transaction(() => {
    for (let v = version + 1; v <= SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('log_id', ?)").run(randomUUID());
  }).immediate();
}

/** Checks a store opened read-only without changing it. */
export function checkReadable(db: BetterSqlite3.Database, file: string): void {
  const version = currentVersion(db);
  if (version === 0) throw new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', `ledger ${file} is empty: no gateway has written to it yet`);
  if (version > SCHEMA_VERSION) {
    throw new GatehouseError(
      'GH_ERR_LEDGER_SCHEMA',
      `ledger ${file} has schema version ${version}, this Gatehouse understands up to ${SCHEMA_VERSION}: upgrade Gatehouse`,
    );
  }
}
