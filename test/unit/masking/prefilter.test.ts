import { describe, expect, it } from 'vitest';
import { SessionMasker, newTally } from '../../../src/masking/session.js';
import { ASCII, DETECTOR_BIT, NOTHING, WHOLE, candidates, cardValue, ssnValue, wholeEmail, wholePhone } from '../../../src/masking/prefilter.js';
import { BUILTIN_DETECTORS, maskMatches, scan, type BuiltinName } from '../../../src/masking/index.js';
import { customDetector } from '../../../src/masking/detectors.js';
import { rng } from '../../support/rng.js';

/**
 * The byte prefilter and the byte path of the session masker are optimisations: they must never
 * change what is masked. Checked over generated values (positives of every detector, near misses,
 * non-ASCII text, values cut out of a longer buffer at any offset) against the detectors' own
 * find() on the decoded string.
 */

const NAMES = Object.keys(BUILTIN_DETECTORS) as BuiltinName[];
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

function values(n: number, seed: number): string[] {
  const r = rng(seed);
  const int = (k: number): number => Math.floor(r() * k);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const digits = (k: number): string => Array.from({ length: k }, () => String(int(10))).join('');
  const luhnComplete = (body: string): string => {
    for (let d = 0; d < 10; d++) {
      const s = body + d;
      let sum = 0;
      for (let i = 0; i < s.length; i++) {
        const x = Number(s[s.length - 1 - i]);
        sum += i % 2 === 1 ? (x > 4 ? 2 * x - 9 : 2 * x) : x;
      }
      if (sum % 10 === 0) return s;
    }
    return body + '0';
  };
  const group = (s: string, sizes: number[], sep: string): string => {
    const out: string[] = [];
    let p = 0;
    for (const k of sizes) {
      out.push(s.slice(p, p + k));
      p += k;
    }
    if (p < s.length) out.push(s.slice(p));
    return out.filter((x) => x !== '').join(sep);
  };
  const ibanOf = (country: string, bban: string): string => {
    const num = (bban + country + '00').replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
    let rem = 0;
    for (const ch of num) rem = (rem * 10 + Number(ch)) % 97;
    return `${country}${String(98 - rem).padStart(2, '0')}${bban}`;
  };
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const word = (): string => Array.from({ length: 1 + int(8) }, () => letters[int(letters.length)]).join('');
  const generators: Array<() => string> = [
    // positives, in several layouts
    () => `${word()}.${word()}${int(1000)}@${word()}.${pick(['com', 'de', 'co.uk', 'io'])}`,
    () => `jöhn.${word()}@exämple.${pick(['de', 'com'])}`,
    () => group(luhnComplete(pick(['4', '51', '37', '6011', '35']) + digits(pick([11, 12, 14, 15]))), pick([[4, 4, 4, 4], [4, 6, 5], [19]]), pick([' ', '-', ''])),
    () => { const s = pick(['-', ' ']); return `${100 + int(560)}${s}${10 + int(89)}${s}${1000 + int(8999)}`; },
    () => `+${1 + int(98)} ${digits(3)} ${digits(3)} ${digits(4)}`,
    () => `+44 (0)${digits(2)} ${digits(4)} ${digits(4)}`,
    () => `(${2 + int(8)}${digits(2)}) ${digits(3)}-${digits(4)}`,
    () => { const s = pick(['-', '.']); return `${pick(['', '1-'])}${2 + int(8)}${digits(2)}${s}${digits(3)}${s}${digits(4)}`; },
    () => `0${pick(['20', '121', '1632', '7700'])} ${digits(3)} ${digits(4)}`,
    () => `${int(256)}.${int(256)}.${int(256)}.${int(256)}`,
    () => pick(['2001:db8::1', 'fe80::1%eth0', '::1', '2001:0db8:85a3:0000:0000:8a2e:0370:7334', '::ffff:192.0.2.1', '1::2', 'a:b:c']),
    () => `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: digits(5) })}.${word()}${word()}`,
    () => `AKIA${Array.from({ length: 16 }, () => pick([...'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'])).join('')}`,
    () => `aws_secret_access_key = ${Array.from({ length: 40 }, () => pick([...'abcdefABCDEF0123456789/+'])).join('')}`,
    () => ['-----BEGIN ', pick(['RSA ', '', 'EC ']), 'PRIVATE KEY-----\nMIIB', word(), '\n-----END'].join(''),
    () => ibanOf(pick(['DE', 'GB', 'FR', 'NL']), pick(['370400440532013000', 'NWBK60161331926819', '20041010050500013M02606', 'ABNA0417164300'])),
    // near misses: dates, timestamps, versions, ids, amounts, separators in odd places
    () => `2026-${String(1 + int(12)).padStart(2, '0')}-${String(1 + int(28)).padStart(2, '0')} ${String(int(24)).padStart(2, '0')}:${String(int(60)).padStart(2, '0')}:${String(int(60)).padStart(2, '0')}`,
    () => `${int(10)}.${int(20)}.${int(100)}.${int(1000)}.${int(10)}`,
    () => digits(1 + int(22)),
    () => group(digits(8 + int(14)), [int(5) + 1, int(5) + 1, int(5) + 1, int(5) + 1], pick([' ', '-', '.', '  ', '/', ''])),
    () => `${word()} ${digits(3)}-${digits(2)}-${digits(3 + int(3))} ${word()}`,
    () => `v${int(10)}.${int(10)}.${int(10)}.${int(10)}`,
    () => `${word()}@${word()}`,
    () => `${word()}::${word()}`,
    () => `eyJ${word()}.${word()}`,
    () => `${word()}_${word()}-xox${word()}`,
    // non-ASCII: letters, digits of other scripts, symbols, emoji
    () => `Zürich ${digits(4)} € ${int(100)},${digits(2)} — ${word()}`,
    () => `٣٤٥٦٧٨٩٠١٢٣٤٥٦ ${word()} １２３４５６７８９０１２３`,
    () => `${word()} 𝟘𝟙𝟚 ${digits(3)} 😀 ${word()}@${word()}.中国`,
  ];
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const parts: string[] = [];
    const count = 1 + int(3);
    for (let k = 0; k < count; k++) parts.push(pick(generators)());
    out.push(parts.join(pick([' ', ', ', '\n', '', ' (', ') ', ': ', '=', '/', '-', '.'])));
  }
  return out;
}

