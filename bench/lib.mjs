// What the benchmarks share: options, shell and process helpers, the throwaway PostgreSQL cluster,
// pgbouncer, the dev issuer and the built gateway as a child process, the fsync probe, the report's
// header and the result files, and the data sets of the masking benchmarks. Plain ESM, no
// dependencies beyond Node's own modules; nothing of the built project (dist/) is imported here, so
// a bench can say "build first" before it loads dist/.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/ itself */
export const here = dirname(fileURLToPath(import.meta.url));
/** the project's root (its dist/ is what the benches run) */
export const root = resolve(here, '..');
/** the system PostgreSQL's binaries (Debian's postgresql-15) */
export const PGBIN = '/usr/lib/postgresql/15/bin';
export const isRoot = process.getuid?.() === 0;
/** initdb, postgres and pgbouncer refuse to run as root: as root they run as this user */
export const runAs = isRoot ? 'postgres' : null;
/** the upstream password of the throwaway clusters' `bench` role */
export const PASSWORD = 'bench-Upstream-Secret-42';

/** @param {string} s a line for stderr (progress; stdout carries the report) */
export const log = (s) => process.stderr.write(`${s}\n`);

/** @param {number} ms @returns {Promise<void>} */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The command line's options: `--name` flags and `--name value` options.
 * @param {string[]} [argv] the arguments (default: process.argv without node and the script)
 * @returns {{ argv: string[], flag: (n: string) => boolean, opt: (n: string, def?: any) => any, list: (n: string, def: string) => string[] }}
 */
export function parseArgs(argv = process.argv.slice(2)) {
  const flag = (n) => argv.includes(`--${n}`);
  const opt = (n, def) => {
    const i = argv.indexOf(`--${n}`);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
  };
  /** a comma-separated option as a list */
  const list = (n, def) => String(opt(n, def)).split(',').map((s) => s.trim()).filter(Boolean);
  return { argv, flag, opt, list };
}

/**
 * Exits (code 2) with a "build the project first" line when a file of dist/ is missing.
 * @param {string} bench the bench's name, for the message
 * @param {string[]} files paths relative to the project's root
 */
export function requireBuilt(bench, files) {
  for (const f of files) {
    if (!existsSync(join(root, f))) {
      log(`${bench} bench: ${f} is missing: build the project first (\`npm run build\` or \`npx tsc -p .\` in ${root})`);
      process.exit(2);
    }
  }
}

/** @param {string} cmd @returns {string | null} the command's path, or null when it is not on PATH */
export const which = (cmd) => {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
};

/**
 * Runs a command and returns its stdout; with `asServer: true`, as `runAs` when this is root.
 * @param {string} cmd
 * @param {string[]} args
 * @param {import('node:child_process').ExecFileSyncOptions & { asServer?: boolean }} [opts]
 * @returns {string}
 */
