// PostgreSQL macro benchmark with the real pgbench: select-only (-S) and the TPC-B-like default mix,
// at 1 / 16 / 64 clients, simple and prepared protocol, against
//   direct     the server itself,
//   pgbouncer  pgbouncer in session mode (Debian package `pgbouncer`; installed with apt-get when
//              root, else the variant is skipped with the apt line to run),
//   gatehouse  the built gateway (`gatehouse serve`, a child process) with its SQLite ledger:
//              strict write-ahead, every statement fsync'd (group commit) before it is forwarded;
//              the only audit mode the config has.
// A throwaway cluster (initdb/pg_ctl of the system PostgreSQL, `pgbench -i -s 10`), so the machine's
// own PostgreSQL is untouched. Runs are interleaved: every round runs every combination once per
// variant (the variants' order rotates per round), so machine noise hits all alike. p50/p99 come
// from pgbench's per-transaction logs (-l). Every number printed is measured in this run.
//
//   npm run bench -- [--quick] [--rounds N] [--time S] [--clients 1,16,64] [--modes simple,prepared]
//                    [--workloads select,tpcb] [--variants direct,pgbouncer,gatehouse] [--scale 10]
//                    [--profile]   (node --cpu-prof on the gateway; top frames in the report)
//
// Writes bench/results/pg-<date>-<HHMM>[-quick].json and .md, and prints the Markdown.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const { startDevIssuer } = await import(join(root, 'dist/identity/dev-issuer.js'));

// ---- options
const argv = process.argv.slice(2);
const flag = (n) => argv.includes(`--${n}`);
const opt = (n, def) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
};
const list = (n, def) => String(opt(n, def)).split(',').map((s) => s.trim()).filter(Boolean);
const QUICK = flag('quick');
const ROUNDS = Number(opt('rounds', QUICK ? 2 : 3));
const SECONDS = Number(opt('time', QUICK ? 3 : 10));
const CLIENTS = list('clients', QUICK ? '1,16' : '1,16,64').map(Number);
const MODES = list('modes', QUICK ? 'prepared' : 'simple,prepared');
const WORKLOADS = list('workloads', 'select,tpcb');
const VARIANTS = list('variants', 'direct,pgbouncer,gatehouse');
const SCALE = Number(opt('scale', 10));
const PROFILE = flag('profile');
for (const w of WORKLOADS) if (!['select', 'tpcb'].includes(w)) throw new Error(`unknown workload ${w}`);
for (const m of MODES) if (!['simple', 'prepared'].includes(m)) throw new Error(`unknown mode ${m}`);

