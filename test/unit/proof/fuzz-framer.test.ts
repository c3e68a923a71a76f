import { randomInt } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { initClassifier } from '../../../src/policy/classify.js';
import { fuzzFramerCase, fuzzRelayCase, runCases } from './fuzz-core.js';

/**
 * Fuzzing the PostgreSQL framer and the relay (sans-IO) with seeded random and mutated frames:
 * valid frontend messages (startup, Query, Parse, Bind, Execute, Sync, COPY, FunctionCall) with
 * bits flipped, bytes inserted and deleted, lengths made huge, negative or off by a little, fed in
 * random chunks. The framer must agree with a plain reference framing, throw nothing but a
 * FrameError, and never allocate more than its limit; the relay must never throw, forward only
 * the client's own bytes in order, and record every command it forwards in the same step.
 * FUZZ_SEED=<n> reproduces a run; a failure names the case's seed (fuzzFramerCase(seed) alone
 * reproduces it). The long run is test/soak/fuzz.soak.ts.
 */

const BASE = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);
const FRAMER_CASES = 20_000;
const RELAY_CASES = 5_000;

describe(`fuzzing the PostgreSQL framer and relay (FUZZ_SEED=${BASE})`, () => {
  beforeAll(() => initClassifier());

  it(`framer: ${FRAMER_CASES} mutated and random streams, chunked at random`, () => {
    runCases('framer', BASE, FRAMER_CASES, fuzzFramerCase);
  });

  it(`relay (allowAll): ${RELAY_CASES} mutated client and server streams, interleaved`, () => {
    const outcomes = new Map<string, number>();
    let commands = 0;
    runCases('relay', BASE, RELAY_CASES, (seed) => {
      const r = fuzzRelayCase(seed);
      commands += r.commands;
      outcomes.set(r.fatal ?? 'none', (outcomes.get(r.fatal ?? 'none') ?? 0) + 1);
    });
    // the cases reach both ends: sessions that go on, refused ones, and recorded commands
    expect(outcomes.get('none'), JSON.stringify([...outcomes])).toBeGreaterThan(RELAY_CASES / 20);
    expect([...outcomes.keys()].filter((k) => k !== 'none').length).toBeGreaterThan(1);
    expect(commands, JSON.stringify([...outcomes])).toBeGreaterThan(RELAY_CASES / 4);
  });

  it('the checks bite: a framer that lets an oversized body through is caught', async () => {
    const { Framer } = await import('../../../src/protocols/postgres/framer.js');
    const orig = Framer.prototype.push;
    const proto = Framer.prototype as unknown as { push: (c: Buffer) => void; maxBody: number };
    proto.push = function (this: { maxBody: number }, c: Buffer) {
      const keep = this.maxBody;
      this.maxBody = Number.MAX_SAFE_INTEGER; // the bug: no limit
      try {
        orig.call(this as never, c);
      } finally {
        this.maxBody = keep;
      }
    };
    try {
      expect(() => runCases('framer', BASE, 2_000, fuzzFramerCase)).toThrow(/case seed \d+: .*(limit|allocated|error)/);
    } finally {
      Framer.prototype.push = orig;
    }
  });
});
