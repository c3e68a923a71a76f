import { describe, expect, it } from 'vitest';
import { BUILTIN_DETECTORS, maskMatches, scan, type BuiltinName } from '../../../src/masking/index.js';
import { SessionMasker, newTally } from '../../../src/masking/session.js';
import { Spans, findEmails, findPhones, mergeInto } from '../../../src/masking/text-bytes.js';
import { rng } from '../../support/rng.js';

/**
 * text-bytes.ts walks the email and phone patterns on bytes: it must find exactly what the
 * detectors' find() finds on the same text. Checked over generated texts made of near misses of
 * every pattern (glued, cut, doubled, with the wrong digit counts) and noise, each placed inside a
 * larger buffer whose neighbouring bytes would change the answer if they were read.
 */

function texts(n: number, seed: number): string[] {
  const r = rng(seed);
  const int = (k: number): number => Math.floor(r() * k);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const digits = (k: number): string => Array.from({ length: k }, () => String(int(10))).join('');
  const word = (k: number, alphabet = 'abcdefghijklmnopqrstuvwxyzABCZ'): string => Array.from({ length: k }, () => alphabet[int(alphabet.length)]).join('');
  const sep = (): string => pick([' ', '.', '-', '', '  ', '(', ')', '_', '/']);
  const pieces: Array<() => string> = [
    // emails and near misses
    () => `${word(1 + int(8))}${pick(['', '.', '..', '_', '%', '+', '-'])}${word(int(4))}@${word(1 + int(6))}${pick(['.', '..', '-.', '.-'])}${word(int(5), 'comrgukdeio0123-')}`,
    () => `${pick(['', '.', '-', '+'])}${word(1 + int(70), 'ab.c')}@${pick(['ex', 'a-b', '-x', 'x-', '0'])}.${pick(['com', 'c', 'co1', 'org', 'x'.repeat(int(70)), 'co_'])}${pick(['', '.', '-', '_', '1', 'x', '.uk', '@b.io'])}`,
    () => `a@${Array.from({ length: 1 + int(4) }, () => word(1 + int(3)) + (r() < 0.1 ? '-' : '')).join('.')}${pick(['', '.', '.c', '.com.', '.c0m'])}`,
    () => `${word(2)}@${word(int(70), 'ab')}.com`,
    () => pick(['a@b@c.com', '@example.com', 'x@.com', 'x@example.', 'first.last@sub.example.co.uk', 'o\'reilly@example.com']),
    // international numbers and near misses
    () => `${pick(['', 'x', '+', '1', '.'])}+${pick([digits(1 + int(4)), `(${digits(1 + int(3))})${digits(int(3))}`, `(${digits(int(2))}`])}${Array.from({ length: int(5) }, () => `${pick([' ', '.', '-', '', ' (', '('])}${pick([digits(1 + int(4)), `${digits(int(3))})`])}`).join('')}`,
    // North American numbers, with and without parentheses and the leading 1
    () => `${pick(['', '1', '1-', '1.', '1 ', 'x', '0', '+1 '])}${pick(['(', ''])}${pick(['2', '9', '1', '0'])}${digits(2)}${pick([')', ') ', '', '-', '.'])}${digits(3)}${pick(['-', '.', ' ', ''])}${digits(int(6))}`,
    () => `${pick(['2', '5', '9', '1'])}${digits(2)}${pick(['-', '.'])}${digits(3)}${pick(['-', '.'])}${digits(4)}${pick(['', '-1', '.5', '1', 'x', ' 2'])}`,
    // UK numbers
    () => `0${pick(['1', '2', '3', '4', '7', '8', '9', '0'])}${digits(int(5))}${Array.from({ length: 1 + int(3) }, () => ` ${digits(int(8))}`).join('')}`,
    // well-formed numbers of every pattern, random digits
    () => pick([
      `+${1 + int(9)} ${digits(3)} ${digits(3)} ${digits(4)}`, `+${digits(2)} ${digits(2)} ${digits(4)} ${digits(4)}`, `+${digits(2)}(${digits(1)})${digits(2)}.${digits(4)}-${digits(4)}`,
      `(${2 + int(8)}${digits(2)}) ${digits(3)}-${digits(4)}`, `1 (${2 + int(8)}${digits(2)})${digits(3)}.${digits(4)}`, `1-${2 + int(8)}${digits(2)}-${digits(3)}-${digits(4)}`,
      `${2 + int(8)}${digits(2)}.${digits(3)}.${digits(4)}`, `0${pick(['20', '161', '1632', '7700'])} ${digits(3 + int(2))} ${digits(3 + int(2))}`,
    ]),
    // noise
    () => word(int(12), 'ab 01.-+()@_%,:x'),
    () => digits(1 + int(20)),
    () => `${digits(3)}-${digits(2)}-${digits(4)}`,
  ];
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const parts = Array.from({ length: 1 + int(4) }, () => pick(pieces)());
    out.push(parts.map((p, k) => (k === 0 ? p : sep() + p)).join(''));
  }
  return out;
}

const spansOf = (s: Spans): Array<[number, number]> => Array.from({ length: s.n / 2 }, (_, k) => [s.at[2 * k]!, s.at[2 * k + 1]!]);

