import { isIPv6 } from 'node:net';

/**
 * Detectors of sensitive values in text: the built-ins and config-defined regular expressions. Pure and
 * synchronous. They run on every text value of a result when masking is on, so each built-in first makes a cheap
 * test that rejects most values (no '@' for email, no run of 13 digits for cards, ...) before any regular
 * expression, and a value with nothing found costs no allocation: find() returns the shared NO_MATCHES.
 *
 * Candidates come from regular expressions written so they cannot backtrack much (repetitions are delimited by a
 * required separator, left edges are lookbehinds so a scan never restarts inside a token); the checks that keep
 * false positives low are done in code: checksums (Luhn, mod 97), number ranges, and `standalone`, so that a
 * match is never a slice of a longer number, word, date, version or address.
 */

export interface Match { start: number; end: number; detector: string }

/** find() returns non-overlapping matches sorted by start. */
export interface Detector { name: string; find(text: string): Match[] }

export type BuiltinName =
  | 'email' | 'card' | 'iban' | 'ssn' | 'phone' | 'ipv4' | 'ipv6' | 'jwt' | 'cloud_key' | 'private_key';

/** The result when nothing matched; frozen, so a caller that mutates it fails loudly instead of corrupting it. */
export const NO_MATCHES: Match[] = Object.freeze<Match[]>([]) as Match[];

/** Sorted by start, overlaps resolved by keeping the earliest-starting, then the longest match. */
export function resolveOverlaps(matches: readonly Match[]): Match[] {
  if (matches.length === 0) return NO_MATCHES;
  const sorted = matches.slice().sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Match[] = [];
  let end = 0;
  for (const m of sorted) {
    if (m.end > m.start && m.start >= end) {
      out.push(m);
      end = m.end;
    }
  }
  return out;
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
/** ASCII letter, digit or '_' (charCodeAt past either end is NaN: false). */
const isWordChar = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;

/**
 * The prefilter of the numeric detectors: the longest run of digits in text where digits may be split by one
 * space or dash (`4111 1111-1111 1111` is a run of 16: cards, SSNs), and by up to two of space ( ) - .
 * (`+1 (555) 123-4567` is a run of 11: phones). Values with scattered digits (dates, times, ids, amounts) never
 * reach a regex. One pass with no allocation, shared by the detectors that scan() runs one after another over
 * the same value: the last value's result is kept.
 */
const DIGIT = /\d/;
let runsOf: string | null = null;
let groupedRun = 0;
let phoneRun = 0;

function digitRuns(text: string): void {
  if (text === runsOf) return;
  let grouped = 0, groupedGap = 0, phone = 0, phoneGap = 0;
  let maxGrouped = 0, maxPhone = 0;
  // values with no digit at all (names, statuses, prose) are the common case: a native search settles them
  for (let i = text.search(DIGIT); i >= 0 && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isDigit(c)) {
      grouped++;
      phone++;
      groupedGap = phoneGap = 0;
      continue;
    }
    if (grouped > 0 && groupedGap === 0 && (c === 32 || c === 45)) groupedGap = 1;
    else {
      if (grouped > maxGrouped) maxGrouped = grouped;
      grouped = groupedGap = 0;
    }
    if (phone > 0 && phoneGap < 2 && (c === 32 || c === 40 || c === 41 || c === 45 || c === 46)) phoneGap++;
    else {
      if (phone > maxPhone) maxPhone = phone;
      phone = phoneGap = 0;
    }
  }
  runsOf = text;
  groupedRun = Math.max(maxGrouped, grouped);
  phoneRun = Math.max(maxPhone, phone);
}

/**
 * [start, end) is not glued to a neighbouring token: the characters either side are not letters, digits or '_',
 * nor a `glue` character that itself touches a digit (so `2026-555-123-4567`, `1.2.3.4.5`, `3.4111111111111111`
 * are one longer token, not a phone number, an address or a card).
 */
function standalone(text: string, start: number, end: number, glue: string): boolean {
  if (isWordChar(text.charCodeAt(start - 1)) || isWordChar(text.charCodeAt(end))) return false;
  if (start > 1 && isDigit(text.charCodeAt(start - 2)) && glue.includes(text.charAt(start - 1))) return false;
  if (isDigit(text.charCodeAt(end + 1)) && end < text.length && glue.includes(text.charAt(end))) return false;
  return true;
}

