import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnv, type GatewayEnv } from '../support/gateway-fixture.js';
import { crashRounds } from '../integration/proof/crash-core.js';

/** Crash consistency, long (npm run soak): 20+ SIGKILLs under load; see test/integration/proof/crash-core.ts. */

const SEED = process.env.CRASH_SEED !== undefined ? Number(process.env.CRASH_SEED) : randomInt(2 ** 31);
const KILLS = Number(process.env.SOAK_KILLS ?? 20);

let env: GatewayEnv;
beforeAll(async () => {
  // the subprocess runs the built gateway: build it from this tree first
  execFileSync('npx', ['tsc', '-p', '.'], { stdio: 'inherit' });
  env = await startEnv();
});
afterAll(async () => env?.dispose());

describe.each(['strict', 'process'] as const)(`crash soak, ledger.durability %s (CRASH_SEED=${SEED})`, (durability) => {
  it(`${KILLS} kills under load`, async () => {
    expect(KILLS).toBeGreaterThanOrEqual(20);
    const t0 = performance.now();
    const r = await crashRounds(env, KILLS, SEED, durability);
    console.log(`soak crash (${durability}): ${r.kills} kills, ${r.verifies} verify runs (${r.verifyFailures.length} failed), ${r.serverStatements} marked statements run by the server, ${r.ledgerCommands} in the ledger, ${r.missing.length} missing, ${r.inFlightAtKill} clients connected at the kills, CRASH_SEED=${SEED}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.verifyFailures).toEqual([]);
    expect(r.kills).toBe(KILLS);
    expect(r.missing).toEqual([]);
    expect(r.serverStatements).toBeGreaterThan(KILLS * 5);
  });
});
