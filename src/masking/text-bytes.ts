/**
 * The email and phone detectors over ASCII text, on its bytes: the spans their find() returns for
 * the same text, with no string, no regular expression and no match objects. A note such as
 * "call +1 415 555 0100 or mail p3@example.com" costs the string path a decoding, five regular
 * expression scans, their match arrays and an overlap sort (~2.5 µs on the machines of
 * docs/performance.md); these walks cost a fraction of that.
 *
 * Each function below follows one pattern of detectors.ts as the regular expression engine runs
 * it (leftmost start first, greedy, backtracking where the pattern allows it, the validator of
 * matchAll() and its restart one character after a rejected match) on ASCII, where \p{L} is
 * [A-Za-z], \p{N} and \d are [0-9] and \w is [A-Za-z0-9_]. A test holds them to find() over
 * generated texts; any change to a pattern there must be made here too.
 */

const LETTER = 1, DIGIT = 2, LOCAL_SYMBOL = 4, DOT = 8, HYPHEN = 16, UNDERSCORE = 32, PLUS = 64;
const K = new Uint8Array(256);
for (let c = 0x41; c <= 0x5a; c++) K[c] = LETTER;
for (let c = 0x61; c <= 0x7a; c++) K[c] = LETTER;
for (let c = 0x30; c <= 0x39; c++) K[c] = DIGIT;
K[0x25] = LOCAL_SYMBOL; // %
K[0x2b] = LOCAL_SYMBOL | PLUS;
K[0x2d] = LOCAL_SYMBOL | HYPHEN;
K[0x5f] = LOCAL_SYMBOL | UNDERSCORE;
K[0x2e] = DOT;

const ALNUM = LETTER | DIGIT;
/** [\p{L}\p{N}_%+-]: the local part's characters */
const LOCAL = ALNUM | LOCAL_SYMBOL;
/** \w */
const WORD = ALNUM | UNDERSCORE;

const kind = (b: Uint8Array, i: number, start: number, end: number): number => (i >= start && i < end ? K[b[i]!]! : 0);
const isDigitAt = (b: Uint8Array, i: number, end: number): boolean => i < end && b[i]! >= 0x30 && b[i]! <= 0x39;

/**
 * Spans found, as [start0, end0, start1, end1, ...] offsets into the buffer; reused from call to
 * call (the caller reads them before the next call).
 */
export class Spans {
  at: number[] = [];
  /** entries of `at` in use: two per span */
  n = 0;
  reset(): void {
    this.n = 0;
  }
  push(start: number, end: number): void {
    this.at[this.n++] = start;
    this.at[this.n++] = end;
  }
}

// ---- email: (?<![L N _%+.-])[L N _%+-]+(?:\.[L N _%+-]+)*@(?:[L N](?:[L N -]{0,61}[L N])?\.)+\p{L}{2,63}(?![L N _-]),
// kept when at most 254 characters with the '@' at most 64 characters in.

/**
 * The email detector's find() over the ASCII bytes b[start, end), into `out`.
 *
 * A match can only start where its local part does, and the local part is a run of local
 * characters and dots that ends at an '@' and starts after a character the lookbehind allows: for
 * each '@' that is the start of the longest such run before it (any later start fails the
 * lookbehind), so the '@'s are taken in order. The domain's labels each end at a dot, so they are
 * whole runs; the engine takes as many as it can, then gives them back one by one until a
 * top-level domain fits.
 */