function countDigits(text: string, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) if (isDigit(text.charCodeAt(i))) n++;
  return n;
}

/** Matches from two sources of one detector; allocates only when both found something. */
function join(a: Match[], b: Match[]): Match[] {
  if (b.length === 0) return a;
  return a.length === 0 ? b : a.concat(b);
}

/** A validator of a regex match (the text is m.input); module-level, so a call to find() creates no closure. */
type Valid = (m: RegExpExecArray, end: number) => boolean;
const always: Valid = () => true;

/**
 * Runs a global regex over text, keeping the matches `valid` accepts. After a rejection the scan resumes one
 * character later, so a shorter candidate starting inside the rejected one is still seen (the lookbehinds of the
 * patterns keep that from restarting in the middle of a token).
 */
function matchAll(re: RegExp, text: string, name: string, valid: Valid): Match[] {
  let out: Match[] | null = null;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const end = m.index + m[0].length;
    if (valid(m, end)) (out ??= []).push({ start: m.index, end, detector: name });
    else re.lastIndex = m.index + 1;
  }
  return out ?? NO_MATCHES;
}

// ---- email: a dot-atom local part (letters, digits and _%+- in any script) @ labels . TLD of 2+ letters.
// Quoted local parts and IP-literal domains are left out: rare in data, and they would widen the pattern a lot.
const EMAIL = /(?<![\p{L}\p{N}_%+.-])[\p{L}\p{N}_%+-]+(?:\.[\p{L}\p{N}_%+-]+)*@(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,63}(?![\p{L}\p{N}_-])/gu;

const emailValid: Valid = (m) => m[0].length <= 254 && m[0].indexOf('@') <= 64;

const email: Detector = {
  name: 'email',
  find(text) {
    if (!text.includes('@')) return NO_MATCHES;
    return matchAll(EMAIL, text, 'email', emailValid);
  },
};

// ---- card: a maximal run of digit groups joined by single spaces or dashes.
const DIGIT_RUN = /(?<!\w|\d[ .,-])\d+(?:[ -]\d+)*/g;

/** Issuer prefix (first four digits) and length agree with a known scheme (shared with the byte path in prefilter.ts). */
export function cardScheme(p4: number, length: number): boolean {
  const p1 = Math.floor(p4 / 1000), p2 = Math.floor(p4 / 100), p3 = Math.floor(p4 / 10);
  const long = length >= 16 && length <= 19;
  if (p1 === 4) return length === 13 || length === 16 || length === 19; // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return length === 16; // Mastercard
  if (p2 === 34 || p2 === 37) return length === 15; // Amex
  if (p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649)) return long; // Discover
  if (p4 >= 3528 && p4 <= 3589) return long; // JCB
  if ((p3 >= 300 && p3 <= 305) || p2 === 36 || p2 === 38) return length >= 14 && length <= 19; // Diners
  if (p2 === 62) return long; // UnionPay
  return false;
}

/** Luhn over the digits of [start, end), separators skipped. */
function luhn(text: string, start: number, end: number): boolean {
  let sum = 0;
  let double = false;
  for (let i = end - 1; i >= start; i--) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) continue;
    sum += double ? (d > 4 ? 2 * d - 9 : 2 * d) : d;
    double = !double;
  }
  return sum % 10 === 0;
}

function isCard(text: string, start: number, end: number, digits: number): boolean {
  if (digits < 13 || digits > 19) return false;
  const p4 = (text.charCodeAt(start) - 48) * 1000 + (text.charCodeAt(start + 1) - 48) * 100
    + (text.charCodeAt(start + 2) - 48) * 10 + (text.charCodeAt(start + 3) - 48);
  return cardScheme(p4, digits) && luhn(text, start, end);
}

/**
 * Cards inside one run. A card is a window of whole groups: one group of 13-19 digits, or the printed layouts
 * (a first group of 4, then groups of 4-6, the last 1-6: 4-4-4-4, 4-6-5, 4-4-4-1...). A window may stop short of
 * the run only at a space, so `4111 1111 1111 1111 2024` still finds the card while a dash-joined
 * `1234-5678-9012-3456-7890` is one 20-digit number and never a card.
 */