export const sh = (cmd, args, opts = {}) => {
  const [file, a] = runAs && opts.asServer ? ['runuser', ['-u', runAs, '--', cmd, ...args]] : [cmd, args];
  return execFileSync(file, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
};

/** @returns {string} the machine's load: `uptime`'s line, or the load averages where there is no uptime */
export const uptime = () => {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`;
  }
};

/** @returns {Promise<number>} a TCP port free on 127.0.0.1 right now */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/**
 * Median of the finite values (NaN when there are none).
 * @param {number[]} xs
 */
export const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * A stack of clean-ups (child processes to stop, clusters to stop, temp dirs to remove), run last
 * pushed first by `cleanup()`, and on SIGINT (then exit 130).
 * @returns {{ cleanups: Array<() => unknown>, cleanup: () => Promise<void> }}
 */
export function cleanupStack() {
  const cleanups = [];
  async function cleanup() {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch((e) => log(`cleanup: ${e.message}`));
    cleanups.length = 0;
  }
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  return { cleanups, cleanup };
}

/**
 * A temp dir `gatehouse-bench-<name>-*` (mode 755), removed by the clean-ups.
 * @param {string} name
 * @param {Array<() => unknown>} cleanups
 * @param {{ chown?: boolean }} [o] chown: hand it to `runAs` (when root) now
 */
export function benchDir(name, cleanups, { chown = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), `gatehouse-bench-${name}-`));
  chmodSync(dir, 0o755);
  if (chown && runAs) sh('chown', [runAs, dir]);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A throwaway cluster of the system PostgreSQL in dir/data (initdb, pg_ctl start; fsync and
 * synchronous_commit at their defaults), stopped by the clean-ups.
 * @param {object} o
 * @param {string} o.dir the bench's temp dir (owned by `runAs` when root)
 * @param {Array<() => unknown>} o.cleanups
 * @param {string | null} [o.password] the `postgres` superuser's password (scram-sha-256); null: trust, no password
 * @param {string} [o.settings] more server options for pg_ctl -o (`-c name=value ...`)
 * @param {boolean} [o.chownDir] also hand dir itself to `runAs` (when root)
 * @returns {Promise<{ port: number, data: string, sock: string, version: string, env: NodeJS.ProcessEnv, psql: (sql: string, db?: string, user?: string, extra?: string[]) => string }>}
 *   env: PG* variables for the superuser on the cluster; psql(): one statement, ON_ERROR_STOP, its stdout
 */
export async function startCluster({ dir, cleanups, password = null, settings = '', chownDir = false }) {
  const port = await freePort();
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  mkdirSync(sock);
  if (runAs) sh('chown', chownDir ? [runAs, dir, sock] : [runAs, sock]);
  let auth;
  if (password === null) auth = ['-A', 'trust'];
  else {
    const pwfile = join(dir, 'pw');
    writeFileSync(pwfile, `${password}\n`);
    if (runAs) sh('chown', [runAs, pwfile]);
    auth = ['-A', 'scram-sha-256'];
  }
  sh(join(PGBIN, 'initdb'), ['-D', data, ...auth, '-U', 'postgres', ...(password === null ? [] : [`--pwfile=${join(dir, 'pw')}`]), '-E', 'UTF8', '--no-sync'], { asServer: true });
  const serverOpts = `-p ${port} -h 127.0.0.1 -k ${sock}${settings ? ` ${settings}` : ''}`;
  sh(join(PGBIN, 'pg_ctl'), ['-D', data, '-l', join(dir, 'postgres.log'), '-w', '-o', serverOpts, 'start'], { asServer: true });
  cleanups.push(() => sh(join(PGBIN, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop'], { asServer: true }));
  const version = sh(join(PGBIN, 'postgres'), ['--version']).trim();
  const env = { ...process.env, ...(password === null ? {} : { PGPASSWORD: password }), PGSSLMODE: 'disable', PGHOST: '127.0.0.1', PGPORT: String(port) };
  const psql = (sql, db = 'postgres', user = 'postgres', extra = []) => sh('psql', ['-X', '-q', ...extra, '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', db, '-c', sql], { env });
  return { port, data, sock, version, env, psql };
}

/**
 * The `bench` role (password PASSWORD) and its database `bench`, on a cluster of startCluster().
 * @param {{ psql: (sql: string) => string }} cluster
 */
export function createBenchDatabase(cluster) {
  cluster.psql(`CREATE ROLE bench LOGIN PASSWORD '${PASSWORD}'`);
  cluster.psql('CREATE DATABASE bench OWNER bench');
}

const findPgbouncer = () => which('pgbouncer') ?? (existsSync('/usr/sbin/pgbouncer') ? '/usr/sbin/pgbouncer' : null);

/**
 * pgbouncer's path; when it is missing and this is root, `apt-get install -y pgbouncer` first
 * (after `apt-get update` if that is what it takes).
 * @returns {string | null} null: not installed (and could not be)
 */
export function findOrInstallPgbouncer() {
  let bouncer = findPgbouncer();
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
    bouncer = findPgbouncer();
  }
  return bouncer;
}

/**
 * pgbouncer in session mode in dir/pgbouncer, in front of the `bench` database of a cluster (user
 * `bench`, password PASSWORD, md5), run as `runAs` when root and stopped (SIGTERM) by the clean-ups.
 * Resolves once `probe(port)` succeeds (tried every 100 ms, 50 times at the most).
 * @param {object} o
 * @param {string} o.bouncer its path (findOrInstallPgbouncer())
 * @param {string} o.dir the bench's temp dir
 * @param {number} o.upstreamPort the cluster's port
 * @param {number} o.maxClientConn
 * @param {number} o.defaultPoolSize
 * @param {string[]} [o.extra] more lines of the [pgbouncer] section (before the log settings)
 * @param {number} [o.fds] raise the open files limit to this first (`ulimit -n` in a shell)
 * @param {(port: number) => unknown} o.probe throws (or rejects) while pgbouncer does not answer
 * @param {Array<() => unknown>} o.cleanups
 * @returns {Promise<{ port: number, dir: string, child: import('node:child_process').ChildProcess, pid: () => number, stderr: () => string }>}
 */
export async function startPgbouncer({ bouncer, dir, upstreamPort, maxClientConn, defaultPoolSize, extra = [], fds = 0, probe, cleanups }) {
  const port = await freePort();
  const bdir = join(dir, 'pgbouncer');
  mkdirSync(bdir);
  writeFileSync(join(bdir, 'userlist.txt'), `"bench" "${PASSWORD}"\n`);
  writeFileSync(join(bdir, 'pgbouncer.ini'), [
    '[databases]',
    `bench = host=127.0.0.1 port=${upstreamPort} dbname=bench user=bench password=${PASSWORD}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1', `listen_port = ${port}`, "unix_socket_dir = ''",
    'auth_type = md5', `auth_file = ${join(bdir, 'userlist.txt')}`,
    'pool_mode = session', `max_client_conn = ${maxClientConn}`, `default_pool_size = ${defaultPoolSize}`, 'max_db_connections = 0',
    ...extra, `logfile = ${join(bdir, 'pgbouncer.log')}`, `pidfile = ${join(bdir, 'pgbouncer.pid')}`,
    'log_connections = 0', 'log_disconnections = 0', '',
  ].join('\n'));
  if (runAs) sh('chown', ['-R', runAs, bdir]);
  const ini = join(bdir, 'pgbouncer.ini');
  let file;
  let a;
  if (fds) {
    // runuser's PAM session sets the soft limit to 1024: raise it (up to the hard limit) first
    const line = `ulimit -n ${fds} && exec ${bouncer} ${ini}`;
    [file, a] = runAs ? ['runuser', ['-u', runAs, '--', 'sh', '-c', line]] : ['sh', ['-c', line]];
  } else {
    [file, a] = runAs ? ['runuser', ['-u', runAs, '--', bouncer, ini]] : [bouncer, [ini]];
  }
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
      await probe(port);
      break;
    } catch (e) {
      if (i > 50 || child.exitCode !== null) throw new Error(`pgbouncer did not start: ${err || e.message}`);
      await sleep(100);
    }
  }
  const pid = () => Number(readFileSync(join(bdir, 'pgbouncer.pid'), 'utf8').trim());
  return { port, dir: bdir, child, pid, stderr: () => err };
}

