import { randomInt } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { initClassifier } from '../../src/policy/classify.js';
import { fuzzFramerCase, fuzzRelayCase } from '../unit/proof/fuzz-core.js';

/** The long fuzz run (npm run soak): the quick run's cases, 50x more framer and 40x more relay cases. */

const BASE = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);
const FRAMER_CASES = Number(process.env.SOAK_FRAMER_CASES ?? 1_000_000);
const RELAY_CASES = Number(process.env.SOAK_RELAY_CASES ?? 200_000);

function run(name: string, n: number, one: (seed: number) => unknown): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const seed = (BASE + i) >>> 0;
    try {
      one(seed);
    } catch (e) {
      throw new Error(`${name}: run FUZZ_SEED=${BASE}, case seed ${seed}: ${(e as Error).message}`, { cause: e });
    }
  }
  const ms = performance.now() - t0;
  console.log(`soak fuzz ${name}: ${n} cases from FUZZ_SEED=${BASE} in ${(ms / 1000).toFixed(1)} s`);
  return ms;
}

describe(`fuzz soak (FUZZ_SEED=${BASE})`, () => {
  beforeAll(() => initClassifier());

  it(`framer: ${FRAMER_CASES} cases`, () => {
    expect(FRAMER_CASES).toBeGreaterThanOrEqual(1_000_000);
    run('framer', FRAMER_CASES, fuzzFramerCase);
  });

  it(`relay: ${RELAY_CASES} cases`, () => {
    run('relay', RELAY_CASES, fuzzRelayCase);
  });
});
