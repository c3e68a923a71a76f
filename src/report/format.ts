import type { RecordedValue } from '../core/events.js';
import type { ReportEvent, ReportResult } from './session-report.js';

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

export function formatDuration(us: number): string {
  return us < 1000 ? `${us} µs` : us < 1_000_000 ? `${(us / 1000).toFixed(1)} ms` : `${(us / 1_000_000).toFixed(2)} s`;
}

/** One line for a result: "SELECT 3, 3 rows, 1.2 ms" or "ERROR 22012: division by zero". */
export function resultLine(r: ReportResult): string {
  if (r.error) return `${r.status === 'error' ? 'ERROR' : r.status} ${r.error.sqlstate}: ${r.error.message}`;
  const parts = [r.tag ?? r.status];
  if (r.rows !== null) parts.push(`${r.rows} row${r.rows === 1 ? '' : 's'}`);
  if (r.copy) parts.push(`COPY ${r.copy.direction} ${r.copy.bytes} bytes`);
  parts.push(formatDuration(r.durationUs));
  if (r.status !== 'ok') parts.push(`(${r.status})`);
  return parts.join(', ');
}

export function isStatement(e: ReportEvent): boolean {
  return e.type === 'pg.query' || e.type === 'pg.execute' || e.type === 'pg.function_call';
}