const PGBIN = '/usr/lib/postgresql/15/bin';
const which = (cmd) => {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
};
const pgbench = which('pgbench') ?? (existsSync(join(PGBIN, 'pgbench')) ? join(PGBIN, 'pgbench') : null);
if (!pgbench) throw new Error('pgbench not found (Debian: apt-get install postgresql-contrib or postgresql-15)');
if (!existsSync(join(PGBIN, 'initdb'))) throw new Error(`initdb not found in ${PGBIN} (Debian: apt-get install postgresql-15)`);
const isRoot = process.getuid?.() === 0;
// initdb, postgres and pgbouncer refuse to run as root
const runAs = isRoot ? 'postgres' : null;
const sh = (cmd, args, opts = {}) => {
  const [file, a] = runAs && opts.asServer ? ['runuser', ['-u', runAs, '--', cmd, ...args]] : [cmd, args];
  return execFileSync(file, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
};
const uptime = () => {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`;
  }
};
function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stderr.write(`${s}\n`);

const started = new Date();
const loadStart = uptime();
log(`pg bench: ${started.toISOString()}  ${loadStart}`);
log(`rounds ${ROUNDS}, ${SECONDS} s per run, clients ${CLIENTS.join('/')}, ${MODES.join('/')}, ${WORKLOADS.join('/')}, variants ${VARIANTS.join('/')}`);

const cleanups = [];
async function cleanup() {
  for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch((e) => log(`cleanup: ${e.message}`));
  cleanups.length = 0;
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-pg-'));
chmodSync(dir, 0o755);
if (runAs) sh('chown', [runAs, dir]);
cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
const PASSWORD = 'bench-Upstream-Secret-42';
const notes = [];
const versions = { node: process.version, pgbench: sh(pgbench, ['--version']).trim() };

try {
  // ---- the throwaway cluster (fsync and synchronous_commit at their defaults: on)
  const pgPort = await freePort();
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  mkdirSync(sock);
  if (runAs) sh('chown', [runAs, sock]);
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${PASSWORD}\n`);
  if (runAs) sh('chown', [runAs, pwfile]);
  sh(join(PGBIN, 'initdb'), ['-D', data, '-A', 'scram-sha-256', '-U', 'postgres', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-sync'], { asServer: true });
  const pgOpts = `-p ${pgPort} -h 127.0.0.1 -k ${sock} -c max_connections=300 -c shared_buffers=256MB`;
  sh(join(PGBIN, 'pg_ctl'), ['-D', data, '-l', join(dir, 'postgres.log'), '-w', '-o', pgOpts, 'start'], { asServer: true });
  cleanups.push(() => sh(join(PGBIN, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop'], { asServer: true }));
  versions.postgres = sh(join(PGBIN, 'postgres'), ['--version']).trim();
  const pgEnv = { ...process.env, PGPASSWORD: PASSWORD, PGSSLMODE: 'disable', PGHOST: '127.0.0.1', PGPORT: String(pgPort) };
  const psql = (sql, db = 'postgres', user = 'postgres') => sh('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', db, '-c', sql], { env: pgEnv });
  psql(`CREATE ROLE bench LOGIN PASSWORD '${PASSWORD}'`);
  psql('CREATE DATABASE bench OWNER bench');
  log(`cluster on 127.0.0.1:${pgPort}: pgbench -i -s ${SCALE}`);
  sh(pgbench, ['-i', '-q', '-s', String(SCALE), '-U', 'bench', 'bench'], { env: pgEnv });

  // ---- the variants: name -> { port, env() }
  const variants = {};
  if (VARIANTS.includes('direct')) variants.direct = { port: pgPort, password: async () => PASSWORD };

  if (VARIANTS.includes('pgbouncer')) {
    let bouncer = which('pgbouncer') ?? (existsSync('/usr/sbin/pgbouncer') ? '/usr/sbin/pgbouncer' : null);
    const aptLine = 'sudo apt-get install -y pgbouncer';
    if (!bouncer && isRoot) {
      log('pgbouncer missing: apt-get install -y pgbouncer');
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      try {
        execFileSync('apt-get', ['install', '-y', '-q', 'pgbouncer'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      } catch {
        try {
          execFileSync('apt-get', ['update', '-q'], { env, stdio: 'ignore' });
          execFileSync('apt-get', ['install', '-y', '-q', 'pgbouncer'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
        } catch (e) {
          log(`apt-get install pgbouncer failed: ${String(e.stderr ?? e.message).trim().split('\n').slice(-2).join(' | ')}`);
        }
      }
      bouncer = which('pgbouncer') ?? (existsSync('/usr/sbin/pgbouncer') ? '/usr/sbin/pgbouncer' : null);
    }
    if (!bouncer) {
      const note = `pgbouncer variant skipped: pgbouncer is not installed${isRoot ? ' and apt-get could not install it' : ' and this is not root'}; run \`${aptLine}\` and rerun`;
      notes.push(note);
      log(note);
    } else {
      versions.pgbouncer = sh(bouncer, ['--version']).trim().split('\n')[0];
      const bPort = await freePort();
      const bdir = join(dir, 'pgbouncer');
      mkdirSync(bdir);
      writeFileSync(join(bdir, 'userlist.txt'), `"bench" "${PASSWORD}"\n`);
      writeFileSync(join(bdir, 'pgbouncer.ini'), [
        '[databases]',
        `bench = host=127.0.0.1 port=${pgPort} dbname=bench user=bench password=${PASSWORD}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1', `listen_port = ${bPort}`, "unix_socket_dir = ''",
        'auth_type = md5', `auth_file = ${join(bdir, 'userlist.txt')}`,
        'pool_mode = session', 'max_client_conn = 500', 'default_pool_size = 100', 'max_db_connections = 0',
        'ignore_startup_parameters = extra_float_digits', `logfile = ${join(bdir, 'pgbouncer.log')}`, `pidfile = ${join(bdir, 'pgbouncer.pid')}`,
        'log_connections = 0', 'log_disconnections = 0', '',
      ].join('\n'));
      if (runAs) sh('chown', ['-R', runAs, bdir]);
      const [file, a] = runAs ? ['runuser', ['-u', runAs, '--', bouncer, join(bdir, 'pgbouncer.ini')]] : [bouncer, [join(bdir, 'pgbouncer.ini')]];
      const child = spawn(file, a, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      cleanups.push(async () => {
        if (child.exitCode !== null) return;
        const done = new Promise((r) => child.once('exit', r));
        // runuser forwards SIGTERM to pgbouncer
        child.kill('SIGTERM');
        await Promise.race([done, sleep(3000)]);
      });
      for (let i = 0; ; i++) {
        try {
          sh('psql', ['-X', '-q', '-h', '127.0.0.1', '-p', String(bPort), '-U', 'bench', '-d', 'bench', '-c', 'SELECT 1'], { env: { ...pgEnv, PGPORT: String(bPort) } });
          break;
        } catch (e) {
          if (i > 50 || child.exitCode !== null) throw new Error(`pgbouncer did not start: ${err || e.message}`);
          await sleep(100);
        }
      }
      variants.pgbouncer = { port: bPort, password: async () => PASSWORD };
    }
  }

  if (VARIANTS.includes('gatehouse')) {
    const idp = await startDevIssuer({ audience: 'api://bench', clients: [{ clientId: 'bench', clientSecret: 'bench-secret-123', groups: ['bench'] }] });
    cleanups.push(() => idp.close());
    const gPort = await freePort();
    const gdir = join(dir, 'gatehouse');
    mkdirSync(gdir);
    const configFile = join(gdir, 'gatehouse.yaml');
    writeFileSync(configFile, stringify({
      identity: { issuer: idp.issuer, audience: 'api://bench' },
      ledger: { sqlite: join(gdir, 'ledger.db') },
      listeners: { postgres: { host: '127.0.0.1', port: gPort } },
      connections: [{ name: 'bench', type: 'postgres', host: '127.0.0.1', port: pgPort, database: 'bench', user: 'bench', password: '${BENCH_UPSTREAM_PASSWORD}', groups: ['bench'], tls: { mode: 'disable' } }],
      log: { level: 'warn' },
    }));
    const profDir = join(here, 'results', `prof-${started.toISOString().slice(0, 16).replace(/[-:]/g, '')}`);
    const nodeArgs = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
    const child = spawn(process.execPath, [...nodeArgs, join(root, 'dist/cli/main.js'), 'serve', '--config', configFile], {
      env: { ...process.env, BENCH_UPSTREAM_PASSWORD: PASSWORD }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const stop = async () => {
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([done, sleep(15000)]);
    };
    cleanups.push(stop);
    await new Promise((res, rej) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('gatehouse ready')) res();
      });
      child.once('exit', (code) => rej(new Error(`gatehouse serve exited ${code}: ${err}`)));
    });
    variants.gatehouse = { port: gPort, password: () => idp.token('bench'), child, profDir, stderr: () => err, stop, ledger: join(gdir, 'ledger.db') };
  }

  // ---- one pgbench run
  let runNo = 0;
  async function runPgbench(variant, { workload, mode, clients }) {
    const v = variants[variant];
    const prefix = join(dir, `run${++runNo}`);
    const args = ['-h', '127.0.0.1', '-p', String(v.port), '-U', 'bench', '-n', '-T', String(SECONDS), '-c', String(clients), '-j', String(Math.min(2, clients)),
      '-M', mode, ...(workload === 'select' ? ['-S'] : []), '-l', `--log-prefix=${prefix}`, 'bench'];
    const env = { ...process.env, PGPASSWORD: await v.password(), PGSSLMODE: 'disable' };
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
    lat.sort((a, b) => a - b);
    const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] / 1000 : NaN);
    if (res.code !== 0 || !Number.isFinite(tps)) {
      log(`  ${variant}: pgbench exited ${res.code}: ${(res.err || res.out).trim().split('\n').slice(-3).join(' | ')}`);
      if (variant === 'gatehouse') log(`  gateway stderr: ${v.stderr().trim().split('\n').slice(-3).join(' | ')}`);
    }
    return { tps, p50: q(0.5), p99: q(0.99), txns: lat.length, failed, exit: res.code };
  }

  // ---- this disk's fsync: the floor under every write-ahead append (4 KiB write + fsync, 200 times, in the ledger's directory)
  const { openSync, writeSync, fsyncSync, closeSync } = await import('node:fs');
  const fsyncMs = [];
  {
    const fd = openSync(join(dir, 'fsync-probe'), 'w');
    const block = Buffer.alloc(4096, 1);
    for (let i = 0; i < 200; i++) {
      const t0 = process.hrtime.bigint();
      writeSync(fd, block, 0, block.length, (i % 16) * 4096);
      fsyncSync(fd);
      fsyncMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    closeSync(fd);
    rmSync(join(dir, 'fsync-probe'));
    fsyncMs.sort((a, b) => a - b);
    log(`fsync probe: p50 ${fsyncMs[100].toFixed(3)} ms, p99 ${fsyncMs[198].toFixed(3)} ms`);
  }

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
  const median = (xs) => {
    const s = sorted(xs);
    if (!s.length) return NaN;
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const spread = (xs) => {
    const s = sorted(xs);
    return { median: median(s), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN, n: s.length };
  };
  for (const res of results) {
    res.summary = {};
    for (const n of names) {
      const runs = res.runs[n];
      res.summary[n] = { tps: spread(runs.map((x) => x.tps)), p50: spread(runs.map((x) => x.p50)), p99: spread(runs.map((x) => x.p99)) };
    }
    const per = (a, b, f) => (variants[a] && variants[b] ? spread(res.runs[a].map((x, i) => f(x, res.runs[b][i]))) : null);
    res.ratios = {
      gatehouseVsDirectTps: per('gatehouse', 'direct', (g, d) => g.tps / d.tps),
      gatehouseVsPgbouncerTps: per('gatehouse', 'pgbouncer', (g, b) => g.tps / b.tps),
      pgbouncerVsDirectTps: per('pgbouncer', 'direct', (b, d) => b.tps / d.tps),
      gatehouseAddedP50Ms: per('gatehouse', 'direct', (g, d) => g.p50 - d.p50),
      gatehouseAddedP99Ms: per('gatehouse', 'direct', (g, d) => g.p99 - d.p99),
    };
  }

  // ---- gateway CPU profile (written when the gateway exits)
  const gw = variants.gatehouse;
  // what the ledger holds after the run: records per type, and per pgbench transaction
  let ledger = null;
  if (gw) {
    await gw.stop(); // drains, records the sessions' ends, writes the CPU profile
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(gw.ledger, { readonly: true });
    const byType = Object.fromEntries(db.prepare('SELECT type, count(*) AS n FROM records GROUP BY type ORDER BY n DESC').all().map((r) => [r.type, r.n]));
    db.close();
    const records = Object.values(byType).reduce((a, b) => a + b, 0);
    const txns = results.reduce((a, res) => a + res.runs.gatehouse.reduce((b, m) => b + m.txns, 0), 0);
    ledger = { records, byType, pgbenchTransactions: txns };
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
  let git = 'unknown';
  try {
    git = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no', 'src'], { encoding: 'utf8' }).trim();
    if (dirty) git += ` (src/ with uncommitted changes: ${dirty.split('\n').map((l) => l.slice(3)).join(', ')})`;
  } catch { /* not a checkout */ }
  const md = [];
  md.push(`# pgbench: direct vs pgbouncer (session) vs Gatehouse (strict write-ahead)`, '');
  const command = ['node bench/pg.mjs', ...argv].join(' ');
  md.push(`- started ${stamp}, took ${Math.round((Date.now() - started.getTime()) / 1000)} s; command: \`${command}\``);
  md.push(`- machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ${versions.node}; ${versions.postgres}; ${versions.pgbench}${versions.pgbouncer ? `; ${versions.pgbouncer}` : ''}; gatehouse ${git}`);
  md.push(`- load at start: \`${loadStart}\``, `- load at end: \`${loadEnd}\``);
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
  md.push('', `This disk's fsync (4 KiB write + fsync, 200 times, before the rounds): p50 ${fsyncMs[100].toFixed(3)} ms, p99 ${fsyncMs[198].toFixed(3)} ms.`);
  if (ledger) {
    md.push(`Gatehouse's ledger after the run: ${ledger.records} records for ${ledger.pgbenchTransactions} pgbench transactions through it (${(ledger.records / Math.max(1, ledger.pgbenchTransactions)).toFixed(2)} per transaction); by type: ${Object.entries(ledger.byType).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  }
  for (const pr of profile ?? []) {
    md.push('', `Gateway CPU profile \`${pr.file}\` (\`node --cpu-prof\`, whole run, ${pr.samples} samples, ${(pr.idleShare * 100).toFixed(0)} % idle); top frames by self time, share of busy samples:`, '');
    md.push('| frame | share |', '| --- | ---: |');
    for (const t of pr.top) md.push(`| \`${t.frame}\` | ${(t.shareOfBusy * 100).toFixed(1)} % |`);
  }
  const text = md.join('\n') + '\n';
  process.stdout.write(text);
  const outDir = join(here, 'results');
  mkdirSync(outDir, { recursive: true });
  const name = `pg-${stamp.slice(0, 10)}-${stamp.slice(11, 19).replace(/:/g, '')}${QUICK ? '-quick' : ''}`;
  writeFileSync(join(outDir, `${name}.md`), text);
  writeFileSync(join(outDir, `${name}.json`), JSON.stringify({
    started: stamp, seconds: Math.round((Date.now() - started.getTime()) / 1000), command,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: +(totalmem() / 2 ** 30).toFixed(1) }, versions, gatehouse: git,
    loadStart, loadEnd, options: { quick: QUICK, rounds: ROUNDS, seconds: SECONDS, clients: CLIENTS, modes: MODES, workloads: WORKLOADS, variants: names, scale: SCALE },
    notes, fsyncProbeMs: { p50: fsyncMs[100], p99: fsyncMs[198] }, ledger, results, profile,
  }, null, 2) + '\n');
  log(`wrote bench/results/${name}.md and .json`);
} finally {
  await cleanup();
}
