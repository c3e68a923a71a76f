// Memory benchmark of the PostgreSQL gateway, the gateway running as its own process
// (`gatehouse serve`, the built dist/) so that its RSS is its own, read from /proc/PID/status
// (VmRSS; VmHWM for the peak the kernel saw):
//   idle      RSS before and after opening --sessions (default 1,000) idle sessions through it
//             (node-postgres clients in this process, 16 connecting at a time, each runs `SELECT 1`
//             once and then stays idle), and after closing them; per-session bytes. For comparison,
//             the same number of idle client connections through pgbouncer (session mode, so each
//             holds a server connection too), pgbouncer's own RSS the same way;
//   stream    RSS while one client reads a big result through the gateway with a simple Query,
//             `SELECT repeat('x', 1000) FROM generate_series(1, --rows)` (default 1,000,000 rows,
//             about 1 GB on the wire), sampled every 100 ms: baseline (median of 1 s before the
//             query), peak, growth. The client is a raw protocol client (pg-protocol's serializer,
//             the gateway's own framer to find the messages) that discards rows as they arrive: a fast
//             reader, and a slow one (--slow-mbps, default 50 MB/s; the socket paused to keep to it),
//             which shows whether the gateway buffers when its client is slower than the server.
// The target is a throwaway PostgreSQL 15 cluster (initdb/pg_ctl in a temp dir, max_connections =
// sessions + 100), so the machine's own PostgreSQL is untouched.
//
//   node memory.mjs [--quick] [--sessions N] [--rows N] [--slow-mbps N] [--no-pgbouncer] [--no-stream] [--no-idle]
//
// Writes bench/results/memory-<date>-<HHMMSS>[-quick].json and .md, and prints the Markdown.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  PASSWORD, PGBIN, benchDir, cleanupStack, createBenchDatabase, elapsedSeconds, findOrInstallPgbouncer, freePort, gitDescribe, log, machineInfo, median,
  parseArgs, reportHeader, requireBuilt, resultName, root, sh, sleep, startBenchIssuer, startCluster, startGatewayProcess, startPgbouncer, uptime,
  writeGatewayConfig, writeResults,
} from './lib.mjs';

requireBuilt('memory', ['dist/cli/main.js', 'dist/identity/dev-issuer.js', 'dist/protocols/postgres/framer.js']);
if (!existsSync('/proc/self/status')) {
  log('memory bench: /proc/PID/status is not readable here (Linux only)');
  process.exit(2);
}
const { Framer } = await import(join(root, 'dist/protocols/postgres/framer.js'));
const { default: pg } = await import('pg');
const { serialize } = await import('pg-protocol');

// ---- options
const { argv, flag, opt } = parseArgs();
const QUICK = flag('quick');
const SESSIONS = Number(opt('sessions', QUICK ? 200 : 1000));
const ROWS = Number(opt('rows', QUICK ? 100_000 : 1_000_000));
const SLOW_MBPS = Number(opt('slow-mbps', 50));
const DO_IDLE = !flag('no-idle');
// waits for things to settle (and the sampling windows) are halved in --quick mode
const PACE = QUICK ? 0.5 : 1;
const DO_STREAM = !flag('no-stream');
let DO_BOUNCER = !flag('no-pgbouncer') && DO_IDLE;

if (!existsSync(join(PGBIN, 'initdb'))) {
  log(`memory bench: initdb not found in ${PGBIN} (Debian: apt-get install postgresql-15)`);
  process.exit(2);
}
const MiB = 1024 * 1024;
/** VmRSS and VmHWM of a process, in bytes */
function mem(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}
/** RSS sampled every 100 ms for ms: median and max */
async function settle(pid, ms = 2000) {
  const xs = [];
  for (let t = 0; t < ms; t += 100) {
    xs.push(mem(pid).rss);
    await sleep(100);
  }
  return { median: median(xs), max: Math.max(...xs), min: Math.min(...xs) };
}
const mb = (b, d = 1) => (Number.isFinite(b) ? (b / MiB).toFixed(d) : '–');

const started = new Date();
const loadStart = uptime();
log(`memory bench: ${started.toISOString()}  ${loadStart}`);
log(`${DO_IDLE ? `${SESSIONS} idle sessions${DO_BOUNCER ? ' (gateway and pgbouncer)' : ''}` : 'no idle test'}; ${DO_STREAM ? `stream of ${ROWS} rows (fast reader, slow reader at ${SLOW_MBPS} MB/s)` : 'no stream test'}`);