export function findEmails(b: Uint8Array, start: number, end: number, out: Spans): void {
  let from = start; // lastIndex
  for (let a = start; a < end; a++) {
    if (b[a] !== 0x40) continue;
    // the run of [local .] before '@'
    let p = a;
    while (p > start && (K[b[p - 1]!]! & (LOCAL | DOT)) !== 0) p--;
    if (p === a || p < from) continue;
    // its shape: runs of local characters joined by single dots
    if (b[p] === 0x2e || b[a - 1] === 0x2e) continue;
    let ok = true;
    for (let i = p + 1; i < a; i++) {
      if (b[i] === 0x2e && b[i - 1] === 0x2e) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    const e = emailDomainEnd(b, a + 1, start, end);
    if (e < 0) continue;
    if (e - p <= 254 && a - p <= 64) {
      out.push(p, e);
      from = e;
    } else from = p + 1;
  }
}

/** Where the domain that starts at d ends (past its top-level domain), or -1. */
function emailDomainEnd(b: Uint8Array, d: number, start: number, end: number): number {
  // labels: 1-63 of [L N -], first and last [L N], each followed by '.'
  let labels = 0;
  let s = d;
  const ends: number[] = LABEL_ENDS;
  for (;;) {
    let q = s;
    while (q < end && (K[b[q]!]! & (ALNUM | HYPHEN)) !== 0) q++;
    const n = q - s;
    if (q >= end || b[q] !== 0x2e || n < 1 || n > 63 || (K[b[s]!]! & ALNUM) === 0 || (K[b[q - 1]!]! & ALNUM) === 0) break;
    ends[labels++] = q;
    s = q + 1;
  }
  // the top-level domain after the j-th label: 2-63 letters, then nothing of [L N _ -]
  for (let j = labels; j >= 1; j--) {
    const t = ends[j - 1]! + 1;
    let r = t;
    while (r < end && (K[b[r]!]! & LETTER) !== 0 && r - t < 64) r++;
    const n = r - t;
    if (n >= 2 && n <= 63 && (kind(b, r, start, end) & (ALNUM | UNDERSCORE | HYPHEN)) === 0) return r;
  }
  return -1;
}
const LABEL_ENDS: number[] = [];

// ---- phone: the detector's gate (a run of 8+ digits as digitRuns() counts it, text of 9+
// characters), then its four patterns, each with its validator, merged.

/** detectors.ts digitRuns(): the longest run of digits split by at most two of space ( ) - . in a row */
function phoneRun(b: Uint8Array, start: number, end: number): number {
  let phone = 0, gap = 0, max = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c >= 0x30 && c <= 0x39) {
      phone++;
      gap = 0;
      continue;
    }
    if (phone > 0 && gap < 2 && (c === 0x20 || c === 0x28 || c === 0x29 || c === 0x2d || c === 0x2e)) gap++;
    else {
      if (phone > max) max = phone;
      phone = gap = 0;
    }
  }
  return phone > max ? phone : max;
}

/** detectors.ts standalone(): not glued to a neighbouring token (`glue`: the characters that glue when a digit follows) */
function standalone(b: Uint8Array, s: number, e: number, start: number, end: number, glueSpace: boolean): boolean {
  if ((kind(b, s - 1, start, end) & WORD) !== 0 || (kind(b, e, start, end) & WORD) !== 0) return false;
  if (s - start > 1 && isDigitAt(b, s - 2, end) && glues(b[s - 1]!, glueSpace)) return false;
  if (e < end && isDigitAt(b, e + 1, end) && glues(b[e]!, glueSpace)) return false;
  return true;
}

const glues = (c: number, space: boolean): boolean => c === 0x2e || c === 0x2d || (space && c === 0x20);

function digitsIn(b: Uint8Array, s: number, e: number): number {
  let n = 0;
  for (let i = s; i < e; i++) if (b[i]! >= 0x30 && b[i]! <= 0x39) n++;
  return n;
}

/** The lookbehind (?<![\w+]) at i. */
const free = (b: Uint8Array, i: number, start: number, end: number): boolean => (kind(b, i - 1, start, end) & (WORD | PLUS)) === 0;

