/**
 * The byte prefilter of the built-in detectors: which of them could match a value, decided on its
 * UTF-8 bytes before any string is made. Every test here is a necessary condition of its detector's
 * find() (a unit test checks it over generated values, ASCII and not): a value whose bit is clear
 * cannot hold a match of that detector, so it is never decoded for it. Most values of most columns
 * (names, statuses, prose, dates, timestamps, amounts) clear every bit in one pass over their bytes.
 *
 * Why bytes are enough: every character the tests look for (digits, separators, '@', ASCII letters)
 * is ASCII, and in UTF-8 an ASCII byte is only ever that character; a non-ASCII character is one or
 * more bytes >= 0x80, which no test takes for a digit, a letter or a separator, just as the
 * detectors' checks and patterns do not take its UTF-16 code units for one. A string's length in
 * UTF-16 units is at most its length in UTF-8 bytes, so the detectors' minimum lengths hold on bytes.
 */

export const EMAIL = 1 << 0;
export const CARD = 1 << 1;
export const IBAN = 1 << 2;
export const SSN = 1 << 3;
export const PHONE = 1 << 4;
export const IPV4 = 1 << 5;
export const IPV6 = 1 << 6;
export const JWT = 1 << 7;
export const CLOUD_KEY = 1 << 8;
export const PRIVATE_KEY = 1 << 9;
/** Set on a value that is all ASCII (its latin1 and UTF-8 decodings are the same string). */
export const ASCII = 1 << 10;

/** The bit of each built-in detector (by its name); custom detectors have none: they always run. */
export const DETECTOR_BIT: Readonly<Record<string, number>> = Object.freeze({
  email: EMAIL, card: CARD, iban: IBAN, ssn: SSN, phone: PHONE, ipv4: IPV4, ipv6: IPV6, jwt: JWT,
  cloud_key: CLOUD_KEY, private_key: PRIVATE_KEY,
});

import { cardScheme } from './detectors.js';

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;

/** What a byte is to the scan below: most bytes (letters, space, punctuation) are OTHER and cost one load. */
const OTHER = 0, DIGIT = 1, UPPER = 2, SPECIAL = 3;
const CLASS = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) CLASS[c] = DIGIT;
for (let c = 0x41; c <= 0x5a; c++) CLASS[c] = UPPER;
for (let c = 0x80; c <= 0xff; c++) CLASS[c] = SPECIAL;
for (const c of '@:.+(egxc-') CLASS[c.charCodeAt(0)] = SPECIAL;

/** Bits of the first pass: which kinds of byte a value has. */
const F_DIGIT = 1, F_AT = 2, F_COLON = 4, F_DOT = 8, F_UPPER = 16, F_HIGH = 32, F_DASH = 64, F_UNDERSCORE = 128, F_C = 256, F_PLUS = 512, F_PAREN = 1024, F_SPACE = 2048, F_REST = 4096;
const FLAGS = new Uint16Array(256);
for (let c = 0x30; c <= 0x39; c++) FLAGS[c] = F_DIGIT;
for (let c = 0x41; c <= 0x5a; c++) FLAGS[c] = F_UPPER;
for (let c = 0x80; c <= 0xff; c++) FLAGS[c] = F_HIGH;
FLAGS[0x40] = F_AT;
FLAGS[0x3a] = F_COLON;
FLAGS[0x2e] = F_DOT;
FLAGS[0x2d] = F_DASH;
FLAGS[0x5f] = F_UNDERSCORE;
FLAGS[0x63] = F_C;
FLAGS[0x2b] = F_PLUS;
FLAGS[0x28] = F_PAREN;
FLAGS[0x20] = F_SPACE;
// any other ASCII byte (lowercase letters, other punctuation, controls)
for (let c = 0; c < 0x80; c++) if (FLAGS[c] === 0) FLAGS[c] = F_REST;

/**
 * Counts of the first pass, summed in one integer: digits, dots and capital letters in fields of 10
 * bits (exact for a value under 1024 bytes; a longer one is not read by its counts).
 */