const CORPUS = values(6000, 20261123);
const choose = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** bytes of text at a random offset inside a longer buffer whose other bytes are random, often digits */
function embedded(text: string, r: () => number): { buf: Buffer; start: number; end: number } {
  const bytes = Buffer.from(text, 'utf8');
  const noise = (k: number): Buffer => Buffer.from(Array.from({ length: k }, () => (r() < 0.5 ? 0x30 + Math.floor(r() * 10) : Math.floor(r() * 256))));
  const before = noise(Math.floor(r() * 8));
  const buf = Buffer.concat([before, bytes, noise(Math.floor(r() * 8))]);
  return { buf, start: before.length, end: before.length + bytes.length };
}

describe('the byte prefilter', () => {
  it('lets through every value a detector finds something in, ASCII or not, at any offset in a buffer', () => {
    const r = rng(7);
    const hits = Object.fromEntries(NAMES.map((n) => [n, 0]));
    const missed: string[] = [];
    for (const text of CORPUS) {
      const { buf, start, end } = embedded(text, r);
      const found = candidates(buf, start, end);
      for (const name of NAMES) {
        if (BUILTIN_DETECTORS[name].find(text).length === 0) continue;
        hits[name]!++;
        if ((found & DETECTOR_BIT[name]!) === 0) missed.push(`${name}: ${JSON.stringify(text)}`);
      }
      // the ASCII bit says latin1 and UTF-8 decode the same
      expect((found & ASCII) !== 0, text).toBe(/^[\x00-\x7f]*$/.test(text));
    }
    expect(missed).toEqual([]);
    // the corpus exercises every detector
    for (const name of NAMES) expect(hits[name], name).toBeGreaterThan(30);
  });

  it('lets through every value a detector finds something in, for whole values, near misses and values past 1024 bytes', () => {
    const r = rng(17);
    const long = Array.from({ length: 300 }, (_, i) => CORPUS.slice(i * 20, i * 20 + 20 + Math.floor(r() * 60)).join(choose(r, [' ', '\n', ', '])));
    const missed: string[] = [];
    for (const text of [...wholeValues(20000, 99), ...long]) {
      const { buf, start, end } = embedded(text, r);
      const found = candidates(buf, start, end);
      for (const name of NAMES) {
        if (BUILTIN_DETECTORS[name].find(text).length > 0 && (found & DETECTOR_BIT[name]!) === 0) missed.push(`${name}: ${JSON.stringify(text)}`);
      }
    }
    expect(long.filter((t) => Buffer.byteLength(t) >= 1024).length).toBeGreaterThan(100);
    expect(missed).toEqual([]);
  });

  it('turns most near misses away before any string is made', () => {
    const dates = ['2026-11-23 10:42', '2026-11-23T10:42:07.123Z', '23.11.2026 10:42', 'Item #123 blue', 'order 12345 shipped', '1.2.3', 'v10.4'];
    for (const v of dates) expect(candidates(Buffer.from(v), 0, Buffer.byteLength(v)) & ~ASCII, v).toBe(0);
  });
});