const { cleanups, cleanup } = cleanupStack();
const dir = benchDir('memory', cleanups, { chown: true });
const notes = [];
const versions = { node: process.version };
const result = { idle: null, pgbouncer: null, stream: [] };

try {
  // ---- the throwaway cluster
  const maxConn = SESSIONS + 100;
  const cluster = await startCluster({ dir, cleanups, password: PASSWORD, settings: `-c max_connections=${maxConn} -c shared_buffers=128MB` });
  const pgPort = cluster.port;
  versions.postgres = cluster.version;
  const psql = (sql) => cluster.psql(sql, 'postgres', 'postgres', ['-t', '-A']);
  createBenchDatabase(cluster);
  log(`cluster on 127.0.0.1:${pgPort}, max_connections=${maxConn}`);
  const backends = () => Number(psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").trim()) - 1;
  async function waitBackends(n, ms = 20000) {
    const t0 = Date.now();
    while (backends() > n && Date.now() - t0 < ms) await sleep(200);
  }

  // ---- the gateway, a child process
  const idp = await startBenchIssuer(cleanups);
  const gPort = await freePort();
  const configFile = join(dir, 'gatehouse.yaml');
  await writeGatewayConfig({ file: configFile, issuer: idp.issuer, ledger: join(dir, 'ledger.db'), port: gPort, upstreamPort: pgPort });
  // a bench-only preload: on SIGUSR2 the gateway runs a full GC and writes process.memoryUsage() to a
  // file, so that idle figures can be read after garbage is collected (RSS alone moves with V8's heap)
  const preload = join(dir, 'gc-on-signal.cjs');
  const usageFile = join(dir, 'usage.json');
  writeFileSync(preload, `process.on('SIGUSR2', () => { globalThis.gc(); globalThis.gc(); require('node:fs').writeFileSync(${JSON.stringify(usageFile)}, JSON.stringify({ at: Date.now(), ...process.memoryUsage() })); });\n`);
  const { child: gw } = await startGatewayProcess({ config: configFile, nodeArgs: ['--expose-gc', '--require', preload], keepStderr: 4000, cleanups });
  log(`gateway pid ${gw.pid} on 127.0.0.1:${gPort}`);
  /** full GC in the gateway, then its memoryUsage() and VmRSS */
  async function afterGc() {
    const t = Date.now();
    gw.kill('SIGUSR2');
    for (let i = 0; i < 100; i++) {
      await sleep(50);
      try {
        const u = JSON.parse(readFileSync(usageFile, 'utf8'));
        if (u.at >= t) {
          await sleep(300);
          return { ...u, vmRss: mem(gw.pid).rss };
        }
      } catch { /* not written yet */ }
    }
    throw new Error('the gateway did not answer SIGUSR2 (the GC preload)');
  }
  const token = await idp.token('bench');

  /** opens n node-postgres clients (16 at a time), each runs SELECT 1 */
  async function openClients(port, n, password, label) {
    const clients = [];
    let next = 0;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < n) {
        next++;
        const c = new pg.Client({ host: '127.0.0.1', port, user: 'bench', database: 'bench', password, ssl: false });
        c.on('error', () => undefined);
        await c.connect();
        await c.query('SELECT 1');
        clients.push(c);
        if (clients.length % 100 === 0) log(`  ${label}: ${clients.length} / ${n} sessions open`);
      }
    }));
    return { clients, seconds: (Date.now() - t0) / 1000 };
  }
  const closeClients = (clients) => Promise.all(clients.map((c) => c.end().catch(() => undefined)));

  // ---- idle sessions through the gateway
  if (DO_IDLE) {
    await sleep(1000 * PACE);
    const fresh = await settle(gw.pid, 2000 * PACE);
    const freshGc = await afterGc();
    log(`gateway fresh: RSS ${mb(fresh.median)} MiB (${mb(freshGc.vmRss)} MiB after a full GC, heap used ${mb(freshGc.heapUsed)} MiB)`);
    // warm-up: lazy modules, the JWKS fetch, the first upstream connection, prepared ledger statements
    const warm = await openClients(gPort, 10, token, 'warm-up');
    await closeClients(warm.clients);
    await sleep(1000 * PACE);
    const before = await settle(gw.pid, 2000 * PACE);
    const beforeGc = await afterGc();
    log(`gateway after a 10-session warm-up: RSS ${mb(before.median)} MiB (${mb(beforeGc.vmRss)} MiB after a full GC, heap used ${mb(beforeGc.heapUsed)} MiB); opening ${SESSIONS} sessions`);
    const open = await openClients(gPort, SESSIONS, token, 'gateway');
    await sleep(2000 * PACE);
    const during = await settle(gw.pid, 3000 * PACE);
    const duringGc = await afterGc();
    const upstream = backends();
    log(`gateway with ${SESSIONS} idle sessions (opened in ${open.seconds.toFixed(1)} s; ${upstream} upstream backends): RSS ${mb(during.median)} MiB (${mb(duringGc.vmRss)} MiB after a full GC, heap used ${mb(duringGc.heapUsed)} MiB)`);
    await closeClients(open.clients);
    await waitBackends(0);
    log(`  upstream backends after closing: ${backends()}`);
    await sleep(2000 * PACE);
    const after = await settle(gw.pid, 2000 * PACE);
    const afterGcU = await afterGc();
    log(`gateway after closing them: RSS ${mb(after.median)} MiB (${mb(afterGcU.vmRss)} MiB after a full GC, heap used ${mb(afterGcU.heapUsed)} MiB)`);
    result.idle = {
      sessions: SESSIONS, openSeconds: open.seconds, upstreamBackends: upstream, freshRss: fresh.median, beforeRss: before.median, withSessionsRss: during.median,
      withSessionsRssRange: [during.min, during.max], afterCloseRss: after.median, perSessionBytes: (during.median - before.median) / SESSIONS, hwm: mem(gw.pid).hwm,
      gc: { fresh: freshGc, before: beforeGc, withSessions: duringGc, afterClose: afterGcU },
      perSessionBytesAfterGc: (duringGc.vmRss - beforeGc.vmRss) / SESSIONS, perSessionHeapBytes: (duringGc.heapUsed - beforeGc.heapUsed) / SESSIONS,
    };
  }

  // ---- the same through pgbouncer
  if (DO_BOUNCER) {
    const bouncer = findOrInstallPgbouncer();
    if (!bouncer) {
      const note = 'pgbouncer comparison skipped: pgbouncer is not installed (`apt-get install -y pgbouncer`)';
      notes.push(note);
      log(note);
    } else {
      versions.pgbouncer = sh(bouncer, ['--version']).trim().split('\n')[0];
      let bpid = null;
      // two descriptors per client (its socket and its server connection)
      const b = await startPgbouncer({
        bouncer, dir, upstreamPort: pgPort, maxClientConn: SESSIONS + 50, defaultPoolSize: SESSIONS + 10, fds: 2 * SESSIONS + 100, cleanups,
        probe: async (port) => {
          const c = new pg.Client({ host: '127.0.0.1', port, user: 'bench', database: 'bench', password: PASSWORD, ssl: false });
          await c.connect();
          await c.end();
          bpid = Number(readFileSync(join(dir, 'pgbouncer', 'pgbouncer.pid'), 'utf8').trim());
        },
      });
      const bPort = b.port;
      const child = b.child;
      const bdirLog = () => {
        try {
          return readFileSync(join(b.dir, 'pgbouncer.log'), 'utf8').trim().split('\n').slice(-5).join(' | ');
        } catch {
          return '';
        }
      };
      await waitBackends(0);
      log(`  upstream backends before pgbouncer: ${backends()}`);
      const warm = await openClients(bPort, 10, PASSWORD, 'pgbouncer warm-up');
      await closeClients(warm.clients);
      await sleep(1000 * PACE);
      const before = await settle(bpid, 2000 * PACE);
      log(`pgbouncer (pid ${bpid}) after warm-up: RSS ${mb(before.median)} MiB; opening ${SESSIONS} connections`);
      const open = await openClients(bPort, SESSIONS, PASSWORD, 'pgbouncer').catch((e) => {
        throw new Error(`pgbouncer: ${e.message}; its log: ${bdirLog()}`);
      });
      await sleep(2000 * PACE);
      const during = await settle(bpid, 3000 * PACE);
      log(`pgbouncer with ${SESSIONS} idle connections: RSS ${mb(during.median)} MiB`);
      await closeClients(open.clients);
      child.kill('SIGTERM');
      result.pgbouncer = { sessions: SESSIONS, openSeconds: open.seconds, beforeRss: before.median, withSessionsRss: during.median, perSessionBytes: (during.median - before.median) / SESSIONS };
      await waitBackends(0);
    }
  }

  // ---- streaming a big result through the gateway
  /** a raw client logged in with the token; query() runs one simple Query, rows counted and dropped, read at rate MB/s (0: as fast as it can) */
  function rawLogin() {
    return new Promise((resolveLogin, rejectLogin) => {
      const s = connect(gPort, '127.0.0.1');
      let phase = 'login';
      let bytes = 0;
      let rows = 0;
      let t0 = 0;
      let rate = 0;
      let failure = null;
      let done = null;
      let fail = rejectLogin;
      const framer = new Framer({
        begin: (type) => {
          if (type === 0x44) rows++;
          return type !== 0x44; // every message but DataRow is read whole
        },
        end: (type, body) => {
          if (type === 0x52 /* R */ && body.readInt32BE(0) === 3) s.write(serialize.password(token));
          else if (type === 0x45 /* E */) failure = body.toString('latin1').replace(/\0/g, ' ').trim();
          else if (type === 0x5a /* Z */) {
            if (failure) {
              s.destroy();
              fail(new Error(`gateway answered: ${failure}`));
            } else if (phase === 'login') {
              phase = 'idle';
              resolveLogin(client);
            } else if (phase === 'query') {
              phase = 'idle';
              done({ rows, bytes, seconds: (performance.now() - t0) / 1000 });
            }
          }
        },
      }, 1 << 24, {});
      const client = {
        query(sql, mbps) {
          return new Promise((res, rej) => {
            rows = 0;
            bytes = 0;
            rate = mbps;
            done = res;
            fail = rej;
            phase = 'query';
            t0 = performance.now();
            s.write(serialize.query(sql));
          });
        },
        close: () => new Promise((r) => s.end(serialize.end(), r)),
      };
      s.on('error', (e) => fail(e));
      s.on('connect', () => s.write(serialize.startup({ user: 'bench', database: 'bench' })));
      s.on('data', (chunk) => {
        if (phase === 'query') bytes += chunk.length;
        try {
          framer.push(chunk);
        } catch (e) {
          fail(e);
        }
        if (rate > 0 && phase === 'query') {
          const ahead = t0 + (bytes / (rate * 1e6)) * 1000 - performance.now();
          if (ahead > 1) {
            s.pause();
            setTimeout(() => s.resume(), ahead);
          }
        }
      });
    });
  }
  if (DO_STREAM) {
    const sql = `SELECT repeat('x', 1000) FROM generate_series(1, ${ROWS})`;
    for (const [variant, rate] of [['fast reader', 0], [`slow reader (${SLOW_MBPS} MB/s)`, SLOW_MBPS]]) {
      await sleep(1000 * PACE);
      const c = await rawLogin();
      const baseline = await settle(gw.pid, 1000);
      const samples = [];
      const t0 = performance.now();
      const timer = setInterval(() => {
        samples.push({ ms: Math.round(performance.now() - t0), rss: mem(gw.pid).rss });
      }, 100);
      let lastLog = 0;
      const progress = setInterval(() => {
        const last = samples[samples.length - 1];
        if (last && last.ms - lastLog >= 2000) {
          lastLog = last.ms;
          log(`  ${variant}: ${(last.ms / 1000).toFixed(1)} s, gateway RSS ${mb(last.rss)} MiB`);
        }
      }, 500);
      log(`stream, ${variant}: baseline RSS ${mb(baseline.median)} MiB; ${sql}`);
      let r;
      try {
        r = await c.query(sql, rate);
      } finally {
        clearInterval(timer);
        clearInterval(progress);
      }
      await c.close();
      const peak = Math.max(baseline.max, ...samples.map((x) => x.rss));
      await sleep(1000 * PACE);
      const after = await settle(gw.pid, 2000 * PACE);
      const entry = {
        variant, rateMBps: rate, sql, rows: r.rows, bytes: r.bytes, seconds: r.seconds, mbPerSec: r.bytes / r.seconds / 1e6,
        baselineRss: baseline.median, peakRss: peak, growth: peak - baseline.median, afterRss: after.median, samples,
      };
      result.stream.push(entry);
      log(`stream, ${variant}: ${r.rows} rows, ${(r.bytes / 1e6).toFixed(0)} MB in ${r.seconds.toFixed(1)} s (${entry.mbPerSec.toFixed(0)} MB/s); gateway RSS baseline ${mb(baseline.median)} MiB, peak ${mb(peak)} MiB (growth ${mb(entry.growth)} MiB), ${mb(after.median)} MiB after`);
    }
  }
  const gwHwm = mem(gw.pid).hwm;
  const ledgerRecords = null;
  const loadEnd = uptime();

  // ---- report
  const git = gitDescribe();
  const stamp = started.toISOString();
  const command = ['node bench/memory.mjs', ...argv].join(' ');
  const md = reportHeader({
    title: 'Gateway memory: idle sessions and a streamed result', started, command, git, loadStart, loadEnd,
    software: `${versions.node}; ${versions.postgres}${versions.pgbouncer ? `; ${versions.pgbouncer}` : ''}`,
  });
  md.push('- the gateway: `gatehouse serve` as a child process (SQLite ledger, strict write-ahead, log level warn); RSS = VmRSS of /proc/PID/status, each figure the median of samples every 100 ms over ' + (QUICK ? '1–1.5' : '2–3') + ' s after things settled');
  for (const n of notes) md.push(`- ${n}`);
  md.push('');
  if (result.idle) {
    const i = result.idle;
    md.push(`## ${i.sessions} idle sessions`, '');
    md.push(`Each session: a node-postgres client logged in with an OIDC token, ran \`SELECT 1\`, then idle (${i.upstreamBackends} upstream backends open; opened 16 at a time in ${i.openSeconds.toFixed(1)} s).`, '');
    md.push('| process | RSS before | RSS with the sessions | per session | RSS after closing them |', '| --- | ---: | ---: | ---: | ---: |');
    md.push(`| gateway, RSS as sampled | ${mb(i.beforeRss)} MiB (fresh: ${mb(i.freshRss)} MiB) | ${mb(i.withSessionsRss)} MiB | ${(i.perSessionBytes / 1024).toFixed(1)} KiB | ${mb(i.afterCloseRss)} MiB |`);
    md.push(`| gateway, RSS after a full GC | ${mb(i.gc.before.vmRss)} MiB (fresh: ${mb(i.gc.fresh.vmRss)} MiB) | ${mb(i.gc.withSessions.vmRss)} MiB | ${(i.perSessionBytesAfterGc / 1024).toFixed(1)} KiB | ${mb(i.gc.afterClose.vmRss)} MiB |`);
    const row = (label, k) => md.push(`| ${label} | ${mb(i.gc.before[k])} MiB | ${mb(i.gc.withSessions[k])} MiB | ${((i.gc.withSessions[k] - i.gc.before[k]) / SESSIONS / 1024).toFixed(1)} KiB | ${mb(i.gc.afterClose[k])} MiB |`);
    row('gateway, V8 heap used after a full GC', 'heapUsed');
    row('gateway, V8 heap committed (heapTotal) after a full GC', 'heapTotal');
    row('gateway, ArrayBuffers (Buffers) after a full GC', 'arrayBuffers');
    if (result.pgbouncer) {
      const b = result.pgbouncer;
      md.push(`| pgbouncer (session mode) | ${mb(b.beforeRss)} MiB | ${mb(b.withSessionsRss)} MiB | ${(b.perSessionBytes / 1024).toFixed(1)} KiB | – |`);
    }
    md.push('', '"Before" is after a warm-up of 10 sessions opened and closed (lazy modules, the JWKS fetch, the first upstream login). "After a full GC": a bench-only preload (`--expose-gc --require`) runs `gc()` twice on SIGUSR2 and reports `process.memoryUsage()`; RSS alone moves with when V8 last collected.', '');
  }
  if (result.stream.length) {
    md.push('## A big result streamed through the gateway', '');
    md.push(`\`${result.stream[0].sql}\` as one simple Query; a raw client that drops the rows. Gateway RSS sampled every 100 ms.`, '');
    md.push('| client | rows | MB on the wire | seconds | MB/s | RSS baseline | RSS peak | growth | RSS after |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const s of result.stream) {
      md.push(`| ${s.variant} | ${s.rows.toLocaleString('en-US')} | ${(s.bytes / 1e6).toFixed(0)} | ${s.seconds.toFixed(1)} | ${s.mbPerSec.toFixed(0)} | ${mb(s.baselineRss)} MiB | ${mb(s.peakRss)} MiB | ${mb(s.growth)} MiB | ${mb(s.afterRss)} MiB |`);
    }
    md.push('');
  }
  md.push(`Gateway peak RSS over the whole run (VmHWM): ${mb(gwHwm)} MiB.`);
  void ledgerRecords;
  const text = md.join('\n') + '\n';
  const name = resultName('memory', started, QUICK ? '-quick' : '');
  writeResults(name, text, {
    started: stamp, seconds: elapsedSeconds(started), command,
    machine: machineInfo(), versions, gatehouse: git,
    loadStart, loadEnd, options: { quick: QUICK, sessions: SESSIONS, rows: ROWS, slowMBps: SLOW_MBPS, idle: DO_IDLE, stream: DO_STREAM, pgbouncer: DO_BOUNCER },
    notes, gatewayHwm: gwHwm, ...result,
  });
} finally {
  await cleanup();
}