const FIELD = 1024, DOTS = FIELD, UPPERS = FIELD * FIELD;
const COUNT = new Int32Array(256);
for (let c = 0x30; c <= 0x39; c++) COUNT[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) COUNT[c] = UPPERS;
COUNT[0x2e] = DOTS;

/**
 * The detectors that may match b[start, end), as a bitmask of the constants above (plus ASCII).
 * A first, tight pass notes which kinds of byte the value has and counts some of them: a value
 * with nothing any detector starts from (prose, names, short numbers, most ids, an email address)
 * ends there. A value that only the SSN and phone detectors could match (dates, times, amounts:
 * digits, but too few for a card) gets their shape tests alone; the others get the full pass (scan).
 */
export function candidates(b: Uint8Array, start: number, end: number): number {
  let seen = 0;
  let counts = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    seen |= FLAGS[c]!;
    counts += COUNT[c]!;
  }
  const length = end - start;
  const ascii = (seen & F_HIGH) === 0 ? ASCII : 0;
  if (length >= FIELD) return (seen & ~F_HIGH) === 0 ? ascii : scan(b, start, end) | ascii;
  const digits = counts & (FIELD - 1);
  const dots = (counts >>> 10) & (FIELD - 1);
  const uppers = counts >>> 20;
  if ((seen & ~(F_DIGIT | F_SPACE | F_DASH)) === 0 && digits >= 13) {
    // digits, spaces and dashes only (a card number): no detector but card, SSN and phone (NANP with
    // dashes, UK with spaces) can match; their tests alone, with no full pass
    let mask = ASCII | CARD;
    if (ssnShape(b, start, end)) mask |= SSN;
    if (nanpShape(b, start, end) || ukShape(b, start, end)) mask |= PHONE;
    return mask;
  }
  // what the detectors need at the least (see scan() for the exact tests); email needs only an '@'
  const email = (seen & F_AT) !== 0 && length >= 6 ? EMAIL : 0;
  const more = ((seen & F_COLON) !== 0 && twoColons(b, start, end)) // ipv6 ('::', or 6 colons)
    || (digits >= 13 && length >= 13) // card (and the others)
    || (digits >= 4 && length >= 7 && dots >= 3) // ipv4
    || (uppers >= 2 && length >= 15) // iban (2 letters), private_key (PRIVATE KEY), cloud_key (AKIA, ASIA, AIza, ECRET)
    || (uppers >= 1 && dots >= 2) // jwt (eyJ, three segments)
    || (length >= 20 && (seen & (F_UNDERSCORE | F_DASH)) !== 0) // cloud_key (gh*_, github_pat_, xox*-)
    || (length >= 50 && (seen & F_C) !== 0); // cloud_key (aws_secret...: "ecret", only tried on 50+ characters)
  if (more) return scan(b, start, end) | ascii;
  let mask = email | ascii;
  if (digits >= 7 && length >= 9) {
    // ssn, phone: their shapes (scan() also asks for digit runs: these tests alone only let more through)
    if (length >= 11 && ssnShape(b, start, end)) mask |= SSN;
    if (((seen & F_PLUS) !== 0 && plusDigit(b, start, end)) || (seen & F_PAREN) !== 0 || nanpShape(b, start, end) || ukShape(b, start, end)) mask |= PHONE;
  }
  return mask;
}

/** at least two ':' in b[start, end) */
function twoColons(b: Uint8Array, start: number, end: number): boolean {
  let n = 0;
  for (let i = start; i < end; i++) if (b[i] === 0x3a && ++n === 2) return true;
  return false;
}

