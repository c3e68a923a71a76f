import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GatehouseError } from '../../../src/core/errors.js';
import { MAX_CAST_LINE, readCast } from '../../../src/protocols/ssh/asciicast.js';
import { SftpTracker } from '../../../src/protocols/ssh/sftp-tracker.js';
import { runCases, runCasesAsync } from './fuzz-core.js';
import { castLineBound, fuzzCastCase, fuzzSftpCase, fuzzTypedCase } from './fuzz-ssh.js';

/**
 * Quick fuzzing of the SSH gateway's parsers (a few seconds each; the long run is
 * test/soak/fuzz-taps.soak.ts): the SFTP v3 tracker, the typed-command reader and the asciicast
 * reader, with seeded random and mutated input fed whole and in random chunks. FUZZ_SEED=<n>
 * reproduces a run; a failure names the case's seed.
 */

const BASE = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-fuzz-cast-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe(`fuzzing the SSH parsers (FUZZ_SEED=${BASE})`, () => {
  it('SFTP tracker: 20000 mutated sessions, whole and chunked: only SftpProtocolError, same ops, bounded', () => {
    const errors = new Map<string, number>();
    let ops = 0;
    runCases('sftp', BASE, 20_000, (seed) => {
      const r = fuzzSftpCase(seed);
      ops += r.ops;
      const k = r.error === null ? 'none' : r.error.replace(/\d+/g, 'N').slice(0, 40);
      errors.set(k, (errors.get(k) ?? 0) + 1);
    });
    // the cases reach both ends: sessions read through, and refusals of several kinds
    expect(errors.get('none'), JSON.stringify([...errors])).toBeGreaterThan(1_500);
    expect(errors.size, JSON.stringify([...errors])).toBeGreaterThan(5);
    expect(ops).toBeGreaterThan(5_000);
  });

  it('the SFTP checks bite: a tracker that drops the ops of a call that throws (issue 8) is caught', () => {
    type Feed = (c: Buffer) => unknown;
    const proto = SftpTracker.prototype as unknown as { fromClient: Feed; fromServer: Feed };
    const orig = { fromClient: proto.fromClient, fromServer: proto.fromServer };
    for (const k of ['fromClient', 'fromServer'] as const) {
      proto[k] = function (this: { out: unknown[] }, c: Buffer) {
        try {
          return orig[k].call(this, c);
        } catch (e) {
          this.out = []; // the bug: what the call made before the bad packet goes with the error
          throw e;
        }
      };
    }
    try {
      expect(() => runCases('sftp', BASE, 2_000, fuzzSftpCase)).toThrow(/the chunking changed what was reported/);
    } finally {
      Object.assign(proto, orig);
    }
  });

  it('the SFTP checks bite: a tracker that lets a packet over maxPacketBytes through is caught', () => {
    const proto = SftpTracker.prototype as unknown as { fromClient: (c: Buffer) => unknown };
    const orig = proto.fromClient;
    proto.fromClient = function (this: unknown, c: Buffer) {
      Buffer.allocUnsafe(1 << 20); // the bug: a whole big packet held
      return orig.call(this, c);
    };
    try {
      expect(() => runCases('sftp', BASE, 500, fuzzSftpCase)).toThrow(/allocated \d+ bytes/);
    } finally {
      proto.fromClient = orig;
    }
  });

  it('typed commands: 20000 keystroke/echo streams, whole and chunked: no throw, same lines, bounded', () => {
    let lines = 0;
    runCases('typed', BASE, 20_000, (seed) => {
      lines += fuzzTypedCase(seed);
    });
    expect(lines).toBeGreaterThan(5_000);
  });

  it('asciicast reader: 5000 files of random and mutated lines, streamed whole and chunked', async () => {
    let ok = 0;
    await runCasesAsync('asciicast', BASE, 5_000, async (seed) => {
      if (!(await fuzzCastCase(seed)).startsWith('error:')) ok++;
    });
    expect(ok).toBeGreaterThan(100);
    expect(ok).toBeLessThan(5_000);
  });

  it('asciicast reader on real files: 200 mutated files through readCast', async () => {
    const { prng, mutate } = await import('./fuzz-core.js');
    for (let i = 0; i < 200; i++) {
      const r = prng(BASE + i);
      const file = join(dir, `${i}.cast`);
      const text = ['{"version":2,"width":80,"height":24}', '[0.1,"o","hello"]', '[0.2,"r","80x24"]'].join('\n');
      writeFileSync(file, r.next() < 0.2 ? Buffer.from(text) : mutate(r, Buffer.from(text), []));
      await readCast(file).catch((e: unknown) => {
        expect(e, `case seed ${BASE + i}`).toBeInstanceOf(GatehouseError);
        expect((e as GatehouseError).code).toBe('GH_ERR_RECORDING_INVALID');
      });
    }
  });

  it(`asciicast reader: a line past ${MAX_CAST_LINE} bytes is refused before it is held whole`, async () => {
    const { error, heldMax } = await castLineBound();
    expect(error).toMatch(/big\.cast line 2: line longer than 16 MiB after \d+ bytes/);
    const sent = Number(/after (\d+) bytes/.exec(error)![1]);
    expect(sent).toBeLessThanOrEqual(MAX_CAST_LINE + 2 * 1024 * 1024);
    // the reader stopped taking input at the bound (above); the heap, coarse: the pending line is a JS
    // string (2 bytes a character at worst) plus the chunk, plus garbage of the concatenations not yet
    // collected (GC timing varies with load: 6x was exceeded by 2.5 % once in CI): less than the 64 MiB
    // offered would take as a string (128 MiB)
    expect(heldMax).toBeLessThan(8 * MAX_CAST_LINE);
  });
});