function cardsInRun(text: string, start: number, end: number, tailGlued: boolean, out: Match[]): void {
  // group boundaries, in arrays reused from run to run (this runs on every long digit run)
  const starts = groupStarts, ends = groupEnds;
  let groups = 0;
  for (let i = start; i < end; i++) {
    if (i === start || !isDigit(text.charCodeAt(i - 1))) starts[groups] = i;
    if (i === end - 1 || !isDigit(text.charCodeAt(i + 1))) ends[groups++] = i + 1;
  }
  const last = groups - 1;
  // may a window start at group i / end at group j?
  for (let i = 0; i <= last; i++) {
    if (!(i === 0 || text.charCodeAt(starts[i]! - 1) === 32)) continue;
    for (let j = last; j >= i; j--) {
      const s = starts[i]!, e = ends[j]!;
      if (!(j === last ? !tailGlued : text.charCodeAt(e) === 32) || (j > i && !printedLayout(starts, ends, i, j))) continue;
      if (isCard(text, s, e, countDigits(text, s, e))) {
        out.push({ start: s, end: e, detector: 'card' });
        i = j;
        break;
      }
    }
  }
  if (groups > 1024) {
    groupStarts = [];
    groupEnds = [];
  }
}
let groupStarts: number[] = [];
let groupEnds: number[] = [];

function printedLayout(starts: number[], ends: number[], i: number, j: number): boolean {
  if (ends[i]! - starts[i]! !== 4) return false;
  for (let k = i + 1; k <= j; k++) {
    const n = ends[k]! - starts[k]!;
    if (n > 6 || (k < j && n < 4)) return false;
  }
  return true;
}

const card: Detector = {
  name: 'card',
  find(text) {
    if (text.length < 13) return NO_MATCHES;
    digitRuns(text);
    if (groupedRun < 13) return NO_MATCHES;
    let out: Match[] | null = null;
    DIGIT_RUN.lastIndex = 0;
    for (let m = DIGIT_RUN.exec(text); m !== null; m = DIGIT_RUN.exec(text)) {
      if (m[0].length < 13) continue;
      const end = m.index + m[0].length;
      // a run glued to a word or a decimal part on the right (…1111abc, …1111.50) cannot end with a card
      cardsInRun(text, m.index, end, !standalone(text, m.index, end, '.,'), (out ??= []));
    }
    return out === null || out.length === 0 ? NO_MATCHES : out;
  },
};

// ---- iban: country + 2 check digits + BBAN of the country's length, compact or printed in groups of 4.
/** Total IBAN lengths: the SEPA countries and GB, and a few common others. */
const IBAN_LENGTH: ReadonlyMap<string, number> = new Map(Object.entries({
  AD: 24, AT: 20, BE: 16, BG: 22, CH: 21, CY: 28, CZ: 24, DE: 22, DK: 18, EE: 20, ES: 24, FI: 18, FR: 27, GB: 22,
  GI: 23, GR: 27, HR: 21, HU: 28, IE: 22, IS: 26, IT: 27, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MT: 31, NL: 18,
  NO: 15, PL: 28, PT: 25, RO: 24, SE: 24, SI: 19, SK: 24, SM: 27, VA: 22,
  AE: 23, AL: 28, BA: 20, BR: 29, FO: 18, GL: 18, IL: 23, ME: 22, MK: 19, RS: 22, SA: 24, TR: 26, UA: 29,
}));
const IBAN_HEAD = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}/g;

/** Folds one IBAN character into a running mod-97 remainder (letters count as 10..35); -1 if not [A-Z0-9]. */
function mod97(rem: number, c: number): number {
  if (isDigit(c)) return (rem * 10 + c - 48) % 97;
  if (c >= 65 && c <= 90) return (rem * 100 + c - 55) % 97;
  return -1;
}

/** End of a valid IBAN starting at `start`, or -1. */
function ibanEnd(text: string, start: number): number {
  const length = IBAN_LENGTH.get(text.slice(start, start + 2));
  if (length === undefined) return -1;
  const spaced = text.charCodeAt(start + 4) === 32;
  let pos = start + 4;
  let rem = 0;
  for (let count = 4; count < length; count++) {
    if (spaced && count % 4 === 0) {
      if (text.charCodeAt(pos) !== 32) return -1;
      pos++;
    }
    rem = mod97(rem, text.charCodeAt(pos++));
    if (rem < 0) return -1;
  }
  if (isWordChar(text.charCodeAt(pos))) return -1;
  for (let i = start; i < start + 4; i++) rem = mod97(rem, text.charCodeAt(i));
  return rem === 1 ? pos : -1;
}

