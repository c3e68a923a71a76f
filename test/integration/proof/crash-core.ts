import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import type { AuditEvent } from '../../../src/core/events.js';
import { readStatementLog } from '../../../src/dev/statement-log.js';
import { APP_PASSWORD, runProgram, type GatewayEnv } from '../../support/gateway-fixture.js';
import { prng } from '../../unit/proof/fuzz-core.js';

/**
 * Crash consistency, shared by the quick test (test/integration/proof/crash.test.ts) and the soak
 * (test/soak/crash.soak.ts): the built gateway runs as a subprocess with a SQLite ledger; clients
 * drive INSERTs and SELECTs through it, simple and extended protocol, each statement carrying a
 * unique marker; the gateway is SIGKILLed after a seeded random number of completed statements,
 * `gatehouse verify` runs on the crashed ledger and again after the restart. At the end, every
 * marked statement the PostgreSQL server logged (log_statement=all) must be in the ledger.
 */

export interface CrashReport {
  kills: number;
  verifies: number;
  /** marked statements the server logged */
  serverStatements: number;
  /** marked commands in the ledger (write-ahead: may include some that never ran) */
  ledgerCommands: number;
  /** marked statements the server ran that the ledger does not have (must be empty) */
  missing: string[];
  /** verify runs that did not exit 0, with their output */
  verifyFailures: string[];
  /** clients that were connected when a kill came */
  inFlightAtKill: number;
}

const WORKERS = 4;

function gatewayEnv(): NodeJS.ProcessEnv {
  return { ...process.env, TEST_ORDERS_PASSWORD: APP_PASSWORD, NO_COLOR: '1' };
}

async function serve(config: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['dist/cli/main.js', 'serve', '--config', config], { env: gatewayEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.resume();
  const lines = createInterface({ input: child.stdout! });
  const exited = once(child, 'exit').then(() => {
    throw new Error('the gateway exited before it was ready');
  });
  for (;;) {
    const [line] = (await Promise.race([once(lines, 'line'), exited])) as [string];
    const m = /gatehouse ready: .*127\.0\.0\.1:(\d+)/.exec(line);
    // the interface keeps reading (and dropping) what follows, so the child never blocks on stdout
    if (m) return { child, port: Number(m[1]) };
  }
}

/** One client's loop: marked statements until the connection breaks. Returns how many completed. */
async function worker(port: number, token: string, tag: string, done: { n: number }): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'agent', database: 'orders', password: token });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch {
    return;
  }
  try {
    for (let i = 0; ; i++) {
      const mark = `mk-${tag}-${i}`;
      switch (i % 4) {
        case 0:
          await client.query(`INSERT INTO crash_marks (mark) VALUES ('${mark}')`);
          break;
        case 1:
          await client.query(`SELECT count(*) FROM crash_marks WHERE mark = '${mark}'`);
          break;
        case 2:
          await client.query(`INSERT INTO crash_marks (mark) VALUES ($1) /* ${mark} */`, [mark]);
          break;
        default:
          await client.query(`SELECT $1::text AS m /* ${mark} */`, [mark]);
      }
      done.n += 1;
    }
  } catch {
    // the gateway died under us: that is the point
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function verify(config: string): Promise<string | null> {
  const r = await runProgram(process.execPath, ['dist/cli/main.js', 'verify', '--config', config], { env: gatewayEnv() });
  return r.code === 0 ? null : `exit ${r.code}: ${r.stdout}\n${r.stderr}`;
}

async function ledgerCommands(config: string): Promise<{ queries: Set<string>; executes: Set<string> }> {
  const r = await runProgram(process.execPath, ['dist/cli/main.js', 'export', '--config', config], { env: gatewayEnv() });
  if (r.code !== 0) throw new Error(`gatehouse export failed: ${r.stderr}`);
  const queries = new Set<string>();
  const executes = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    const e = (JSON.parse(line) as { event: AuditEvent }).event;
    if (e.type === 'pg.query') queries.add(e.text);
    if (e.type === 'pg.execute') executes.add(e.text);
  }
  return { queries, executes };
}

/** Polls the thing under test (the completed-statement counter) until it reaches `n`; fails after 30 s. */
async function until(done: { n: number }, n: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (done.n < n) {
    if (!alive()) throw new Error('every client stopped before the kill point');
    if (Date.now() > deadline) throw new Error(`only ${done.n} of ${n} statements completed in 30 s`);
    await new Promise((r) => setImmediate(r));
  }
}

export async function crashRounds(env: GatewayEnv, kills: number, seed: number, durability: 'strict' | 'process' = 'strict'): Promise<CrashReport> {
  const r = prng(seed);
  const raw = parse(readFileSync(env.configFile, 'utf8')) as Record<string, unknown>;
  raw.ledger = { sqlite: `./crash-ledger-${durability}.db`, durability };
  raw.log = { level: 'warn' };
  const config = `${env.dir}/crash-${durability}.yaml`;
  writeFileSync(config, stringify(raw));
  await env.cluster.query('CREATE TABLE IF NOT EXISTS crash_marks (id bigserial PRIMARY KEY, mark text NOT NULL)', [], 'orders');
  await env.cluster.query('GRANT SELECT, INSERT ON crash_marks TO orders_app; GRANT USAGE ON SEQUENCE crash_marks_id_seq TO orders_app', [], 'orders');

  const report: CrashReport = { kills: 0, verifies: 0, serverStatements: 0, ledgerCommands: 0, missing: [], verifyFailures: [], inFlightAtKill: 0 };
  const token = await env.token('ci-agent');
  for (let round = 0; round < kills; round++) {
    const gw = await serve(config);
    const afterRestart = await verify(config);
    report.verifies += 1;
    if (afterRestart) report.verifyFailures.push(`after restart ${round}: ${afterRestart}`);
    const done = { n: 0 };
    let running = WORKERS;
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(gw.port, token, `${seed}-${durability}-${round}-${w}`, done).finally(() => (running -= 1)));
    // kill after a seeded random number of completed statements: a moment somewhere in the load
    await until(done, 5 + r.int(120), () => running > 0);
    report.inFlightAtKill += running;
    gw.child.kill('SIGKILL');
    await once(gw.child, 'exit');
    report.kills += 1;
    await Promise.all(workers);
    const crashed = await verify(config);
    report.verifies += 1;
    if (crashed) report.verifyFailures.push(`after kill ${round}: ${crashed}`);
  }
  // a last start, so the final state is the one a restart leaves
  const last = await serve(config);
  last.child.kill('SIGTERM');
  await once(last.child, 'exit');
  const final = await verify(config);
  report.verifies += 1;
  if (final) report.verifyFailures.push(`final: ${final}`);

  const { queries, executes } = await ledgerCommands(config);
  // this run's marks only (the server's log holds every run's statements)
  const marked = (t: string) => t.includes(`mk-${seed}-${durability}-`);
  report.ledgerCommands = [...queries, ...executes].filter(marked).length;
  const ran = readStatementLog(env.cluster.logFile).filter((s) => s.user === 'orders_app' && marked(s.text));
  report.serverStatements = ran.length;
  report.missing = ran.filter((s) => !(s.kind === 'statement' ? queries.has(s.text) : executes.has(s.text))).map((s) => `${s.kind}: ${s.text}`);
  return report;
}
