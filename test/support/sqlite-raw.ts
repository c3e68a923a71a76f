import Database from 'better-sqlite3';

/**
 * Raw handles to a SQLite ledger, reaching under the store, kept for the life of the test process:
 * better-sqlite3 12 on Node 24 can abort the process when V8 collects a Database or Statement
 * (src/ledger/sqlite-statements.ts).
 */
const handles: unknown[] = [];

export function openRaw(path: string, options?: Database.Options): Database.Database {
  const db = new Database(path, options);
  handles.push(db);
  return db;
}

export function rows<T>(db: Database.Database, sql: string, ...params: unknown[]): T {
  const st = db.prepare(sql);
  handles.push(st);
  return st.all(...params) as T;
}
