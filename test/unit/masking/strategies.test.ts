import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BUILTIN_DETECTORS, NO_MATCHES, maskKey, maskMatches, maskWhole, scan, type Detector, type Match } from '../../../src/masking/index.js';

/** The strategies' output formats, pseudonym stability and separation, and span replacement. */

const key = maskKey('a masking key of 32 bytes or so!');
const otherKey = maskKey(Buffer.from('another masking key, also long..'));

describe('maskKey', () => {
  it('is HMAC-SHA256 and exposes nothing but hmac()', () => {
    const k = maskKey('k');
    expect(k.hmac('x').equals(createHmac('sha256', 'k').update('x').digest())).toBe(true);
    expect(k.hmac('x').equals(maskKey(Buffer.from('k')).hmac('x'))).toBe(true);
    expect(Object.keys(k)).toEqual(['hmac']);
    expect(JSON.stringify(k)).toBe('{}');
  });

  it('does not depend on the caller keeping its buffer intact', () => {
    const secret = Buffer.from('mutable secret bytes');
    const k = maskKey(secret);
    const before = k.hmac('v');
    secret.fill(1);
    expect(k.hmac('v').equals(before)).toBe(true);
  });

  it('refuses an empty key', () => {
    expect(() => maskKey('')).toThrow(TypeError);
    expect(() => maskKey(Buffer.alloc(0))).toThrow(TypeError);
  });
});

describe('maskWhole', () => {
  it('redact gives ****, whatever the value', () => {
    for (const v of ['', 'a', '4111-1111-1111-1111', 'x'.repeat(1000)]) expect(maskWhole(v, 'redact', key, 'card')).toBe('****');
  });

  it.each([
    ['4111-1111-1111-1111', '****-****-****-1111'],
    ['4111 1111 1111 1111', '**** **** **** 1111'],
    ['4111111111111111', '************1111'],
    ['+1 (555) 123-4567', '+* (***) ***-4567'],
    ['jane.doe@example.com', '****.***@*******.com'],
    ['DE89 3704 0044 0532 0130 00', '**** **** **** **** ***0 00'],
    ['12345', '*2345'],
    ['Müller-Lüdenscheidt', '******-********eidt'],
    ['a😀b😀c😀d😀e', '*😀*😀*😀d😀e'], // the last 4 code points stay; a surrogate pair is never split
    ['abcd', '****'],
    ['ab', '****'],
    ['', '****'],
  ])('partial %j -> %j', (value, masked) => {
    expect(maskWhole(value, 'partial', key, 'x')).toBe(masked);
  });

  it('partial keeps the length of values longer than 4 characters', () => {
    for (const v of ['12345', '4111-1111-1111-1111', 'jane.doe@example.com']) expect(maskWhole(v, 'partial', key, 'x')).toHaveLength(v.length);
  });

  it('pseudonym is <label>_<12 hex>, or u_<10 hex>@pseudonym.invalid for an email', () => {
    expect(maskWhole('4111111111111111', 'pseudonym', key, 'card')).toMatch(/^card_[0-9a-f]{12}$/);
    expect(maskWhole('jane.doe@example.com', 'pseudonym', key, 'email')).toMatch(/^u_[0-9a-f]{10}@pseudonym\.invalid$/);
    expect(maskWhole('jane.doe@example.com', 'pseudonym', key, 'customers.email')).toMatch(/^u_[0-9a-f]{10}@pseudonym\.invalid$/);
    expect(maskWhole('not an email', 'pseudonym', key, 'note')).toMatch(/^note_[0-9a-f]{12}$/);
  });

  it('pseudonym is stable for the same value, label and key, and differs otherwise', () => {
    const p = (value: string, label: string, k = key): string => maskWhole(value, 'pseudonym', k, label);
    expect(p('4111111111111111', 'card')).toBe(p('4111111111111111', 'card'));
    expect(p('4111111111111111', 'card')).toBe(maskWhole('4111111111111111', 'pseudonym', maskKey('a masking key of 32 bytes or so!'), 'card'));
    expect(p('4111111111111111', 'card')).not.toBe(p('4111111111111112', 'card'));
    expect(p('jane@example.com', 'email')).not.toBe(p('jane@example.com', 'contact'));
    expect(p('jane@example.com', 'email')).not.toBe(p('jane@example.com', 'email', otherKey));
    // label and value are separated, so moving characters between them changes the token
    expect(p('bc', 'a').slice(2)).not.toBe(p('c', 'ab').slice(3));
  });

  it('pseudonyms of many distinct values are distinct', () => {
    const tokens = new Set(Array.from({ length: 5000 }, (_, i) => maskWhole(`value ${i}`, 'pseudonym', key, 'v')));
    expect(tokens.size).toBe(5000);
  });

  it('refuses an unknown strategy (a caller bypassing the types)', () => {
    expect(() => maskWhole('x', 'null' as unknown as 'redact', key, 'x')).toThrow(TypeError);
  });
});

