// PostgreSQL macro benchmark with the real pgbench: select-only (-S) and the TPC-B-like default mix,
// at 1 / 16 / 64 clients, simple and prepared protocol, against
//   direct     the server itself,
//   pgbouncer  pgbouncer in session mode (Debian package `pgbouncer`; installed with apt-get when
//              root, else the variant is skipped with the apt line to run),
//   gatehouse  the built gateway (`gatehouse serve`, a child process) with its SQLite ledger:
//              strict write-ahead (ledger.durability strict), every statement's record fsync'd
//              (group commit) before it is forwarded;
//   gatehouse-process  the same with ledger.durability process: the record is written to the
//              operating system before forwarding (survives a killed gateway), fsync'd later.
// A throwaway cluster (initdb/pg_ctl of the system PostgreSQL, `pgbench -i -s 10`), so the machine's
// own PostgreSQL is untouched. Runs are interleaved: every round runs every combination once per
// variant (the variants' order rotates per round), so machine noise hits all alike. p50/p99 come
// from pgbench's per-transaction logs (-l). Every number printed is measured in this run.
//
//   npm run bench -- [--quick] [--rounds N] [--time S] [--clients 1,16,64] [--modes simple,prepared]
//                    [--workloads select,tpcb] [--variants direct,pgbouncer,gatehouse,gatehouse-process] [--scale 10]
//                    [--profile]   (node --cpu-prof on the gateway; top frames in the report)
//
// Writes bench/results/pg-<date>-<HHMM>[-quick].json and .md, and prints the Markdown.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  PASSWORD, PGBIN, cleanupStack, benchDir, createBenchDatabase, elapsedSeconds, findOrInstallPgbouncer, fsyncProbe, gitDescribe, here, isRoot, log,
  freePort, machineInfo, median, parseArgs, processCpu, reportHeader, resultName, root, sh, startBenchIssuer, startCluster, startGatewayProcess, startPgbouncer,
  uptime, which, writeGatewayConfig, writeResults,
} from './lib.mjs';

// ---- options
const { argv, flag, opt, list } = parseArgs();
const QUICK = flag('quick');
const ROUNDS = Number(opt('rounds', QUICK ? 2 : 3));
const SECONDS = Number(opt('time', QUICK ? 3 : 10));
const CLIENTS = list('clients', QUICK ? '1,16' : '1,16,64').map(Number);
const MODES = list('modes', QUICK ? 'prepared' : 'simple,prepared');
const WORKLOADS = list('workloads', 'select,tpcb');
const VARIANTS = list('variants', 'direct,pgbouncer,gatehouse,gatehouse-process');
/** gatehouse: ledger.durability strict (the default); gatehouse-process: durability process */
const GATEHOUSE_VARIANTS = ['gatehouse', 'gatehouse-process'];
const SCALE = Number(opt('scale', 10));
const PROFILE = flag('profile');
for (const w of WORKLOADS) if (!['select', 'tpcb'].includes(w)) throw new Error(`unknown workload ${w}`);
for (const m of MODES) if (!['simple', 'prepared'].includes(m)) throw new Error(`unknown mode ${m}`);

const pgbench = which('pgbench') ?? (existsSync(join(PGBIN, 'pgbench')) ? join(PGBIN, 'pgbench') : null);
if (!pgbench) throw new Error('pgbench not found (Debian: apt-get install postgresql-contrib or postgresql-15)');
if (!existsSync(join(PGBIN, 'initdb'))) throw new Error(`initdb not found in ${PGBIN} (Debian: apt-get install postgresql-15)`);

const started = new Date();
// the tree the gateway was built from (npm run bench builds just before): read now, not after the run
const git = gitDescribe({ listDirty: true });
const loadStart = uptime();
log(`pg bench: ${started.toISOString()}  ${loadStart}`);
log(`rounds ${ROUNDS}, ${SECONDS} s per run, clients ${CLIENTS.join('/')}, ${MODES.join('/')}, ${WORKLOADS.join('/')}, variants ${VARIANTS.join('/')}`);

const { cleanups, cleanup } = cleanupStack();
const dir = benchDir('pg', cleanups, { chown: true });
const notes = [];
const versions = { node: process.version, pgbench: sh(pgbench, ['--version']).trim() };

