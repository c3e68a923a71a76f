import type BetterSqlite3 from 'better-sqlite3';

/**
 * Prepared statements that are never garbage collected. better-sqlite3 12 on Node 24 can abort
 * the process when V8 collects a Statement (its destructor asserts on a missing Node environment:
 * "RemoveEnvironmentCleanupHook ... (env) != nullptr"; seen under load in our tests, reported by
 * others). Every statement the ledger prepares is therefore kept, per database, for the life of
 * the process; the set of distinct SQL texts is small and fixed, so this costs nothing.
 */
const kept = new Map<BetterSqlite3.Database, Map<string, BetterSqlite3.Statement>>();

export function prepared(db: BetterSqlite3.Database, sql: string): BetterSqlite3.Statement {
  let byText = kept.get(db);
  if (!byText) {
    byText = new Map();
    kept.set(db, byText);
  }
  let s = byText.get(sql);
  if (!s) {
    s = db.prepare(sql);
    byText.set(sql, s);
  }
  return s;
}
