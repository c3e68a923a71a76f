// Ledger benchmark: appends per second with 1 / 4 / 16 concurrent writers, through the store's public
// append() exactly as a PostgreSQL session of the gateway uses it (src/protocols/postgres/
// session-driver.ts): each writer is a session that appends its session.start, then per statement
// awaits the write-ahead append of the statement's record (pg.execute, what a prepared pgbench
// statement records) and appends the result's record (pg.result) without waiting, and finally its
// session.end. Stores: SQLite (WAL, synchronous=FULL, group commit on a writer thread) and, with
// a throwaway PostgreSQL 15 cluster, the PostgreSQL store. Runs are interleaved (every round runs
// every store x writer count once, in rotating order), each on a fresh ledger.
// Then verify throughput: a ledger of --verify-records records (default 200,000; filled through
// append() in batches) checked by verifyChain (the hash chain), verifyLedger (chain + Merkle tree +
// checkpoints: what `gatehouse verify` runs) in this process, and by `gatehouse verify` itself as a
// child process (wall time, process start included).
//
//   node ledger.mjs [--quick] [--rounds N] [--time S] [--writers 1,4,16] [--stores sqlite,postgres]
//                   [--verify-records N]
//
// Writes bench/results/ledger-<date>-<HHMMSS>[-quick].json and .md, and prints the Markdown.
import { spawn } from 'node:child_process';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import {
  PGBIN, benchDir, cleanupStack, elapsedSeconds, fsyncProbe, gitDescribe, log, machineInfo, median, parseArgs, reportHeader, requireBuilt,
  resultName, root, sh, startCluster as startThrowawayCluster, uptime, writeResults,
} from './lib.mjs';

requireBuilt('ledger', ['dist/ledger/sqlite.js', 'dist/ledger/postgres.js', 'dist/ledger/verify.js', 'dist/ledger/verify-tree.js', 'dist/cli/main.js']);
const { SqliteLedger } = await import(join(root, 'dist/ledger/sqlite.js'));
const { PostgresLedger } = await import(join(root, 'dist/ledger/postgres.js'));
const { verifyChain } = await import(join(root, 'dist/ledger/verify.js'));
const { verifyLedger } = await import(join(root, 'dist/ledger/verify-tree.js'));
const { canonicalJson } = await import(join(root, 'dist/ledger/canonical.js'));
// whether this build's stores know append(records, { behind: true }) (results riding with the next write-ahead commit)
const behindOption = 'BEHIND_DELAY_MS' in (await import(join(root, 'dist/ledger/group-commit.js')));

// ---- options
const { argv, opt, flag, list } = parseArgs();
const QUICK = flag('quick');
const ROUNDS = Number(opt('rounds', QUICK ? 2 : 3));
const SECONDS = Number(opt('time', QUICK ? 2 : 5));
const WRITERS = list('writers', '1,4,16').map(Number);
let STORES = list('stores', 'sqlite,postgres');
const VERIFY_RECORDS = Number(opt('verify-records', QUICK ? 50_000 : 200_000));
for (const s of STORES) if (!['sqlite', 'postgres'].includes(s)) throw new Error(`unknown store ${s}`);

const notes = [];
const started = new Date();
const loadStart = uptime();
log(`ledger bench: ${started.toISOString()}  ${loadStart}`);

const { cleanups, cleanup } = cleanupStack();
const dir = benchDir('ledger', cleanups);
const versions = { node: process.version };

