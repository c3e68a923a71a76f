import { hash } from 'node:crypto';

/**
 * Canonical JSON (the subset of RFC 8785 JCS we need): object keys sorted by UTF-16 code units,
 * no whitespace, strings escaped as JSON.stringify does, numbers limited to safe integers so
 * that every implementation prints them identically. `undefined` members are omitted.
 * Anything else (floats, NaN, bigint, functions) is a programming error.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new TypeError(`canonical JSON allows only safe integers, got ${value}`);
      return String(value);
    case 'object': {
      if (value === null) return 'null';
      // loops and one string, not filter/map/join: every record's payload passes here on the
      // statement's path (docs/performance.md, run 8)
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          out += (i === 0 ? '' : ',') + (v === undefined ? 'null' : canonicalJson(v));
        }
        return out + ']';
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      let out = '{';
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        out += (out.length === 1 ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
  }
}

export const GENESIS_HASH = '0'.repeat(64);

export interface HashedFields {
  seq: number;
  time: number;
  sessionId: string;
  /** canonical JSON of the event */
  payload: string;
  prevHash: string;
}

/**
 * The record hash: SHA-256 over the canonical JSON of
 * {"event":<payload>,"prev":<prevHash>,"seq":<seq>,"session":<sessionId>,"time":<time µs>}.
 * Keys are already in canonical order, so the string is built directly (docs/architecture.md).
 */
export function recordHash(f: HashedFields): string {
  const text = `{"event":${f.payload},"prev":${JSON.stringify(f.prevHash)},"seq":${f.seq},"session":${JSON.stringify(f.sessionId)},"time":${f.time}}`;
  return hash('sha256', text, 'hex');
}

export function sha256Hex(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
}
