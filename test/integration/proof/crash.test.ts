import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';
import { crashRounds } from './crash-core.js';

/**
 * Crash consistency, quick: three SIGKILLs of the gateway (a subprocess) under load at seeded
 * random moments. `gatehouse verify` passes on every crashed ledger and after every restart, and
 * every marked statement the PostgreSQL server ran is in the ledger (write-ahead). The long run
 * (20+ kills) is test/soak/crash.soak.ts. CRASH_SEED=<n> repeats a run.
 */

const SEED = process.env.CRASH_SEED !== undefined ? Number(process.env.CRASH_SEED) : randomInt(2 ** 31);

let env: GatewayEnv;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => env?.dispose());

describe.each(['strict', 'process'] as const)(`crash consistency, ledger.durability %s (CRASH_SEED=${SEED})`, (durability) => {
  // both modes promise that a killed gateway loses nothing; only strict also survives a power loss
  it('3 kills under load: the ledger verifies after each, and holds every statement the server ran', async () => {
    const r = await crashRounds(env, 3, SEED, durability);
    expect(r.verifyFailures).toEqual([]);
    expect(r.verifies).toBe(3 * 2 + 1);
    expect(r.kills).toBe(3);
    expect(r.inFlightAtKill).toBeGreaterThan(0);
    expect(r.serverStatements).toBeGreaterThan(3 * 5);
    expect(r.missing).toEqual([]);
    expect(r.ledgerCommands).toBeGreaterThanOrEqual(r.serverStatements);
  });
});
