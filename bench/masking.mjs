// Masking throughput: the same result set read directly from PostgreSQL, through a gateway without
// masking, through one with column rules, and through one with detectors over every text value.
// Runs are interleaved (one of each per round), so machine noise hits all variants alike; every
// number printed is measured in this run.
//
//   npm run build && cd bench && node masking.mjs [--rows 20000] [--rounds 15] [--typical] [--pages]
//
// With --relay [--passes 30] there is no database and no socket: the relay alone is fed the same
// rows as one bulk result in 64 KB chunks (sans-IO), and the process CPU time of each pass is
// measured per variant; prints the least and the median, and a digest of the masked output (to
// check that a change leaves it byte for byte the same).
//
// Needs the machine's PostgreSQL on 127.0.0.1:5432 with trust auth for `postgres` (database `test`),
// or PGBENCH_URL-style overrides: BENCH_PG_HOST, BENCH_PG_PORT, BENCH_PG_DB, BENCH_PG_USER.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { stringify } from 'yaml';
import { loadConfigText } from '../dist/core/config.js';
import { createLogger } from '../dist/core/log.js';
import { startDevIssuer } from '../dist/identity/dev-issuer.js';
import { startGateway } from '../dist/server.js';
import {
  BENCH_PRINCIPAL, COLUMN_RULES, DATASETS, DETECTOR_RULES, RELAY_LIMITS, TEN_DETECTORS, backendMessages, chunks64k, parseArgs,
} from './lib.mjs';

const { flag, opt } = parseArgs();
const arg = (name, def) => Number(opt(name, def));
const ROWS = arg('rows', 20_000);
// dense: every row has an email, a card, an SSN and a phone (the worst case: every row is rewritten);
// typical: an orders table where one column is an email and 1 row in 50 has a phone in its note
const DATA = flag('typical') ? 'typical' : 'dense';
// bulk: each round reads the whole table in one query; pages: each round is 200 queries of 20 rows
// (what an agent does: look at a page, decide, look again)
const WORKLOAD = flag('pages') ? 'pages' : 'bulk';
const ROUNDS = arg('rounds', 15);
const target = {
  host: process.env.BENCH_PG_HOST ?? '127.0.0.1',
  port: Number(process.env.BENCH_PG_PORT ?? 5432),
  database: process.env.BENCH_PG_DB ?? 'test',
  user: process.env.BENCH_PG_USER ?? 'postgres',
};
const TABLE = 'gatehouse_bench_people';

if (flag('relay')) {
  await relayOnly(arg('passes', 30));
  process.exit(0);
}

/** The rows of the data sets below, as the database returns them (text format). */
function rowValues(i) {
  return DATASETS[DATA].row(i);
}