/**
 * The dev issuer (audience api://bench) with one client, `bench`, in the group `bench`; closed by the clean-ups.
 * @param {Array<() => unknown>} cleanups
 * @returns {Promise<{ issuer: string, token: (clientId: string) => Promise<string>, close: () => Promise<void> }>}
 */
export async function startBenchIssuer(cleanups) {
  const { startDevIssuer } = await import(join(root, 'dist/identity/dev-issuer.js'));
  const idp = await startDevIssuer({ audience: 'api://bench', clients: [{ clientId: 'bench', clientSecret: 'bench-secret-123', groups: ['bench'] }] });
  cleanups.push(() => idp.close());
  return idp;
}

/**
 * Writes a gateway config: the issuer, a SQLite ledger, a PostgreSQL listener, and one connection
 * `bench` to the cluster's `bench` database (password from $BENCH_UPSTREAM_PASSWORD), log level warn.
 * @param {object} o
 * @param {string} o.file the YAML file to write
 * @param {string} o.issuer
 * @param {string} o.ledger the SQLite ledger's file
 * @param {number} o.port the gateway's PostgreSQL listener
 * @param {number} o.upstreamPort the cluster's port
 */
export async function writeGatewayConfig({ file, issuer, ledger, port, upstreamPort, durability = 'strict' }) {
  const { stringify } = await import('yaml');
  writeFileSync(file, stringify({
    identity: { issuer, audience: 'api://bench' },
    ledger: { sqlite: ledger, durability },
    listeners: { postgres: { host: '127.0.0.1', port } },
    connections: [{ name: 'bench', type: 'postgres', host: '127.0.0.1', port: upstreamPort, database: 'bench', user: 'bench', password: '${BENCH_UPSTREAM_PASSWORD}', groups: ['bench'], tls: { mode: 'disable' } }],
    log: { level: 'warn' },
  }));
}

