import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startGateway, type Gateway } from '../../src/server.js';
import { cli, psql, runProgram, startEnv, type GatewayEnv } from '../support/gateway-fixture.js';

let env: GatewayEnv;
let second: Gateway;
beforeAll(async () => {
  env = await startEnv({ postgresLedger: true, signing: true });
  second = await startGateway(env.loaded, pino({ level: 'silent' }));
});
afterAll(async () => {
  await second?.close(2_000);
  await env?.dispose();
});

function pgbench(): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) for (const v of readdirSync(base).sort().reverse()) if (existsSync(`${base}/${v}/bin/pgbench`)) return `${base}/${v}/bin/pgbench`;
  return 'pgbench';
}

describe('two gateways sharing one PostgreSQL ledger', () => {
  it('append concurrently without losing anything, and every log verifies', async () => {
    const token = await env.token('ci-agent');
    const penv = { ...process.env, PGPASSWORD: token, PGSSLMODE: 'disable' };
    const init = await runProgram(pgbench(), ['-i', '-s', '1', '-q', '-h', '127.0.0.1', '-p', String(env.port), '-U', 'agent', 'orders'], { env: penv });
    expect(init.code, init.stderr).toBe(0);
    const ports = [env.port, second.postgres!.address.port];
    const runs = await Promise.all(
      ports.map((port) => runProgram(pgbench(), ['-M', 'prepared', '-c', '2', '-t', '20', '-n', '-h', '127.0.0.1', '-p', String(port), '-U', 'agent', 'orders'], { env: penv })),
    );
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const q = await psql({ ...env, port: ports[1]! }, token, ['-c', 'SELECT count(*) FROM pgbench_accounts']);
    expect(q.code, q.stderr).toBe(0);

    // every pgbench transaction's statements are in the shared ledger, whichever gateway carried them
    const updates = await env.gateway.ledger.searchCommands({ text: 'UPDATE AND pgbench_accounts', limit: 1000 });
    expect(updates.hits).toHaveLength(80);
    const sessions = await env.gateway.ledger.listSessions({ identity: 'ci-agent', limit: 100 });
    expect(sessions.filter((s) => s.status !== 'denied').length).toBeGreaterThanOrEqual(1 + 2 * 2 + 1);

    const v = await cli(env, ['verify', '--public-key', `${env.dir}/ledger-signing.pub`]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout.match(/^log [0-9a-f-]+: ledger ok: \d+ records/gm)).toHaveLength(2);
  });
});