/** i past a run of digits from i (at most `max`) */
function digitsFrom(b: Uint8Array, i: number, end: number, max = Infinity): number {
  const from = i;
  while (i < end && i - from < max && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
  return i;
}

const isSep = (c: number | undefined): boolean => c === 0x20 || c === 0x2e || c === 0x2d;

/** \(\d+\)\d* at i: its end, or -1 */
function parenGroup(b: Uint8Array, i: number, end: number): number {
  if (i >= end || b[i] !== 0x28) return -1;
  const d = digitsFrom(b, i + 1, end);
  if (d === i + 1 || d >= end || b[d] !== 0x29) return -1;
  return digitsFrom(b, d + 1, end);
}

/** PHONE_INTL at p: \+(?:\d+|\(\d+\)\d*)(?:[ .-]\d+|[ .-]?\(\d+\)\d*)* */
function intlAt(b: Uint8Array, p: number, end: number): number {
  let q: number;
  if (isDigitAt(b, p + 1, end)) q = digitsFrom(b, p + 1, end);
  else if ((q = parenGroup(b, p + 1, end)) < 0) return -1;
  for (;;) {
    if (q < end && isSep(b[q]) && isDigitAt(b, q + 1, end)) {
      q = digitsFrom(b, q + 1, end);
      continue;
    }
    const g = parenGroup(b, q < end && isSep(b[q]) ? q + 1 : q, end);
    if (g < 0) return q;
    q = g;
  }
}

/** PHONE_NANP_PAREN at p: (?:1[ .-]?)?\([2-9]\d{2}\) ?\d{3}[ .-]\d{4} */
function nanpParenAt(b: Uint8Array, p: number, end: number): number {
  let q = p;
  if (b[q] === 0x31) {
    q++;
    if (q < end && isSep(b[q])) q++;
  }
  if (q + 5 > end || b[q] !== 0x28 || !(b[q + 1]! >= 0x32 && b[q + 1]! <= 0x39) || !isDigitAt(b, q + 2, end) || !isDigitAt(b, q + 3, end) || b[q + 4] !== 0x29) return -1;
  q += 5;
  if (q < end && b[q] === 0x20) q++;
  if (digitsFrom(b, q, end, 3) !== q + 3 || q + 3 >= end || !isSep(b[q + 3]) || digitsFrom(b, q + 4, end, 4) !== q + 8) return -1;
  return q + 8;
}

/** PHONE_NANP at p: (?:1[.-])?[2-9]\d{2}([.-])\d{3}\1\d{4} (with the prefix first, as the engine tries it) */
function nanpAt(b: Uint8Array, p: number, end: number): number {
  if (b[p] === 0x31 && p + 1 < end && (b[p + 1] === 0x2e || b[p + 1] === 0x2d)) {
    const e = nanpRest(b, p + 2, end);
    if (e >= 0) return e;
  }
  return nanpRest(b, p, end);
}

function nanpRest(b: Uint8Array, q: number, end: number): number {
  if (q + 12 > end || !(b[q]! >= 0x32 && b[q]! <= 0x39) || !isDigitAt(b, q + 1, end) || !isDigitAt(b, q + 2, end)) return -1;
  const s = b[q + 3];
  if ((s !== 0x2e && s !== 0x2d) || digitsFrom(b, q + 4, end, 3) !== q + 7 || b[q + 7] !== s || digitsFrom(b, q + 8, end, 4) !== q + 12) return -1;
  return q + 12;
}

/** PHONE_UK at p: 0[1-37-9]\d{1,3}(?: \d{3,6}){1,2} */
function ukAt(b: Uint8Array, p: number, end: number): number {
  const c = b[p + 1];
  if (b[p] !== 0x30 || p + 1 >= end || c === undefined || !((c >= 0x31 && c <= 0x33) || (c >= 0x37 && c <= 0x39))) return -1;
  const r = digitsFrom(b, p + 2, end);
  // \d{1,3} must end where the digits do (any shorter take is followed by a digit, not the space)
  if (r === p + 2 || r - (p + 2) > 3 || r >= end || b[r] !== 0x20) return -1;
  const g1 = digitsFrom(b, r + 1, end, 6);
  if (g1 - (r + 1) < 3) return -1;
  if (g1 < end && b[g1] === 0x20) {
    const g2 = digitsFrom(b, g1 + 1, end, 6);
    if (g2 - (g1 + 1) >= 3) return g2;
  }
  return g1;
}

/** A match of one pattern at p, kept when it has [min, max] digits and is standalone. */
function kept(b: Uint8Array, p: number, e: number, start: number, end: number, min: number, max: number, glueSpace: boolean): boolean {
  if (e < 0) return false;
  const n = digitsIn(b, p, e);
  return n >= min && n <= max && standalone(b, p, e, start, end, glueSpace);
}

const INTL = 0, PAREN = 1, NANP = 2, UK = 3;
/** each pattern's spans, in the order phone.find() joins them */
const PARTS = [new Spans(), new Spans(), new Spans(), new Spans()] as const;

/**
 * The phone detector's find() over the ASCII bytes b[start, end), into `out`. Its four patterns
 * are each a matchAll() with their own restart point (the end of a kept match, or one past a
 * rejected one); walked here in one pass, each tried only where its first character is.
 */
export function findPhones(b: Uint8Array, start: number, end: number, out: Spans): void {
  if (end - start < 9 || phoneRun(b, start, end) < 8) return;
  for (const s of PARTS) s.reset();
  // where each pattern's scan may next start
  let intl = start, paren = start, nanp = start, uk = start;
  for (let p = start; p < end; p++) {
    const c = b[p]!;
    if (c !== 0x2b && c !== 0x28 && (c < 0x30 || c > 0x39)) continue;
    // (?<![\w+]), the same for the four
    if (!free(b, p, start, end)) continue;
    // the validators: E.164 (8-15 digits) for '+' numbers, national (10-11) for the others
    if (c === 0x2b) {
      if (p >= intl) {
        const e = intlAt(b, p, end);
        if (kept(b, p, e, start, end, 8, 15, false)) {
          PARTS[INTL].push(p, e);
          intl = e;
        }
      }
      continue;
    }
    if ((c === 0x28 || c === 0x31) && p >= paren) {
      const e = nanpParenAt(b, p, end);
      if (kept(b, p, e, start, end, 10, 11, false)) {
        PARTS[PAREN].push(p, e);
        paren = e;
      }
    }
    if (c >= 0x31 && p >= nanp) {
      const e = nanpAt(b, p, end);
      if (kept(b, p, e, start, end, 10, 11, false)) {
        PARTS[NANP].push(p, e);
        nanp = e;
      }
    }
    if (c === 0x30 && p >= uk) {
      const e = ukAt(b, p, end);
      if (kept(b, p, e, start, end, 10, 11, true)) {
        PARTS[UK].push(p, e);
        uk = e;
      }
    }
  }
  let sources = 0;
  let one: Spans | null = null;
  for (const s of PARTS) {
    if (s.n === 0) continue;
    sources++;
    one ??= s;
  }
  if (one === null) return;
  if (sources === 1) {
    for (let k = 0; k < one.n; k += 2) out.push(one.at[k]!, one.at[k + 1]!);
    return;
  }
  mergeInto(PARTS, out);
}

/**
 * detectors.ts resolveOverlaps() of sorted, disjoint lists of spans, joined in the order given,
 * appended to `out`: resolveOverlaps() sorts by start, then the longest first (a stable sort:
 * between equal spans the earlier list's first), and keeps each span that starts at or after the
 * end of the last kept one. Each list being sorted already, a merge gives that order with no sort.
 */
export function mergeInto(lists: readonly Spans[], out: Spans): void {
  const pos = MERGE_POS;
  for (let k = 0; k < lists.length; k++) pos[k] = 0;
  let last = -1;
  for (;;) {
    let best = -1, bs = 0, be = 0;
    for (let k = 0; k < lists.length; k++) {
      const l = lists[k]!;
      const i = pos[k]!;
      if (i >= l.n) continue;
      const s = l.at[i]!, e = l.at[i + 1]!;
      if (best < 0 || s < bs || (s === bs && e > be)) {
        best = k;
        bs = s;
        be = e;
      }
    }
    if (best < 0) return;
    pos[best]! += 2;
    if (be > bs && bs >= last) {
      out.push(bs, be);
      last = be;
    }
  }
}
const MERGE_POS: number[] = [];