describe('the session masker\'s byte path', () => {
  const principal = { subject: 's', groups: [], issuer: 'i', clientId: null, tokenId: 't', tokenSha256: 'h', ciJob: null, expiresAt: null };
  const plan = (m: SessionMasker) => m.planFor([{ name: 'v', tableOid: 0, column: 0, typeOid: 25, format: 0 }])!;
  const all = Object.values(BUILTIN_DETECTORS);

  it('masks exactly what the detectors and maskMatches() give on the decoded string (redact, one rule)', () => {
    const masker = new SessionMasker({ config: { detectors: [], rules: [{ name: 'all', columns: [], detectors: NAMES, exempt: [], strategy: 'redact' }] }, key: null }, principal, 'c');
    const p = plan(masker);
    const r = rng(11);
    let masked = 0;
    for (const text of CORPUS) {
      const matches = scan(text, all);
      const expected = matches.length === 0 ? undefined : Buffer.from(maskMatches(text, matches, 'redact', { hmac: () => Buffer.alloc(32) }), 'utf8');
      const { buf, start, end } = embedded(text, r);
      const tally = newTally();
      const got = masker.maskField(p, 0, buf, start, end, tally);
      if (typeof got === 'function' || got === null) throw new Error(`unexpected ${String(got)} for ${text}`);
      expect(got?.toString('utf8'), text).toBe(expected?.toString('utf8'));
      expect(tally.rules.size, text).toBe(expected ? 1 : 0);
      if (expected) masked++;
    }
    expect(masked).toBeGreaterThan(CORPUS.length / 2);
  });

  it('does not scan bool, int2, int4 and oid columns with built-in detectors (none can match what they print), but does with a custom one', () => {
    const r = rng(5);
    const ints = ['-2147483648', '2147483647', '0', '-1', '4155550100', '1234567890', 't', 'f'];
    for (let i = 0; i < 20000; i++) ints.push(String(Math.floor(r() * 2 ** 32) - 2 ** 31));
    for (const v of ints) expect(scan(v, all), v).toEqual([]);
    const cols = [16, 21, 23, 26].map((typeOid) => ({ name: `c${typeOid}`, tableOid: 0, column: 0, typeOid, format: 0 }));
    const builtins = new SessionMasker({ config: { detectors: [], rules: [{ name: 'all', columns: [], detectors: NAMES, exempt: [], strategy: 'redact' }] }, key: null }, principal, 'c');
    expect(builtins.planFor(cols)).toBeNull();
    // int8 and numeric hold card numbers: still scanned
    expect(builtins.planFor([{ name: 'n', tableOid: 0, column: 0, typeOid: 20, format: 0 }])).not.toBeNull();
    const custom = new SessionMasker({ config: { detectors: [{ name: 'zip', pattern: '\\b\\d{5}\\b' }], rules: [{ name: 'z', columns: [], detectors: ['zip'], exempt: [], strategy: 'redact' }] }, key: null }, principal, 'c');
    const p = custom.planFor(cols)!;
    const v = Buffer.from('12345');
    // a non-text type cannot hold '****': the value becomes NULL
    expect(custom.maskField(p, 2, v, 0, v.length, newTally())).toBeNull();
  });

  it('agrees with the string path of a session with two rules (where the byte path is not taken)', () => {
    // the second rule can find nothing the first left (a later rule scans the text the earlier ones masked)
    const one = new SessionMasker({ config: { detectors: [], rules: [{ name: 'all', columns: [], detectors: NAMES, exempt: [], strategy: 'redact' }] }, key: null }, principal, 'c');
    const two = new SessionMasker({ config: { detectors: [], rules: [
      { name: 'all', columns: [], detectors: NAMES, exempt: [], strategy: 'redact' },
      { name: 'other', columns: [], detectors: ['private_key'], exempt: [], strategy: 'redact' },
    ] }, key: null }, principal, 'c');
    const p1 = plan(one), p2 = plan(two);
    for (const text of CORPUS) {
      const bytes = Buffer.from(text);
      const a = one.maskField(p1, 0, bytes, 0, bytes.length, newTally());
      const b = two.maskField(p2, 0, bytes, 0, bytes.length, newTally());
      expect(Buffer.isBuffer(a) ? a.toString() : a, text).toEqual(Buffer.isBuffer(b) ? b.toString() : b);
    }
  });

  it('takes a value for one whole email address only when the email detector finds exactly that', () => {
    const r = rng(5);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const parts = ['a', 'jane', 'Doe', '9', '_', '%', '+', '-', '.', '..', '@', 'example', 'co', 'uk', 'x-y', '-x', 'x-', 'c0m', 'é', ' ', 'COM', 'a'.repeat(61), 'b'.repeat(63), 'c'.repeat(64)];
    const email = BUILTIN_DETECTORS.email;
    let whole = 0;
    for (let n = 0; n < 20000; n++) {
      const text = Array.from({ length: 1 + Math.floor(r() * 7) }, () => pick(parts)).join('')
        + pick(['', '@example.com', '.com', '@a.b.cd', `@${'d'.repeat(60)}.org`, '@x.c0m', '.co1', '@x.9z', '@x-.com', '@-x.com', '@x.com-', '@x.c', `.${'e'.repeat(64)}`]);
      const bytes = Buffer.from(text);
      const m = email.find(text);
      const exact = m.length === 1 && m[0]!.start === 0 && m[0]!.end === text.length;
      // the fast test may say no to a whole address (the detector then decides), never yes to anything else
      if (wholeEmail(bytes, 0, bytes.length)) {
        expect(exact, text).toBe(true);
        whole++;
      } else if (exact && /^[\x00-\x7f]*$/.test(text) && text.length <= 254) {
        throw new Error(`a plain whole address the fast test missed: ${text}`);
      }
    }
    expect(whole).toBeGreaterThan(500);
  });
});

