import type { DecisionRecord, RecordedValue } from '../core/events.js';
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

/** An SSH command entry of the report: an exec, an interactive shell, a file operation. */
export function isSshCommand(e: ReportEvent): boolean {
  return e.type === 'ssh.exec' || e.type === 'ssh.shell' || e.type === 'ssh.sftp';
}

/** Milliseconds for a µs duration: "0.412 ms", "3.1 ms", "1520 ms". */
export function formatMs(us: number): string {
  const ms = us / 1000;
  return `${ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(1) : ms.toFixed(3)} ms`;
}

/** A µs duration that may be long (a shell): ms below 10 s, then "12.5 s", then "61 min 5 s". */
export function formatDuration(us: number): string {
  if (us < 10_000_000) return formatMs(us);
  const s = us / 1e6;
  if (s < 600) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

/** One line of text: newlines as "\n", tabs as spaces. */
export const oneLine = (s: string): string => s.replace(/\r?\n/g, '\\n').replace(/\t/g, ' ');

/** The policy decision on a command, as text: 'review by "writes" (why), approval apr-1'. */
export function policyText(d: DecisionRecord): string {
  return `${d.action} by "${d.policy}"${d.reason ? ` (${oneLine(d.reason)})` : ''}${d.approvalId ? `, approval ${d.approvalId}` : ''}`;
}
