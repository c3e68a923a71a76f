// Search latency on a large ledger: fills a SQLite ledger with BENCH_RECORDS records (default 10
// million) through the real write path (group commit, hash chain, projections, FTS index), then
// times filtered searches. Every number printed is measured in this run.
//
//   cd bench && BENCH_RECORDS=10000000 node search.mjs [--keep /path/ledger.db]
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SqliteLedger } from '../dist/ledger/sqlite.js';
import { parseArgs } from './lib.mjs';

const total = Number(process.env.BENCH_RECORDS ?? 10_000_000);
const keep = parseArgs().opt('keep', null);
const file = keep ?? join(mkdtempSync(join(tmpdir(), 'gatehouse-bench-')), 'ledger.db');
const reuse = keep !== null && existsSync(file);
const ledger = new SqliteLedger(file);

const subjects = Array.from({ length: 200 }, (_, i) => `agent-${i}`);
const tables = ['orders', 'customers', 'invoices', 'payments', 'shipments', 'users', 'audit_log', 'products'];
const verbs = [
  (t, i) => `SELECT * FROM ${t} WHERE id = ${i}`,
  (t, i) => `UPDATE ${t} SET status = 'done' WHERE id = ${i}`,
  (t, i) => `DELETE FROM ${t} WHERE id = ${i}`,
  (t, i) => `INSERT INTO ${t} (id, note) VALUES (${i}, 'n${i % 97}')`,
];
const client = { address: '10.0.0.1', port: 5000, tls: true, user: 'agent', application: 'bench' };

async function fill() {
  let seq = (await ledger.head()).seq;
  const t0 = performance.now();
  let session = 0;
  const pending = [];
  while (seq < total) {
    const id = `bench-${session}`;
    const subject = subjects[session % subjects.length];
    const now = Date.now() * 1000;
    const recs = [{ sessionId: id, time: now, event: {
      type: 'session.start', protocol: 'postgres', connection: tables[session % tables.length], authorizedBy: 'ci-agents', client,
      identity: { subject, groups: ['ci-agents'], issuer: 'https://idp.example', clientId: subject, tokenId: `jti-${session}`, tokenSha256: 'a'.repeat(64), ciJob: String(10_000 + (session % 5000)), expiresAt: null },
      upstream: { host: 'db', port: 5432, database: 'app', user: 'app', tls: true }, parameters: {},
    } }];
    for (let i = 0; i < 24; i++) {
      recs.push({ sessionId: id, time: now + i, event: { type: 'pg.query', text: verbs[(session + i) % verbs.length](tables[(session * 7 + i) % tables.length], session * 31 + i) } });
    }
    recs.push({ sessionId: id, time: now + 30, event: { type: 'session.end', status: 'ok', reason: 'client terminated the session', statements: 24, errors: 0, durationUs: 30 } });
    pending.push(ledger.append(recs));
    seq += recs.length;
    session += 1;
    if (pending.length >= 64) await Promise.all(pending.splice(0));
    if (session % 4000 === 0) process.stderr.write(`\rfilled ${seq} / ${total} records (${Math.round(seq / ((performance.now() - t0) / 1000))} records/s)`);
  }
  await Promise.all(pending);
  process.stderr.write('\n');
  return (performance.now() - t0) / 1000;
}

const fillSeconds = reuse ? null : await fill();
const count = (await ledger.head()).seq;
const queries = [
  ['text: "orders AND delete"', { text: 'orders AND delete', limit: 50 }],
  ['text + identity', { text: 'invoices AND update', identity: 'agent-17', limit: 50 }],
  ['identity only', { identity: 'agent-42', limit: 50 }],
  ['CI job only', { ciJob: '12345', limit: 50 }],
  ['token id', { token: 'jti-777', limit: 50 }],
  ['text + time range (last hour)', { text: 'payments', since: Date.now() * 1000 - 3_600_000_000, limit: 50 }],
];
console.log(`ledger: ${count} records${fillSeconds ? `, filled in ${fillSeconds.toFixed(0)} s (${Math.round(count / fillSeconds)} records/s through the write path)` : ' (reused)'}`);
console.log('query'.padEnd(34), 'median ms', '  p95 ms', '  max ms', ' hits');
for (const [name, f] of queries) {
  const times = [];
  let hits = 0;
  for (let i = 0; i < 21; i++) {
    const t = performance.now();
    hits = (await ledger.searchCommands(f)).hits.length;
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(name.padEnd(34), times[10].toFixed(2).padStart(9), times[19].toFixed(2).padStart(8), times[20].toFixed(2).padStart(8), String(hits).padStart(5));
}
await ledger.close();
if (keep === null) rmSync(join(file, '..'), { recursive: true, force: true });