function scan(b: Uint8Array, start: number, end: number): number {
  const length = end - start;
  let digits = 0, colons = 0, dots = 0;
  let at = false, plus = false, paren = false, doubleColon = false, ibanHead = false;
  let jwt = false, cloud = false, pem = false, ascii = true;
  // digit runs as detectors.ts digitRuns() counts them (see there)
  let grouped = 0, groupedGap = 0, phone = 0, phoneGap = 0, maxGrouped = 0, maxPhone = 0;
  /** consecutive A-Z right before this byte (an IBAN starts with two, then two digits) */
  let upper = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    const k = CLASS[c]!;
    if (k === DIGIT) {
      digits++;
      grouped++;
      phone++;
      groupedGap = phoneGap = 0;
      if (upper >= 2 && i + 1 < end && isDigit(b[i + 1])) ibanHead = true;
      upper = 0;
      continue;
    }
    if (grouped !== 0 || phone !== 0) {
      // a run of digits goes on over a separator or ends here
      if (grouped > 0 && groupedGap === 0 && (c === 0x20 || c === 0x2d)) groupedGap = 1;
      else {
        if (grouped > maxGrouped) maxGrouped = grouped;
        grouped = groupedGap = 0;
      }
      if (phone > 0 && phoneGap < 2 && (c === 0x20 || c === 0x28 || c === 0x29 || c === 0x2d || c === 0x2e)) phoneGap++;
      else {
        if (phone > maxPhone) maxPhone = phone;
        phone = phoneGap = 0;
      }
    }
    if (k === OTHER) {
      upper = 0;
      continue;
    }
    if (k === UPPER) {
      upper++;
      if (c === 0x41) cloud ||= b[i + 1] === 0x4b || b[i + 1] === 0x53 || b[i + 1] === 0x49; // AK(IA) AS(IA) AI(za)
      else if (c === 0x43) cloud ||= cret(b, i); // (SE)CRET
      continue;
    }
    upper = 0;
    switch (c) {
      case 0x40: at = true; break;
      case 0x3a:
        colons++;
        if (i + 1 < end && b[i + 1] === 0x3a) doubleColon = true;
        break;
      case 0x2e: dots++; break;
      case 0x2b: plus = true; break;
      case 0x28: paren = true; break;
      case 0x65: jwt ||= b[i + 1] === 0x79 && b[i + 2] === 0x4a; break; // eyJ
      case 0x67: cloud ||= b[i + 1] === 0x68 || b[i + 1] === 0x69; break; // gh(p_), gi(thub_pat_)
      case 0x78: cloud ||= b[i + 1] === 0x6f && b[i + 2] === 0x78; break; // xox
      case 0x2d: pem ||= b[i + 1] === 0x2d && b[i + 2] === 0x2d && b[i + 3] === 0x2d && b[i + 4] === 0x2d; break; // -----
      case 0x63: cloud ||= cret(b, i); break; // (se)cret
      default: ascii = false; // >= 0x80
    }
  }
  // the lookahead reads above may run past `end` into the next value: they only ever widen a test
  if (grouped > maxGrouped) maxGrouped = grouped;
  if (phone > maxPhone) maxPhone = phone;
  let mask = ascii ? ASCII : 0;
  if (at && length >= 6) mask |= EMAIL;
  if (length >= 13 && maxGrouped >= 13) mask |= CARD;
  if (length >= 15 && ibanHead) mask |= IBAN;
  if (length >= 11 && maxGrouped >= 9 && ssnShape(b, start, end)) mask |= SSN;
  if (length >= 9 && maxPhone >= 8 && ((plus && plusDigit(b, start, end)) || paren || nanpShape(b, start, end) || ukShape(b, start, end))) mask |= PHONE;
  if (length >= 7 && dots >= 3 && digits >= 4) mask |= IPV4;
  if (doubleColon || colons >= 6) mask |= IPV6;
  if (jwt && dots >= 2) mask |= JWT;
  if (length >= 20 && cloud) mask |= CLOUD_KEY;
  if (pem) mask |= PRIVATE_KEY;
  return mask;
}

/** "cret" at i, in any case */
const cret = (b: Uint8Array, i: number): boolean =>
  ((b[i + 1] ?? 0) | 0x20) === 0x72 && ((b[i + 2] ?? 0) | 0x20) === 0x65 && ((b[i + 3] ?? 0) | 0x20) === 0x74;

/** n digits from i (all before end) */
function digitsAt(b: Uint8Array, i: number, n: number, end: number): boolean {
  if (i + n > end) return false;
  for (let k = i; k < i + n; k++) if (!isDigit(b[k])) return false;
  return true;
}

