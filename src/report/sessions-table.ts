import { isoFromUs } from '../core/clock.js';
import type { SessionSummary } from '../ledger/ledger.js';
import { truncate } from './format.js';

/** `gatehouse sessions` output: an aligned table, or JSON objects with ISO times. */

export function sessionJson(s: SessionSummary): Record<string, unknown> {
  return {
    ...s,
    startedAt: isoFromUs(s.startedAt),
    endedAt: s.endedAt === null ? null : isoFromUs(s.endedAt),
    startedAtUs: s.startedAt,
    endedAtUs: s.endedAt,
  };
}

export function renderSessionsTable(sessions: readonly SessionSummary[]): string {
  if (sessions.length === 0) return 'no sessions match\n';
  const head = ['ID', 'STARTED (UTC)', 'STATUS', 'CONNECTION', 'SUBJECT', 'AUTHORIZED BY', 'CI JOB', 'STMTS', 'ERRS', 'REASON'];
  const rows = sessions.map((s) => [
    s.id,
    isoFromUs(s.startedAt).slice(0, 19).replace('T', ' '),
    s.status,
    s.connection ?? '-',
    s.subject ?? '-',
    s.authorizedBy ?? '-',
    s.ciJob ?? '-',
    String(s.statements),
    String(s.errors),
    truncate(s.reason ?? '', 60),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n${sessions.length} session${sessions.length === 1 ? '' : 's'}\n`;
}
