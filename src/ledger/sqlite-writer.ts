import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type { SqlOp } from './projection.js';

/**
 * Runs write transactions on a worker thread, so the fsync of a durable commit never blocks the
 * event loop that proxies client traffic. The worker is deliberately dumb: it executes a list of
 * SQL statements in one transaction (prepared statements cached by text) and answers ok or error.
 * All ledger logic (sequence numbers, hash chain, projections) stays on the main thread.
 *
 * The worker body is inline (eval) so that it runs the same from TypeScript sources under the
 * test runner and from the compiled build.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db = null;
const cache = new Map();
// handles are never garbage collected (see sqlite-statements.ts): a closed database and its
// statements go here
const graveyard = [];
function open() {
  db = new Database(workerData.file, { fileMustExist: true });
  stmt('PRAGMA journal_mode = WAL').run();
  stmt(workerData.synchronous === 'NORMAL' ? 'PRAGMA synchronous = NORMAL' : 'PRAGMA synchronous = FULL').run();
  stmt('PRAGMA busy_timeout = 5000').run();
}
function stmt(sql) {
  let s = cache.get(sql);
  if (!s) { s = db.prepare(sql); cache.set(sql, s); }
  return s;
}
// statement texts by the small id the main thread gave them (sent once, with the first batch using it)
const texts = new Map();
parentPort.on('message', (msg) => {
  if (msg.close) {
    // close the handle here, then let the thread end by itself: terminating a thread that holds
    // a native database handle can crash the process
    try { if (db) db.close(); } catch {}
    if (db) graveyard.push(db);
    db = null;
    parentPort.close();
    return;
  }
  try {
    if (msg.defs) for (const [id, sql] of msg.defs) texts.set(id, sql);
    if (db === null) open();
    db.transaction((ops) => { for (const [id, params] of ops) stmt(texts.get(id)).run(params); }).immediate(msg.ops);
    parentPort.postMessage({ id: msg.id, ok: true });
  } catch (e) {
    // a failed open or commit: drop the handle so the next batch reopens (the store may come back)
    try { if (db) db.close(); } catch {}
    if (db) graveyard.push(db);
    graveyard.push(...cache.values());
    db = null; cache.clear();
    parentPort.postMessage({ id: msg.id, ok: false, error: String(e && e.message || e), code: e && e.code || null });
  }
});
`;

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  code?: string | null;
}

export class SqliteWriteThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  /**
   * Statement texts sent to the worker, by id: a batch carries [id, params] pairs, not the SQL text
   * of every op (structured cloning the same long strings per record was a tenth of the main
   * thread's time under load). A new worker (after a failure) is sent every text again.
   */
  private readonly ids = new Map<string, number>();
  private sent = 0;

  /** `synchronous`: FULL (an fsync per commit) or NORMAL (WAL mode: durable against a crash of this process, fsync'd at checkpoints) */
  constructor(private readonly file: string, private readonly synchronous: 'FULL' | 'NORMAL' = 'FULL') {}

  private spawn(): Worker {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { file: this.file, driver, synchronous: this.synchronous } });
    w.on('message', (r: Reply) => {
      const done = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      // an idle writer must not keep the process alive; a busy one must
      if (this.waiting.size === 0) w.unref();
      done?.(r);
    });
    const fail = (why: string) => {
      if (this.worker === w) this.worker = null;
      for (const [id, done] of this.waiting) done({ id, ok: false, error: why });
      this.waiting.clear();
    };
    w.on('error', (e) => fail(`ledger writer thread failed: ${e.message}`));
    w.on('exit', (code) => fail(`ledger writer thread exited (${code})`));
    w.unref();
    return w;
  }

  /** Runs the ops in one durable transaction. Resolves with the worker's answer; never rejects. */
  run(ops: SqlOp[]): Promise<Reply> {
    if (!this.worker) {
      this.worker = this.spawn();
      this.sent = 0;
    }
    const id = this.nextId++;
    const encoded: Array<[number, SqlOp['params']]> = ops.map((op) => {
      let sqlId = this.ids.get(op.sql);
      if (sqlId === undefined) this.ids.set(op.sql, (sqlId = this.ids.size));
      return [sqlId, op.params];
    });
    // texts this worker has not seen yet (ids are dense, in the order they were made)
    const defs = this.sent < this.ids.size ? [...this.ids].slice(this.sent).map(([sql, i]) => [i, sql] as const) : null;
    this.sent = this.ids.size;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.worker!.ref();
      this.worker!.postMessage(defs ? { id, ops: encoded, defs } : { id, ops: encoded });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (!w) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.postMessage({ close: true });
    // a thread stuck in a commit (a store that hangs) is terminated after a grace period
    const timer = setTimeout(() => void w.terminate(), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