describe('email and phone on ASCII bytes (text-bytes.ts)', () => {
  const { email, phone } = BUILTIN_DETECTORS;
  const r = rng(3);
  // neighbours that glue to what they touch: a digit, a letter, '@', '.', '+'
  const around = (): string => ['7', 'x', '@', '.', '+', '-', ' ', ''][Math.floor(r() * 8)]!;

  it('finds what the detectors find, over 30,000 generated texts placed inside larger buffers', () => {
    let emails = 0, phones = 0;
    const got = new Spans();
    const gotPhones = new Spans();
    const merged = new Spans();
    for (const text of texts(30_000, 17)) {
      const before = around() + around(), after = around() + around();
      const buf = Buffer.from(before + text + after, 'latin1');
      const start = before.length, end = start + text.length;
      const shift = (ms: Array<{ start: number; end: number }>): Array<[number, number]> => ms.map((m) => [m.start + start, m.end + start]);
      got.reset();
      findEmails(buf, start, end, got);
      const e = shift(email.find(text));
      expect(spansOf(got), `email in ${JSON.stringify(text)}`).toEqual(e);
      gotPhones.reset();
      findPhones(buf, start, end, gotPhones);
      const p = shift(phone.find(text));
      expect(spansOf(gotPhones), `phone in ${JSON.stringify(text)}`).toEqual(p);
      merged.reset();
      mergeInto([got, gotPhones], merged);
      expect(spansOf(merged), `both in ${JSON.stringify(text)}`).toEqual(shift(scan(text, [email, phone])));
      emails += e.length;
      phones += p.length;
    }
    // the generator reaches both detectors often
        expect(emails).toBeGreaterThan(8_000);
    expect(phones).toBeGreaterThan(4_000);
  });

  it('agrees at the bounds of every pattern (lengths, counts, runs of separators)', () => {
    const l = (n: number, c = 'a'): string => c.repeat(n);
    const edges = [
      `${l(64)}@example.com`, `${l(65)}@example.com`, `x@${l(63)}.com`, `x@${l(64)}.com`, `x@ex.${l(63)}`, `x@ex.${l(64)}`, `x@ex.${l(63)}.`, `x@ex.${l(64)}-`,
      `${l(60)}@${Array.from({ length: 3 }, () => l(60)).join('.')}.${l(10)}`, `${l(62)}@${Array.from({ length: 3 }, () => l(60)).join('.')}.${l(10)}`,
      `${l(64)}@${Array.from({ length: 4 }, () => l(44)).join('.')}.${l(8)}`, 'a.b@c.d.ee', 'a@b.c-d.ee', 'a@b.-c.ee', 'a@b.c.e', 'a@b.c.ee1', 'a@b.c.ee_', '.a@b.cc', 'a.@b.cc', 'a..b@c.dd',
      '+1 (234) (567) 8901', '+1 (234)(567) 8901', '+12 34 56 78', '+1234567', '+123456789012345', '+1234567890123456', '+1 234 567 890 123 456',
      '1 (234) 567-8901', '1 (234)  567-8901', '(234) 567-89012', '(123) 456-7890', '1-234-567-8901', '1.234.567.8901', '1-234.567.8901', '234-567-8901-2', '12.234-567-8901',
      '020 7946 0958', '020 794 6095', '0207 946 0958', '02079 460 958', '020 7946095 8', '0161 496 0000 1', '00 7946 0958', '0 20 7946 0958', '020  7946 0958',
      '7.020 7946 0958', '7-+1 415 555 0100', 'x+1 415 555 0100', '++1 415 555 0100', '1.555.555.5555.5', '415.555.0100 415-555-0100 (415) 555-0100 +1 415 555 0100',
    ];
    const got = new Spans();
    const gotPhones = new Spans();
    for (const text of edges) {
      const buf = Buffer.from(`9${text}9`, 'latin1');
      got.reset();
      gotPhones.reset();
      findEmails(buf, 1, 1 + text.length, got);
      findPhones(buf, 1, 1 + text.length, gotPhones);
      const merged = new Spans();
      mergeInto([got, gotPhones], merged);
      expect(spansOf(merged).map(([s, e]) => [s - 1, e - 1]), text).toEqual(scan(text, [email, phone]).map((m) => [m.start, m.end]));
    }
  });

  it('the session masker (all ten detectors, redact) gives what the string path gives, on 10,000 generated notes', () => {
    const principal = { subject: 's', groups: [], issuer: 'i', clientId: null, tokenId: 't', tokenSha256: 'h', ciJob: null, expiresAt: null };
    const names = Object.keys(BUILTIN_DETECTORS) as BuiltinName[];
    const masker = new SessionMasker({ config: { detectors: [], rules: [{ name: 'all', columns: [], detectors: names, exempt: [], strategy: 'redact' }] }, key: null }, principal, 'c');
    const plan = masker.planFor([{ name: 'note', tableOid: 0, column: 0, typeOid: 25, format: 0 }])!;
    const all = Object.values(BUILTIN_DETECTORS);
    let masked = 0;
    for (const text of texts(10_000, 29)) {
      const buf = Buffer.from(`x${text}@`, 'latin1');
      const got = masker.maskField(plan, 0, buf, 1, 1 + text.length, newTally());
      const m = scan(text, all);
      const expected = m.length === 0 ? undefined : maskMatches(text, m, 'redact', { hmac: () => Buffer.alloc(32) });
      expect(Buffer.isBuffer(got) ? got.toString('latin1') : got, text).toBe(expected);
      if (expected !== undefined) masked++;
    }
    expect(masked).toBeGreaterThan(4_000);
  });
});
