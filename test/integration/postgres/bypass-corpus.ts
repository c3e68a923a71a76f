/**
 * Statements written to slip past naive guardrails (keyword lists, regexes, first-word checks):
 * comments, case, quoting, Unicode escapes, dollar quoting, multi-statements, DML hidden in CTEs,
 * EXPLAIN ANALYZE, PREPARE, DO blocks, COPY ... PROGRAM, role changes, functions with side effects,
 * and text the parser cannot read. Each names the rule that must stop it (or `allow` for the
 * look-alikes a regex would wrongly block). Run against CORPUS_POLICIES on the orders demo.
 */

export const CORPUS_POLICIES = [
  { name: 'no-ddl', match: { statement: ['drop', 'truncate', 'alter', 'create', 'grant', 'revoke'] }, action: 'block' },
  { name: 'no-unbounded-writes', match: { statement: ['delete', 'update'], unbounded: true }, action: 'block' },
  { name: 'no-merge', match: { statement: ['merge'] }, action: 'block' },
  { name: 'no-program', match: { program: true }, action: 'block' },
  { name: 'no-opaque-code', match: { statement: ['do', 'call'] }, action: 'block' },
  { name: 'no-identity-change', match: { statement: ['set_role', 'set_session_authorization', 'alter_system'] }, action: 'block' },
  {
    name: 'no-dangerous-functions',
    match: { functions: ['pg_terminate_backend', 'pg_cancel_backend', 'set_config', 'pg_read_file', 'pg_read_binary_file', 'lo_import', 'lo_export', 'dblink_exec', 'pg_reload_conf'] },
    action: 'block',
  },
];

export interface CorpusEntry {
  sql: string;
  /** the rule that must block it, or 'allow' */
  expect: string;
  /** also run through the extended protocol (a named prepared statement); not for multi-statement text */
  extended?: boolean;
}

const b = (expect: string, sql: string, extended = true): CorpusEntry => ({ sql, expect, extended });