// ---- realistic records: what a prepared pgbench (TPC-B-like) statement and its result record
const statements = [
  ['UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;', 'UPDATE 1', null],
  ['SELECT abalance FROM pgbench_accounts WHERE aid = $1', 'SELECT 1', ['abalance']],
  ['UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;', 'UPDATE 1', null],
  ['UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;', 'UPDATE 1', null],
  ['INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);', 'INSERT 0 1', null],
];
const nowUs = () => Date.now() * 1000;
let counter = 0;
function statementRecord(i) {
  const [text] = statements[i % statements.length];
  const n = ++counter;
  const params = text.includes('INSERT') ? [String(n % 100), String(n % 10), String(n % 1000000), String((n % 9999) - 5000)] : text.includes('SELECT') ? [String(n % 1000000)] : [String((n % 9999) - 5000), String(n % 1000000)];
  return { type: 'pg.execute', statement: `P_${i % statements.length}`, portal: '', text, params, maxRows: 0, decision: { action: 'allow', policy: 'default' } };
}
function resultRecord(i, statementSeq) {
  const [, tag, columns] = statements[i % statements.length];
  return {
    type: 'pg.result', statementSeq, index: 0, status: 'ok', tag, rows: 1, error: null, durationUs: 180 + (i % 50), bytes: columns ? 62 : 24,
    sha256: createHash('sha256').update(String(i)).digest('hex'), columns, sample: columns ? [[String(i % 9999)]] : [], copy: null,
  };
}
function startRecord(w) {
  const identity = {
    subject: `agent-${w}`, groups: ['bench'], issuer: 'https://idp.example.com', clientId: `agent-${w}`, tokenId: `jti-${w}-${Date.now()}`,
    tokenSha256: createHash('sha256').update(`t${w}`).digest('hex'), ciJob: null, expiresAt: null,
  };
  return {
    type: 'session.start', protocol: 'postgres', connection: 'bench', identity, authorizedBy: 'bench',
    client: { address: '127.0.0.1', port: 40000 + w, tls: false, user: 'bench', application: 'pgbench' },
    upstream: { host: '127.0.0.1', port: 5432, database: 'bench', user: 'bench', tls: false }, parameters: { application_name: 'pgbench' },
  };
}
const sizes = {
  statement: statements.map((_, i) => Buffer.byteLength(canonicalJson(statementRecord(i)))),
  result: statements.map((_, i) => Buffer.byteLength(canonicalJson(resultRecord(i, 123456)))),
  sessionStart: Buffer.byteLength(canonicalJson(startRecord(1))),
};
const avg = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

// ---- the stores
let pgUrlFor = null;
async function startCluster() {
  if (!existsSync(join(PGBIN, 'initdb'))) {
    const note = `postgres store skipped: ${PGBIN}/initdb not found (Debian: apt-get install postgresql-15)`;
    notes.push(note);
    log(note);
    STORES = STORES.filter((s) => s !== 'postgres');
    return;
  }
  // fsync and synchronous_commit at their defaults (on): a commit is durable, as SQLite's synchronous=FULL
  const cluster = await startThrowawayCluster({ dir, cleanups, password: null, settings: '-c max_connections=50', chownDir: true });
  const pgPort = cluster.port;
  versions.postgres = cluster.version;
  let dbNo = 0;
  pgUrlFor = async () => {
    const db = `ledger${++dbNo}`;
    sh('psql', ['-X', '-q', '-h', '127.0.0.1', '-p', String(pgPort), '-U', 'postgres', '-d', 'postgres', '-c', `CREATE DATABASE ${db}`]);
    return `postgres://postgres@127.0.0.1:${pgPort}/${db}`;
  };
  log(`throwaway cluster on 127.0.0.1:${pgPort}`);
}
let fileNo = 0;
async function openStore(store) {
  if (store === 'sqlite') {
    const file = join(dir, `ledger-${++fileNo}.db`);
    return { ledger: new SqliteLedger(file), file, drop: () => ['', '-wal', '-shm'].forEach((s) => rmSync(file + s, { force: true })) };
  }
  const url = await pgUrlFor();
  return { ledger: await PostgresLedger.open(url), url, drop: () => undefined };
}

// ---- one run: W sessions appending for SECONDS
async function runWriters(store, writers) {
  const { ledger, drop } = await openStore(store);
  let commits = 0;
  const unsub = ledger.onCommit(() => commits++);
  const sessions = Array.from({ length: writers }, (_, w) => `00000000-0000-4000-8000-${String(w + 1).padStart(12, '0')}`);
  await Promise.all(sessions.map((id, w) => ledger.append([{ sessionId: id, time: nowUs(), event: startRecord(w) }])));
  const commits0 = commits;
  const lat = [];
  let statementsDone = 0;
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  await Promise.all(sessions.map(async (id) => {
    let pending = Promise.resolve();
    let i = 0;
    while (performance.now() < deadline) {
      const a = performance.now();
      const [seq] = await ledger.append([{ sessionId: id, time: nowUs(), event: statementRecord(i) }]);
      lat.push(performance.now() - a);
      // the result's record: appended behind the statement, not awaited (as the session driver does;
      // `behind: true` where the store has that option, ignored by one that does not)
      pending = ledger.append([{ sessionId: id, time: nowUs(), event: resultRecord(i, seq) }], { behind: true });
      statementsDone++;
      i++;
    }
    await pending;
  }));
  const elapsed = (performance.now() - t0) / 1000;
  const windowCommits = commits - commits0;
  await Promise.all(sessions.map((id) => ledger.append([{ sessionId: id, time: nowUs(), event: { type: 'session.end', status: 'ok', reason: null, statements: 0, errors: 0, durationUs: 1 } }])));
  unsub();
  await ledger.close();
  drop();
  lat.sort((a, b) => a - b);
  const records = statementsDone * 2;
  return {
    store, writers, seconds: elapsed, statements: statementsDone, records, recordsPerSec: records / elapsed, appendsPerSec: records / elapsed,
    statementsPerSec: statementsDone / elapsed, commits: windowCommits, recordsPerCommit: records / Math.max(1, windowCommits),
    appendP50Ms: lat[lat.length >> 1], appendP99Ms: lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))],
  };
}

