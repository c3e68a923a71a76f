import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyCheckpoint, type SignedCheckpoint } from '../../src/ledger/checkpoint.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startGateway, type Gateway } from '../../src/server.js';
import { cli, psql, runProgram, startEnv, type GatewayEnv } from '../support/gateway-fixture.js';

let env: GatewayEnv;
let second: Gateway;
let witness: Server;
const witnessed: SignedCheckpoint[] = [];
beforeAll(async () => {
  env = await startEnv({ postgresLedger: true, signing: true });
  // the second gateway also sends its checkpoints to an HTTP witness
  witness = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      witnessed.push(JSON.parse(body) as SignedCheckpoint);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => witness.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(witness.address() as AddressInfo).port}/checkpoints`;
  const cfg = env.loaded.config;
  const loaded = { ...env.loaded, config: { ...cfg, ledger: { ...cfg.ledger, checkpoints: { ...cfg.ledger.checkpoints!, witnessUrl: url } } } };
  second = await startGateway(loaded, pino({ level: 'silent' }));
});
afterAll(async () => {
  await second?.close(2_000);
  witness?.close();
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

    // the export covers both logs, each contiguous from seq 1
    const exp = await cli(env, ['export']);
    const lines = exp.stdout.trim().split('\n').map((l) => JSON.parse(l) as { logId: string; seq: number });
    const byLog = new Map<string, number[]>();
    for (const l of lines) byLog.set(l.logId, [...(byLog.get(l.logId) ?? []), l.seq]);
    expect(byLog.size).toBe(2);
    for (const seqs of byLog.values()) expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));

    // the HTTP witness received the second gateway's signed checkpoints
    const secondLog = await second.ledger.logId();
    const pub = createPublicKey(readFileSync(`${env.dir}/ledger-signing.pub`, 'utf8'));
    const mine = witnessed.filter((c) => c.logId === secondLog);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((c) => verifyCheckpoint(c, pub))).toBe(true);
  });
});