async function relayOnly(passes) {
  const { createHash } = await import('node:crypto');
  const { serialize } = await import('pg-protocol');
  const { PgRelay } = await import('../dist/protocols/postgres/relay.js');
  const { MessageWriter } = await import('../dist/protocols/postgres/wire.js');
  const { readyForQuery } = await import('../dist/protocols/postgres/backend.js');
  const { SessionMasker } = await import('../dist/masking/session.js');
  const { dataRow, rowDescription } = backendMessages(MessageWriter);
  const parts = [rowDescription(DATASETS[DATA].cols)];
  for (let i = 1; i <= ROWS; i++) parts.push(dataRow(rowValues(i)));
  parts.push(new MessageWriter().cstring(`SELECT ${ROWS}`).finish('C'), readyForQuery('I'));
  const all = Buffer.concat(parts);
  const chunks = chunks64k(all);
  const principal = BENCH_PRINCIPAL;
  const limits = RELAY_LIMITS;
  // the variants above; column rules by column name (there is no catalog here)
  const rules = { 'gateway, no masking': null, 'gateway, column rules': COLUMN_RULES, 'gateway, detectors on every text value': DETECTOR_RULES };
  console.log(`${DATA} data, the relay alone fed one result of ${ROWS} rows in 64 KB chunks, ${passes} passes per variant, node ${process.version}`);
  console.log('| variant | least CPU ms | median CPU ms | µs per row (least) | output bytes | output SHA-256 (first 12) |');
  console.log('| --- | ---: | ---: | ---: | ---: | --- |');
  for (const [name, r] of Object.entries(rules)) {
    const times = [];
    let digest = '';
    let bytes = 0;
    for (let p = 0; p < passes; p++) {
      const masker = r === null ? null : new SessionMasker({ config: { detectors: [], rules: r }, key: null }, principal, 'bench');
      const relay = new PgRelay(limits, undefined, masker);
      relay.fromClient(serialize.query(`SELECT * FROM ${TABLE}`));
      const out = [];
      // fresh chunks each pass, as a socket gives them: the relay may change a chunk it was given
      const input = chunks.map((c) => Buffer.from(c));
      const c0 = process.cpuUsage();
      for (const c of input) out.push(relay.fromUpstream(c).out);
      const c = process.cpuUsage(c0);
      times.push((c.user + c.system) / 1000);
      if (p === passes - 1) {
        const h = createHash('sha256');
        for (const o of out.flat()) {
          const b = Buffer.isBuffer(o) ? o : o.original;
          h.update(b);
          bytes += b.length;
        }
        digest = h.digest('hex').slice(0, 12);
      }
    }
    times.sort((a, b) => a - b);
    console.log(`| ${name} | ${times[0].toFixed(1)} | ${times[times.length >> 1].toFixed(1)} | ${(times[0] * 1000 / ROWS).toFixed(2)} | ${bytes} | ${digest} |`);
  }
}

// ---- data
const admin = new pg.Client(target);
await admin.connect();
await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
if (DATA === 'typical') {
  await admin.query(`CREATE TABLE ${TABLE} (id int PRIMARY KEY, email text, status text, item text, amount int, created text, warehouse text, note text, ssn text)`);
  await admin.query(`INSERT INTO ${TABLE}
    SELECT i, 'person.' || i || '@example.com', (ARRAY['new','paid','shipped','returned'])[1 + i % 4], 'Item #' || (i % 700) || ' ' || (ARRAY['blue','red','large','small'])[1 + i % 4],
           i % 10000, '2026-11-' || lpad((1 + i % 28)::text, 2, '0') || ' 10:' || lpad((i % 60)::text, 2, '0'), (ARRAY['Berlin','Lyon','Austin','Osaka'])[1 + i % 4],
           CASE WHEN i % 50 = 0 THEN 'customer asked to be called at +1 415 555 0100' ELSE 'left at the front door, signed by the customer' END, NULL
      FROM generate_series(1, $1) i`, [ROWS]);
} else {
  await admin.query(`CREATE TABLE ${TABLE} (id int PRIMARY KEY, name text, email text, card text, ssn text, phone text, city text, note text, amount int)`);
await admin.query(`INSERT INTO ${TABLE}
  SELECT i, 'Person ' || i, 'person.' || i || '@example.com', '4539-1488-0343-' || lpad((i % 10000)::text, 4, '0'),
         lpad((100 + i % 500)::text, 3, '0') || '-' || lpad((10 + i % 80)::text, 2, '0') || '-' || lpad((1000 + i % 8999)::text, 4, '0'),
         '+1 415 555 ' || lpad((i % 10000)::text, 4, '0'), (ARRAY['Berlin','Lyon','Austin','Osaka'])[1 + i % 4],
         CASE WHEN i % 3 = 0 THEN 'call +1 415 555 0100 or mail p' || i || '@example.com' ELSE 'order ' || i || ' shipped to the warehouse' END,
         i % 10000
    FROM generate_series(1, $1) i`, [ROWS]);
}