/**
 * The built gateway (`node dist/cli/main.js serve --config FILE`) as a child process, with
 * BENCH_UPSTREAM_PASSWORD = PASSWORD; resolves once it prints `gatehouse ready`. stop(): SIGTERM,
 * up to 15 s to drain, then SIGKILL; also pushed to the clean-ups.
 * @param {object} o
 * @param {string} o.config
 * @param {string[]} [o.nodeArgs] node's own options (--cpu-prof, --expose-gc, --require ...)
 * @param {number} [o.keepStderr] keep at most this many characters of its stderr (the tail)
 * @param {Array<() => unknown>} o.cleanups
 * @returns {Promise<{ child: import('node:child_process').ChildProcess, stop: () => Promise<void>, stderr: () => string }>}
 */
export async function startGatewayProcess({ config, nodeArgs = [], keepStderr = Infinity, cleanups }) {
  const child = spawn(process.execPath, [...nodeArgs, join(root, 'dist/cli/main.js'), 'serve', '--config', config], {
    env: { ...process.env, BENCH_UPSTREAM_PASSWORD: PASSWORD }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => (err = keepStderr === Infinity ? err + d : (err + d).slice(-keepStderr)));
  const stop = async () => {
    if (child.exitCode !== null) return;
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([done, sleep(15000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  cleanups.push(stop);
  await new Promise((res, rej) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('gatehouse ready')) res();
    });
    child.once('exit', (code) => rej(new Error(`gatehouse serve exited ${code}: ${err}`)));
  });
  return { child, stop, stderr: () => err };
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, 100 on Linux). */
let clkTck = 0;

/**
 * CPU time a process has used so far, from /proc (Linux): the whole process (all its threads) and
 * its main thread (the task whose id is the pid), in seconds. Null when the process is gone or
 * /proc is not there. Resolution: one clock tick (10 ms), so read it around runs of seconds.
 * @param {number} pid
 * @returns {{ total: number, main: number } | null}
 */
export function processCpu(pid) {
  if (!clkTck) clkTck = Number(sh('getconf', ['CLK_TCK']).trim()) || 100;
  const ticks = (file) => {
    // fields after the command name (which may hold spaces, so split after its closing parenthesis)
    const rest = readFileSync(file, 'utf8').split(') ').pop().split(' ');
    return Number(rest[11]) + Number(rest[12]); // utime + stime (fields 14 and 15 of stat)
  };
  try {
    return { total: ticks(`/proc/${pid}/stat`) / clkTck, main: ticks(`/proc/${pid}/task/${pid}/stat`) / clkTck };
  } catch {
    return null;
  }
}

/**
 * This disk's fsync, the floor under every durable commit: a 4 KiB write + fsync, 200 times, in dir.
 * Logs and returns p50 and p99 in ms.
 * @param {string} dir
 * @returns {{ p50: number, p99: number }}
 */
export function fsyncProbe(dir) {
  const ms = [];
  const fd = openSync(join(dir, 'fsync-probe'), 'w');
  const block = Buffer.alloc(4096, 1);
  for (let i = 0; i < 200; i++) {
    const t0 = process.hrtime.bigint();
    writeSync(fd, block, 0, block.length, (i % 16) * 4096);
    fsyncSync(fd);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  closeSync(fd);
  rmSync(join(dir, 'fsync-probe'));
  ms.sort((a, b) => a - b);
  log(`fsync probe: p50 ${ms[100].toFixed(3)} ms, p99 ${ms[198].toFixed(3)} ms`);
  return { p50: ms[100], p99: ms[198] };
}

/**
 * The checkout's short commit, and whether src/ has uncommitted changes.
 * @param {{ listDirty?: boolean }} [o] listDirty: name the changed files of src/
 * @returns {string} `abc1234`, `abc1234 (src/ with uncommitted changes…)`, or `unknown`
 */
export function gitDescribe({ listDirty = false } = {}) {
  let git = 'unknown';
  try {
    git = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    // porcelain lines are "XY path": trim each line's end only, or the first line's status column goes
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no', 'src'], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() !== '');
    if (dirty.length > 0) git += listDirty ? ` (src/ with uncommitted changes: ${dirty.map((l) => l.slice(3)).join(', ')})` : ' (src/ with uncommitted changes)';
  } catch { /* not a checkout */ }
  return git;
}

/** @returns {{ cpus: number, model: string | undefined, memGiB: number }} the machine, for the JSON result */
export const machineInfo = () => ({ cpus: cpus().length, model: cpus()[0]?.model, memGiB: +(totalmem() / 2 ** 30).toFixed(1) });

/** @param {Date} started @returns {number} whole seconds since */
export const elapsedSeconds = (started) => Math.round((Date.now() - started.getTime()) / 1000);

/**
 * The report's first lines: the title, when and how it ran, the machine, the load.
 * @param {object} o
 * @param {string} o.title
 * @param {Date} o.started
 * @param {string} o.command
 * @param {string} [o.commandNote] said right after the command
 * @param {string} o.software versions, `; `-separated (after the machine)
 * @param {string} o.git gitDescribe()
 * @param {string} o.loadStart
 * @param {string} o.loadEnd
 * @returns {string[]}
 */
export function reportHeader({ title, started, command, commandNote = '', software, git, loadStart, loadEnd }) {
  return [
    `# ${title}`, '',
    `- started ${started.toISOString()}, took ${elapsedSeconds(started)} s; command: \`${command}\`${commandNote}`,
    `- machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ${software}; gatehouse ${git}`,
    `- load at start: \`${loadStart}\``, `- load at end: \`${loadEnd}\``,
  ];
}

/**
 * A result's file name: `<bench>-<date>-<HHMMSS>` and the suffixes given (e.g. `-quick`).
 * @param {string} bench
 * @param {Date} started
 * @param {string} [suffix]
 */
export function resultName(bench, started, suffix = '') {
  const stamp = started.toISOString();
  return `${bench}-${stamp.slice(0, 10)}-${stamp.slice(11, 19).replace(/:/g, '')}${suffix}`;
}

/**
 * Prints the Markdown report on stdout and writes it and the JSON as bench/results/NAME.md and .json.
 * @param {string} name resultName()
 * @param {string} text the Markdown
 * @param {object} json
 */
export function writeResults(name, text, json) {
  process.stdout.write(text);
  const outDir = join(here, 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, `${name}.md`), text);
  writeFileSync(join(outDir, `${name}.json`), JSON.stringify(json, null, 2) + '\n');
  log(`wrote bench/results/${name}.md and .json`);
}

// ---- the data sets of the masking benchmarks (masking.mjs reads them from PostgreSQL, micro.mjs builds them)

/** @param {number} n @param {number} w */
const pad = (n, w) => String(n).padStart(w, '0');
const city = ['Berlin', 'Lyon', 'Austin', 'Osaka'];
/**
 * typical: an orders table whose email column is personal data, 1 row in 50 with a phone number in its note;
 * dense: every row has an email, a card number, an SSN and a phone number, a third of the notes carry more.
 * cols: [name, type OID]; row(i): the values of row i as PostgreSQL returns them (text format).
 * @type {Record<'typical' | 'dense', { cols: Array<[string, number]>, row: (i: number) => Array<string | null> }>}
 */
export const DATASETS = {
  typical: {
    cols: [['id', 23], ['email', 25], ['status', 25], ['item', 25], ['amount', 23], ['created', 25], ['warehouse', 25], ['note', 25], ['ssn', 25]],
    row: (i) => [String(i), `person.${i}@example.com`, ['new', 'paid', 'shipped', 'returned'][i % 4], `Item #${i % 700} ${['blue', 'red', 'large', 'small'][i % 4]}`,
      String(i % 10000), `2026-11-${pad(1 + (i % 28), 2)} 10:${pad(i % 60, 2)}`, city[i % 4],
      i % 50 === 0 ? 'customer asked to be called at +1 415 555 0100' : 'left at the front door, signed by the customer', null],
  },
  dense: {
    cols: [['id', 23], ['name', 25], ['email', 25], ['card', 25], ['ssn', 25], ['phone', 25], ['city', 25], ['note', 25], ['amount', 23]],
    row: (i) => [String(i), `Person ${i}`, `person.${i}@example.com`, `4539-1488-0343-${pad(i % 10000, 4)}`, `${pad(100 + (i % 500), 3)}-${pad(10 + (i % 80), 2)}-${pad(1000 + (i % 8999), 4)}`,
      `+1 415 555 ${pad(i % 10000, 4)}`, city[i % 4], i % 3 === 0 ? `call +1 415 555 0100 or mail p${i}@example.com` : `order ${i} shipped to the warehouse`, String(i % 10000)],
  },
};

/** the ten built-in detectors */
export const TEN_DETECTORS = ['email', 'card', 'iban', 'ssn', 'phone', 'ipv4', 'ipv6', 'jwt', 'cloud_key', 'private_key'];
/** SessionMasker rules: column rules by name (`partial`) */
export const COLUMN_RULES = [{ name: 'pii', columns: ['email', 'card', '*ssn*', 'phone'], detectors: [], exempt: [], strategy: 'partial' }];
/** SessionMasker rules: all ten detectors over every text value (`redact`) */
export const DETECTOR_RULES = [{ name: 'pii', columns: [], detectors: TEN_DETECTORS, exempt: [], strategy: 'redact' }];
/** a principal for a SessionMasker outside a session */
export const BENCH_PRINCIPAL = { subject: 'bench', groups: ['bench'], issuer: 'https://idp', clientId: null, tokenId: 'j', tokenSha256: 'x', ciJob: null, expiresAt: null };
/** PgRelay limits for a relay outside a session */
export const RELAY_LIMITS = { sampleRows: 5, maxValueBytes: 256, maxParamBytes: 256, maxClientMessageBytes: 1 << 24, maxServerMessageBytes: 1 << 24, maxPreparedStatements: 100 };

/**
 * Backend messages built with the project's MessageWriter (dist/protocols/postgres/wire.js).
 * @param {any} MessageWriter
 * @returns {{ dataRow: (values: Array<string | null>) => Buffer, rowDescription: (cols: Array<[string, number]>) => Buffer }}
 */
export function backendMessages(MessageWriter) {
  return {
    dataRow(values) {
      const w = new MessageWriter().int16(values.length);
      for (const v of values) {
        if (v === null) w.int32(-1);
        else w.int32(Buffer.byteLength(v)).raw(Buffer.from(v));
      }
      return w.finish('D');
    },
    rowDescription(cols) {
      const rd = new MessageWriter().int16(cols.length);
      for (const [n, t] of cols) rd.cstring(n).int32(0).int16(0).int32(t).int16(-1).int32(-1).int16(0);
      return rd.finish('T');
    },
  };
}

/**
 * A buffer in chunks of 64 KB (views), as a socket delivers a stream.
 * @param {Buffer} buf
 * @returns {Buffer[]}
 */
export function chunks64k(buf) {
  const out = [];
  for (let o = 0; o < buf.length; o += 65536) out.push(buf.subarray(o, o + 65536));
  return out;
}
