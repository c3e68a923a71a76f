import { describe, expect, it } from 'vitest';
import { SessionMasker, newTally } from '../../../src/masking/session.js';
import { BUILTIN_DETECTORS, NO_MATCHES, customDetector, scan, type BuiltinName, type Detector } from '../../../src/masking/index.js';

/** Each built-in on positives (alone and inside text) and on the near misses that must stay untouched. */

const ALL: readonly Detector[] = Object.values(BUILTIN_DETECTORS);

/** Every positive of every table, for the check of the gateway's byte prefilter below. */
const POSITIVES: Array<readonly [BuiltinName, string]> = [];

/** The substrings a detector marks. */
const spans = (d: Detector, text: string): string[] => d.find(text).map((m) => text.slice(m.start, m.end));

/** Positives are found exactly, alone and embedded in text; negatives (alone and embedded) find nothing. */
function table(name: BuiltinName, positives: readonly string[], negatives: readonly string[]): void {
  const d = BUILTIN_DETECTORS[name];
  POSITIVES.push(...positives.map((v) => [name, v] as const));
  it.each(positives)(`finds %j`, (value) => {
    expect(spans(d, value)).toEqual([value]);
    expect(spans(d, `contact: ${value}, thanks`)).toEqual([value]);
    expect(spans(d, `(${value})\n`)).toEqual([value]);
  });
  it.each(negatives)(`ignores %j`, (value) => {
    expect(d.find(value)).toBe(NO_MATCHES);
    expect(d.find(`ref ${value} ok`)).toBe(NO_MATCHES);
  });
}

// Token-shaped fixtures are assembled from parts so that secret scanners do not flag this file.
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const JWT_HS256 = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: '1234567890', name: 'John Doe' })}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;
const JWT_NONE = `${b64({ alg: 'none' })}.${b64({ sub: 'x' })}.`;
const JWE = `${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji.XFBoMYUZodetZdvTiFvSkQ`;
const GITHUB = `gh${'p'}_${'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A'}`;
const GITHUB_PAT = `github${'_pat_'}11ABCDEFG0aB3dE5fG7hJ9_${'kL1mN3pQ5rS7tU9vW1xY3z5A'.repeat(3).slice(0, 59)}`;
const SLACK = `xo${'xb'}-2400000000-2400000000000-AbCdEfGhIjKlMnOpQrStUvWx`;
const GOOGLE = `AI${'za'}SyA1234567890abcdefghijklmnopqrstuv`;
const PEM_RSA = ['-----BEGIN RSA PRIVATE ', 'KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END RSA PRIVATE ', 'KEY-----'].join('');
const PEM_PKCS8 = ['-----BEGIN PRIVATE ', 'KEY-----\nMC4CAQAwBQYDK2VwBCIEIDk3\n-----END PRIVATE ', 'KEY-----'].join('');
const PEM_OPENSSH = ['-----BEGIN OPENSSH PRIVATE ', 'KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE ', 'KEY-----'].join('');

describe('email', () => {
  table('email',
    ['jane.doe@example.com', 'Jane+tag@sub.example.co.uk', 'o_neil-99@mail.example.org', 'josé@müller.de', 'x%y@a-b.io'],
    ['user@localhost', 'a@1.2.3.4', 'lodash@4.17.21', '@example.com', 'jane@', 'jane@.com', 'jane@example.c', 'jane..@example', 'no at sign here']);

  it('stops at a full stop and keeps a prefix like key= out of the match', () => {
    expect(spans(BUILTIN_DETECTORS.email, 'mail jane@example.com.')).toEqual(['jane@example.com']);
    expect(spans(BUILTIN_DETECTORS.email, 'email=jane@example.com&x=1')).toEqual(['jane@example.com']);
    expect(spans(BUILTIN_DETECTORS.email, 'a@example.com;b@example.org')).toEqual(['a@example.com', 'b@example.org']);
  });
});

describe('card', () => {
  table('card',
    [
      '4111111111111111', '4111 1111 1111 1111', '4111-1111-1111-1111', '4012888888881881', '4222222222222', // Visa
      '5555555555554444', '5105 1051 0510 5100', '2221000000000009', // Mastercard
      '378282246310005', '3782 822463 10005', '371449635398431', // Amex
      '6011111111111117', '6011000990139424', // Discover
      '3530111333300000', '3566002020360505', // JCB
      '30569309025904', '38520000023237', // Diners
      '6200000000000005', // UnionPay
    ],
    [
      '4111111111111112', // fails Luhn
      '1234567812345670', // passes Luhn, no issuer prefix
      '9999999999999995', // idem
      '5555555555554445', // Mastercard prefix, fails Luhn
      '411111111111111', // Visa prefix, but 15 digits is not a Visa length
      '41111111111111111111', // longer digit run
      '1234-5678-9012-3456-7890', // a dash-joined 20-digit order number
      '4111 11 11 1111 1111', // not a printed card layout
      'x4111111111111111', '4111111111111111abc', '3.4111111111111111', '4111111111111111.50',
      '1234567890', '2026-11-23', 'ORD-2026-00012345',
    ]);

  it('finds a card next to other numbers separated by spaces, but not inside a longer run', () => {
    expect(spans(BUILTIN_DETECTORS.card, 'card 4111 1111 1111 1111 2024 exp')).toEqual(['4111 1111 1111 1111']);
    expect(spans(BUILTIN_DETECTORS.card, 'cards 4111111111111111 5555555555554444')).toEqual(['4111111111111111', '5555555555554444']);
    expect(spans(BUILTIN_DETECTORS.card, '14111111111111111')).toEqual([]);
  });
});

