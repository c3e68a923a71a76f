import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { NO_MATCHES, resolveOverlaps, type Detector, type Match } from './detectors.js';

/**
 * What replaces a sensitive value. Pure apart from the HMAC. 'null' turns the whole value into SQL NULL, which
 * only the caller (who knows the column and the wire format) can do, so the functions here take the others.
 */
export type Strategy = 'redact' | 'partial' | 'pseudonym' | 'null';

/** HMAC-SHA256 under the masking key; the key itself is not reachable from the object. */
export interface MaskKey { hmac(input: string): Buffer }

export function maskKey(secret: Buffer | string): MaskKey {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  if (bytes.length === 0) throw new TypeError('the masking key must not be empty');
  // a KeyObject keeps the key out of reach of a heap walk over plain buffers; the copy is wiped
  const key: KeyObject = createSecretKey(bytes);
  bytes.fill(0);
  return Object.freeze({ hmac: (input: string): Buffer => createHmac('sha256', key).update(input, 'utf8').digest() });
}

const REDACTED = '****';
/** Letters, combining marks and digits in any script: what `partial` hides. Separators and punctuation stay. */
const HIDDEN = /[\p{L}\p{M}\p{N}]/gu;
const ASCII = /^[\x00-\x7f]*$/;
const ASCII_HIDDEN = /[A-Za-z0-9]/g;
/** Looks like a whole email address: the pseudonym keeps that shape so the column still reads as emails. */
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const isLowSurrogate = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;
const isHighSurrogate = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;

/** Keeps the last 4 characters (code points, so a surrogate pair is never split); ≤ 4 characters → `****`. */
function partial(value: string): string {
  let cut = value.length;
  for (let kept = 0; kept < 4 && cut > 0; kept++) {
    cut--;
    if (isLowSurrogate(value.charCodeAt(cut)) && cut > 0 && isHighSurrogate(value.charCodeAt(cut - 1))) cut--;
  }
  if (cut === 0) return REDACTED;
  const head = value.slice(0, cut);
  // ASCII (the common case) with a plain class: the Unicode property class is several times slower
  return (ASCII.test(head) ? head.replace(ASCII_HIDDEN, '*') : head.replace(HIDDEN, '*')) + value.slice(cut);
}

/**
 * A stable token: equal values under the same key and label give equal tokens, so joins, GROUP BY and counts
 * still work on masked data. The label (rule or detector name) is part of the HMAC input, so the same value
 * masked by two rules does not link across them. 48 bits of HMAC (40 for emails): collisions are unlikely at
 * table scale, and a token alone cannot be reversed without the key.
 */
function pseudonym(value: string, key: MaskKey, label: string): string {
  const hex = key.hmac(`${label}\0${value}`).toString('hex');
  return EMAIL_SHAPE.test(value) ? `u_${hex.slice(0, 10)}@pseudonym.invalid` : `${label}_${hex.slice(0, 12)}`;
}

/** The masked form of a whole value (a column rule, or one matched span). */
export function maskWhole(value: string, strategy: Exclude<Strategy, 'null'>, key: MaskKey, label: string): string {
  switch (strategy) {
    case 'redact':
      return REDACTED;
    case 'partial':
      return partial(value);
    case 'pseudonym':
      return pseudonym(value, key, label);
    default:
      throw new TypeError(`unknown masking strategy "${String(strategy satisfies never)}"`);
  }
}

/**
 * Replaces each matched span of text (sorted, non-overlapping, as scan() returns them); the label of a span is
 * its detector's name.
 */
export function maskMatches(text: string, matches: Match[], strategy: Exclude<Strategy, 'null'>, key: MaskKey): string {
  if (matches.length === 0) return text;
  let out = '';
  let pos = 0;
  for (const m of matches) {
    if (m.start < pos || m.end <= m.start || m.end > text.length) {
      throw new TypeError('maskMatches needs sorted, non-overlapping, non-empty spans inside the text');
    }
    out += text.slice(pos, m.start) + maskWhole(text.slice(m.start, m.end), strategy, key, m.detector);
    pos = m.end;
  }
  return out + text.slice(pos);
}

/**
 * Every detector over text, merged: where matches overlap, the earliest-starting then the longest wins. When
 * nothing matches (the common case) this allocates nothing and returns the shared NO_MATCHES.
 */
export function scan(text: string, detectors: readonly Detector[]): Match[] {
  let found: Match[] | null = null;
  let merged = false;
  for (const detector of detectors) {
    const matches = detector.find(text);
    if (matches.length === 0) continue;
    if (found === null) found = matches;
    else {
      found = found.concat(matches);
      merged = true;
    }
  }
  if (found === null) return NO_MATCHES;
  // one detector's result is already sorted and disjoint by contract; a copy keeps callers off its array
  return merged ? resolveOverlaps(found) : found.slice();
}