/**
 * Whole values of the shapes the byte recognisers of cards, SSNs and phone numbers read, and their
 * near misses: Luhn-failing and wrong-scheme cards, odd group layouts and separators, SSNs with a
 * never-issued area (000, 666, 9xx), group or serial, phone-like dates, versions and ids.
 */
function wholeValues(n: number, seed: number): string[] {
  const r = rng(seed);
  const int = (k: number): number => Math.floor(r() * k);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const digits = (k: number): string => Array.from({ length: k }, () => String(int(10))).join('');
  const luhn = (body: string): string => {
    for (let d = 0; d < 10; d++) {
      const s = body + d;
      let sum = 0;
      for (let i = 0; i < s.length; i++) {
        const x = Number(s[s.length - 1 - i]);
        sum += i % 2 === 1 ? (x > 4 ? 2 * x - 9 : 2 * x) : x;
      }
      if (sum % 10 === 0) return s;
    }
    return body;
  };
  const layout = (s: string, sep: () => string): string => {
    const sizes = pick([[4, 4, 4, 4], [4, 6, 5], [4, 4, 4, 1], [4, 4, 4, 4, 3], [4, 4, 4, 4, 4], [3, 4, 4, 5], [4, 5, 5, 5], [4, 7, 5], [s.length], [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]]);
    const out: string[] = [];
    let p = 0;
    for (const k of sizes) {
      if (p >= s.length) break;
      out.push(s.slice(p, p + k));
      p += k;
    }
    if (p < s.length) out.push(s.slice(p));
    return out.reduce((a, g) => `${a}${sep()}${g}`);
  };
  const oneSep = (): string => pick([' ', '-']);
  const oddSep = (): string => pick([' ', '-', ' ', '-', '  ', '--', '.', ' -', '/', '']);
  const area = (): string => pick(['000', '666', `9${digits(2)}`, `${1 + int(8)}${digits(2)}`, `${1 + int(8)}${digits(2)}`, '001', '665', '667', '899']);
  const generators: Array<() => string> = [
    // cards: valid, Luhn-failing, wrong scheme, wrong length, in printed layouts or not
    () => layout(luhn(pick(['4', '4539', '51', '55', '2221', '2720', '37', '34', '6011', '65', '644', '3528', '3589', '300', '36', '38', '62']) + digits(pick([9, 10, 11, 12, 13, 14, 15, 16, 17]))), oneSep),
    () => layout(luhn(pick(['4', '51', '37', '6011']) + digits(pick([11, 12, 14]))), oddSep),
    () => layout(digits(12 + int(9)), oneSep),
    () => `4539-1488-0343-${digits(4)}`,
    () => `${luhn(`4${digits(14)}`)} ${pick(['2024', '12', '123456', '1234567'])}`,
    () => `${pick(['', ' ', '-'])}${layout(luhn(`4${digits(14)}`), oneSep)}${pick(['', ' ', '-', '.', '0', 'x'])}`,
    () => `${pick(['1', '12', '123'])} ${layout(luhn(`5${pick(['1', '5'])}${digits(13)}`), oneSep)}`,
    // SSNs: issued and not
    () => { const s = pick(['-', ' ']); return `${area()}${s}${pick(['00', digits(2), digits(2)])}${s}${pick(['0000', digits(4), digits(4)])}`; },
    () => `${area()}${pick(['-', ' '])}${digits(2)}${pick(['-', ' ', '.', '/'])}${digits(4)}`,
    () => `${pick(['', '0', ' ', '-'])}${area()}-${digits(2)}-${digits(4)}${pick(['', '0', ' ', '-', '-1'])}`,
    () => `${digits(3)}-${digits(pick([1, 2, 3]))}-${digits(pick([3, 4, 5]))}`,
    // phones: E.164, NANP with and without parentheses, UK national, and look-alikes
    () => `+${digits(1 + int(3))}${Array.from({ length: int(5) }, () => `${pick([' ', '.', '-', '', '  ', '/'])}${digits(1 + int(4))}`).join('')}`,
    () => `+1 415 555 ${digits(4)}`,
    () => `+${pick(['(', '', '+'])}${digits(2)}${pick([')', ''])} ${digits(3)} ${digits(4)}`,
    () => { const s = pick(['-', '.', '-', '.', ' ', '/']); return `${pick(['', '', '1-', '1.', '1 ', '2-', '11-'])}${pick(['', '1', '0', String(2 + int(8))])}${digits(2)}${s}${digits(3)}${pick([s, s, s, '-', '.'])}${digits(pick([3, 4, 4, 5]))}`; },
    () => `${pick(['', '', '1', '1 ', '1.', '1-', '1  ', '2 '])}(${pick(['', String(int(10)), String(2 + int(8))])}${digits(2)}${pick([')', ') ', ')  ', ')-'])}${digits(3)}${pick([' ', '.', '-', '', '/'])}${digits(pick([3, 4, 4, 5]))}`,
    () => `0${pick(['1', '2', '3', '7', '8', '9', '4', '5', '6', '0'])}${digits(1 + int(4))}${Array.from({ length: int(4) }, () => `${pick([' ', ' ', ' ', '  ', '-'])}${digits(2 + int(6))}`).join('')}`,
    () => `0${pick(['20', '121', '1632', '7700'])} ${digits(3)} ${digits(4)}`,
    // dates, times, versions, amounts, ids: shapes close to the above
    () => `${2000 + int(40)}${pick(['-', '.', '/'])}${String(1 + int(12)).padStart(2, '0')}${pick(['-', '.', '/'])}${String(1 + int(28)).padStart(2, '0')}${pick(['', ` ${digits(2)}:${digits(2)}`, `-${digits(4)}`])}`,
    () => `${digits(3)}.${digits(3)}.${digits(3)}.${digits(3)}`,
    () => digits(8 + int(12)),
  ];
  return Array.from({ length: n }, () => pick(generators)());
}