describe('iban', () => {
  table('iban',
    [
      'DE89370400440532013000', 'DE89 3704 0044 0532 0130 00', 'GB82WEST12345698765432', 'GB82 WEST 1234 5698 7654 32',
      'FR1420041010050500013M02606', 'NL91ABNA0417164300', 'BE68539007547034', 'CH9300762011623852957',
      'NO9386011117947', 'IT60X0542811101000000123456', 'ES9121000418450200051332',
    ],
    [
      'DE88370400440532013000', // wrong check digits
      'DE89370400440532013001', // BBAN altered
      'DE8937040044053201300', // too short for DE
      'DE893704004405320130001', // too long for DE
      'XX89370400440532013000', // unknown country
      'de89370400440532013000', // lower case
      'DE89 3704 0044 0532 013000', // broken grouping
      'ADE89370400440532013000',
    ]);
});

describe('ssn', () => {
  table('ssn',
    ['123-45-6789', '123 45 6789', '078-05-1121', '899-99-9999'],
    [
      '000-12-3456', '666-12-3456', '900-12-3456', '987-65-4321', '123-00-6789', '123-45-0000',
      '123-45 6789', // mixed separators
      '123-45-67890', '1123-45-6789', '1-123-45-6789', '123-45-6789-1', 'A123-45-6789', '123456789',
    ]);
});

describe('phone', () => {
  table('phone',
    [
      '+1 555 123 4567', '+1 (555) 123-4567', '+44 20 7946 0958', '+44 (0)20 7946 0958', '+4915123456789',
      '+33 1.23.45.67.89', '(555) 123-4567', '(555)123-4567', '555-123-4567', '555.123.4567', '1-555-123-4567',
      '020 7946 0958', '0161 496 0000', '07700 900123',
    ],
    [
      '2026-11-23', '2026-11-23 12:30:45', '23.11.2026', '12:30:45', '2026-11-23T12:30:45.123Z',
      '5551234567', // bare 10 digits: deliberately not a phone (ids, amounts)
      '+12345', // too short for E.164
      '+1234567890123456', // too long for E.164
      '123-456-7890', // NANP area codes never start with 1
      '555-123.4567', // mixed separators
      '555-123-45678', '2026-555-123-4567', 'v555.123.4567',
      '1.2.3.4', '192.168.100.200', 'v1.2.3', '10.0.0.1.2',
      '020 7946 0958 1234', // part of a longer spaced number
    ]);
});

describe('ipv4', () => {
  table('ipv4',
    ['10.0.0.1', '192.168.1.1', '255.255.255.255', '0.0.0.0', '1.2.3.4'],
    ['1.2.3.4.5', '10.0.0.1.2', 'v1.2.3.4', '999.1.1.1', '1.2.3.256', '01.02.03.04', '1.2.3', '1.2.3.4567', 'a1.2.3.4']);

  it('finds an address before a port or a full stop', () => {
    expect(spans(BUILTIN_DETECTORS.ipv4, 'host 10.0.0.1:5432.')).toEqual(['10.0.0.1']);
    expect(spans(BUILTIN_DETECTORS.ipv4, 'from 10.0.0.1.')).toEqual(['10.0.0.1']);
    expect(spans(BUILTIN_DETECTORS.ipv4, 'net 10.0.0.0/8')).toEqual(['10.0.0.0']);
  });
});

describe('ipv6', () => {
  table('ipv6',
    ['::1', 'fe80::1', '2001:db8::8a2e:370:7334', '2001:0db8:85a3:0000:0000:8a2e:0370:7334', '::ffff:192.168.0.1', 'FE80::ABCD'],
    ['12:30:45', '00:1a:2b:3c:4d:5e', 'a[1::2]', 'std::vector', '::', '1:2:3:4:5:6:7:8:9', '2001:db8:::1', 'gggg::1', 'fe80::1::2']);

  it('finds bracketed and zoned addresses', () => {
    expect(spans(BUILTIN_DETECTORS.ipv6, 'http://[::1]:5432/')).toEqual(['::1']);
    expect(spans(BUILTIN_DETECTORS.ipv6, 'via fe80::1%eth0')).toEqual(['fe80::1']);
  });
});

