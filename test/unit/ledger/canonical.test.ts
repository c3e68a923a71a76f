import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, recordHash } from '../../../src/ledger/canonical.js';

describe('canonical JSON (the subset of RFC 8785 the ledger hashes)', () => {
  it('sorts keys by UTF-16 code units at every depth and prints no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
    // 'Z' < 'a' < 'é' (U+00E9) < '😀' (a surrogate pair, 0xD83D...) < 'ｚ' (U+FF5A) in UTF-16 code units
    expect(canonicalJson({ 'ｚ': 1, '😀': 2, 'é': 3, a: 4, Z: 5 })).toBe('{"Z":5,"a":4,"é":3,"😀":2,"ｚ":1}');
    expect(canonicalJson({})).toBe('{}');
    expect(canonicalJson([])).toBe('[]');
  });

  it('omits undefined members, writes undefined array items as null, escapes strings as JSON.stringify does', () => {
    expect(canonicalJson({ a: undefined, b: 2, c: undefined })).toBe('{"b":2}');
    expect(canonicalJson({ a: undefined })).toBe('{}');
    expect(canonicalJson([undefined, 1, undefined])).toBe('[null,1,null]');
    const s = 'quote " backslash \\ newline \n tab \t nul \u0000 lone \ud800';
    expect(canonicalJson({ [s]: s })).toBe(`{${JSON.stringify(s)}:${JSON.stringify(s)}}`);
  });

  it('refuses what two implementations could print differently', () => {
    expect(() => canonicalJson({ a: 1.5 })).toThrow(/safe integers/);
    expect(() => canonicalJson([2 ** 53])).toThrow(/safe integers/);
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/safe integers/);
    expect(() => canonicalJson({ a: 1n })).toThrow(/bigint/);
    expect(() => canonicalJson({ a: () => 1 })).toThrow(/function/);
  });

  it('the record hash is SHA-256 over the documented canonical form', () => {
    const f = { seq: 3, time: 1_796_596_591_000_001, sessionId: 's-1', payload: canonicalJson({ type: 'pg.query', text: 'SELECT 1' }), prevHash: 'ab'.repeat(32) };
    const text = canonicalJson({ event: JSON.parse(f.payload), prev: f.prevHash, seq: f.seq, session: f.sessionId, time: f.time });
    expect(recordHash(f)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
  });
});
