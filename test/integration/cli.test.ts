import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { prepared } from '../../src/ledger/sqlite-statements.js';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { psql, runProgram, startEnv, type GatewayEnv } from '../support/gateway-fixture.js';

let env: GatewayEnv;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => env?.dispose());

const node = (args: string[], extraEnv: Record<string, string> = {}) =>
  runProgram(process.execPath, ['dist/cli/main.js', ...args], { env: { ...process.env, NO_COLOR: '1', ...extraEnv } });

describe('gatehouse CLI', () => {
  let servedSession = '';
  let serveConfig = '';

  it('serve prints one ready line with the bound port, records a psql session, and drains on SIGTERM', async () => {
    const raw = parse(readFileSync(env.configFile, 'utf8')) as Record<string, unknown>;
    raw.ledger = { sqlite: './served-ledger.db' };
    serveConfig = `${env.dir}/served.yaml`;
    writeFileSync(serveConfig, stringify(raw));
    const child = spawn(process.execPath, ['dist/cli/main.js', 'serve', '--config', serveConfig], {
      env: { ...process.env, TEST_ORDERS_PASSWORD: 'orders-app-Upstream-Secret-7f3c9', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: child.stdout });
    const [ready] = (await once(lines, 'line')) as [string];
    expect(ready).toMatch(/^gatehouse ready: postgres 127\.0\.0\.1:\d+ \(tls off\), ledger .*served-ledger\.db$/);
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(ready)![1]);
    const token = await env.token('ci-agent');
    const r = await psql({ ...env, port }, token, ['-c', 'SELECT count(*) FROM orders']);
    expect(r.code, r.stderr).toBe(0);
    // an idle session is open when SIGTERM comes: it is ended cleanly with 57P01 admin_shutdown
    const idle = new pg.Client({ host: '127.0.0.1', port, user: 'agent', database: 'orders', password: await env.token('dba-alice') });
    await idle.connect();
    const ended = new Promise<Error & { code?: string }>((resolve) => idle.on('error', (e) => resolve(e)));
    child.kill('SIGTERM');
    expect(await ended).toMatchObject({ code: '57P01' });
    const [code] = (await once(child, 'exit')) as [number];
    expect(code, stderr).toBe(0);
    const list = await node(['sessions', '--config', serveConfig, '--json']);
    const sessions = JSON.parse(list.stdout) as Array<{ id: string; status: string; subject: string; reason: string }>;
    expect(sessions).toHaveLength(2);
    expect(sessions.find((s) => s.subject === 'dba-alice')).toMatchObject({ status: 'ok', reason: expect.stringContaining('GH_ERR_SHUTTING_DOWN') });
    const served = sessions.find((s) => s.subject === 'ci-agent');
    expect(served).toMatchObject({ status: 'ok' });
    servedSession = served!.id;
  });

  it('serve whose dev issuer port is taken: one clear line naming the port, exit 2, no stack trace', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as AddressInfo).port;
    try {
      const raw = parse(readFileSync(env.configFile, 'utf8')) as Record<string, Record<string, unknown>>;
      raw.identity = { ...raw.identity, issuer: `http://127.0.0.1:${port}` };
      raw.dev = { issuer: { port, clients: [{ clientId: 'ci-agent', clientSecret: 'ci-agent-secret-1', groups: ['ci-agents'] }] } };
      const file = `${env.dir}/busy-issuer.yaml`;
      writeFileSync(file, stringify(raw));
      const r = await node(['serve', '--config', file], { TEST_ORDERS_PASSWORD: 'orders-app-Upstream-Secret-7f3c9' });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`gatehouse: dev.issuer: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE`);
      expect(r.stderr).toContain('[GH_ERR_CONFIG_INVALID]');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      busy.close();
    }
  });

  it('serve whose demo PostgreSQL port is taken: one clear line naming the port and the server log, exit 2', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as AddressInfo).port;
    try {
      const raw = parse(readFileSync(env.configFile, 'utf8')) as Record<string, unknown>;
      raw.dev = { postgres: { port, dataDir: './busy-demo-postgres' } };
      const file = `${env.dir}/busy-postgres.yaml`;
      writeFileSync(file, stringify(raw));
      const r = await node(['serve', '--config', file], { TEST_ORDERS_PASSWORD: 'orders-app-Upstream-Secret-7f3c9' });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`gatehouse: dev.postgres: the demo PostgreSQL did not start on 127.0.0.1:${port}`);
      expect(r.stderr).toContain('busy-demo-postgres/postgres.log');
      expect(r.stderr).toContain('[GH_ERR_CONFIG_INVALID]');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      busy.close();
    }
  });

  it('report --format json has the documented keys', async () => {
    const r = await node(['report', servedSession, '--config', serveConfig, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.session).toMatchObject({ id: servedSession, connection: 'orders', status: 'ok' });
    expect(rep.identity).toMatchObject({ subject: 'ci-agent', groups: ['ci-agents'], authorizedBy: 'ci-agents', ciJob: '4711' });
    expect(rep.identity.tokenId).toEqual(expect.any(String));
    const stmt = rep.events.find((e: { type: string }) => e.type === 'pg.query');
    expect(stmt).toMatchObject({ command: 'SELECT count(*) FROM orders', result: { tag: 'SELECT 1', rows: 1 } });
    expect(stmt.seq).toEqual(expect.any(Number));
    expect(stmt.time).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('report --format html writes one self-contained file; text is readable', async () => {
    const out = `${env.dir}/report.html`;
    const r = await node(['report', servedSession, '--config', serveConfig, '--format', 'html', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain('SELECT count(*) FROM orders');
    expect(html).not.toMatch(/<script|src=|href="http/i);
    const text = await node(['report', servedSession, '--config', serveConfig]);
    expect(text.stdout).toContain('ci-agent');
    expect(text.stdout).toContain('SELECT count(*) FROM orders');
  });

  it('report takes a unique id prefix; an unknown session and bad flags fail with a clear message', async () => {
    const short = await node(['report', servedSession.slice(0, 8), '--config', serveConfig, '--format', 'json']);
    expect(short.code, short.stderr).toBe(0);
    expect(JSON.parse(short.stdout).session.id).toBe(servedSession);
    const r = await node(['report', 'no-such-session', '--config', serveConfig]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no session with id no-such-session');
    const bad = await node(['sessions', '--config', serveConfig, '--since', 'yesterday-ish']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since');
    const noConfig = await node(['sessions', '--config', `${env.dir}/missing.yaml`]);
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toContain('missing.yaml');
  });

  it('verify passes on an intact ledger and names the first bad record after tampering', async () => {
    const ok = await node(['verify', '--config', serveConfig]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ledger ok: \d+ records, head seq \d+, head hash [0-9a-f]{64}/);
    const db = new Database(`${env.dir}/served-ledger.db`);
    const triggers = prepared(db, "SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as Array<{ name: string }>;
    for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
    prepared(db, "UPDATE records SET payload = replace(payload, 'count(*)', 'count(1)') WHERE type = 'pg.query'").run();
    const seq = (prepared(db, "SELECT seq FROM records WHERE type = 'pg.query'").get() as { seq: number }).seq;
    db.close();
    const bad = await node(['verify', '--config', serveConfig]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`seq ${seq}`);
  });

  it('verify with a signing key file that is not an Ed25519 key: one clear line naming the file, exit 2', async () => {
    const raw = parse(readFileSync(serveConfig, 'utf8')) as Record<string, Record<string, unknown>>;
    raw.ledger = { ...raw.ledger, checkpoints: { signingKeyFile: './not-a-key.pem' } };
    const file = `${env.dir}/bad-key.yaml`;
    writeFileSync(file, stringify(raw));
    writeFileSync(`${env.dir}/not-a-key.pem`, '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n');
    const r = await node(['verify', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`gatehouse: ledger.checkpoints.signingKeyFile ${env.dir}/not-a-key.pem: not a usable Ed25519 private key`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('token prints a usable access token from the issuer', async () => {
    const r = await node(['token', '--config', env.configFile, '--client', 'ci-agent', '--client-secret', 'ci-agent-secret']);
    expect(r.code, r.stderr).toBe(0);
    const token = r.stdout.trim();
    expect(token.split('.')).toHaveLength(3);
    const q = await psql(env, token, ['-At', '-c', 'SELECT current_user']);
    expect(q.stdout.trim()).toBe('orders_app');
  });
});