try {
  // ---- the throwaway cluster (fsync and synchronous_commit at their defaults: on)
  const cluster = await startCluster({ dir, cleanups, password: PASSWORD, settings: '-c max_connections=300 -c shared_buffers=256MB' });
  const pgPort = cluster.port;
  versions.postgres = cluster.version;
  const pgEnv = cluster.env;
  const psql = (sql, db = 'postgres', user = 'postgres') => cluster.psql(sql, db, user);
  createBenchDatabase(cluster);
  log(`cluster on 127.0.0.1:${pgPort}: pgbench -i -s ${SCALE}`);
  sh(pgbench, ['-i', '-q', '-s', String(SCALE), '-U', 'bench', 'bench'], { env: pgEnv });

  // ---- the variants: name -> { port, env() }
  const variants = {};
  if (VARIANTS.includes('direct')) variants.direct = { port: pgPort, password: async () => PASSWORD };

  if (VARIANTS.includes('pgbouncer')) {
    const bouncer = findOrInstallPgbouncer();
    const aptLine = 'sudo apt-get install -y pgbouncer';
    if (!bouncer) {
      const note = `pgbouncer variant skipped: pgbouncer is not installed${isRoot ? ' and apt-get could not install it' : ' and this is not root'}; run \`${aptLine}\` and rerun`;
      notes.push(note);
      log(note);
    } else {
      versions.pgbouncer = sh(bouncer, ['--version']).trim().split('\n')[0];
      const b = await startPgbouncer({
        bouncer, dir, upstreamPort: pgPort, maxClientConn: 500, defaultPoolSize: 100, extra: ['ignore_startup_parameters = extra_float_digits'], cleanups,
        probe: (bPort) => sh('psql', ['-X', '-q', '-h', '127.0.0.1', '-p', String(bPort), '-U', 'bench', '-d', 'bench', '-c', 'SELECT 1'], { env: { ...pgEnv, PGPORT: String(bPort) } }),
      });
      variants.pgbouncer = { port: b.port, password: async () => PASSWORD, pid: b.pid };
    }
  }

  // Gatehouse in each audit mode: ledger.durability strict (fsync before forwarding) and process
  const gatehouses = GATEHOUSE_VARIANTS.filter((g) => VARIANTS.includes(g));
  const idp = gatehouses.length > 0 ? await startBenchIssuer(cleanups) : null;
  for (const g of gatehouses) {
    const gPort = await freePort();
    const gdir = join(dir, g);
    mkdirSync(gdir);
    const configFile = join(gdir, 'gatehouse.yaml');
    await writeGatewayConfig({ file: configFile, issuer: idp.issuer, ledger: join(gdir, 'ledger.db'), port: gPort, upstreamPort: pgPort, durability: g === 'gatehouse' ? 'strict' : 'process' });
    const profDir = join(here, 'results', `prof-${started.toISOString().slice(0, 16).replace(/[-:]/g, '')}-${g}`);
    const nodeArgs = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
    const { child, stop, stderr } = await startGatewayProcess({ config: configFile, nodeArgs, cleanups });
    variants[g] = { port: gPort, password: () => idp.token('bench'), child, pid: () => child.pid, profDir, stderr, stop, ledger: join(gdir, 'ledger.db') };
  }

  // ---- one pgbench run
  let runNo = 0;
  async function runPgbench(variant, { workload, mode, clients }) {
    const v = variants[variant];
    const prefix = join(dir, `run${++runNo}`);
    const args = ['-h', '127.0.0.1', '-p', String(v.port), '-U', 'bench', '-n', '-T', String(SECONDS), '-c', String(clients), '-j', String(Math.min(2, clients)),
      '-M', mode, ...(workload === 'select' ? ['-S'] : []), '-l', `--log-prefix=${prefix}`, 'bench'];
    const env = { ...process.env, PGPASSWORD: await v.password(), PGSSLMODE: 'disable' };
    // the proxy's own CPU time over the run (pgbouncer, the gateway): what a transaction costs it
    const cpu0 = v.pid ? processCpu(v.pid()) : null;
    const res = await new Promise((res) => {
      const c = spawn(pgbench, args, { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let o = '';
      let e = '';
      c.stdout.on('data', (d) => (o += d));
      c.stderr.on('data', (d) => (e += d));
      c.on('exit', (code) => res({ code, out: o, err: e }));
    });
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(res.out)?.[1] ?? NaN);
    const failed = Number(/number of failed transactions: (\d+)/.exec(res.out)?.[1] ?? 0);
    const lat = [];
    const base = prefix.split('/').pop();
    for (const f of readdirSync(dir).filter((f) => f.startsWith(`${base}.`))) {
      const text = readFileSync(join(dir, f), 'utf8');
      for (const line of text.split('\n')) {
        if (!line) continue;
        const us = Number(line.split(' ')[2]);
        if (Number.isFinite(us)) lat.push(us);
      }
      rmSync(join(dir, f));
    }
    const cpu1 = v.pid ? processCpu(v.pid()) : null;
    lat.sort((a, b) => a - b);
    const perTxn = (k) => (cpu0 && cpu1 && lat.length ? ((cpu1[k] - cpu0[k]) * 1e6) / lat.length : NaN);
    const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] / 1000 : NaN);
    if (res.code !== 0 || !Number.isFinite(tps)) {
      log(`  ${variant}: pgbench exited ${res.code}: ${(res.err || res.out).trim().split('\n').slice(-3).join(' | ')}`);
      if (GATEHOUSE_VARIANTS.includes(variant)) log(`  gateway stderr: ${v.stderr().trim().split('\n').slice(-3).join(' | ')}`);
    }
    return { tps, p50: q(0.5), p99: q(0.99), txns: lat.length, failed, exit: res.code, cpuUsPerTxn: perTxn('total'), mainCpuUsPerTxn: perTxn('main') };
  }

  // ---- this disk's fsync: the floor under every write-ahead append (4 KiB write + fsync, 200 times, in the ledger's directory)
  const fsync = fsyncProbe(dir);

  // ---- interleaved rounds
  const combos = [];
  for (const workload of WORKLOADS) for (const mode of MODES) for (const clients of CLIENTS) combos.push({ workload, mode, clients });
  const names = Object.keys(variants);
  const results = combos.map((c) => ({ ...c, runs: Object.fromEntries(names.map((n) => [n, []])) }));
  const estimate = ROUNDS * combos.length * names.length * (SECONDS + 0.3);
  log(`${names.length} variants x ${combos.length} combinations x ${ROUNDS} rounds: about ${Math.round(estimate)} s of pgbench`);
  for (let r = 0; r < ROUNDS; r++) {
    psql('TRUNCATE pgbench_history', 'bench', 'bench');
    psql('VACUUM ANALYZE pgbench_branches, pgbench_tellers', 'bench', 'bench');
    for (const [ci, res] of results.entries()) {
      const order = names.map((_, i) => names[(i + r + ci) % names.length]);
      for (const n of order) {
        const m = await runPgbench(n, res);
        res.runs[n].push(m);
        log(`round ${r + 1}/${ROUNDS} ${res.workload} ${res.mode} c=${res.clients} ${n}: ${m.tps.toFixed(0)} tps, p50 ${m.p50.toFixed(3)} ms, p99 ${m.p99.toFixed(3)} ms`);
      }
    }
  }
  const loadEnd = uptime();

  // ---- summary
  const sorted = (xs) => xs.filter(Number.isFinite).sort((a, b) => a - b);
  const spread = (xs) => {
    const s = sorted(xs);
    return { median: median(s), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN, n: s.length };
  };
  for (const res of results) {
    res.summary = {};
    for (const n of names) {
      const runs = res.runs[n];
      res.summary[n] = {
        tps: spread(runs.map((x) => x.tps)), p50: spread(runs.map((x) => x.p50)), p99: spread(runs.map((x) => x.p99)),
        cpuUsPerTxn: spread(runs.map((x) => x.cpuUsPerTxn)), mainCpuUsPerTxn: spread(runs.map((x) => x.mainCpuUsPerTxn)),
      };
    }
    const per = (a, b, f) => (variants[a] && variants[b] ? spread(res.runs[a].map((x, i) => f(x, res.runs[b][i]))) : null);
    const ratiosOf = (g) => ({
      vsDirectTps: per(g, 'direct', (x, d) => x.tps / d.tps),
      vsPgbouncerTps: per(g, 'pgbouncer', (x, b) => x.tps / b.tps),
      addedP50Ms: per(g, 'direct', (x, d) => x.p50 - d.p50),
      addedP99Ms: per(g, 'direct', (x, d) => x.p99 - d.p99),
    });
    const strict = ratiosOf('gatehouse');
    res.ratios = {
      gatehouseVsDirectTps: strict.vsDirectTps,
      gatehouseVsPgbouncerTps: strict.vsPgbouncerTps,
      pgbouncerVsDirectTps: per('pgbouncer', 'direct', (b, d) => b.tps / d.tps),
      gatehouseAddedP50Ms: strict.addedP50Ms,
      gatehouseAddedP99Ms: strict.addedP99Ms,
      process: ratiosOf('gatehouse-process'),
    };
  }

  // ---- gateway CPU profile (written when the gateway exits)
  // the first Gatehouse variant run (strict when it ran) is the one profiled and whose ledger is counted
  const gwName = GATEHOUSE_VARIANTS.find((g) => variants[g]);
  const gw = gwName ? variants[gwName] : undefined;
  for (const g of GATEHOUSE_VARIANTS) if (g !== gwName) await variants[g]?.stop();
  // what the ledger holds after the run: records per type, and per pgbench transaction
  let ledger = null;
  if (gw) {
    await gw.stop(); // drains, records the sessions' ends, writes the CPU profile
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(gw.ledger, { readonly: true });
    const byType = Object.fromEntries(db.prepare('SELECT type, count(*) AS n FROM records GROUP BY type ORDER BY n DESC').all().map((r) => [r.type, r.n]));
    db.close();
    const records = Object.values(byType).reduce((a, b) => a + b, 0);
    const txns = results.reduce((a, res) => a + res.runs[gwName].reduce((b, m) => b + m.txns, 0), 0);
    ledger = { variant: gwName, records, byType, pgbenchTransactions: txns };
  }
  await cleanup(); // stops pgbouncer and the cluster

  // node writes one profile per thread: the gateway's main thread and the ledger's writer worker
  let profile = null;
  if (PROFILE && gw && existsSync(gw.profDir)) {
    profile = [];
    for (const f of readdirSync(gw.profDir).filter((x) => x.endsWith('.cpuprofile')).sort()) {
      const p = JSON.parse(readFileSync(join(gw.profDir, f), 'utf8'));
      const self = new Map();
      const byId = new Map(p.nodes.map((nd) => [nd.id, nd]));
      const counts = new Map();
      for (const s of p.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
      let total = 0;
      for (const [id, c] of counts) {
        const cf = byId.get(id).callFrame;
        const key = `${cf.functionName || '(anonymous)'} ${cf.url ? `${cf.url.replace(`file://${root}/`, '')}:${cf.lineNumber + 1}` : ''}`.trim();
        self.set(key, (self.get(key) ?? 0) + c);
        total += c;
      }
      const idle = self.get('(idle)') ?? 0;
      profile.push({
        file: join(gw.profDir, f).replace(`${root}/`, ''),
        samples: total,
        idleShare: idle / total,
        top: [...self].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 12).map(([frame, n]) => ({ frame, shareOfBusy: n / (total - idle) })),
      });
    }
  }

  // ---- report
  const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');
  const sp = (s, d = 2) => (s ? `${f(s.median, d)} (${f(s.min, d)}–${f(s.max, d)})` : '–');
  const stamp = started.toISOString();
  const command = ['node bench/pg.mjs', ...argv].join(' ');
  const md = reportHeader({
    title: 'pgbench: direct vs pgbouncer (session) vs Gatehouse (strict write-ahead, and durability process)', started, command, git, loadStart, loadEnd,
    software: `${versions.node}; ${versions.postgres}; ${versions.pgbench}${versions.pgbouncer ? `; ${versions.pgbouncer}` : ''}`,
  });
  md.push(`- ${ROUNDS} interleaved rounds, ${SECONDS} s per run, \`pgbench -n -T ${SECONDS} -c N -j min(2,N) -M mode [-S] -l\`, scale ${SCALE}; every cell: median over rounds (min–max)`);
  for (const n of notes) md.push(`- ${n}`);
  md.push('');
  md.push('| workload | protocol | clients | variant | TPS | p50 ms | p99 ms |', '| --- | --- | ---: | --- | ---: | ---: | ---: |');
  for (const res of results) for (const n of names) {
    const s = res.summary[n];
    md.push(`| ${res.workload === 'select' ? 'select-only' : 'TPC-B-like'} | ${res.mode} | ${res.clients} | ${n} | ${sp(s.tps, 0)} | ${sp(s.p50, 3)} | ${sp(s.p99, 3)} |`);
  }
  md.push('', 'Ratios per round (median, min–max over rounds): TPS of Gatehouse / direct, Gatehouse / pgbouncer, pgbouncer / direct; p50 and p99 latency Gatehouse minus direct.', '');
  md.push('| workload | protocol | clients | GH/direct TPS | GH/pgbouncer TPS | pgbouncer/direct TPS | GH added p50 ms | GH added p99 ms |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const res of results) {
    const r = res.ratios;
    md.push(`| ${res.workload === 'select' ? 'select-only' : 'TPC-B-like'} | ${res.mode} | ${res.clients} | ${sp(r.gatehouseVsDirectTps, 3)} | ${sp(r.gatehouseVsPgbouncerTps, 3)} | ${sp(r.pgbouncerVsDirectTps, 3)} | ${sp(r.gatehouseAddedP50Ms, 3)} | ${sp(r.gatehouseAddedP99Ms, 3)} |`);
  }
  if (variants['gatehouse-process']) {
    md.push('', 'The same for Gatehouse with `ledger.durability: process` (no fsync on the statement\'s path; survives the gateway being killed, not a host crash):', '');
    md.push('| workload | protocol | clients | GH-process/direct TPS | GH-process/pgbouncer TPS | GH-process added p50 ms | GH-process added p99 ms |', '| --- | --- | ---: | ---: | ---: | ---: | ---: |');
    for (const res of results) {
      const r = res.ratios.process;
      md.push(`| ${res.workload === 'select' ? 'select-only' : 'TPC-B-like'} | ${res.mode} | ${res.clients} | ${sp(r.vsDirectTps, 3)} | ${sp(r.vsPgbouncerTps, 3)} | ${sp(r.addedP50Ms, 3)} | ${sp(r.addedP99Ms, 3)} |`);
    }
  }
  const proxies = names.filter((n) => variants[n].pid);
  if (proxies.length) {
    md.push('', 'CPU time the proxy process used per pgbench transaction, in µs (from /proc, its utime + stime over each run divided by the transactions; median over rounds, min–max). For Gatehouse, "main" is its main thread, the rest is the ledger\'s writer thread and Node\'s own threads (GC, I/O):', '');
    md.push(`| workload | protocol | clients | ${proxies.map((n) => (GATEHOUSE_VARIANTS.includes(n) ? `${n} (main)` : n)).join(' | ')} |`, `| --- | --- | ---: | ${proxies.map(() => '---:').join(' | ')} |`);
    for (const res of results) {
      const cells = proxies.map((n) => {
        const s = res.summary[n];
        return GATEHOUSE_VARIANTS.includes(n) ? `${sp(s.cpuUsPerTxn, 0)} (${f(s.mainCpuUsPerTxn.median, 0)})` : sp(s.cpuUsPerTxn, 0);
      });
      md.push(`| ${res.workload === 'select' ? 'select-only' : 'TPC-B-like'} | ${res.mode} | ${res.clients} | ${cells.join(' | ')} |`);
    }
  }
  md.push('', `This disk's fsync (4 KiB write + fsync, 200 times, before the rounds): p50 ${fsync.p50.toFixed(3)} ms, p99 ${fsync.p99.toFixed(3)} ms.`);
  if (ledger) {
    md.push(`Gatehouse's ledger (${ledger.variant}) after the run: ${ledger.records} records for ${ledger.pgbenchTransactions} pgbench transactions through it (${(ledger.records / Math.max(1, ledger.pgbenchTransactions)).toFixed(2)} per transaction); by type: ${Object.entries(ledger.byType).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  }
  for (const pr of profile ?? []) {
    md.push('', `Gateway CPU profile (${gwName}) \`${pr.file}\` (\`node --cpu-prof\`, whole run, ${pr.samples} samples, ${(pr.idleShare * 100).toFixed(0)} % idle); top frames by self time, share of busy samples:`, '');
    md.push('| frame | share |', '| --- | ---: |');
    for (const t of pr.top) md.push(`| \`${t.frame}\` | ${(t.shareOfBusy * 100).toFixed(1)} % |`);
  }
  const text = md.join('\n') + '\n';
  const name = resultName('pg', started, QUICK ? '-quick' : '');
  writeResults(name, text, {
    started: stamp, seconds: elapsedSeconds(started), command,
    machine: machineInfo(), versions, gatehouse: git,
    loadStart, loadEnd, options: { quick: QUICK, rounds: ROUNDS, seconds: SECONDS, clients: CLIENTS, modes: MODES, workloads: WORKLOADS, variants: names, scale: SCALE },
    notes, fsyncProbeMs: fsync, ledger, results, profile,
  });
} finally {
  await cleanup();
}
