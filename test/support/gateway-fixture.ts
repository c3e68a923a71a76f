import { execFile, type ExecFileOptions } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { loadConfigText, type LoadedConfig } from '../../src/core/config.js';
import type { AuditEvent } from '../../src/core/events.js';
import type { Logger } from '../../src/core/log.js';
import { startDevIssuer, type DevIssuer } from '../../src/identity/dev-issuer.js';
import { seedOrdersDemo } from '../../src/dev/demo-seed.js';
import { startPgCluster, type PgCluster } from '../../src/dev/pg-cluster.js';
import { startGateway, type Gateway } from '../../src/server.js';
import { generateSigningKeys } from '../../src/ledger/checkpoint.js';
import type { LedgerRecord, LedgerStore, SessionSummary } from '../../src/ledger/ledger.js';

/**
 * A whole Gatehouse test environment of real parts: a throwaway PostgreSQL cluster (SCRAM auth,
 * log_statement=all) seeded with the orders demo, a real OIDC provider issuing client_credentials
 * JWTs, and the gateway on port 0 with a SQLite ledger in a temp dir. The config is written to a
 * file, so tests can run the real CLI against it. Everything it starts, dispose() stops.
 */

export const AUDIENCE = 'api://gatehouse';
export const APP_PASSWORD = 'orders-app-Upstream-Secret-7f3c9';

export const CLIENTS = [
  { clientId: 'ci-agent', clientSecret: 'ci-agent-secret', groups: ['ci-agents'], ciJob: '4711' },
  { clientId: 'dba-alice', clientSecret: 'dba-alice-secret', groups: ['dba', 'staff'] },
  { clientId: 'dba-bob', clientSecret: 'dba-bob-secret', groups: ['dba'] },
  { clientId: 'dpo-dana', clientSecret: 'dpo-dana-secret', groups: ['dba', 'dpo'] },
  { clientId: 'intern-bot', clientSecret: 'intern-bot-secret', groups: ['interns'] },
];