const iban: Detector = {
  name: 'iban',
  find(text) {
    if (text.length < 15) return NO_MATCHES;
    let out: Match[] | null = null;
    IBAN_HEAD.lastIndex = 0;
    for (let m = IBAN_HEAD.exec(text); m !== null; m = IBAN_HEAD.exec(text)) {
      const end = ibanEnd(text, m.index);
      if (end < 0) continue;
      (out ??= []).push({ start: m.index, end, detector: 'iban' });
      IBAN_HEAD.lastIndex = end;
    }
    return out ?? NO_MATCHES;
  },
};

// ---- ssn (US): AAA-GG-SSSS or AAA GG SSSS, with the SSA's never-issued areas, groups and serials excluded.
const SSN = /(?<!\w)(\d{3})([- ])(\d{2})\2(\d{4})/g;

const ssnValid: Valid = (m, end) => {
  const area = Number(m[1]);
  return area !== 0 && area !== 666 && area < 900 && m[3] !== '00' && m[4] !== '0000'
    && standalone(m.input, m.index, end, m[2] === ' ' ? ' -./' : '-./');
};

const ssn: Detector = {
  name: 'ssn',
  find(text) {
    if (text.length < 11) return NO_MATCHES;
    digitRuns(text);
    if (groupedRun < 9) return NO_MATCHES;
    return matchAll(SSN, text, 'ssn', ssnValid);
  },
};

// ---- phone. Only written-out forms: '+' then 8-15 digits (E.164, groups split by space, dot, dash or
// parentheses), NANP with separators ((555) 123-4567, 555-123-4567, 555.123.4567, 1-555-123-4567) and UK national
// numbers in spaced groups (020 7946 0958). Bare digit strings (5551234567) are not phones here: without a '+' or
// separators they cannot be told apart from ids, amounts and timestamps, and masking those would corrupt results.
// Patterns need a '+', a NANP 3-3-4 shape or a leading 0 with spaces, so dates (2026-11-23), times, versions and
// IPv4 addresses do not fit them.
const PHONE_INTL = /(?<![\w+])\+(?:\d+|\(\d+\)\d*)(?:[ .-]\d+|[ .-]?\(\d+\)\d*)*/g;
const PHONE_NANP_PAREN = /(?<![\w+])(?:1[ .-]?)?\([2-9]\d{2}\) ?\d{3}[ .-]\d{4}/g;
const PHONE_NANP = /(?<![\w+])(?:1[.-])?[2-9]\d{2}([.-])\d{3}\1\d{4}/g;
const PHONE_UK = /(?<![\w+])0[1-37-9]\d{1,3}(?: \d{3,6}){1,2}/g;

const digitsWithin = (min: number, max: number, glue: string): Valid => (m, end) => {
  const n = countDigits(m.input, m.index, end);
  return n >= min && n <= max && standalone(m.input, m.index, end, glue);
};
const e164 = digitsWithin(8, 15, '.-');
const national = digitsWithin(10, 11, '.-');
const ukNational = digitsWithin(10, 11, ' .-');

const phone: Detector = {
  name: 'phone',
  find(text) {
    if (text.length < 9) return NO_MATCHES;
    digitRuns(text);
    if (phoneRun < 8) return NO_MATCHES;
    let found = NO_MATCHES;
    let sources = 0;
    let m = NO_MATCHES;
    if (text.includes('+') && (m = matchAll(PHONE_INTL, text, 'phone', e164)).length > 0) {
      found = join(found, m);
      sources++;
    }
    if (text.includes('(') && (m = matchAll(PHONE_NANP_PAREN, text, 'phone', national)).length > 0) {
      found = join(found, m);
      sources++;
    }
    if ((text.includes('-') || text.includes('.')) && (m = matchAll(PHONE_NANP, text, 'phone', national)).length > 0) {
      found = join(found, m);
      sources++;
    }
    if (text.includes(' ') && (m = matchAll(PHONE_UK, text, 'phone', ukNational)).length > 0) {
      found = join(found, m);
      sources++;
    }
    // one pattern's matches are already sorted and disjoint
    return found.length === 0 ? NO_MATCHES : sources > 1 ? resolveOverlaps(found) : found;
  },
};