describe('jwt', () => {
  table('jwt',
    [JWT_HS256, JWT_NONE, JWE],
    [
      `${b64({ foo: 'bar' })}.${b64({ sub: '1' })}.abc`, // JSON header without alg
      'dGhpcyBpcyBub3Q.aGVsbG8.d29ybGQ', // base64 with two dots, no JSON header
      `eyJub3QganNvbg.${b64({ sub: '1' })}.abc`, // header is not JSON
      `${b64({ alg: 'HS256' })}.${b64({ sub: '1' })}`, // two segments
      `${b64({ alg: 'HS256' })}..abc`, // empty payload
      'they.said.so',
    ]);

  it('ends before a full stop, and is not part of a longer dotted token', () => {
    expect(spans(BUILTIN_DETECTORS.jwt, `Bearer ${JWT_HS256}. Next`)).toEqual([JWT_HS256]);
    expect(BUILTIN_DETECTORS.jwt.find(`${JWT_HS256}.abc.def.ghi`)).toEqual([]);
  });
});

describe('cloud_key', () => {
  table('cloud_key',
    ['AKIAIOSFODNN7EXAMPLE', 'ASIAY34FZKBOKMUTVV7A', GOOGLE, GITHUB, GITHUB_PAT, SLACK],
    [
      'AKIAIOSFODNN7EXAMPL', // AKIA + 15
      'AKIAIOSFODNN7EXAMPLE1', // AKIA + 17
      'xAKIAIOSFODNN7EXAMPLE',
      'AIzaSyA1234567890abcdefghijklmnopqrst', // 33 after AIza
      `gh${'p'}_short`, 'ghx_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A',
      'xoxb-1', 'xoxz-2400000000-2400000000000-AbCdEfGh',
      'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', // a 40-character secret with no label
    ]);

  it('finds an AWS secret access key after its label, leaving the label', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    for (const text of [`aws_secret_access_key = ${secret}`, `AWS_SECRET_ACCESS_KEY=${secret}`, `{"SecretAccessKey": "${secret}"}`]) {
      expect(spans(BUILTIN_DETECTORS.cloud_key, text)).toEqual([secret]);
    }
    expect(spans(BUILTIN_DETECTORS.cloud_key, `aws_secret_access_key = ${secret}x`)).toEqual([]);
  });
});

describe('private_key', () => {
  table('private_key', [PEM_RSA, PEM_PKCS8, PEM_OPENSSH], [
    '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----',
    '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
    'the private key is in the vault',
  ]);

  it('masks a block cut off before its END line to the end of the value', () => {
    const text = `key: ${PEM_RSA.slice(0, 60)}`;
    expect(spans(BUILTIN_DETECTORS.private_key, text)).toEqual([PEM_RSA.slice(0, 60)]);
  });

  it('finds two blocks separately', () => {
    expect(spans(BUILTIN_DETECTORS.private_key, `${PEM_RSA}\n\n${PEM_PKCS8}`)).toEqual([PEM_RSA, PEM_PKCS8]);
  });
});

describe('customDetector', () => {
  it('compiles once with the global flag and finds every match', () => {
    const d = customDetector('employee_id', String.raw`EMP-\d{6}`);
    expect(d.name).toBe('employee_id');
    expect(d.find('EMP-123456 and EMP-654321, not EMP-12')).toEqual([
      { start: 0, end: 10, detector: 'employee_id' },
      { start: 15, end: 25, detector: 'employee_id' },
    ]);
    expect(d.find('nothing')).toBe(NO_MATCHES);
    expect(spans(customDetector('ci', 'secret', 'i'), 'Secret SECRET')).toEqual(['Secret', 'SECRET']);
  });

  it.each(['a*', 'x?', '', '(?:)', String.raw`\b`, '(?=a)', '^', 'a|'])('refuses %j, which matches the empty string', (pattern) => {
    expect(() => customDetector('bad_one', pattern)).toThrow(TypeError);
    expect(() => customDetector('bad_one', pattern)).toThrow(/"bad_one"/);
  });

  it('refuses an invalid pattern or the sticky flag with a TypeError naming the detector', () => {
    expect(() => customDetector('broken', '(')).toThrow(/"broken".*invalid pattern/);
    expect(() => customDetector('sticky', 'a', 'y')).toThrow(TypeError);
  });
});