describe('maskMatches', () => {
  const text = 'mail jane@example.com or call +1 555 123 4567, card 4111-1111-1111-1111.';
  const matches = scan(text, Object.values(BUILTIN_DETECTORS));

  it('replaces every span and leaves the rest as it was', () => {
    expect(matches.map((m) => m.detector)).toEqual(['email', 'phone', 'card']);
    expect(maskMatches(text, matches, 'redact', key)).toBe('mail **** or call ****, card ****.');
    expect(maskMatches(text, matches, 'partial', key)).toBe('mail ****@*******.com or call +* *** *** 4567, card ****-****-****-1111.');
  });

  it('labels each span with its detector name for pseudonyms', () => {
    const masked = maskMatches(text, matches, 'pseudonym', key);
    expect(masked).toMatch(/^mail u_[0-9a-f]{10}@pseudonym\.invalid or call phone_[0-9a-f]{12}, card card_[0-9a-f]{12}\.$/);
    expect(masked).toBe(maskMatches(text, matches, 'pseudonym', key));
  });

  it('handles spans at both ends and adjacent spans', () => {
    const spans: Match[] = [{ start: 0, end: 2, detector: 'a' }, { start: 2, end: 4, detector: 'b' }, { start: 6, end: 8, detector: 'c' }];
    expect(maskMatches('abcdefgh', spans, 'redact', key)).toBe('********ef****');
    expect(maskMatches('abc', [], 'redact', key)).toBe('abc');
  });

  it('refuses overlapping, unsorted, empty or out-of-range spans', () => {
    const bad: Match[][] = [
      [{ start: 0, end: 3, detector: 'a' }, { start: 2, end: 4, detector: 'b' }],
      [{ start: 4, end: 5, detector: 'a' }, { start: 0, end: 1, detector: 'b' }],
      [{ start: 1, end: 1, detector: 'a' }],
      [{ start: 0, end: 99, detector: 'a' }],
    ];
    for (const spans of bad) expect(() => maskMatches('abcdefgh', spans, 'redact', key)).toThrow(TypeError);
  });
});

describe('scan', () => {
  const fixed = (name: string, ...spans: Array<[number, number]>): Detector => ({
    name,
    find: () => spans.map(([start, end]) => ({ start, end, detector: name })),
  });

  it('returns the shared empty result when nothing matches', () => {
    expect(scan('nothing to see', Object.values(BUILTIN_DETECTORS))).toBe(NO_MATCHES);
    expect(scan('anything', [])).toBe(NO_MATCHES);
    expect(Object.isFrozen(NO_MATCHES)).toBe(true);
  });

  it('merges detectors, keeping the earliest-starting then the longest of overlapping matches', () => {
    const found = scan('x'.repeat(40), [fixed('a', [5, 10], [20, 25]), fixed('b', [0, 3], [5, 12], [22, 30]), fixed('c', [11, 15], [30, 31])]);
    expect(found.map((m) => [m.detector, m.start, m.end])).toEqual([['b', 0, 3], ['b', 5, 12], ['a', 20, 25], ['c', 30, 31]]);
  });

  it('does not hand out a detector\'s own array', () => {
    const spans = [{ start: 0, end: 1, detector: 'a' }];
    const found = scan('x', [{ name: 'a', find: () => spans }]);
    expect(found).toEqual(spans);
    expect(found).not.toBe(spans);
  });

  it('an IPv4-mapped IPv6 address is one match, not an IPv6 and an IPv4 one', () => {
    const text = 'from ::ffff:192.168.0.1 today';
    expect(scan(text, Object.values(BUILTIN_DETECTORS)).map((m) => [m.detector, text.slice(m.start, m.end)])).toEqual([['ipv6', '::ffff:192.168.0.1']]);
  });
});