/** SSN: \d{3}([- ])\d{2}\1\d{4} somewhere */
function ssnShape(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i + 11 <= end; i++) {
    const s = b[i + 3];
    if ((s === 0x2d || s === 0x20) && b[i + 6] === s && digitsAt(b, i, 3, end) && digitsAt(b, i + 4, 2, end) && digitsAt(b, i + 7, 4, end)) return true;
  }
  return false;
}

/** International phone: '+' then a digit or '(' */
function plusDigit(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i + 1 < end; i++) if (b[i] === 0x2b && (isDigit(b[i + 1]) || b[i + 1] === 0x28)) return true;
  return false;
}

/** NANP: [2-9]\d{2}([.-])\d{3}\1\d{4} somewhere */
function nanpShape(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i + 12 <= end; i++) {
    const s = b[i + 3];
    if ((s === 0x2d || s === 0x2e) && b[i + 7] === s && b[i]! >= 0x32 && b[i]! <= 0x39 && digitsAt(b, i + 1, 2, end) && digitsAt(b, i + 4, 3, end) && digitsAt(b, i + 8, 4, end)) return true;
  }
  return false;
}

/** UK national: 0[1-37-9]\d{1,3} \d{3} somewhere (the start of PHONE_UK) */
function ukShape(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i + 7 <= end; i++) {
    if (b[i] !== 0x30) continue;
    const c = b[i + 1]!;
    if (!((c >= 0x31 && c <= 0x33) || (c >= 0x37 && c <= 0x39))) continue;
    let j = i + 2;
    let n = 0;
    while (n < 3 && j < end && isDigit(b[j])) {
      j++;
      n++;
    }
    // any split of the 1-3 digits the regex may backtrack to ends at a digit, so a space must follow one of them
    for (let k = i + 3; k <= j; k++) if (b[k] === 0x20 && k < end && digitsAt(b, k + 1, 3, end)) return true;
  }
  return false;
}

/** local-part characters of the email detector, ASCII: letters, digits, _ % + - */
const isLocal = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x25 || c === 0x2b || c === 0x2d;
const isAlnum = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39);
const isLetter = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);

/**
 * Whether the ASCII bytes b[start, end) are, whole, one address the email detector finds exactly
 * as [0, length) and nothing more: a dot-atom local part of at most 64 characters, one '@', two or
 * more labels of 1-63 letters, digits and inner hyphens, the last of 2-63 letters, 254 characters
 * at most. For such a value the detector's pattern matches at 0 taking every label greedily and
 * its checks pass; anything else (false here) goes to the detector itself. A test checks both agree.
 */
export function wholeEmail(b: Uint8Array, start: number, end: number): boolean {
  const length = end - start;
  if (length < 6 || length > 254) return false;
  let i = start;
  // local part: runs of local characters joined by single dots
  for (;;) {
    const from = i;
    while (i < end && isLocal(b[i]!)) i++;
    if (i === from || i >= end) return false;
    if (b[i] === 0x40) break;
    if (b[i] !== 0x2e) return false;
    i++;
  }
  if (i - start > 64) return false;
  i++; // '@'
  let labels = 0;
  for (;;) {
    const from = i;
    while (i < end && (isAlnum(b[i]!) || b[i] === 0x2d)) i++;
    const n = i - from;
    if (i === end) {
      // the last label: the top-level domain, letters only
      if (labels === 0 || n < 2 || n > 63) return false;
      for (let k = from; k < end; k++) if (!isLetter(b[k]!)) return false;
      return true;
    }
    if (b[i] !== 0x2e || n < 1 || n > 63 || !isAlnum(b[from]!) || !isAlnum(b[i - 1]!)) return false;
    labels++;
    i++;
  }
}

/**
 * What a detector finds in a value that is, whole, in one of the shapes below (the answer of the
 * byte recognisers that follow): exactly the whole value, nothing at all, or not known here (the
 * value is not of the shape, or the detector would find something else: its find() decides).
 * Each recogniser follows its detector's pattern and checks on the value's bytes; a test holds
 * each answer to the detector's own find() over generated values and near misses.
 */
export const UNKNOWN = -1, NOTHING = 0, WHOLE = 1;

