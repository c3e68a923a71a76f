import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/core/events.js';
import { endedSession, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';

/**
 * Slow and stuck peers on the PostgreSQL gateway (issue 8), with a raw protocol client that can
 * stop reading (a driver would buffer the result itself):
 * - an agent that sends a big SELECT and stops reading: the gateway stops reading the server, so
 *   the server is seen waiting on ClientWrite and the gateway's memory does not take the result in;
 * - an upstream that stops answering mid-query (its backend stopped with SIGSTOP): the query was
 *   recorded before it was forwarded, nothing times it out in the gateway, and when the agent gives
 *   up the session end is recorded;
 * - an agent that leaves while its query runs: what happens to the query on the server.
 */

const MB = 1024 * 1024;

let env: GatewayEnv;
beforeAll(async () => {
  // a paused reader is a slow one for a few seconds, a stalled one after STALL_MS
  env = await startEnv({ config: { limits: { stalledClientTimeout: STALL_MS } } });
});
afterAll(async () => env?.dispose());

/** A raw client: logs in with the token, counts what it receives, notes message types (never holds rows). */
function rawClient(port: number, token: string, app: string) {
  const s: Socket = connect(port, '127.0.0.1');
  let received = 0;
  const types: string[] = [];
  let header = Buffer.alloc(0);
  let skip = 0;
  let onType: ((t: string) => void) | null = null;
  s.on('error', () => undefined);
  s.on('data', (d: Buffer) => {
    received += d.length;
    let at = 0;
    while (at < d.length) {
      if (skip > 0) {
        const n = Math.min(skip, d.length - at);
        skip -= n;
        at += n;
        continue;
      }
      const need = 5 - header.length;
      header = Buffer.concat([header, d.subarray(at, at + need)]);
      at += Math.min(need, d.length - at);
      if (header.length < 5) break;
      const t = String.fromCharCode(header[0]!);
      skip = header.readInt32BE(1) - 4;
      header = Buffer.alloc(0);
      if (t !== 'D') types.push(t);
      onType?.(t);
    }
  });
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  const waitFor = (t: string, ms = 20_000) =>
    new Promise<void>((resolve, reject) => {
      if (types.includes(t)) return resolve();
      const timer = setTimeout(() => reject(new Error(`no '${t}' message within ${ms} ms (got ${types.join('')})`)), ms);
      onType = (x) => {
        if (x === t) {
          clearTimeout(timer);
          onType = null;
          resolve();
        }
      };
    });
  s.on('connect', () => s.write(serialize.startup({ user: 'agent', database: 'orders', application_name: app })));
  const login = (async () => {
    await waitFor('R');
    s.write(serialize.password(token));
    await waitFor('Z');
  })();
  return { socket: s, login, closed, received: () => received, types, waitFor };
}

/** Polls `check` every 25 ms until it returns a value (or the deadline passes: throws with `what`). */
async function until<T>(what: string, check: () => Promise<T | null>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`${what}: not seen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const activity = (app: string) =>
  env.cluster.query<{ pid: number; state: string; wait_event: string | null; query: string }>(
    "SELECT pid, state, wait_event, query FROM pg_stat_activity WHERE usename = 'orders_app' AND application_name = $1", [app],
  );

async function records(subject: string): Promise<AuditEvent[]> {
  const s = await endedSession(env, subject);
  return (await env.gateway.ledger.sessionRecords(s.id)).map((r) => r.event);
}

const STALL_MS = 8_000;

describe('PostgreSQL gateway: slow and stuck peers', () => {
  it('an agent that sends a big SELECT and stops reading: the server waits on ClientWrite, the gateway holds little', async () => {
    const app = `slow-reader-${process.pid}`;
    const c = rawClient(env.port, await env.token('ci-agent'), app);
    await c.login;
    // ~1 GB of rows
    c.socket.write(serialize.query("SELECT repeat('x', 1000) FROM generate_series(1, 1000000)"));
    await until('8 MiB of the result', async () => (c.received() >= 8 * MB ? true : null));
    c.socket.pause();
    const rss0 = process.memoryUsage().rss;
    const seen = await until('the server blocked on ClientWrite', async () => {
      const [a] = await activity(app);
      return a?.wait_event === 'ClientWrite' ? a : null;
    }, 60_000);
    // and it stays blocked: twenty looks in a row over at least a second
    let looks = 0;
    const t0 = Date.now();
    await until('ClientWrite held', async () => {
      const [a] = await activity(app);
      expect(a?.wait_event, 'the server went on (someone read the result)').toBe('ClientWrite');
      return ++looks >= 20 && Date.now() - t0 >= 1_000 ? true : null;
    });
    // the gateway runs in this process; a result it took in would show here (coarse)
    const grew = process.memoryUsage().rss - rss0;
    expect(grew).toBeLessThan(128 * MB);
    console.log(`slow pg agent: server pid ${seen.pid} on ClientWrite after ${(c.received() / MB).toFixed(1)} MiB read; rss +${(grew / MB).toFixed(1)} MiB`);
    // the agent leaves: the gateway closes the upstream, the server's write fails, its backend ends
    c.socket.destroy();
    await until('the backend gone', async () => ((await activity(app)).length === 0 ? true : null));
    const ev = await records('ci-agent');
    expect(ev.find((e) => e.type === 'pg.query')).toMatchObject({ text: "SELECT repeat('x', 1000) FROM generate_series(1, 1000000)" });
    // the result is recorded as interrupted, with the bytes the gateway passed on (what the agent
    // read plus what was in flight when it left: bounded too)
    const result = ev.find((e): e is Extract<AuditEvent, { type: 'pg.result' }> => e.type === 'pg.result');
    expect(result).toMatchObject({ status: 'interrupted' });
    expect(result!.bytes).toBeGreaterThanOrEqual(8 * MB);
    expect(result!.bytes).toBeLessThan(64 * MB);
    expect(ev.at(-1)).toMatchObject({ type: 'session.end', reason: 'client disconnected' });
  });

  it('an agent that takes none of its result for limits.stalledClientTimeout: the session ends, the statement is cancelled, and why is recorded', async () => {
    const app = `stalled-${process.pid}`;
    const c = rawClient(env.port, await env.token('dpo-dana'), app);
    await c.login;
    c.socket.write(serialize.query("SELECT repeat('x', 1000) FROM generate_series(1, 1000000)"));
    await until('8 MiB of the result', async () => (c.received() >= 8 * MB ? true : null));
    c.socket.pause();
    // nothing else happens: the gateway ends the session once the client has taken nothing for STALL_MS
    const ev = await records('dpo-dana');
    expect(ev.at(-1)).toMatchObject({
      type: 'session.end', status: 'error', reason: `GH_ERR_CLIENT_STALLED: the client took none of the result for ${STALL_MS} ms (limits.stalledClientTimeout)`,
    });
    expect(ev.find((e) => e.type === 'pg.result')).toMatchObject({ status: 'interrupted' });
    expect(ev.find((e) => e.type === 'pg.cancel')).toMatchObject({ reason: 'the client took none of its result for too long' });
    await until('the backend gone', async () => ((await activity(app)).length === 0 ? true : null));
    c.socket.destroy();
  });

  it('an upstream that stops answering mid-query: recorded before forwarding; no gateway timeout; the end is recorded when the agent gives up', async () => {
    const app = `stuck-upstream-${process.pid}`;
    const c = rawClient(env.port, await env.token('dba-bob'), app);
    await c.login;
    const backend = await until('the backend', async () => ((await activity(app))[0] ?? null));
    process.kill(backend.pid, 'SIGSTOP');
    try {
      c.socket.write(serialize.query('SELECT 41 + 1 AS stuck'));
      // the query is in the ledger while the server has not answered (write-ahead)
      const rec = await until('the pg.query record', async () => {
        const [s] = await env.gateway.ledger.listSessions({ identity: 'dba-bob', limit: 1 });
        if (!s) return null;
        const ev = (await env.gateway.ledger.sessionRecords(s.id)).map((r) => r.event);
        return ev.find((e) => e.type === 'pg.query') ?? null;
      });
      expect(rec).toMatchObject({ text: 'SELECT 41 + 1 AS stuck' });
      // no answer and no error from the gateway while the server is stuck: the gateway has no
      // timeout of its own for a statement (see the report); two seconds of silence, observed
      const before = c.types.length;
      const quietUntil = Date.now() + 2_000;
      await until('two quiet seconds', async () => (Date.now() >= quietUntil ? true : null), 5_000);
      expect(c.types.slice(before)).toEqual([]);
      expect(c.socket.destroyed).toBe(false);
      // the agent gives up
      c.socket.destroy();
      const ev = await records('dba-bob');
      // the statement that never got an answer: an interrupted result of 0 bytes; the session end
      // says the client disconnected (its status is 'ok' with errors 0: see the report)
      expect(ev.find((e) => e.type === 'pg.result')).toMatchObject({ status: 'interrupted', bytes: 0, rows: null });
      expect(ev.at(-1)).toMatchObject({ type: 'session.end', reason: 'client disconnected', statements: 1 });
    } finally {
      process.kill(backend.pid, 'SIGCONT');
    }
    await until('the stopped backend gone after SIGCONT', async () => ((await activity(app)).length === 0 ? true : null));
  });

  it('an agent that leaves while its query runs: the query is recorded, the gateway cancels it on the server, and says so', async () => {
    const app = `leaver-${process.pid}`;
    const c = rawClient(env.port, await env.token('dba-alice'), app);
    await c.login;
    c.socket.write(serialize.query('SELECT pg_sleep(5)'));
    await until('the query running', async () => ((await activity(app)).find((a) => a.state === 'active') ?? null));
    const cancelled = () => readFileSync(env.cluster.logFile, 'utf8').split('canceling statement due to user request').length - 1;
    const before = cancelled();
    c.socket.destroy();
    const ev = await records('dba-alice');
    const query = ev.find((e) => e.type === 'pg.query');
    expect(query).toMatchObject({ text: 'SELECT pg_sleep(5)' });
    expect(ev.find((e) => e.type === 'pg.result')).toMatchObject({ status: 'interrupted' });
    expect(ev.find((e) => e.type === 'pg.cancel')).toMatchObject({ reason: 'the client left while it ran' });
    // the statement does not run on for nobody: the server itself logs it cancelled
    await until('the server log says the statement was cancelled', async () => (cancelled() > before ? true : null), 15_000);
    await until('the backend gone after the cancel', async () => ((await activity(app)).length === 0 ? true : null), 15_000);
  });
});