export const CORPUS: CorpusEntry[] = [
  // unbounded writes, disguised
  b('no-unbounded-writes', 'DELETE FROM orders'),
  b('no-unbounded-writes', 'dElEtE fRoM OrDeRs'),
  b('no-unbounded-writes', 'DELETE FROM "orders"'),
  b('no-unbounded-writes', 'DELETE FROM public."orders"'),
  b('no-unbounded-writes', 'DELETE FROM ONLY orders'),
  b('no-unbounded-writes', '/* harmless */ DELETE /* really */ FROM orders'),
  b('no-unbounded-writes', 'DELETE FROM orders -- WHERE id = 1'),
  b('no-unbounded-writes', 'DELETE\n\tFROM\n\torders'),
  b('no-unbounded-writes', 'DELETE FROM U&"\\006Frders"'),
  b('no-unbounded-writes', 'DELETE FROM U&"!006Frders" UESCAPE \'!\''),
  b('no-unbounded-writes', 'DELETE FROM orders WHERE true'),
  b('no-unbounded-writes', 'DELETE FROM orders WHERE 1 = 1'),
  b('no-unbounded-writes', 'DELETE FROM orders WHERE id = id'),
  b('no-unbounded-writes', 'DELETE FROM orders WHERE id = 1 OR true'),
  b('no-unbounded-writes', "DELETE FROM orders WHERE now() > '2000-01-01'"),
  b('no-unbounded-writes', 'DELETE FROM orders USING customers'),
  b('no-unbounded-writes', "UPDATE orders SET status = 'void'"),
  b('no-unbounded-writes', "update ORDERS set STATUS='void' -- where id = 3"),
  b('no-unbounded-writes', "UPDATE orders SET status = 'void' WHERE NOT false"),
  b('no-unbounded-writes', "UPDATE orders o SET status = 'void' FROM customers c"),
  // writes hidden inside other statements
  b('no-unbounded-writes', 'WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d'),
  b('no-unbounded-writes', "WITH x AS (SELECT 1) UPDATE orders SET status = 'void'"),
  b('no-unbounded-writes', 'WITH a AS (SELECT 1), b AS (DELETE FROM customers RETURNING id) SELECT * FROM a'),
  b('no-unbounded-writes', 'EXPLAIN ANALYZE DELETE FROM orders'),
  b('no-unbounded-writes', 'EXPLAIN (ANALYZE true, FORMAT json) DELETE FROM orders'),
  b('no-unbounded-writes', 'explain (analyze, buffers) WITH d AS (DELETE FROM orders RETURNING 1) SELECT 1'),
  b('no-unbounded-writes', 'PREPARE wipe AS DELETE FROM orders', false),
  b('no-ddl', 'CREATE TABLE orders_copy AS WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d'),
  // several statements in one Query
  b('no-unbounded-writes', 'SELECT 1; DELETE FROM orders', false),
  b('no-ddl', 'SELECT 1;DROP TABLE orders', false),
  b('no-ddl', "SELECT 'x'; TRUNCATE orders; SELECT 'y'", false),
  b('no-unbounded-writes', 'BEGIN; DELETE FROM orders; COMMIT', false),
  // DDL in its many spellings
  b('no-ddl', 'DROP TABLE orders'),
  b('no-ddl', 'drop table if exists public.orders cascade'),
  b('no-ddl', 'DROP TABLE "orders"'),
  b('no-ddl', 'DROP SCHEMA public CASCADE'),
  b('no-ddl', 'TRUNCATE orders'),
  b('no-ddl', 'truncate table only orders restart identity cascade'),
  b('no-ddl', 'TRUNCATE customers, orders'),
  b('no-ddl', 'ALTER TABLE orders DROP COLUMN status'),
  b('no-ddl', 'ALTER TABLE orders RENAME TO orders_old'),
  b('no-ddl', "CREATE FUNCTION wipe() RETURNS void LANGUAGE sql AS 'DELETE FROM orders'"),
  b('no-ddl', 'CREATE RULE r AS ON SELECT TO orders DO INSTEAD NOTHING'),
  b('no-ddl', 'GRANT ALL ON orders TO PUBLIC'),
  b('no-merge', 'MERGE INTO orders o USING customers c ON o.customer_id = c.id WHEN MATCHED THEN DELETE'),
  // opaque code
  b('no-opaque-code', 'DO $$ BEGIN DELETE FROM orders; END $$'),
  b('no-opaque-code', 'do $x$ begin execute \'DROP TABLE orders\'; end $x$'),
  b('no-opaque-code', "DO LANGUAGE plpgsql 'BEGIN TRUNCATE orders; END'"),
  b('no-opaque-code', 'CALL some_procedure()'),
  // COPY ... PROGRAM
  b('no-program', "COPY orders TO PROGRAM 'cat > /tmp/orders'"),
  b('no-program', "copy orders from program 'id'"),
  b('no-program', "COPY (SELECT 1) TO PROGRAM 'sh -c id'"),
  // identity changes
  b('no-identity-change', 'SET ROLE postgres'),
  b('no-identity-change', 'set local role postgres'),
  b('no-identity-change', 'SET SESSION AUTHORIZATION postgres'),
  b('no-identity-change', 'RESET ROLE'),
  b('no-identity-change', "ALTER SYSTEM SET log_statement = 'none'"),
  // side effects through functions
  b('no-dangerous-functions', "SELECT set_config('role', 'postgres', false)"),
  b('no-dangerous-functions', 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity'),
  b('no-dangerous-functions', 'select PG_CATALOG.PG_CANCEL_BACKEND(1)'),
  b('no-dangerous-functions', 'SELECT "pg_terminate_backend"(1)'),
  b('no-dangerous-functions', "SELECT id FROM orders WHERE id = (SELECT length(pg_read_file('/etc/passwd')))"),
  // text the parser cannot read is never let through
  b('unparsable-sql', 'DEL/**/ETE FROM orders'),
  b('unparsable-sql', 'DELETE FROM orders WHERE'),
  b('unparsable-sql', 'DROP TABLE orders; SELEC 1', false),
  // look-alikes that must not be blocked (what a regex filter gets wrong)
  b('allow', "SELECT 'DROP TABLE orders' AS text"),
  b('allow', 'SELECT 1 AS "delete from orders"'),
  b('allow', '/* DROP TABLE orders */ SELECT count(*) FROM orders'),
  b('allow', 'SELECT $$TRUNCATE orders$$'),
  b('allow', 'DELETE FROM orders WHERE id = -1'),
  b('allow', "UPDATE orders SET status = status WHERE id = -1"),
  b('allow', 'EXPLAIN SELECT * FROM orders'),
  b('allow', 'SELECT count(*) FROM orders; SELECT count(*) FROM customers', false),
];