// ---- ipv4: dotted quad, octets 0-255 without leading zeros (01.02.03.04 is ambiguous, often octal), not inside
// a longer dotted token (1.2.3.4.5, v1.2.3.4, 10.0.0.1.2).
const IPV4 = /(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/g;
const octet = (s: string | undefined): boolean => s !== undefined && Number(s) <= 255 && (s.length === 1 || s[0] !== '0');

const ipv4Valid: Valid = (m, end) =>
  octet(m[1]) && octet(m[2]) && octet(m[3]) && octet(m[4]) && standalone(m.input, m.index, end, '.');

const ipv4: Detector = {
  name: 'ipv4',
  find(text) {
    if (text.length < 7 || !text.includes('.')) return NO_MATCHES;
    return matchAll(IPV4, text, 'ipv4', ipv4Valid);
  },
};

// ---- ipv6: a hex-and-colon candidate (with an optional dotted IPv4 tail), validated by node:net.
const IPV6 = /(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,8}(?:\.\d{1,3}\.\d{1,3}\.\d{1,3})?/g;

/**
 * Tokens like `1::2` (a Python slice) or `a::b` are valid compressed addresses; an address must have three
 * groups, a group of 3+ hex digits, or start with '::' (::1, ::ffff:...).
 */
function significant(s: string): boolean {
  if (s.startsWith('::')) return s.length > 2;
  let groups = 0;
  for (const g of s.split(':')) {
    if (g.length >= 3) return true;
    if (g.length > 0) groups++;
  }
  return groups >= 3;
}

/**
 * At least n colons. A full address has 7 (6 before an IPv4 tail), a shorter one has '::'; everything else with
 * colons (times, MAC addresses, JSON, URLs) is turned away by this before any regex.
 */
function colons(text: string, n: number): boolean {
  let count = 0;
  for (let i = text.indexOf(':'); i >= 0; i = text.indexOf(':', i + 1)) if (++count >= n) return true;
  return false;
}

const ipv6Valid: Valid = (m, end) => m.input.charCodeAt(end) !== 58 && standalone(m.input, m.index, end, '.')
  && (m[0].includes('::') || colons(m[0], 6)) && significant(m[0]) && isIPv6(m[0]);

const ipv6: Detector = {
  name: 'ipv6',
  find(text) {
    if (!text.includes('::') && !colons(text, 6)) return NO_MATCHES;
    return matchAll(IPV6, text, 'ipv6', ipv6Valid);
  },
};

// ---- jwt: compact JWS (3 segments, the signature may be empty for alg "none") or JWE (5). The header must be
// JSON with an "alg"; JOSE libraries write it compactly, so it always starts with '{"' = base64url "eyJ".
const JWT = /(?<![\w-])eyJ[\w-]*(?:\.[\w-]*){2,4}/g;

function joseHeader(segment: string): boolean {
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

const jwt: Detector = {
  name: 'jwt',
  find(text) {
    if (!text.includes('eyJ')) return NO_MATCHES;
    let out: Match[] | null = null;
    JWT.lastIndex = 0;
    for (let m = JWT.exec(text); m !== null; m = JWT.exec(text)) {
      const segments = m[0].split('.');
      let end = m.index + m[0].length;
      if (segments.length > 3 && segments[segments.length - 1] === '') { // a full stop after the token
        segments.pop();
        end--;
      }
      const [header = '', payload = ''] = segments;
      const followed = text.charCodeAt(end) === 46 && isWordChar(text.charCodeAt(end + 1));
      if ((segments.length === 3 || segments.length === 5) && payload !== '' && !followed && joseHeader(header)) {
        (out ??= []).push({ start: m.index, end, detector: 'jwt' });
        JWT.lastIndex = end;
      }
    }
    return out ?? NO_MATCHES;
  },
};

// ---- cloud_key: credentials with a recognisable shape. AWS secret keys are 40 base64 characters with no prefix,
// so they count only right after an aws_secret_access_key / SecretAccessKey label (the label itself stays).
const AWS_KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;
const AWS_SECRET = /(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)["']?\s*[:=]\s*["']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/gi;
const GOOGLE_KEY = /(?<![\w-])AIza[\w-]{35}(?![\w-])/g;
const GITHUB_TOKEN = /(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_\w{82})(?!\w)/g;
const SLACK_TOKEN = /(?<![\w-])xox[abprs]-[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+(?!\w)/g;

/** Every prefix above in one native pass, so the common value without any of them costs one regex test. */
const CLOUD_HINT = /AKIA|ASIA|ecret|ECRET|AIza|gh[pousr]_|github_pat_|xox[abprs]-/;
const slackValid: Valid = (m) => m[0].length >= 24;

const cloudKey: Detector = {
  name: 'cloud_key',
  find(text) {
    if (text.length < 20 || !CLOUD_HINT.test(text)) return NO_MATCHES;
    let found = NO_MATCHES;
    if (text.includes('AKIA') || text.includes('ASIA')) found = matchAll(AWS_KEY_ID, text, 'cloud_key', always);
    if (text.length >= 50 && (text.includes('ecret') || text.includes('ECRET'))) {
      found = join(found, matchAll(AWS_SECRET, text, 'cloud_key', always).map((m) => ({ ...m, start: m.end - 40 })));
    }
    if (text.includes('AIza')) found = join(found, matchAll(GOOGLE_KEY, text, 'cloud_key', always));
    if (text.includes('_')) found = join(found, matchAll(GITHUB_TOKEN, text, 'cloud_key', always));
    if (text.includes('xox')) found = join(found, matchAll(SLACK_TOKEN, text, 'cloud_key', slackValid));
    return found.length === 0 ? NO_MATCHES : resolveOverlaps(found);
  },
};

// ---- private_key: the whole PEM block (PKCS#1/#8, EC, OpenSSH, encrypted, PGP). A block cut off before its END
// line (a truncated column) is masked to the end of the value: what is there is still key material.
const PEM = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----[\s\S]*?(?:-----END \1PRIVATE KEY\2-----|$)/g;

const privateKey: Detector = {
  name: 'private_key',
  find(text) {
    if (!text.includes('PRIVATE KEY')) return NO_MATCHES;
    return matchAll(PEM, text, 'private_key', always);
  },
};

export const BUILTIN_DETECTORS: Readonly<Record<BuiltinName, Detector>> = Object.freeze({
  email, card, iban, ssn, phone, ipv4, ipv6, jwt, cloud_key: cloudKey, private_key: privateKey,
});

/** Strings to try a custom pattern on for zero-width matches (\b, lookarounds) that the '' test misses. */
const EMPTY_PROBE = 'aZ09_ -.@:/+\n\té€';

/**
 * A detector from the config: `pattern` is compiled once with the global flag added. A pattern that can match
 * the empty string would mark nothing and loop, so it is refused; zero-width matches the probe cannot foresee
 * are skipped at run time.
 */
export function customDetector(name: string, pattern: string, flags = ''): Detector {
  if (flags.includes('y')) throw new TypeError(`masking detector "${name}": the sticky flag (y) is not supported`);
  const global = flags.includes('g') ? flags : `${flags}g`;
  let re: RegExp;
  let whole: RegExp;
  try {
    re = new RegExp(pattern, global);
    whole = new RegExp(`^(?:${pattern})$`, global.replace('g', ''));
  } catch (err) {
    throw new TypeError(`masking detector "${name}": invalid pattern: ${(err as Error).message}`);
  }
  const empty = (): boolean => {
    if (whole.test('')) return true;
    re.lastIndex = 0;
    for (let m = re.exec(EMPTY_PROBE); m !== null; m = re.exec(EMPTY_PROBE)) {
      if (m[0].length === 0) return true;
    }
    return false;
  };
  if (empty()) throw new TypeError(`masking detector "${name}": the pattern matches the empty string`);
  return {
    name,
    find(text) {
      let out: Match[] | null = null;
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        if (m[0].length === 0) re.lastIndex++;
        else (out ??= []).push({ start: m.index, end: m.index + m[0].length, detector: name });
      }
      return out ?? NO_MATCHES;
    },
  };
}