// ---- fill a ledger for verify (through append, in batches of 100 records, 4 concurrent appenders)
async function fill(store, n) {
  const s = await openStore(store);
  const t0 = performance.now();
  let done = 0;
  const sid = (k) => `00000000-0000-4000-9000-${String(k).padStart(12, '0')}`;
  await Promise.all([0, 1, 2, 3].map(async (k) => {
    let i = 0;
    while (done < n) {
      const batch = [];
      for (let j = 0; j < 50; j++) {
        batch.push({ sessionId: sid(k), time: nowUs(), event: statementRecord(i) });
        batch.push({ sessionId: sid(k), time: nowUs(), event: resultRecord(i, 1) });
        i++;
      }
      done += batch.length;
      await s.ledger.append(batch);
      if (done % 20_000 < 100) log(`  fill ${store}: ${done} / ${n} records`);
    }
  }));
  const fillSec = (performance.now() - t0) / 1000;
  const head = await s.ledger.head();
  await s.ledger.close();
  return { ...s, records: head.seq, fillSec };
}

try {
  // this disk's fsync (the floor under every durable commit)
  const fsync = fsyncProbe(dir);
  if (STORES.includes('postgres')) await startCluster();
  log(`rounds ${ROUNDS}, ${SECONDS} s per run, writers ${WRITERS.join('/')}, stores ${STORES.join('/')}; verify over ${VERIFY_RECORDS} records`);

  const combos = [];
  for (const store of STORES) for (const writers of WRITERS) combos.push({ store, writers });
  const runs = combos.map((c) => ({ ...c, rounds: [] }));
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < runs.length; k++) {
      const c = runs[(k + r) % runs.length];
      const m = await runWriters(c.store, c.writers);
      c.rounds.push(m);
      log(`round ${r + 1}/${ROUNDS} ${c.store} writers=${c.writers}: ${m.recordsPerSec.toFixed(0)} records/s (${m.statementsPerSec.toFixed(0)} statements/s), ${m.recordsPerCommit.toFixed(1)} records/commit, write-ahead append p50 ${m.appendP50Ms.toFixed(3)} ms p99 ${m.appendP99Ms.toFixed(3)} ms`);
    }
  }

  // ---- verify
  const verify = [];
  for (const store of STORES) {
    log(`verify ${store}: filling ${VERIFY_RECORDS} records`);
    const f = await fill(store, VERIFY_RECORDS);
    const entry = { store, records: f.records, fillSec: f.fillSec, fillRecordsPerSec: f.records / f.fillSec };
    if (f.file) entry.fileBytes = statSync(f.file).size + (existsSync(`${f.file}-wal`) ? statSync(`${f.file}-wal`).size : 0);
    const reopen = async () => (store === 'sqlite' ? new SqliteLedger(f.file, { readonly: true }) : PostgresLedger.open(f.url, { readonly: true }));
    // verifyChain: the hash chain alone
    for (const [name, fn] of [['verifyChain', (rd) => verifyChain(rd)], ['verifyLedger', (rd) => verifyLedger(rd, { publicKey: null, witness: [] })]]) {
      const times = [];
      for (let k = 0; k < (QUICK ? 1 : 2); k++) {
        const rd = await reopen();
        const t0 = performance.now();
        const res = await fn(rd);
        times.push((performance.now() - t0) / 1000);
        await rd.close();
        if (!res.ok || res.records !== f.records) throw new Error(`${name} failed: ${JSON.stringify(res)}`);
      }
      const best = Math.min(...times);
      entry[name] = { seconds: times, recordsPerSec: f.records / best };
      log(`  ${store} ${name}: ${f.records} records in ${times.map((t) => t.toFixed(2)).join(' / ')} s (best ${(f.records / best).toFixed(0)} records/s)`);
    }
    if (store === 'sqlite') {
      const cfg = join(dir, 'verify.yaml');
      writeFileSync(cfg, `identity:\n  issuer: https://idp.example.com\n  audience: api://bench\nledger:\n  sqlite: ${f.file}\nlisteners:\n  postgres:\n    host: 127.0.0.1\n    port: 1\nconnections: []\n`);
      const t0 = performance.now();
      const out = await new Promise((res, rej) => {
        const c = spawn(process.execPath, [join(root, 'dist/cli/main.js'), 'verify', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
        let o = '';
        let e = '';
        c.stdout.on('data', (d) => (o += d));
        c.stderr.on('data', (d) => (e += d));
        c.on('exit', (code) => (code === 0 ? res(o) : rej(new Error(`gatehouse verify exited ${code}: ${e || o}`))));
      });
      const sec = (performance.now() - t0) / 1000;
      entry.cli = { seconds: sec, recordsPerSec: f.records / sec, output: out.trim().split('\n')[0] };
      log(`  gatehouse verify: ${sec.toFixed(2)} s (${(f.records / sec).toFixed(0)} records/s): ${entry.cli.output}`);
    }
    f.drop();
    verify.push(entry);
  }
  const loadEnd = uptime();

  // ---- summary
  const spread = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
  for (const c of runs) {
    c.summary = {
      recordsPerSec: spread(c.rounds.map((m) => m.recordsPerSec)), statementsPerSec: spread(c.rounds.map((m) => m.statementsPerSec)),
      recordsPerCommit: spread(c.rounds.map((m) => m.recordsPerCommit)), appendP50Ms: spread(c.rounds.map((m) => m.appendP50Ms)), appendP99Ms: spread(c.rounds.map((m) => m.appendP99Ms)),
    };
  }
  const f = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '–');
  const sp = (s, d = 0) => `${f(s.median, d)} (${f(s.min, d)}–${f(s.max, d)})`;
  const git = gitDescribe();
  const stamp = started.toISOString();
  const command = ['node bench/ledger.mjs', ...argv].join(' ');
  const md = reportHeader({
    title: 'Ledger: appends with concurrent writers, and verify throughput', started, command, git, loadStart, loadEnd,
    software: `${versions.node}${versions.postgres ? `; ${versions.postgres}` : ''}`,
  });
  md.push(`- this disk's fsync (4 KiB write + fsync, 200 times): p50 ${fsync.p50.toFixed(3)} ms, p99 ${fsync.p99.toFixed(3)} ms`);
  md.push(`- records as a prepared TPC-B-like session writes them: pg.execute ${Math.round(avg(sizes.statement))} bytes and pg.result ${Math.round(avg(sizes.result))} bytes of canonical JSON on average (session.start ${sizes.sessionStart}); each writer awaits its statement's append, then appends the result without waiting (\`{ behind: true }\`: ${behindOption ? 'this build has the option' : 'this build has no such option, the result is committed on its own'})`);
  md.push(`- ${ROUNDS} interleaved rounds of ${SECONDS} s, a fresh ledger per run; every cell: median over rounds (min–max)`);
  for (const n of notes) md.push(`- ${n}`);
  md.push('', '| store | writers | records/s | statements/s | records per commit | write-ahead append p50 ms | p99 ms |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const c of runs) {
    const s = c.summary;
    md.push(`| ${c.store} | ${c.writers} | ${sp(s.recordsPerSec)} | ${sp(s.statementsPerSec)} | ${sp(s.recordsPerCommit, 1)} | ${sp(s.appendP50Ms, 3)} | ${sp(s.appendP99Ms, 3)} |`);
  }
  md.push('', `Verify (a ledger filled through append() in batches of 100 records by 4 appenders; time: ${QUICK ? 'one pass' : 'best of two passes'}, each on a freshly opened reader):`, '');
  md.push('| store | records | fill records/s | verifyChain records/s | verifyLedger (chain + Merkle) records/s | `gatehouse verify` (child process, wall) |', '| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const v of verify) {
    md.push(`| ${v.store} | ${f(v.records)} | ${f(v.fillRecordsPerSec)} | ${f(v.verifyChain.recordsPerSec)} | ${f(v.verifyLedger.recordsPerSec)} | ${v.cli ? `${f(v.cli.seconds, 2)} s, ${f(v.cli.recordsPerSec)} records/s` : '–'} |`);
  }
  const text = md.join('\n') + '\n';
  const name = resultName('ledger', started, QUICK ? '-quick' : '');
  writeResults(name, text, {
    started: stamp, seconds: elapsedSeconds(started), command,
    machine: machineInfo(), versions, gatehouse: git,
    loadStart, loadEnd, options: { quick: QUICK, rounds: ROUNDS, seconds: SECONDS, writers: WRITERS, stores: STORES, verifyRecords: VERIFY_RECORDS },
    notes, behindOption, fsyncProbeMs: fsync, recordBytes: sizes, runs, verify,
  });
} finally {
  await cleanup();
}