describe('the byte recognisers of whole card numbers, SSNs and phone numbers', () => {
  const WHOLE_VALUES = wholeValues(40000, 20261124);
  const exactly = (m: readonly { start: number; end: number }[], text: string): boolean => m.length === 1 && m[0]!.start === 0 && m[0]!.end === text.length;

  it('answer what the card, SSN and phone detectors find, at any offset in a buffer', () => {
    const r = rng(3);
    const seen = { card: [0, 0, 0], ssn: [0, 0, 0], phone: [0, 0] };
    for (const text of WHOLE_VALUES) {
      const { buf, start, end } = embedded(text, r);
      const card = BUILTIN_DETECTORS.card.find(text);
      const c = cardValue(buf, start, end);
      if (c === WHOLE) expect(exactly(card, text), `card ${text}`).toBe(true);
      if (c === NOTHING) expect(card, `card ${text}`).toEqual([]);
      seen.card[c + 1]!++;
      const ssn = BUILTIN_DETECTORS.ssn.find(text);
      const s = ssnValue(buf, start, end);
      if (s === WHOLE) expect(exactly(ssn, text), `ssn ${text}`).toBe(true);
      if (s === NOTHING) expect(ssn, `ssn ${text}`).toEqual([]);
      seen.ssn[s + 1]!++;
      const phone = BUILTIN_DETECTORS.phone.find(text);
      const p = wholePhone(buf, start, end);
      if (p) expect(exactly(phone, text), `phone ${text}`).toBe(true);
      seen.phone[p ? 1 : 0]!++;
      // the recognisers miss no value of their own shape that their detector finds whole
      if (exactly(card, text) && /^\d+(?:[ -]\d+)*$/.test(text)) expect(c, `card ${text}`).toBe(WHOLE);
      if (exactly(ssn, text)) expect(s, `ssn ${text}`).toBe(WHOLE);
      if (exactly(phone, text) && /^(?:\+\d+(?:[ .-]\d+)*|(?:1[.-])?\d{3}([.-])\d{3}\1\d{4}|(?:1[ .-]?)?\(\d{3}\) ?\d{3}[ .-]\d{4}|0\d{2,4}(?: \d{3,6}){1,2})$/.test(text)) expect(p, `phone ${text}`).toBe(true);
    }
    // every answer is exercised: [unknown, nothing, whole]
    for (const k of [0, 1, 2]) expect(seen.card[k], `card ${k}`).toBeGreaterThan(500);
    for (const k of [0, 1, 2]) expect(seen.ssn[k], `ssn ${k}`).toBeGreaterThan(500);
    expect(seen.phone[1]).toBeGreaterThan(2000);
  });

  it('leave the session masker\'s answer exactly that of the string path, for every group of detectors', () => {
    const principal = { subject: 's', groups: [], issuer: 'i', clientId: null, tokenId: 't', tokenSha256: 'h', ciJob: null, expiresAt: null };
    const custom = { name: 'tail', pattern: '9999$' };
    const groups: Array<{ detectors: string[]; custom?: boolean }> = [
      { detectors: NAMES }, { detectors: ['card'] }, { detectors: ['ssn'] }, { detectors: ['phone'] }, { detectors: ['card', 'ssn', 'phone'] },
      { detectors: ['card', 'tail'], custom: true }, { detectors: ['ssn', 'tail'], custom: true }, { detectors: ['email', 'ipv4', 'phone'] },
    ];
    const r = rng(13);
    // whole values, and the same in a sentence (where the byte recognisers must not answer)
    const texts = WHOLE_VALUES.slice(0, 8000).flatMap((t, i) => (i % 4 === 0 ? [t, `call ${t} now`] : [t]));
    for (const g of groups) {
      const masker = new SessionMasker({ config: { detectors: g.custom ? [custom] : [], rules: [{ name: 'g', columns: [], detectors: g.detectors, exempt: [], strategy: 'redact' }] }, key: null }, principal, 'c');
      const p = masker.planFor([{ name: 'v', tableOid: 0, column: 0, typeOid: 25, format: 0 }])!;
      const json = masker.planFor([{ name: 'j', tableOid: 0, column: 0, typeOid: 3802, format: 0 }])!;
      const detectors = g.detectors.map((d) => (d === 'tail' ? customDetector('tail', custom.pattern, 'u') : BUILTIN_DETECTORS[d as BuiltinName]));
      let masked = 0;
      for (const text of texts) {
        const matches = scan(text, detectors);
        const expected = matches.length === 0 ? undefined : maskMatches(text, matches, 'redact', { hmac: () => Buffer.alloc(32) });
        const { buf, start, end } = embedded(text, r);
        const tally = newTally();
        const got = masker.maskField(p, 0, buf, start, end, tally);
        if (typeof got === 'function' || got === null) throw new Error(`unexpected ${String(got)} for ${text}`);
        expect(got?.toString('utf8'), `${g.detectors.join()}: ${text}`).toBe(expected);
        expect(tally.rules.size, text).toBe(expected === undefined ? 0 : 1);
        expect(tally.columns.get('v') ?? 0, text).toBe(expected === undefined ? 0 : 1);
        // a JSON value is not rewritten: masked means NULL
        expect(masker.maskField(json, 0, buf, start, end, newTally()), text).toBe(expected === undefined ? undefined : null);
        if (expected !== undefined) masked++;
      }
      expect(masked, g.detectors.join()).toBeGreaterThan(texts.length / 50);
    }
  });
});
