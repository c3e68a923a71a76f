import type { RecordedValue } from '../core/events.js';
import type { ReportEvent } from './session-report.js';

/** Small formatting helpers shared by the text and HTML renderers. */

export function formatValue(v: RecordedValue): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return v;
  if ('hex' in v) return `\\x${v.hex}`;
  return `${v.prefix}… (${v.bytes} bytes, sha256 ${v.sha256.slice(0, 12)})`;
}

export function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function isStatement(e: ReportEvent): boolean {
  return e.type === 'pg.query' || e.type === 'pg.execute' || e.type === 'pg.function_call';
}