/** group boundaries of the value cardValue() is reading (no allocation per value) */
const groupStart = new Int32Array(32);
const groupEnd = new Int32Array(32);

/**
 * The card detector over b[start, end) when the value is one run of digit groups joined by single
 * spaces or dashes (`4539 1488 0343 6467`, `4539-1488-0343-6467`, `4539148803436467`). Such a
 * value is the one run DIGIT_RUN finds, not glued to anything, so find() is cardsInRun() over it:
 * the same windows of whole groups are tried here, in the same order, with the same layout,
 * scheme and Luhn checks.
 */
export function cardValue(b: Uint8Array, start: number, end: number): number {
  if (end - start < 13) return NOTHING; // find() needs 13 characters
  let groups = 0;
  let digits = 0;
  for (let i = start; ;) {
    if (groups === groupStart.length) return UNKNOWN;
    const from = i;
    while (i < end && isDigit(b[i])) i++;
    if (i === from) return UNKNOWN; // a separator first, last or doubled: not one run
    groupStart[groups] = from;
    groupEnd[groups++] = i;
    digits += i - from;
    if (i === end) break;
    if (b[i] !== 0x20 && b[i] !== 0x2d) return UNKNOWN;
    i++;
  }
  if (digits < 13) return NOTHING; // the longest grouped run is the value's digits
  const last = groups - 1;
  for (let i = 0; i <= last; i++) {
    // a window starts at the run's start or after a space, ends at the run's end or before a space
    if (i > 0 && b[groupStart[i]! - 1] !== 0x20) continue;
    for (let j = last; j >= i; j--) {
      const s = groupStart[i]!, e = groupEnd[j]!;
      if ((j < last && b[e] !== 0x20) || (j > i && !printedLayout(i, j))) continue;
      let n = 0;
      for (let k = i; k <= j; k++) n += groupEnd[k]! - groupStart[k]!;
      // the first match found: the whole value (then the only one), or a part of it (find() decides)
      if (isCardBytes(b, s, e, n)) return i === 0 && j === last ? WHOLE : UNKNOWN;
    }
  }
  return NOTHING;
}

/** detectors.ts printedLayout() over the groups of cardValue() */
function printedLayout(i: number, j: number): boolean {
  if (groupEnd[i]! - groupStart[i]! !== 4) return false;
  for (let k = i + 1; k <= j; k++) {
    const n = groupEnd[k]! - groupStart[k]!;
    if (n > 6 || (k < j && n < 4)) return false;
  }
  return true;
}