describe('all detectors together', () => {
  it('each returns sorted, non-overlapping matches, and the shared empty result when nothing matches', () => {
    const text = `mail jane@example.com card 4111 1111 1111 1111 ip 10.0.0.1 and ::1 phone +1 555 123 4567 ssn 123-45-6789 ${JWT_HS256}`;
    for (const d of ALL) {
      const found = d.find(text);
      for (let i = 1; i < found.length; i++) expect(found[i]!.start).toBeGreaterThanOrEqual(found[i - 1]!.end);
      expect(d.find('plain words only')).toBe(NO_MATCHES);
      expect(d.find('')).toBe(NO_MATCHES);
    }
    expect(scan(text, ALL).map((m) => m.detector)).toEqual(['email', 'card', 'ipv4', 'ipv6', 'phone', 'ssn', 'jwt']);
  });

  it('finds nothing in 10,000 ordinary values', () => {
    const values = ordinaryValues(10_000);
    const hits = values.filter((v) => scan(v, ALL).length > 0);
    expect(hits).toEqual([]);
  });
});

/** Deterministic everyday result values: ids, dates, times, amounts, versions, uuids, hashes, JSON, prose. */
function ordinaryValues(n: number): string[] {
  let seed = 0x9e3779b9;
  const rand = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number): number => Math.floor(rand() * max);
  const pad = (v: number, width: number): string => String(v).padStart(width, '0');
  const hex = (len: number): string => Array.from({ length: len }, () => '0123456789abcdef'[int(16)]).join('');
  const date = (): string => `20${pad(int(30), 2)}-${pad(1 + int(12), 2)}-${pad(1 + int(28), 2)}`;
  const time = (): string => `${pad(int(24), 2)}:${pad(int(60), 2)}:${pad(int(60), 2)}`;
  const words = ['alpha', 'shipped', 'pending', 'the', 'order', 'was', 'delivered', 'to', 'Berlin', 'customer', 'note', 'refund', 'approved', 'key', 'eye', 'they'];
  const templates: ReadonlyArray<() => string> = [
    () => `Order #${int(10_000_000)} shipped on ${date()} at ${time()}`,
    () => `INV-${2000 + int(30)}-${pad(int(1_000_000), 6)} total $${int(100_000).toLocaleString('en-US')}.${pad(int(100), 2)}`,
    () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`,
    () => `${date()}T${time()}.${pad(int(1000), 3)}Z`,
    () => `${date()} ${time()}+${pad(int(13), 2)}`,
    () => `v${int(20)}.${int(50)}.${int(100)}`,
    () => `release ${int(5)}.${int(20)}.${int(100)}-rc.${int(9)}`,
    () => `sha256:${hex(64)}`,
    () => `commit ${hex(40)}`,
    () => JSON.stringify({ id: int(1e9), status: 'active', tags: ['a', 'b'], at: date(), score: rand() }),
    () => `https://example.com/products/${int(100_000)}?ref=home&page=${int(50)}`,
    () => `SELECT * FROM orders WHERE id = ${int(1e9)} AND created_at > '${date()}'`,
    () => Array.from({ length: 3 + int(12) }, () => words[int(words.length)]).join(' '),
    () => `${int(1000)} items, ${rand().toFixed(3)} kg, ${int(100)}% done`,
    () => String(int(1e12)),
    () => `Room ${int(999)}, floor ${int(40)}, ext. ${int(9999)}`,
    () => `${pad(1 + int(28), 2)}.${pad(1 + int(12), 2)}.${2000 + int(30)} ${pad(int(24), 2)}:${pad(int(60), 2)}`,
    () => Buffer.from(`${words[int(words.length)]} ${int(1e6)}`).toString('base64'),
    () => `user_${int(1e6)} logged in from the web console`,
    () => `duration ${int(100)}:${pad(int(60), 2)}, lat ${(rand() * 180 - 90).toFixed(6)}, lon ${(rand() * 360 - 180).toFixed(6)}`,
  ];
  return Array.from({ length: n }, (_, i) => templates[i % templates.length]!());
}

describe('the session masker\'s byte prefilter', () => {
  it('never skips a value one of its detectors would find (every positive above, alone and in text)', () => {
    const principal = { subject: 's', groups: [], issuer: 'i', clientId: null, tokenId: 't', tokenSha256: 'h', ciJob: null, expiresAt: null };
    const masker = new SessionMasker({ config: { detectors: [], rules: [{ name: 'all', columns: [], detectors: Object.keys(BUILTIN_DETECTORS), exempt: [], strategy: 'redact' }] }, key: null }, principal, 'c');
    const plan = masker.planFor([{ name: 'v', tableOid: 0, column: 0, typeOid: 25, format: 0 }])!;
    expect(POSITIVES.length).toBeGreaterThan(50);
    const missed = POSITIVES.flatMap(([name, value]) => [value, `contact: ${value}, thanks`].flatMap((text) => {
      const bytes = Buffer.from(text);
      return masker.maskField(plan, 0, bytes, 0, bytes.length, newTally()) === undefined ? [`${name}: ${text}`] : [];
    }));
    expect(missed).toEqual([]);
  });
});
