import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runCases, runCasesAsync } from '../unit/proof/fuzz-core.js';
import { fuzzRequestPartsCase } from '../unit/proof/fuzz-http.js';
import { fuzzKubeAttributesCase, fuzzSpdyCase, fuzzWebSocketCase } from '../unit/proof/fuzz-kube.js';
import { fuzzCastCase, fuzzSftpCase, fuzzTypedCase } from '../unit/proof/fuzz-ssh.js';

/**
 * The long fuzz run of the SSH, Kubernetes and HTTP parsers (npm run soak): the cases of
 * test/unit/proof/fuzz-ssh.test.ts and fuzz-kube-http.test.ts, at least 1M per target.
 * SOAK_TAP_CASES=<n> changes the count (SOAK_TAP_TARGETS=sftp,spdy,... picks targets);
 * FUZZ_SEED=<n> reproduces a run.
 */

const BASE = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);
const CASES = Number(process.env.SOAK_TAP_CASES ?? 1_000_000);
const ONLY = process.env.SOAK_TAP_TARGETS?.split(',');

const sync: Array<[string, (seed: number) => unknown]> = [
  ['sftp', fuzzSftpCase],
  ['typed-commands', fuzzTypedCase],
  ['websocket', fuzzWebSocketCase],
  ['spdy', fuzzSpdyCase],
  ['kube-attributes', fuzzKubeAttributesCase],
  ['request-parts', fuzzRequestPartsCase],
];

const report = (name: string, ms: number) =>
  console.log(`soak fuzz ${name}: ${CASES} cases from FUZZ_SEED=${BASE} in ${(ms / 1000).toFixed(1)} s (${Math.round(CASES / (ms / 1000))}/s)`);

describe(`fuzz soak of the SSH, Kubernetes and HTTP parsers (FUZZ_SEED=${BASE})`, () => {
  it('runs at least 1M cases per target by default', () => {
    if (process.env.SOAK_TAP_CASES === undefined) expect(CASES).toBeGreaterThanOrEqual(1_000_000);
  });

  for (const [name, one] of sync) {
    it.runIf(!ONLY || ONLY.includes(name))(`${name}: ${CASES} cases`, () => {
      const heap0 = process.memoryUsage().heapUsed;
      report(name, runCases(name, BASE, CASES, one));
      globalThis.gc?.();
      // coarse: a million cases leave no garbage behind that a collection cannot take back
      console.log(`soak fuzz ${name}: heap ${(heap0 / 2 ** 20).toFixed(0)} -> ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`);
    });
  }

  it.runIf(!ONLY || ONLY.includes('asciicast'))(`asciicast: ${CASES} cases`, async () => {
    report('asciicast', await runCasesAsync('asciicast', BASE, CASES, fuzzCastCase));
  });
});
