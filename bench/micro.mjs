// Micro benchmarks of the per-message hot paths, with mitata's measure() (time per call; GC between
// cases when node runs with --expose-gc, as `npm run micro` does):
//   framer    the PostgreSQL frame reader (src/protocols/postgres/framer.ts) over a stream of
//             DataRows in 64 KB chunks (frames split across chunks as on a socket): without the
//             body (what the relay does for rows it does not mask), with the body as a view (rows
//             held for masking), with a bytes() callback (the result digest's path); and a
//             client-side stream of prepared-protocol messages (Bind/Execute/Sync);
//   relay     the whole relay (PgRelay.fromUpstream, no masking) over one result of 20,000 rows;
//   classify  SQL classification (src/policy/classify.ts, libpg-query WASM): a cache hit, cache
//             misses (every call a new text) for statements from short to long, and a hit of the
//             numeric-shape cache (a new text that differs from a known one only in a number);
//   masking   one DataRow through SessionMasker.maskField + rewriteDataRow as the relay does it:
//             column rules (`partial`) and all ten detectors (`redact`), on typical and dense rows
//             (the data sets of masking.mjs); and the detectors' string path over one text value.
//   ledger    what the ledger's group committer does on the main thread for each record before
//             the batch leaves it (src/ledger/group-commit.ts): canonical JSON of the event, the
//             record hash, the Merkle leaf and the frontier's append, for the two records of a
//             pgbench prepared select (pg.execute, pg.result).
// The whole set runs --runs times (default 3; --quick 1), cases in the same order each run; the
// report gives the median over runs of each case's mean time per call, with min–max over runs.
//
//   node --expose-gc micro.mjs [--quick] [--runs N] [--time MS] [--filter TEXT]
//
// Writes bench/results/micro-<date>-<HHMMSS>[-quick].json and .md, and prints the Markdown.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BENCH_PRINCIPAL, COLUMN_RULES, DATASETS, DETECTOR_RULES, RELAY_LIMITS, backendMessages, chunks64k, elapsedSeconds, gitDescribe, here, log, machineInfo,
  median, parseArgs, reportHeader, requireBuilt, resultName, root, uptime, writeResults,
} from './lib.mjs';

let mitata;
try {
  mitata = await import('mitata');
} catch {
  log('micro bench: mitata is not installed: run `npm install` in bench/ (it is a dependency of the bench package)');
  process.exit(2);
}
requireBuilt('micro', ['dist/protocols/postgres/framer.js', 'dist/policy/classify.js', 'dist/masking/session.js']);
const { Framer } = await import(join(root, 'dist/protocols/postgres/framer.js'));
const { PgRelay } = await import(join(root, 'dist/protocols/postgres/relay.js'));
const { MessageWriter } = await import(join(root, 'dist/protocols/postgres/wire.js'));
const { readyForQuery, rewriteDataRow } = await import(join(root, 'dist/protocols/postgres/backend.js'));
const { classify, initClassifier, statementShape } = await import(join(root, 'dist/policy/classify.js'));
const { SessionMasker, newTally } = await import(join(root, 'dist/masking/session.js'));
const { BUILTIN_DETECTORS, scan } = await import(join(root, 'dist/masking/index.js'));
const { serialize } = await import('pg-protocol');
const { canonicalJson, recordHash, GENESIS_HASH } = await import(join(root, 'dist/ledger/canonical.js'));
const { leafHash, MerkleFrontier } = await import(join(root, 'dist/ledger/merkle.js'));

const { argv, flag, opt } = parseArgs();
const QUICK = flag('quick');
const RUNS = Number(opt('runs', QUICK ? 1 : 3));
const TIME_MS = Number(opt('time', QUICK ? 150 : 500));
const FILTER = opt('filter', '');
const started = new Date();
const loadStart = uptime();
const gcExposed = typeof globalThis.gc === 'function';
log(`micro bench: ${started.toISOString()}  ${loadStart}`);
if (!gcExposed) log('note: run with node --expose-gc (as `npm run micro` does) to collect garbage between cases');

