import { describe, expect, it } from 'vitest';
import { decodeDataRow, rewriteDataRow } from '../../../src/protocols/postgres/backend.js';
import { MessageWriter } from '../../../src/protocols/postgres/wire.js';
import { rng } from '../../support/rng.js';

/**
 * rewriteDataRow() is the masking path of every row: checked over generated rows (NULLs, empty,
 * short and long values) and rewrites (kept, NULL, shorter, longer, in place, some columns only)
 * against a row built by MessageWriter from the decoded values.
 */

const row = (values: Array<Buffer | null>): Buffer => {
  const w = new MessageWriter().int16(values.length);
  for (const v of values) {
    if (v === null) w.int32(-1);
    else w.int32(v.length).raw(v);
  }
  return w.finish('D');
};

describe('rewriteDataRow', () => {
  it('gives the row of the rewritten values, for any mix of kept, NULL, resized and in-place values', () => {
    const r = rng(42);
    const int = (k: number): number => Math.floor(r() * k);
    const bytes = (k: number): Buffer => {
      const b = Buffer.allocUnsafe(k);
      const seed = int(256);
      for (let i = 0; i < k; i++) b[i] = (seed + i * 31 + (i >> 3)) & 0xff;
      return b;
    };
    const star = (out: Buffer, start: number, end: number): void => {
      out.fill(0x2a, start, end);
    };
    let rewritten = 0;
    for (let n = 0; n < 3000; n++) {
      const values = Array.from({ length: int(12) }, () => (r() < 0.15 ? null : bytes(pick(int, [0, 1, 4, 11, 39, 40, 41, 300, 70000]))));
      const body = row(values).subarray(5);
      // the body inside a larger buffer, at an offset (as it is in a chunk)
      const inChunk = Buffer.concat([bytes(int(9)), body, bytes(int(9))]);
      const at = inChunk.indexOf(body);
      const view = inChunk.subarray(at, at + body.length);
      const plan = values.map(() => int(6));
      const only = r() < 0.3 ? values.map(() => r() < 0.5) : undefined;
      const expected = values.map((v, i) => {
        if (v === null || (only && !only[i])) return v;
        switch (plan[i]) {
          case 1: return null;
          case 2: return Buffer.from('****');
          case 3: return bytes(int(60));
          case 4: return Buffer.alloc(v.length, 0x2a);
          default: return v;
        }
      });
      const replacements = expected.map((e, i) => (plan[i] === 4 ? star : e));
      const out = rewriteDataRow(view, (i, b, start, end) => {
        expect(b.subarray(start, end).equals(values[i]!)).toBe(true);
        expect(only === undefined || only[i]).toBe(true);
        return plan[i] === 0 || plan[i] === 5 ? undefined : replacements[i];
      }, only);
      const changed = values.some((v, i) => v !== null && (!only || only[i]) && plan[i]! >= 1 && plan[i]! <= 4);
      if (!changed) {
        expect(out).toBeNull();
        continue;
      }
      rewritten++;
      expect(out!.equals(row(expected)), `row ${n}`).toBe(true);
      expect(decodeDataRow(out!.subarray(5)).map((v) => v?.toString('hex') ?? null)).toEqual(expected.map((v) => v?.toString('hex') ?? null));
    }
    expect(rewritten).toBeGreaterThan(1500);
  });
});

function pick<T>(int: (k: number) => number, xs: readonly T[]): T {
  return xs[int(xs.length)]!;
}
