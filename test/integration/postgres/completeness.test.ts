import { createServer, connect, type Server } from 'node:net';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import Database from 'better-sqlite3';
import type { AuditEvent } from '../../../src/core/events.js';
import { readStatementLog } from '../../../src/dev/statement-log.js';
import { APP_PASSWORD, endedSession, psql, runProgram, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';

let env: GatewayEnv;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => env?.dispose());

function pgbenchPath(): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    for (const v of readdirSync(base).sort().reverse()) if (existsSync(`${base}/${v}/bin/pgbench`)) return `${base}/${v}/bin/pgbench`;
  }
  return 'pgbench';
}

async function allEvents(): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const r of env.gateway.ledger.scan()) out.push(JSON.parse(r.payload) as AuditEvent);
  return out;
}

describe('the ledger against the target server', () => {
  it('pgbench -M prepared runs through the gateway', async () => {
    const token = await env.token('ci-agent');
    const common = ['-h', '127.0.0.1', '-p', String(env.port), '-U', 'agent'];
    const penv = { ...process.env, PGPASSWORD: token, PGSSLMODE: 'disable' };
    const init = await runProgram(pgbenchPath(), ['-i', '-s', '1', '-q', ...common, 'orders'], { env: penv });
    expect(init.code, init.stderr).toBe(0);
    const run = await runProgram(pgbenchPath(), ['-M', 'prepared', '-c', '2', '-t', '25', '-n', ...common, 'orders'], { env: penv });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/number of transactions actually processed: 50\/50/);
    const events = await allEvents();
    const updates = events.filter((e) => e.type === 'pg.execute' && e.text.startsWith('UPDATE pgbench_accounts'));
    expect(updates).toHaveLength(50);
  });

  it('every statement the server ran is in the ledger', async () => {
    const token = await env.token('dba-alice');
    await psql(env, token, ['-c', "UPDATE orders SET status = 'shipped' WHERE id = 1", '-c', 'BEGIN; SELECT count(*) FROM customers; COMMIT;']);
    const client = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: token });
    await client.connect();
    await client.query({ name: 'by-status', text: 'SELECT count(*) FROM orders WHERE status = $1', values: ['shipped'] });
    await client.query({ name: 'by-status', text: 'SELECT count(*) FROM orders WHERE status = $1', values: ['new'] });
    await client.end();

    const events = await allEvents();
    const queries = new Set(events.flatMap((e) => (e.type === 'pg.query' ? [e.text] : [])));
    const executes = new Set(events.flatMap((e) => (e.type === 'pg.execute' ? [e.text] : [])));
    const ran = readStatementLog(env.cluster.logFile).filter((s) => s.user === 'orders_app' && s.database === 'orders');
    expect(ran.length).toBeGreaterThan(100);
    const missing = ran.filter((s) => !(s.kind === 'statement' ? queries.has(s.text) : executes.has(s.text)));
    expect(missing).toEqual([]);
  });

  it('the agent never sees the upstream password: not on the wire, in the log or in the ledger', async () => {
    // a transparent TCP tap between a real client and the gateway keeps every byte sent to the client
    const toClient: Buffer[] = [];
    const tap: Server = createServer((c) => {
      const g = connect(env.port, '127.0.0.1');
      c.pipe(g);
      g.on('data', (d: Buffer) => toClient.push(d));
      g.pipe(c);
      c.on('error', () => g.destroy());
      g.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => tap.listen(0, '127.0.0.1', () => r()));
    const port = (tap.address() as { port: number }).port;
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'agent', database: 'orders', password: await env.token('ci-agent') });
    await client.connect();
    const settings = await client.query("SELECT current_user, current_setting('application_name') AS app");
    expect(settings.rows[0]).toMatchObject({ current_user: 'orders_app' });
    await client.query('SELECT * FROM customers');
    await client.end();
    await new Promise<void>((r) => tap.close(() => r()));

    const wire = Buffer.concat(toClient);
    expect(wire.length).toBeGreaterThan(0);
    expect(wire.includes(APP_PASSWORD)).toBe(false);
    expect(env.logText()).not.toContain(APP_PASSWORD);
    const ledgerBytes = ['ledger.db', 'ledger.db-wal']
      .map((f) => `${env.dir}/${f}`)
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f));
    expect(ledgerBytes.length).toBeGreaterThan(0);
    for (const b of ledgerBytes) expect(b.includes(APP_PASSWORD)).toBe(false);
  });

  it('fails closed: a statement the ledger cannot record is refused and never reaches the server', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: await env.token('dba-alice') });
    await client.connect();
    await client.query('SELECT 1');
    // a real fault in the real store: from now on it cannot append a record holding this statement
    const db = new Database(`${env.dir}/ledger.db`);
    db.exec(`CREATE TRIGGER fault BEFORE INSERT ON records WHEN NEW.payload LIKE '%DROP TABLE customers%'
             BEGIN SELECT RAISE(ABORT, 'disk full (injected)'); END`);
    db.close();
    const err = await client.query('DROP TABLE customers').then(() => null, (e: { code?: string; message: string }) => e);
    expect(err).toMatchObject({ code: '58030' });
    expect(err!.message).toContain('cannot record this command, so it was not run');
    await client.end().catch(() => undefined);
    const still = await env.cluster.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'customers'", [], 'orders');
    expect(still[0]).toEqual({ n: 1 });
    expect(readStatementLog(env.cluster.logFile).some((s) => s.text.includes('DROP TABLE customers'))).toBe(false);
    const s = await endedSession(env, 'dba-alice');
    expect(s.status).toBe('error');
    expect(s.reason).toContain('GH_ERR_LEDGER_UNAVAILABLE');
  });
});