// ---- data: the rows of masking.mjs
const datasets = DATASETS;
const { dataRow, rowDescription } = backendMessages(MessageWriter);
const ROWS = 20_000;
const typicalRows = Array.from({ length: ROWS }, (_, i) => dataRow(datasets.typical.row(i + 1)));
const rowStream = Buffer.concat(typicalRows);
const chunk64 = chunks64k(rowStream);
const avgRowBytes = rowStream.length / ROWS;
// client side: what pgbench -M prepared -S sends per transaction (Bind, Execute, Sync), 5,000 times
const clientMsgs = [];
for (let i = 0; i < 5000; i++) {
  clientMsgs.push(serialize.bind({ statement: 'P0_1', values: [String(1 + (i * 7919) % 1000000)] }), serialize.execute({}), serialize.sync());
}
const clientStream = Buffer.concat(clientMsgs);
const clientChunks = chunks64k(clientStream);
// a whole result for the relay
const relayResult = Buffer.concat([rowDescription(datasets.typical.cols), ...typicalRows, new MessageWriter().cstring(`SELECT ${ROWS}`).finish('C'), readyForQuery('I')]);
const relayChunks = chunks64k(relayResult);
const limits = RELAY_LIMITS;

// ---- the cases: { group, name, fn, per: { unit, count } } (count units per call, for a derived rate)
const cases = [];
const add = (group, name, fn, per = null) => cases.push({ group, name, fn, per });

{
  let frames = 0;
  const noBody = new Framer({ begin: () => false, end: () => void frames++ }, 1 << 24);
  let k = 0;
  add('framer', 'server DataRows, 64 KB chunk, body not wanted', () => noBody.push(chunk64[k++ % chunk64.length]), { unit: 'frame', count: ROWS / chunk64.length, bytes: rowStream.length / chunk64.length });
  let bodyBytes = 0;
  const withBody = new Framer({ begin: () => true, end: (_t, body) => void (bodyBytes += body.length) }, 1 << 24);
  let k2 = 0;
  add('framer', 'server DataRows, 64 KB chunk, body as a view', () => withBody.push(chunk64[k2++ % chunk64.length]), { unit: 'frame', count: ROWS / chunk64.length, bytes: rowStream.length / chunk64.length });
  let seen = 0;
  const withBytes = new Framer({ begin: () => false, bytes: (p) => void (seen += p.length), end: () => undefined }, 1 << 24);
  let k3 = 0;
  add('framer', 'server DataRows, 64 KB chunk, bytes() callback (digest path)', () => withBytes.push(chunk64[k3++ % chunk64.length]), { unit: 'frame', count: ROWS / chunk64.length, bytes: rowStream.length / chunk64.length });
  const client = new Framer({ begin: () => true, end: () => undefined }, 1 << 20);
  let k4 = 0;
  add('framer', 'client Bind/Execute/Sync, 64 KB chunk, bodies wanted', () => client.push(clientChunks[k4++ % clientChunks.length]), { unit: 'frame', count: 15000 / clientChunks.length, bytes: clientStream.length / clientChunks.length });
  const single = typicalRows[7];
  const one = new Framer({ begin: () => true, end: () => undefined }, 1 << 24);
  add('framer', `one DataRow (${single.length} bytes) per push`, () => one.push(single), { unit: 'frame', count: 1, bytes: single.length });
  add('relay', `PgRelay.fromUpstream, one result of ${ROWS} rows (no masking)`, () => {
    const relay = new PgRelay(limits);
    relay.fromClient(serialize.query('SELECT * FROM t'));
    for (const c of relayChunks) relay.fromUpstream(c);
  }, { unit: 'row', count: ROWS, bytes: relayResult.length });
  void frames, bodyBytes, seen;
}

