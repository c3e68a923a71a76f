import { createHash } from 'node:crypto';
import type { RecordedValue } from '../../core/events.js';

/**
 * Turns a wire value into what the ledger keeps: text as a string, binary as hex, NULL as null,
 * and anything longer than `max` bytes as a prefix plus the length and SHA-256 of the whole value.
 */
export function recordValue(value: Buffer | null, format: number, max: number): RecordedValue {
  if (value === null) return null;
  if (value.length > max) {
    const prefix = format === 0 ? value.toString('utf8', 0, max) : value.toString('hex', 0, Math.floor(max / 2));
    return { truncated: true, prefix, bytes: value.length, sha256: createHash('sha256').update(value).digest('hex') };
  }
  return format === 0 ? value.toString('utf8') : { hex: value.toString('hex') };
}

/** The format code of value i given a Bind/FunctionCall format list (none = text, one = all, else per value). */
export function formatAt(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0;
  if (formats.length === 1) return formats[0]!;
  return formats[i] ?? 0;
}

export function recordValues(values: ReadonlyArray<Buffer | null>, formats: readonly number[], max: number): RecordedValue[] {
  const out = new Array<RecordedValue>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = recordValue(values[i]!, formatAt(formats, i), max);
  return out;
}
