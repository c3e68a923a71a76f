import type BetterSqlite3 from 'better-sqlite3';
import { prepared } from './sqlite-statements.js';
import { randomUUID } from 'node:crypto';
import { GatehouseError } from '../core/errors.js';

/** Schema versions this binary knows. Migrations run in order at start; a newer store is refused. */
export const SCHEMA_VERSION = 5;

/** What retention leaves of a record's payload (its hash, links and place in the tree stay). */
export const PRUNED_PAYLOAD = '{"pruned":true}';

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
  // search: every command with its result summary, and a full-text index over the command text
  2: `
    CREATE TABLE commands (
      seq INTEGER PRIMARY KEY,
      session_id TEXT NOT NULL,
      time_us INTEGER NOT NULL,
      type TEXT NOT NULL,
      text TEXT NOT NULL,
      status TEXT,
      tag TEXT,
      rows INTEGER,
      sqlstate TEXT
    );
    CREATE INDEX commands_session ON commands (session_id, seq);
    CREATE INDEX commands_time ON commands (time_us);
    CREATE VIRTUAL TABLE commands_fts USING fts5(text, content='commands', content_rowid='seq', tokenize='unicode61');
    CREATE TRIGGER commands_fts_insert AFTER INSERT ON commands BEGIN
      INSERT INTO commands_fts (rowid, text) VALUES (new.seq, new.text);
    END;
    INSERT INTO commands (seq, session_id, time_us, type, text)
      SELECT seq, session_id, time_us, type, json_extract(payload, '$.text') FROM records
      WHERE type IN ('pg.query', 'pg.execute');
    UPDATE commands SET (status, tag, rows, sqlstate) = (
      SELECT json_extract(r.payload, '$.status'), json_extract(r.payload, '$.tag'), json_extract(r.payload, '$.rows'),
             json_extract(r.payload, '$.error.sqlstate')
      FROM records r WHERE r.type = 'pg.result' AND json_extract(r.payload, '$.statementSeq') = commands.seq
        AND json_extract(r.payload, '$.index') = 0);
    CREATE INDEX sessions_token ON sessions (token_id);
  `,
  // retention: a payload may be replaced by the pruned marker, and nothing else may change
  3: `
    ALTER TABLE records ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0;
    DROP TRIGGER records_no_update;
    CREATE TRIGGER records_no_update BEFORE UPDATE ON records
      WHEN NOT (OLD.pruned = 0 AND NEW.pruned = 1 AND NEW.payload = '{"pruned":true}' AND NEW.seq = OLD.seq
        AND NEW.hash = OLD.hash AND NEW.prev_hash = OLD.prev_hash AND NEW.time_us = OLD.time_us
        AND NEW.session_id = OLD.session_id AND NEW.type = OLD.type)
      BEGIN SELECT RAISE(ABORT, 'ledger records are append-only (retention may only prune a payload)'); END;
    CREATE TRIGGER commands_fts_delete AFTER DELETE ON commands BEGIN
      INSERT INTO commands_fts (commands_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    END;
  `,
  // search by token hash
  4: `
    CREATE INDEX sessions_token_sha256 ON sessions (token_sha256);
  `,
  // the projections (sessions, commands, full-text index) are filled behind the records (sqlite-projector.ts):
  // the last record they hold; a store of version 4 has every record projected
  5: `
    INSERT OR REPLACE INTO meta (key, value) SELECT 'projected_seq', CAST(coalesce(max(seq), 0) AS TEXT) FROM records;
  `,
};

function currentVersion(db: BetterSqlite3.Database): number {
  const hasMeta = prepared(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
  if (!hasMeta) return 0;
  const row = prepared(db, "SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
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
    prepared(db, "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    prepared(db, "INSERT OR IGNORE INTO meta (key, value) VALUES ('log_id', ?)").run(randomUUID());
  }).immediate();
}

/** Checks a store opened read-only without changing it. */
export function checkReadable(db: BetterSqlite3.Database, file: string): void {
  const version = currentVersion(db);
  if (version === 0) throw new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', `ledger ${file} is empty: no gateway has written to it yet`);
  if (version < SCHEMA_VERSION) {
    throw new GatehouseError(
      'GH_ERR_LEDGER_SCHEMA',
      `ledger ${file} has schema version ${version}; this Gatehouse uses ${SCHEMA_VERSION}: start the gateway once (gatehouse serve) to migrate it`,
    );
  }
  if (version > SCHEMA_VERSION) {
    throw new GatehouseError(
      'GH_ERR_LEDGER_SCHEMA',
      `ledger ${file} has schema version ${version}, this Gatehouse understands up to ${SCHEMA_VERSION}: upgrade Gatehouse`,
    );
  }
}
