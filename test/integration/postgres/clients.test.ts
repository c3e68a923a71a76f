import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import postgres from 'postgres';
import type { LedgerRecord } from '../../../src/ledger/ledger.js';
import type { PgExecuteEvent, PgQueryEvent, PgResultEvent } from '../../../src/core/events.js';
import { endedSession, psql, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';

let env: GatewayEnv;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => env?.dispose());

/** Waits until the session's records satisfy a condition (the ledger is the thing under test). */
async function sessionRecords(id: string): Promise<LedgerRecord[]> {
  return env.gateway.ledger.sessionRecords(id);
}

const latestSession = (subject: string) => endedSession(env, subject);

function resultOf(records: LedgerRecord[], seq: number): PgResultEvent[] {
  return records.map((r) => r.event).filter((e): e is PgResultEvent => e.type === 'pg.result' && e.statementSeq === seq);
}

describe('real clients through the gateway', () => {
  it('psql (simple protocol): statements, results and errors are recorded in order', async () => {
    const token = await env.token('ci-agent');
    const r = await psql(env, token, ['-c', 'SELECT id, name FROM customers ORDER BY id LIMIT 3', '-c', 'SELECT 1/0']);
    expect(r.stdout).toContain('(3 rows)');
    expect(r.stderr).toContain('division by zero');
    const s = await latestSession('ci-agent');
    expect(s.connection).toBe('orders');
    expect(s.authorizedBy).toBe('ci-agents');
    expect(s.ciJob).toBe('4711');
    expect(s.clientApplication).toBe('psql');
    const recs = await sessionRecords(s.id);
    const queries = recs.filter((x) => x.type === 'pg.query');
    expect(queries.map((q) => (q.event as PgQueryEvent).text)).toEqual(['SELECT id, name FROM customers ORDER BY id LIMIT 3', 'SELECT 1/0']);
    const [ok] = resultOf(recs, queries[0]!.seq);
    expect(ok).toMatchObject({ status: 'ok', tag: 'SELECT 3', rows: 3, columns: ['id', 'name'] });
    expect(ok!.sample).toHaveLength(3);
    expect(ok!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const [bad] = resultOf(recs, queries[1]!.seq);
    expect(bad).toMatchObject({ status: 'error', error: { sqlstate: '22012', message: 'division by zero' } });
    // the command record was durable before its result: seq order
    expect(queries[0]!.seq).toBeLessThan(recs.find((x) => x.type === 'pg.result')!.seq);
  });

  it('node-postgres (extended protocol): bound parameters are recorded, null and text', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: await env.token('dba-alice'), application_name: 'node-pg-test' });
    await client.connect();
    const res = await client.query('SELECT id, email FROM customers WHERE id = $1 OR email = $2', [2, null]);
    expect(res.rows).toHaveLength(1);
    const ins = await client.query("INSERT INTO orders (customer_id, item, amount_cents, status) VALUES ($1, $2, $3, 'new') RETURNING id", [1, 'gatehouse mug', 1299]);
    expect(ins.rowCount).toBe(1);
    await client.end();
    const s = await latestSession('dba-alice');
    expect(s.authorizedBy).toBe('dba');
    const recs = await sessionRecords(s.id);
    const execs = recs.filter((x) => x.type === 'pg.execute').map((x) => x.event as PgExecuteEvent);
    expect(execs[0]).toMatchObject({ text: 'SELECT id, email FROM customers WHERE id = $1 OR email = $2', params: ['2', null] });
    expect(execs[1]!.params).toEqual(['1', 'gatehouse mug', '1299']);
    const insSeq = recs.find((x) => x.type === 'pg.execute' && (x.event as PgExecuteEvent).text.startsWith('INSERT'))!.seq;
    expect(resultOf(recs, insSeq)[0]).toMatchObject({ status: 'ok', tag: 'INSERT 0 1', rows: 1 });
  });

  it('postgres.js (named prepared statements) is recorded per execution', async () => {
    const sql = postgres({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', pass: await env.token('ci-agent'), prepare: true, max: 1, onnotice: () => undefined });
    for (const id of [1, 2, 3]) {
      const rows = await sql`SELECT item FROM orders WHERE customer_id = ${id} ORDER BY id`;
      expect(Array.isArray(rows)).toBe(true);
    }
    await sql.end();
    const s = await latestSession('ci-agent');
    const recs = await sessionRecords(s.id);
    const prepares = recs.filter((x) => x.type === 'pg.prepare');
    expect(prepares.length).toBeGreaterThanOrEqual(1);
    const execs = recs.map((x) => x.event).filter((e): e is PgExecuteEvent => e.type === 'pg.execute' && e.text.includes('customer_id'));
    expect(execs.map((e) => e.params)).toEqual([['1'], ['2'], ['3']]);
    expect(execs.every((e) => e.statement !== '')).toBe(true);
  });

  it('COPY in and out are recorded with their byte counts', async () => {
    const token = await env.token('ci-agent');
    const input = Array.from({ length: 500 }, (_, i) => `${1000 + i}\tcopy item ${i}\t${i}\tnew`).join('\n') + '\n';
    const r1 = await psql(env, token, ['-c', 'COPY orders (id, item, amount_cents, status) FROM STDIN'], { input });
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await psql(env, token, ['-c', 'COPY (SELECT id, item FROM orders WHERE id >= 1000 ORDER BY id) TO STDOUT']);
    expect(r2.stdout.split('\n').filter(Boolean)).toHaveLength(500);
    await endedSession(env, 'ci-agent');
    const sessions = await env.gateway.ledger.listSessions({ identity: 'ci-agent', limit: 2 });
    const outRecs = await sessionRecords(sessions[0]!.id);
    const inRecs = await sessionRecords(sessions[1]!.id);
    const copyIn = inRecs.map((x) => x.event).find((e): e is PgResultEvent => e.type === 'pg.result' && e.copy !== null);
    expect(copyIn).toMatchObject({ status: 'ok', tag: 'COPY 500', copy: { direction: 'in' } });
    expect(copyIn!.copy!.bytes).toBeGreaterThanOrEqual(Buffer.byteLength(input));
    const copyOut = outRecs.map((x) => x.event).find((e): e is PgResultEvent => e.type === 'pg.result' && e.copy !== null);
    expect(copyOut).toMatchObject({ status: 'ok', tag: 'COPY 500', copy: { direction: 'out' } });
    expect(copyOut!.sample.length).toBeGreaterThan(0);
  });

  it('a cancelled long query: the cancel psql sends on SIGINT reaches the right backend and is recorded', async () => {
    const token = await env.token('dba-alice');
    const child = spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(env.port), '-U', 'agent', '-d', 'orders', '-c', 'SELECT pg_sleep(60)'], {
      env: { ...process.env, PGPASSWORD: token, PGSSLMODE: 'disable' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // the statement is in the ledger before it reaches the server: wait for that record
    let sessionId = '';
    for (;;) {
      const [s] = await env.gateway.ledger.listSessions({ identity: 'dba-alice', status: 'active', limit: 1 });
      const recs = s ? await sessionRecords(s.id) : [];
      if (recs.some((x) => x.type === 'pg.query' && (x.event as PgQueryEvent).text.includes('pg_sleep'))) {
        sessionId = s!.id;
        break;
      }
      await new Promise((r) => setImmediate(r));
    }
    child.kill('SIGINT');
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).not.toBe(0);
    expect(stderr).toContain('canceling statement due to user request');
    await endedSession(env, 'dba-alice');
    const recs = await sessionRecords(sessionId);
    const q = recs.find((x) => x.type === 'pg.query' && (x.event as PgQueryEvent).text.includes('pg_sleep'))!;
    expect(recs.find((x) => x.type === 'pg.cancel')!.event).toMatchObject({ statementSeq: q.seq });
    expect(resultOf(recs, q.seq)[0]).toMatchObject({ status: 'error', error: { sqlstate: '57014' } });
  });

  it('a 100 MB result streams through to psql, counted and digested', async () => {
    const token = await env.token('ci-agent');
    const r = await psql(env, token, ['-At', '-c', "SELECT i, repeat('x', 1000) FROM generate_series(1, 100000) i", '-o', '/dev/null']);
    expect(r.code, r.stderr).toBe(0);
    const s = await latestSession('ci-agent');
    const recs = await sessionRecords(s.id);
    const res = recs.map((x) => x.event).find((e): e is PgResultEvent => e.type === 'pg.result')!;
    expect(res).toMatchObject({ status: 'ok', tag: 'SELECT 100000', rows: 100000 });
    expect(res.bytes).toBeGreaterThan(100_000_000);
    expect(res.sample).toHaveLength(20);
  });

  it('a client that stops reading stops the server (backpressure), so nothing piles up in the gateway', async () => {
    const buffersBefore = process.memoryUsage().arrayBuffers;
    const sock = connect(env.port, '127.0.0.1');
    const token = await env.token('ci-agent');
    let seen = Buffer.alloc(0);
    const until = (marker: Buffer) =>
      new Promise<void>((resolve, reject) => {
        const onData = (d: Buffer) => {
          seen = Buffer.concat([seen, d]);
          if (seen.includes(marker)) {
            sock.off('data', onData);
            resolve();
          }
        };
        sock.on('data', onData);
        sock.once('error', reject);
      });
    const askedForPassword = until(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]));
    sock.write(serialize.startup({ user: 'agent', database: 'orders' }));
    await askedForPassword;
    const ready = until(Buffer.from('Z\0\0\0\x05I', 'latin1'));
    sock.write(serialize.password(token));
    await ready;
    sock.write(serialize.query("SELECT i, repeat('y', 1000) FROM generate_series(1, 1000000) i /* backpressure */"));
    sock.pause(); // never read the result
    // the server's own view: its backend blocks writing to the gateway, because the gateway stopped reading
    const deadline = Date.now() + 20_000;
    let wait: string | null = null;
    let blocked = 0; // consecutive observations: a fast consumer shows ClientWrite only in passing
    while (blocked < 20) {
      if (Date.now() > deadline) throw new Error(`the server never blocked on ClientWrite (last wait_event ${wait})`);
      const rows = await env.cluster.query<{ wait_event: string | null }>(
        "SELECT wait_event FROM pg_stat_activity WHERE usename = 'orders_app' AND query LIKE '%backpressure%' AND pid <> pg_backend_pid()",
      );
      wait = rows[0]?.wait_event ?? null;
      blocked = wait === 'ClientWrite' ? blocked + 1 : 0;
    }
    expect(wait).toBe('ClientWrite');
    // the gateway (this process) holds socket buffers only, not the result: far below its 1 GB
    expect(process.memoryUsage().arrayBuffers - buffersBefore).toBeLessThan(64 * 1024 * 1024);
    sock.destroy();
  });
});