await initClassifier();
{
  const texts = {
    'pgbench select': (n) => `SELECT abalance FROM pgbench_accounts WHERE aid = ${n};`,
    'pgbench update': (n) => `UPDATE pgbench_accounts SET abalance = abalance + ${n % 5000} WHERE aid = ${n};`,
    'join + aggregate': (n) => `SELECT c.id, c.email, count(o.id) AS orders, sum(o.amount) AS total FROM customers c JOIN orders o ON o.customer_id = c.id LEFT JOIN refunds r ON r.order_id = o.id WHERE o.created_at > now() - interval '30 days' AND c.region = 'eu-${n}' AND r.id IS NULL GROUP BY c.id, c.email HAVING sum(o.amount) > 100 ORDER BY total DESC LIMIT 50`,
    'data-modifying CTE': (n) => `WITH moved AS (DELETE FROM orders WHERE created_at < now() - interval '${n} days' RETURNING *) INSERT INTO orders_archive SELECT * FROM moved`,
    'multi-row INSERT of 100 rows': (n) => `INSERT INTO events (id, kind, payload) VALUES ${Array.from({ length: 100 }, (_, j) => `(${n * 100 + j}, 'click', '{"page": "/item/${j}", "ms": ${j * 3}}')`).join(', ')}`,
  };
  // the prepared protocol's text: a text-cache hit (the misses below push older texts out of that
  // cache between runs; this one is put back by its first call)
  const hit = 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;';
  classify(hit);
  add('classify', 'cache hit (pgbench select, prepared: the same text each call)', () => classify(hit));
  let n = 1_000_000;
  for (const [name, make] of Object.entries(texts)) {
    const sample = make(1_000_000);
    // a miss: a text never seen, of a numeric shape never seen (the number also in a name: `x1000001`)
    const miss = name === 'pgbench select' ? (k) => make(k).replace('SELECT abalance', `SELECT abalance AS x${k}`)
      : name === 'pgbench update' ? (k) => make(k).replace('UPDATE pgbench_accounts', `UPDATE pgbench_accounts AS x${k}`) : make;
    add('classify', `miss: ${name} (${sample.length} chars)`, () => classify(miss(++n)));
  }
  // texts that differ only in numbers share a classification (classify.ts, numericShape)
  add('classify', 'numeric-shape hit: pgbench select, a new aid each call', () => classify(texts['pgbench select'](++n)));
  add('classify', 'numeric-shape hit: pgbench update, new numbers each call', () => classify(texts['pgbench update'](++n)));
  add('classify', 'statementShape (fingerprint), pgbench update', () => statementShape(texts['pgbench update'](++n)));
}

{
  const principal = BENCH_PRINCIPAL;
  const ruleSets = { 'column rules (partial)': COLUMN_RULES, 'ten detectors (redact)': DETECTOR_RULES };
  for (const [dname, ds] of Object.entries(datasets)) {
    const rows = Array.from({ length: 1000 }, (_, i) => dataRow(ds.row(i + 1)).subarray(5));
    const columns = ds.cols.map(([name, typeOid]) => ({ name, tableOid: 0, column: 0, typeOid, format: 0 }));
    const bytes = rows.reduce((a, r) => a + r.length, 0) / rows.length;
    for (const [rname, rules] of Object.entries(ruleSets)) {
      const masker = new SessionMasker({ config: { detectors: [], rules }, key: null }, principal, 'bench');
      const plan = masker.planFor(columns);
      const tally = newTally();
      // the relay's row path: values masked counted per column, settled when a result ends
      const counts = [];
      const fn = (i, b, s, e) => masker.maskValue(plan, i, b, s, e, tally, counts);
      let k = 0;
      add('masking', `${dname} row (${Math.round(bytes)} B): ${rname}`, () => rewriteDataRow(rows[k++ % rows.length], fn, plan.masked), { unit: 'row', count: 1, bytes });
    }
  }
  const all = Object.values(BUILTIN_DETECTORS);
  const note = 'call +1 415 555 0100 or mail p17@example.com about order 4711';
  add('masking', `ten detectors' string path (scan) over a ${note.length}-char note with a phone and an email`, () => scan(note, all));
  {
    // the same note as a row value: the session masker's byte path (text-bytes.ts), no string
    const masker = new SessionMasker({ config: { detectors: [], rules: DETECTOR_RULES }, key: null }, principal, 'bench');
    const plan = masker.planFor([{ name: 'note', tableOid: 0, column: 0, typeOid: 25, format: 0 }]);
    const tally = newTally();
    const counts = [];
    const value = Buffer.from(note);
    add('masking', `ten detectors' byte path (a row value) over the same ${note.length}-char note`, () => masker.maskValue(plan, 0, value, 0, value.length, tally, counts));
  }
  const plain = 'left at the front door, signed by the customer';
  add('masking', `ten detectors' string path (scan) over a ${plain.length}-char note with nothing in it`, () => scan(plain, all));
}