export interface GatewayEnv {
  dir: string;
  cluster: PgCluster;
  idp: DevIssuer;
  gateway: Gateway;
  loaded: LoadedConfig;
  configFile: string;
  port: number;
  /** everything the gateway logged, as text */
  logText(): string;
  token(clientId: string): Promise<string>;
  /** a libpq connection string through the gateway (token goes in PGPASSWORD) */
  dsn(database?: string): string;
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface EnvOptions {
  /** extra top-level config merged over the defaults */
  config?: Record<string, unknown>;
  /** sign checkpoints after every commit, with a fresh key in dir (ledger-signing.key/.pub) and a witness file */
  signing?: boolean;
  /** keep the ledger in PostgreSQL (a database in the test cluster) instead of SQLite */
  postgresLedger?: boolean;
  /** extra keys of the `orders` connection (statementTimeout, ...) */
  connection?: Record<string, unknown>;
}

export async function startEnv(opts: EnvOptions = {}): Promise<GatewayEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  // PostgreSQL runs as an unprivileged user when the tests run as root: it must reach its directory
  chmodSync(dir, 0o755);
  const cluster = await startPgCluster({ dir: join(dir, 'pg'), superuserPassword: 'super-Secret-1', logStatements: true });
  const cleanups: Array<() => Promise<void>> = [async () => cluster.stop()];
  try {
    await seedOrdersDemo(cluster, APP_PASSWORD);
    const idp = await startDevIssuer({ audience: AUDIENCE, clients: CLIENTS, ciJobClaim: 'ci_job_id' });
    cleanups.push(async () => idp.close());
    if (opts.signing) {
      const k = generateSigningKeys();
      writeFileSync(join(dir, 'ledger-signing.key'), k.privatePem, { mode: 0o600 });
      writeFileSync(join(dir, 'ledger-signing.pub'), k.publicPem);
    }
    if (opts.postgresLedger) await cluster.query('CREATE DATABASE gatehouse_ledger');
    const raw = {
      identity: { issuer: idp.issuer, audience: AUDIENCE, ciJobClaim: 'ci_job_id' },
      ledger: {
        ...(opts.postgresLedger
          ? { postgres: `postgres://postgres:super-Secret-1@127.0.0.1:${cluster.port}/gatehouse_ledger` }
          : { sqlite: './ledger.db' }),
        ...(opts.signing ? { checkpoints: { signingKeyFile: './ledger-signing.key', witnessFile: './witness.jsonl', everyRecords: 1, every: '1s' } } : {}),
      },
      listeners: { postgres: { host: '127.0.0.1', port: 0 } },
      connections: [
        {
          name: 'orders', type: 'postgres', host: '127.0.0.1', port: cluster.port, database: 'orders', user: 'orders_app',
          password: '${TEST_ORDERS_PASSWORD}', groups: ['dba', 'ci-agents'], tls: { mode: 'disable' }, ...opts.connection,
        },
      ],
      log: { level: 'debug' },
      ...opts.config,
    };
    const configFile = join(dir, 'gatehouse.yaml');
    writeFileSync(configFile, stringify(raw));
    const env = { TEST_ORDERS_PASSWORD: APP_PASSWORD };
    process.env.TEST_ORDERS_PASSWORD = APP_PASSWORD;
    const loaded = loadConfigText(stringify(raw), configFile, env);
    const { log, text: logText } = captureLog();
    const gateway = await startGateway(loaded, log);
    cleanups.push(async () => gateway.close(2_000));
    const port = gateway.postgres!.address.port;
    const dispose = async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    };
    return {
      dir, cluster, idp, gateway, loaded, configFile, port,
      logText,
      token: (clientId) => idp.token(clientId),
      dsn: (database = 'orders') => `postgresql://agent@127.0.0.1:${port}/${database}?sslmode=disable`,
      dispose,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (e) {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a real program (psql, pgbench, the gatehouse CLI) without blocking the event loop. */
export function runProgram(file: string, args: string[], options: ExecFileOptions & { input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { maxBuffer: 256 * 1024 * 1024, ...options, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** psql through the gateway with a token as the password. */
export function psql(env: GatewayEnv, token: string, args: string[], extra: { input?: string; database?: string; sslmode?: string } = {}): Promise<RunResult> {
  return runProgram('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(env.port), '-U', 'agent', '-d', extra.database ?? 'orders', ...args], {
    env: { ...process.env, PGPASSWORD: token, PGSSLMODE: extra.sslmode ?? 'disable', PGCONNECT_TIMEOUT: '20' },
    ...(extra.input !== undefined ? { input: extra.input } : {}),
  });
}

/** Runs the built CLI (dist/cli/main.js) against the environment's config file. */
export function cli(env: GatewayEnv, args: string[]): Promise<RunResult> {
  return runProgram(process.execPath, ['dist/cli/main.js', ...args, '--config', env.configFile], { env: { ...process.env, NO_COLOR: '1' } });
}

/**
 * The latest session of a subject once it has ended (its session.end is the last record the gateway
 * writes for it, after every result). Polls the ledger, the thing under test; fails after 15 s.
 */
export async function endedSession(env: GatewayEnv, subject: string): Promise<SessionSummary> {
  return latestEndedSession(env.gateway.ledger, subject);
}

/** The same, on any ledger, optionally on one connection (the SSH and HTTP environments use it too). */
export async function latestEndedSession(ledger: LedgerStore, subject: string, connection?: string): Promise<SessionSummary> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const [s] = await ledger.listSessions({ identity: subject, limit: 1, ...(connection ? { connection } : {}) });
    if (s && s.endedAt !== null) return s;
    if (Date.now() > deadline) throw new Error(`the latest session of ${subject} did not end (${s ? s.status : 'none'})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A debug-level logger whose lines the test can read (to prove what never reaches a log). */
export function captureLog(): { log: Logger; text(): string } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { log: pino({ level: 'debug', redact: { paths: ['password', '*.password'], censor: '[redacted]' } }, sink), text: () => lines.join('') };
}

/** Every record of a ledger, decoded, in order. */
export async function allRecordsOf(ledger: LedgerStore): Promise<Array<{ seq: number; sessionId: string; event: AuditEvent }>> {
  const out: Array<{ seq: number; sessionId: string; event: AuditEvent }> = [];
  for await (const r of ledger.scan()) out.push({ seq: r.seq, sessionId: r.sessionId, event: JSON.parse(r.payload) as AuditEvent });
  return out;
}

/**
 * Writes `raw` as the environment's gatehouse.yaml and starts the gateway from it with a capturing
 * logger; closing the gateway joins `cleanups`.
 */
export async function startConfiguredGateway(dir: string, raw: Record<string, unknown>, cleanups: Array<() => Promise<void>>): Promise<{
  gateway: Gateway; loaded: LoadedConfig; configFile: string; logText: () => string;
}> {
  const configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, stringify(raw));
  const loaded = loadConfigText(stringify(raw), configFile, {});
  const { log, text: logText } = captureLog();
  const gateway = await startGateway(loaded, log);
  cleanups.push(() => gateway.close(2_000));
  return { gateway, loaded, configFile, logText };
}

/** The records of a subject's latest session on a connection, once it has ended. */
export async function endedSessionRecords(ledger: LedgerStore, subject: string, connection?: string): Promise<LedgerRecord[]> {
  return ledger.sessionRecords((await latestEndedSession(ledger, subject, connection)).id);
}