// ---- the gateways: same listener and ledger settings, different masking
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-masking-'));
const idp = await startDevIssuer({ audience: 'api://bench', clients: [{ clientId: 'bench', clientSecret: 'bench-secret-123', groups: ['bench'] }] });
const token = await idp.token('bench');
const log = createLogger({ level: 'silent' });
const variants = {
  'gateway, no masking': { rules: [] },
  'gateway, column rules': { key: 'bench-masking-key-0123456789', rules: [{ name: 'pii', columns: [`${TABLE}.email`, `${TABLE}.card`, '*ssn*', 'phone'], strategy: 'partial' }] },
  'gateway, detectors on every text value': { rules: [{ name: 'pii', detectors: TEN_DETECTORS, strategy: 'redact' }] },
};
const gateways = {};
for (const [name, masking] of Object.entries(variants)) {
  const raw = {
    identity: { issuer: idp.issuer, audience: 'api://bench' },
    ledger: { sqlite: join(dir, `${Object.keys(gateways).length}.db`) },
    listeners: { postgres: { host: '127.0.0.1', port: 0 } },
    connections: [{ name: 'bench', type: 'postgres', host: target.host, port: target.port, database: target.database, user: target.user, groups: ['bench'], tls: { mode: 'disable' } }],
    masking,
    log: { level: 'silent' },
  };
  const gw = await startGateway(loadConfigText(stringify(raw), join(dir, 'gatehouse.yaml'), {}), log);
  gateways[name] = gw;
}

// ---- one client per variant, kept open; each round reads the whole table once through each
const clients = { direct: new pg.Client(target) };
for (const [name, gw] of Object.entries(gateways)) {
  clients[name] = new pg.Client({ host: '127.0.0.1', port: gw.postgres.address.port, user: 'bench', database: 'bench', password: token });
}
for (const c of Object.values(clients)) await c.connect();
const sql = `SELECT * FROM ${TABLE}`;
const page = { text: `SELECT * FROM ${TABLE} WHERE id BETWEEN $1 AND $1 + 19 ORDER BY id`, values: [0] };
const PAGES = 200;
async function round(c) {
  if (WORKLOAD === 'bulk') {
    const res = await c.query(sql);
    if (res.rowCount !== ROWS) throw new Error(`${res.rowCount} rows`);
    return ROWS;
  }
  for (let p = 0; p < PAGES; p++) {
    page.values[0] = 1 + ((p * 20) % (ROWS - 20));
    const res = await c.query(page);
    if (res.rowCount !== 20) throw new Error(`${res.rowCount} rows`);
  }
  return PAGES * 20;
}
for (const c of Object.values(clients)) await round(c); // warm-up
const times = Object.fromEntries(Object.keys(clients).map((k) => [k, []]));
let rowsPerRound = 0;
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, c] of Object.entries(clients)) {
    const t0 = performance.now();
    rowsPerRound = await round(c);
    times[name].push(performance.now() - t0);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const base = 'gateway, no masking';
console.log(`${DATA} data, ${WORKLOAD === 'bulk' ? `SELECT * of ${ROWS} rows` : `${PAGES} queries of 20 rows`} per round, ${ROUNDS} interleaved rounds, node ${process.version}`);
console.log('| variant | median ms | rows/s | throughput vs gateway without masking (median, p25–p75 of per-round ratios) | vs direct |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const name of Object.keys(clients)) {
  const m = median(times[name]);
  const perRound = times[name].map((t, i) => times[base][i] / t);
  const vsDirect = median(times[name].map((t, i) => times.direct[i] / t));
  console.log(`| ${name} | ${m.toFixed(1)} | ${Math.round(rowsPerRound / (m / 1000))} | ${median(perRound).toFixed(3)} (${quantile(perRound, 0.25).toFixed(3)}–${quantile(perRound, 0.75).toFixed(3)}) | ${vsDirect.toFixed(3)} |`);
}

for (const c of Object.values(clients)) await c.end();
for (const gw of Object.values(gateways)) await gw.close(1000);
await idp.close();
await admin.query(`DROP TABLE ${TABLE}`);
await admin.end();
rmSync(dir, { recursive: true, force: true });