{
  // the two records of one pgbench prepared select, as the relay makes them
  // (what the relay records for pgbench's statement: default policy, so no decision member)
  const execute = (n) => ({ type: 'pg.execute', statement: 'P0_1', portal: '', text: 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;', params: [String(n)], maxRows: 0 });
  const result = (n) => ({
    type: 'pg.result', statementSeq: n, index: 0, status: 'ok', tag: 'SELECT 1', rows: 1, error: null, durationUs: 143, bytes: 64,
    sha256: 'ab'.repeat(32), columns: ['abalance'], sample: [['0']], copy: null,
  });
  const frontier = new MerkleFrontier();
  let prev = GENESIS_HASH;
  let seq = 0;
  add('ledger', 'one statement\'s two records: canonical JSON, record hash, Merkle leaf and frontier append', () => {
    for (const ev of [execute(seq), result(seq)]) {
      seq += 1;
      const payload = canonicalJson(ev);
      prev = recordHash({ seq, time: 1_796_596_591_000_000 + seq, sessionId: 's-0123456789abcdef', payload, prevHash: prev });
      frontier.append(leafHash(prev));
    }
  }, { unit: 'record', count: 2 });
  add('ledger', 'canonical JSON of a pg.execute event', () => canonicalJson(execute(seq)));
}

// ---- run
const selected = cases.filter((c) => !FILTER || `${c.group} ${c.name}`.includes(FILTER));
log(`${selected.length} cases x ${RUNS} runs, at least ${TIME_MS} ms of calls per case and run (${process.version})`);
for (const c of selected) c.runs = [];
for (let r = 0; r < RUNS; r++) {
  for (const c of selected) {
    const m = await mitata.measure(c.fn, { min_cpu_time: TIME_MS * 1e6 });
    c.runs.push({ avg: m.avg, p50: m.p50, p99: m.p99, min: m.min, max: m.max, samples: m.samples.length, ticks: m.ticks });
    log(`run ${r + 1}/${RUNS} ${c.group}: ${c.name}: ${fmtNs(m.avg)} per call (p50 ${fmtNs(m.p50)}, p99 ${fmtNs(m.p99)})`);
  }
}
const loadEnd = uptime();

function fmtNs(ns) {
  if (!Number.isFinite(ns)) return '–';
  if (ns < 1e3) return `${ns.toFixed(1)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${(ns / 1e6).toFixed(2)} ms`;
}
const num = (x, d = 0) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
for (const c of selected) {
  const avgs = c.runs.map((x) => x.avg);
  c.summary = { avgNs: median(avgs), minNs: Math.min(...avgs), maxNs: Math.max(...avgs), p50Ns: median(c.runs.map((x) => x.p50)), p99Ns: median(c.runs.map((x) => x.p99)) };
  c.summary.opsPerSec = 1e9 / c.summary.avgNs;
  if (c.per) {
    c.summary.nsPerUnit = c.summary.avgNs / c.per.count;
    if (c.per.bytes) c.summary.mbPerSec = (c.per.bytes / c.summary.avgNs) * 1e9 / 1e6;
  }
}
const git = gitDescribe();
const stamp = started.toISOString();
const command = ['node --expose-gc bench/micro.mjs', ...argv].join(' ');
const md = reportHeader({
  title: 'Micro benchmarks: framer, classifier, masking', started, command, commandNote: gcExposed ? '' : ' (without --expose-gc)', git, loadStart, loadEnd,
  software: `${process.version}; mitata ${JSON.parse(readFileSync(join(here, 'node_modules/mitata/package.json'), 'utf8')).version}`,
});
md.push(`- ${RUNS} run(s) of every case, at least ${TIME_MS} ms of calls each; time per call: median over runs of mitata's mean (min–max of the means over runs); p50/p99: median over runs of mitata's per-sample percentiles (a sample of fast calls is a batch of them)`);
md.push(`- framer data: ${ROWS} DataRows of the \`typical\` set (${num(avgRowBytes, 1)} bytes per message on average) in ${chunk64.length} chunks of 64 KB`);
md.push('');
md.push('| group | case | time per call | p50 | p99 | calls/s | per unit | MB/s |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const c of selected) {
  const s = c.summary;
  const spread = RUNS > 1 ? ` (${fmtNs(s.minNs)}–${fmtNs(s.maxNs)})` : '';
  md.push(`| ${c.group} | ${c.name} | ${fmtNs(s.avgNs)}${spread} | ${fmtNs(s.p50Ns)} | ${fmtNs(s.p99Ns)} | ${num(s.opsPerSec)} | ${c.per ? `${fmtNs(s.nsPerUnit)} per ${c.per.unit}` : ''} | ${s.mbPerSec ? num(s.mbPerSec) : ''} |`);
}
const text = md.join('\n') + '\n';
const name = resultName('micro', started, `${QUICK ? '-quick' : ''}${FILTER ? '-filtered' : ''}`);
writeResults(name, text, {
  started: stamp, seconds: elapsedSeconds(started), command, gcExposed,
  machine: machineInfo(), node: process.version, gatehouse: git,
  loadStart, loadEnd, options: { quick: QUICK, runs: RUNS, timeMs: TIME_MS, filter: FILTER },
  cases: selected.map(({ fn, ...c }) => c),
});
