import { isoFromUs } from '../core/clock.js';
import type { SessionSummary } from '../ledger/ledger.js';
import { truncate } from './format.js';

/** `gatehouse sessions` output: an aligned table, or JSON objects with ISO times. */

const REASON_MAX = 60;
const CELL_MAX = 40;

/** One session for `gatehouse sessions --json`: the raw summary with ISO times (µs kept alongside). */
export interface SessionJson extends Omit<SessionSummary, 'startedAt' | 'endedAt'> {
  /** ISO-8601 with µs */
  startedAt: string;
  endedAt: string | null;
  startedAtUs: number;
  endedAtUs: number | null;
  durationMs: number | null;
}

export function sessionJson(s: SessionSummary): SessionJson {
  return {
    ...s,
    startedAt: isoFromUs(s.startedAt),
    endedAt: s.endedAt === null ? null : isoFromUs(s.endedAt),
    startedAtUs: s.startedAt,
    endedAtUs: s.endedAt,
    durationMs: s.endedAt === null ? null : Math.round((s.endedAt - s.startedAt) / 1000),
  };
}

/** ISO-8601 to the second, UTC: 2026-11-22T15:04:05Z */
function isoSeconds(us: number): string {
  return `${isoFromUs(us).slice(0, 19)}Z`;
}

const clean = (s: string | null, max: number): string => (s === null || s === '' ? '-' : truncate(s.replace(/\s+/g, ' '), max));

export function renderSessionsTable(sessions: readonly SessionSummary[]): string {
  if (sessions.length === 0) return 'no sessions match\n';
  const head = ['ID', 'STARTED', 'STATUS', 'CONNECTION', 'SUBJECT', 'AUTHORIZED BY', 'CI JOB', 'STMTS', 'ERRS', 'REASON'];
  const numeric = new Set([7, 8]);
  const rows = sessions.map((s) => [
    s.id,
    isoSeconds(s.startedAt),
    s.status,
    clean(s.connection, CELL_MAX),
    clean(s.subject, CELL_MAX),
    clean(s.authorizedBy, CELL_MAX),
    clean(s.ciJob, CELL_MAX),
    String(s.statements),
    String(s.errors),
    s.reason === null || s.reason === '' ? '' : clean(s.reason, REASON_MAX),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  const n = sessions.length;
  return `${[line(head), ...rows.map(line)].join('\n')}\n${n} session${n === 1 ? '' : 's'}\n`;
}
