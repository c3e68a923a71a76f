/**
 * raw-inflate.ts (pako) against node:zlib: the same output for every stream zlib decodes (levels,
 * strategies, preset windows, sync-flushed streams, cut short), an error wherever zlib reports
 * one on mutated streams, the output bound kept (also against a 1 GiB bomb), and no memory kept by
 * failures (why node:zlib is not used: on Node 20 and 24 each inflateRawSync that fails leaks its
 * native zlib state).
 */
import { constants as zc, deflateRawSync, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { inflateRaw, InflateError, InflateLimitError } from '../../../src/protocols/kubernetes/raw-inflate.js';
import { SPDY3_DICTIONARY, SpdyTap } from '../../../src/protocols/kubernetes/spdy-tap.js';
import { prng, type Rng } from '../proof/fuzz-core.js';
import { Recorder } from './tap-support.js';

const WORDS = ['streamtype', 'stdin', 'stdout', 'port', '8080', 'content-type', 'x', ' ', 'HTTP/1.1', '\0', 'kubectl'];

function sample(r: Rng): Buffer {
  const n = r.int(4000);
  switch (r.int(3)) {
    case 0:
      return Buffer.from(Array.from({ length: n }, () => r.int(256)));
    case 1:
      return Buffer.alloc(n, r.int(256));
    default:
      return Buffer.from(Array.from({ length: 1 + r.int(300) }, () => r.pick(WORDS)).join(''));
  }
}

/** zlib's answer: the output, or its error message */
function zlibInflate(raw: Buffer, window: Buffer): Buffer | string {
  try {
    return inflateRawSync(raw, { ...(window.length > 0 ? { dictionary: window } : {}), finishFlush: zc.Z_SYNC_FLUSH });
  } catch (e) {
    return (e as Error).message;
  }
}

function ours(raw: Buffer, window: Buffer, max = 1 << 24): Buffer | string {
  try {
    return inflateRaw(raw, window, max).subarray(window.length);
  } catch (e) {
    if (!(e instanceof InflateError)) throw e;
    return e.message;
  }
}

/** equal outputs, or the same error message (toEqual on buffers is slow in a loop of thousands) */
const same = (a: Buffer | string, b: Buffer | string): boolean =>
  typeof a === 'string' || typeof b === 'string' ? a === b : a.equals(b);

function compressed(r: Rng): { raw: Buffer; window: Buffer; plain: Buffer } {
  const window = r.next() < 0.3 ? SPDY3_DICTIONARY : r.next() < 0.5 ? Buffer.alloc(0) : sample(r);
  const plain = sample(r);
  const raw = deflateRawSync(plain, {
    level: r.pick([0, 1, 6, 9]),
    strategy: r.pick([zc.Z_DEFAULT_STRATEGY, zc.Z_FIXED, zc.Z_HUFFMAN_ONLY, zc.Z_RLE, zc.Z_FILTERED]),
    ...(window.length > 0 ? { dictionary: window } : {}),
    // a SPDY header block: sync-flushed, not final; or a whole stream
    finishFlush: r.next() < 0.7 ? zc.Z_SYNC_FLUSH : zc.Z_FINISH,
  });
  return { raw, window, plain };
}

/**
 * A raw deflate bomb of 1 GiB: one fixed-Huffman block, a literal 0 then (length 258, distance 1)
 * repeated. From bit 11 on the bits repeat every 13 (8 for length code 285, 5 for distance code 0),
 * so the bytes repeat every 13 from byte 2 on: ~6.5 MiB of input, built in a few milliseconds.
 */
function bomb(outBytes: number): Buffer {
  const bits: number[] = [0, 1, 0]; // BFINAL 0, BTYPE 01 (fixed), LSB first
  const code = (c: number, n: number) => {
    for (let i = n - 1; i >= 0; i--) bits.push((c >> i) & 1); // Huffman codes go MSB first
  };
  code(0x30, 8); // literal 0
  while (bits.length < 16 + 8 * 13) {
    code(0xc5, 8); // length 258: symbol 285
    code(0, 5); // distance 1
  }
  const head = Buffer.alloc(2 + 13);
  for (let i = 0; i < head.length * 8; i++) head[i >> 3]! |= bits[i]! << (i & 7);
  const out = Buffer.alloc(2 + Math.ceil(outBytes / 258 / 8) * 13);
  head.copy(out, 0, 0, 2);
  for (let k = 2; k < out.length; k++) out[k] = head[2 + ((k - 2) % 13)]!;
  return out;
}

describe('raw-inflate against node:zlib', () => {
  it('decodes 3000 streams as zlib does (levels, strategies, windows, sync flush), also cut short', () => {
    const r = prng(8);
    for (let i = 0; i < 3000; i++) {
      const { raw, window, plain } = compressed(r);
      expect(same(ours(raw, window), plain), `case ${i}`).toBe(true);
      const cut = raw.subarray(0, r.int(raw.length + 1));
      expect(same(ours(cut, window), zlibInflate(cut, window)), `case ${i} cut at ${cut.length}`).toBe(true);
    }
  });

  it('on 3000 mutated streams: an error (with zlib\'s message) exactly where zlib has one, else the same output', () => {
    const r = prng(9);
    let errors = 0;
    for (let i = 0; i < 3000; i++) {
      const { raw, window } = compressed(r);
      const bad = Buffer.from(raw);
      for (let k = 0, n = 1 + r.int(4); k < n && bad.length > 0; k++) bad[r.int(bad.length)] = r.int(256);
      const want = zlibInflate(bad, window);
      if (typeof want === 'string') errors += 1;
      expect(same(ours(bad, window), want), `case ${i}`).toBe(true);
    }
    expect(errors).toBeGreaterThan(300);
  });

  it('the output bound: exactly maxOutput passes, one byte more is an InflateLimitError', () => {
    const plain = Buffer.alloc(100_000, 0x61);
    const raw = deflateRawSync(plain);
    expect(raw.length).toBeLessThan(200);
    expect(inflateRaw(raw, Buffer.alloc(0), 100_000).equals(plain)).toBe(true);
    expect(() => inflateRaw(raw, Buffer.alloc(0), 99_999)).toThrow(InflateLimitError);
    expect(() => inflateRaw(raw, SPDY3_DICTIONARY, 0)).toThrow(InflateLimitError);
  });

  it('a 1 GiB bomb is stopped at the bound, not inflated first (checked after each output chunk)', () => {
    const raw = bomb(2 ** 30);
    // the bomb is what it says: its first 16 KiB inflate (cut short, as a sync-flushed block) to ~2 MiB of zeros
    const head = zlibInflate(raw.subarray(0, 2 ** 14), Buffer.alloc(0)) as Buffer;
    expect(head.length).toBeGreaterThan(2 * 2 ** 20);
    expect(head.every((b) => b === 0)).toBe(true);
    const t0 = performance.now();
    expect(() => inflateRaw(raw, SPDY3_DICTIONARY, 65_536)).toThrow(InflateLimitError);
    // inflating the whole GiB takes seconds (and a GiB of memory); stopping at 64 KiB takes a millisecond
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('20000 malformed header blocks, each to a new SPDY tap: the memory stays flat (with node:zlib on Node 20: rss +200 MiB, on 24: +137 MiB; with pako a few MiB)', () => {
    // SYN_STREAM with a zlib header naming the SPDY dictionary, then a deflate block of type 3 (invalid)
    const block = Buffer.from([0x78, 0xbb, 0xe3, 0xc6, 0xa7, 0xc2, 0xff, 0xff, 0xff, 0xff]);
    const frame = Buffer.alloc(8 + 10 + block.length);
    frame.writeUInt16BE(0x8003, 0);
    frame.writeUInt16BE(1, 2);
    frame.writeUIntBE(10 + block.length, 5, 3);
    frame.writeUInt32BE(1, 8);
    block.copy(frame, 18);
    const tapOnce = (): string | undefined => {
      const rec = new Recorder();
      new SpdyTap(rec).push('client', frame);
      return rec.violations[0];
    };
    expect(tapOnce()).toMatch(/does not inflate: invalid block type/);
    // a warm-up round first: the garbage of a round (taps, errors, pako's reset tables) lifts rss to
    // a plateau once (by up to ~50 MiB on a loaded Node 24 without gc()); a leak grows every round
    for (let i = 0; i < 20_000; i++) tapOnce();
    globalThis.gc?.();
    const before = process.memoryUsage();
    for (let i = 0; i < 20_000; i++) tapOnce();
    globalThis.gc?.();
    const after = process.memoryUsage();
    const mib = (n: number) => n / 2 ** 20;
    // rss: native memory too (where zlib's leak was); heapUsed is loose where gc() is not exposed
    expect(mib(after.rss - before.rss)).toBeLessThan(40);
    expect(mib(after.heapUsed - before.heapUsed)).toBeLessThan(40);
  });
});
