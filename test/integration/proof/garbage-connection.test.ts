import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serialize } from 'pg-protocol';
import { readStatementLog } from '../../../src/dev/statement-log.js';
import { psql, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';
import { prng } from '../../unit/proof/fuzz-core.js';
import { sendGarbage } from './garbage.js';

/**
 * After garbage on its port (random bytes, a startup packet followed by noise, absurd lengths) the
 * gateway still serves the next real client, and nothing of the garbage reached the server.
 */

const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);

let env: GatewayEnv;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => env?.dispose());


function garbage(seed: number): Buffer {
  const r = prng(seed);
  const noise = (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = r.int(256);
    return b;
  };
  switch (r.int(4)) {
    case 0:
      return noise(1 + r.int(4096));
    case 1:
      return Buffer.concat([serialize.startup({ user: 'agent', database: 'orders' }), noise(1 + r.int(512))]);
    case 2: {
      const h = Buffer.alloc(8);
      h.writeInt32BE(r.pick([0x7fffffff, -1, 3, 10_001]), 0);
      h.writeInt32BE(196608, 4);
      return Buffer.concat([h, noise(r.int(64))]);
    }
    default:
      // a password message where the startup packet belongs, then a huge typed frame
      return Buffer.concat([Buffer.from([0x70, 0x7f, 0xff, 0xff, 0xff]), noise(r.int(128))]);
  }
}

describe(`garbage on the PostgreSQL port (FUZZ_SEED=${SEED})`, () => {
  it('the gateway closes each garbage connection and keeps serving real clients', async () => {
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => sendGarbage(env.port, garbage(SEED + i), 10_000)));
    expect(results.every((r) => r.closed), `seed ${SEED}`).toBe(true);
    const r = await psql(env, await env.token('ci-agent'), ['-At', '-c', "SELECT 'still-serving-' || 41 + 1"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('still-serving-42');
    const ran = readStatementLog(env.cluster.logFile).filter((s) => s.user === 'orders_app');
    expect(ran.map((s) => s.text)).toContain("SELECT 'still-serving-' || 41 + 1");
    // only the one real statement (plus none of the garbage) reached the server through the gateway
    expect(ran.filter((s) => !/^(SET|SHOW|SELECT pg_catalog|select)/.test(s.text))).toHaveLength(1);
  });
});