/** detectors.ts isCard() on bytes */
function isCardBytes(b: Uint8Array, start: number, end: number, digits: number): boolean {
  if (digits < 13 || digits > 19) return false;
  const p4 = (b[start]! - 48) * 1000 + (b[start + 1]! - 48) * 100 + (b[start + 2]! - 48) * 10 + (b[start + 3]! - 48);
  if (!cardScheme(p4, digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = end - 1; i >= start; i--) {
    const d = b[i]! - 48;
    if (d < 0 || d > 9) continue;
    sum += double ? (d > 4 ? 2 * d - 9 : 2 * d) : d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * The SSN detector over a value of exactly the shape `AAA-GG-SSSS` or `AAA GG SSSS`: the pattern
 * matches it at 0 and nowhere else (every other start is inside a group or lacks three digits
 * before a separator), so find() gives the whole value when the area (not 000, 666, 900-999),
 * group (not 00) and serial (not 0000) were issued, and nothing otherwise.
 */
export function ssnValue(b: Uint8Array, start: number, end: number): number {
  if (end - start !== 11) return UNKNOWN;
  const s = b[start + 3];
  if ((s !== 0x2d && s !== 0x20) || b[start + 6] !== s) return UNKNOWN;
  if (!digitsAt(b, start, 3, end) || !digitsAt(b, start + 4, 2, end) || !digitsAt(b, start + 7, 4, end)) return UNKNOWN;
  const area = (b[start]! - 48) * 100 + (b[start + 1]! - 48) * 10 + (b[start + 2]! - 48);
  const group = b[start + 4] !== 0x30 || b[start + 5] !== 0x30;
  const serial = b[start + 7] !== 0x30 || b[start + 8] !== 0x30 || b[start + 9] !== 0x30 || b[start + 10] !== 0x30;
  return area !== 0 && area !== 666 && area < 900 && group && serial ? WHOLE : NOTHING;
}

/**
 * Whether the phone detector finds b[start, end) whole (false: not known here). The value is, whole,
 * one of its written-out forms, which its pattern matches at 0 taking every group greedily, with
 * the digit count it accepts:
 *   '+' then digit groups joined by single space, dot or dash, 8-15 digits (PHONE_INTL, E.164);
 *   [2-9]dd s ddd s dddd with s one of . - (the same twice), optionally after '1.' or '1-' (PHONE_NANP);
 *   (1, 1 , 1. or 1- then) ([2-9]dd) then an optional space, ddd, one of space . -, dddd (PHONE_NANP_PAREN);
 *   0[1-37-9] and 1-3 digits, then one or two groups of 3-6 digits after a space, 10-11 digits (PHONE_UK).
 * A value found whole is masked whole whatever else any detector finds in it (those matches
 * overlap it and lose to it), so no other test is needed.
 */
export function wholePhone(b: Uint8Array, start: number, end: number): boolean {
  const length = end - start;
  if (length < 9) return false;
  const c0 = b[start]!;
  if (c0 === 0x2b) {
    // +d+([ .-]d+)*
    let digits = 0;
    for (let i = start + 1; ;) {
      const from = i;
      while (i < end && isDigit(b[i])) i++;
      if (i === from) return false;
      digits += i - from;
      if (i === end) return digits >= 8 && digits <= 15;
      const s = b[i];
      if (s !== 0x20 && s !== 0x2e && s !== 0x2d) return false;
      i++;
    }
  }
  if (c0 === 0x28 || (c0 === 0x31 && length >= 14 && (b[start + 1] === 0x28 || b[start + 2] === 0x28))) {
    // (1[ .-]?)?\([2-9]dd\) ?ddd[ .-]dddd
    let i = start;
    if (c0 === 0x31) {
      i++;
      const s = b[i];
      if (s === 0x20 || s === 0x2e || s === 0x2d) i++;
    }
    if (b[i] !== 0x28 || !(b[i + 1]! >= 0x32 && b[i + 1]! <= 0x39) || !digitsAt(b, i + 2, 2, end) || b[i + 4] !== 0x29) return false;
    i += 5;
    if (b[i] === 0x20) i++;
    const s = b[i + 3];
    return end - i === 8 && digitsAt(b, i, 3, end) && (s === 0x20 || s === 0x2e || s === 0x2d) && digitsAt(b, i + 4, 4, end);
  }
  if (length === 12 || length === 14) {
    // (1[.-])?[2-9]dd s ddd s dddd
    let i = start;
    if (length === 14) i += c0 === 0x31 && (b[start + 1] === 0x2e || b[start + 1] === 0x2d) ? 2 : length;
    const s = b[i + 3];
    if ((s === 0x2d || s === 0x2e) && b[i + 7] === s && b[i]! >= 0x32 && b[i]! <= 0x39
      && digitsAt(b, i + 1, 2, end) && digitsAt(b, i + 4, 3, end) && digitsAt(b, i + 8, 4, end)) return true;
  }
  if (c0 === 0x30) {
    // 0[1-37-9]d{1,3}( d{3,6}){1,2}, 10-11 digits
    const c1 = b[start + 1]!;
    if (!((c1 >= 0x31 && c1 <= 0x33) || (c1 >= 0x37 && c1 <= 0x39))) return false;
    let i = start;
    let digits = 0;
    for (let group = 0; ; group++) {
      const from = i;
      while (i < end && isDigit(b[i])) i++;
      const n = i - from;
      if (group === 0 ? n < 3 || n > 5 : n < 3 || n > 6) return false;
      digits += n;
      if (i === end) return group >= 1 && digits >= 10 && digits <= 11;
      if (group === 2 || b[i] !== 0x20) return false;
      i++;
    }
  }
  return false;
}
