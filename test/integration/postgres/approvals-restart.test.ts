import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import type { AuditEvent } from '../../../src/core/events.js';
import { APP_PASSWORD, runProgram, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';

/**
 * The gateway dies (SIGKILL) while a statement waits for approval. The statement must never run,
 * and the next start records the request as denied (by: restart), so the ledger has no request
 * left open. Also: a clean shutdown (SIGTERM) denies what waits, before draining.
 */

let env: GatewayEnv;
let config = '';
beforeAll(async () => {
  env = await startEnv();
  const raw = parse(readFileSync(env.configFile, 'utf8')) as Record<string, unknown>;
  raw.ledger = { sqlite: './restart-ledger.db' };
  raw.policies = [{ name: 'review-customer-writes', match: { tables: ['customers'], statement: ['update'] }, action: 'review', reviewers: ['dba'], timeout: '10m' }];
  config = `${env.dir}/restart.yaml`;
  writeFileSync(config, stringify(raw));
});
afterAll(async () => env?.dispose());

async function serve(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['dist/cli/main.js', 'serve', '--config', config], {
    env: { ...process.env, TEST_ORDERS_PASSWORD: APP_PASSWORD, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.resume();
  const [ready] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, port: Number(/127\.0\.0\.1:(\d+)/.exec(ready)![1]) };
}

async function heldUpdate(port: number, name: string): Promise<{ client: pg.Client; outcome: Promise<unknown> }> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'agent', database: 'orders', password: await env.token('ci-agent') });
  client.on('error', () => undefined);
  const announced = new Promise<void>((resolve) => client.on('notice', (n) => /approval id/.test(n.message ?? '') && resolve()));
  await client.connect();
  const outcome = client.query('UPDATE customers SET name = $1 WHERE id = 1', [name]).then(() => 'ran', (e: Error & { code?: string }) => e);
  await announced;
  return { client, outcome };
}

async function records(): Promise<AuditEvent[]> {
  const r = await runProgram(process.execPath, ['dist/cli/main.js', 'export', '--config', config], { env: { ...process.env, TEST_ORDERS_PASSWORD: APP_PASSWORD } });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { event: AuditEvent }).event);
}

const nameOf = async () => (await env.cluster.query<{ name: string }>('SELECT name FROM customers WHERE id = 1', [], 'orders'))[0]!.name;

describe('approvals across a gateway restart', () => {
  it('SIGKILL while waiting: the statement never runs, and the next start records the request as denied', async () => {
    const before = await nameOf();
    const first = await serve();
    const held = await heldUpdate(first.port, 'ran-after-crash');
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    expect(await held.outcome).toBeInstanceOf(Error);
    const second = await serve();
    second.child.kill('SIGTERM');
    expect((await once(second.child, 'exit'))[0]).toBe(0);
    expect(await nameOf()).toBe(before);
    const all = await records();
    const requested = all.filter((e) => e.type === 'approval.requested');
    expect(requested).toHaveLength(1);
    const decided = all.filter((e) => e.type === 'approval.decided');
    expect(decided).toEqual([expect.objectContaining({ decision: 'denied', by: 'restart', reviewer: null })]);
  });

  it('SIGTERM while waiting: the wait is denied (by: shutdown), the client hears why, the gateway exits', async () => {
    const before = await nameOf();
    const gw = await serve();
    const held = await heldUpdate(gw.port, 'ran-at-shutdown');
    gw.child.kill('SIGTERM');
    const err = (await held.outcome) as Error & { code?: string };
    expect(err.code).toBe('42501');
    expect(err.message).toMatch(/denied: the gateway is shutting down/);
    expect((await once(gw.child, 'exit'))[0]).toBe(0);
    expect(await nameOf()).toBe(before);
    const decided = (await records()).filter((e) => e.type === 'approval.decided');
    expect(decided.at(-1)).toMatchObject({ decision: 'denied', by: 'shutdown' });
  });
});
