import { reviewCommands } from '../approvals/review-commands.js';
import { shortDuration, visibleText, type ApprovalJson, type GrantJson } from '../approvals/view.js';
import { truncate } from './format.js';

/** `gatehouse approvals list` / `show`: an aligned table and a detail view of the API's JSON. */

const STATEMENT_MAX = 60;
const CELL_MAX = 32;

/** One line, invisible characters shown (the text is the requester's: see visibleText), cut to fit. */
const clean = (s: string, max: number): string => (s === '' ? '-' : truncate(visibleText(s.replace(/\s+/g, ' ').trim()), max));

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

function outcome(a: ApprovalJson, nowMs: number): string {
  const d = a.decision;
  if (d === null) return `in ${shortDuration(a.expiresAt / 1000 - nowMs)}`;
  const who = d.reviewer?.subject ?? d.by;
  return `${d.decision} (${who})`;
}

export function renderApprovalsTable(list: readonly ApprovalJson[], nowMs = Date.now()): string {
  if (list.length === 0) return 'no pending approvals\n';
  const withState = list.some((a) => a.state !== 'pending');
  const head = ['ID', 'AGE', 'REQUESTER', 'CONNECTION', 'POLICY', 'STATEMENT', withState ? 'EXPIRES IN / DECISION' : 'EXPIRES IN'];
  const rows = list.map((a) => [
    a.id,
    shortDuration(nowMs - a.requestedAt / 1000),
    clean(a.requester.subject, CELL_MAX),
    clean(a.connection, CELL_MAX),
    clean(a.policy, CELL_MAX),
    clean(a.text, STATEMENT_MAX),
    outcome(a, nowMs),
  ]);
  const n = list.length;
  const what = withState ? 'approval' : 'pending approval';
  return `${table(head, rows)}\n${n} ${what}${n === 1 ? '' : 's'}\n`;
}

export function renderApproval(a: ApprovalJson, baseUrl: string | null, nowMs = Date.now()): string {
  const r = a.requester;
  const lines = [
    `approval   ${a.id}  ${a.state}${a.state === 'pending' ? ` (denied automatically in ${shortDuration(a.expiresAt / 1000 - nowMs)}, at ${a.expiresAtIso})` : ''}`,
    `requested  ${a.requestedAtIso} (${shortDuration(nowMs - a.requestedAt / 1000)} ago)`,
    `requester  ${r.subject}  groups: ${r.groups.join(', ') || '-'}${r.ciJob !== null ? `  CI job: ${r.ciJob}` : ''}`,
    `session    ${a.sessionId}${a.statementSeq !== null ? `  (record #${a.statementSeq})` : ''}`,
    `connection ${a.connection} (${a.protocol})`,
    `policy     ${a.policy}: ${a.reason}`,
    `reviewers  ${a.reviewers.join(', ')}`,
  ];
  const d = a.decision;
  if (d !== null) {
    const by = d.reviewer ? `by ${d.reviewer.subject}` : `(${d.by})`;
    const grant = d.scope.kind === 'grant' ? `; grant ${d.scope.grantId} until ${d.untilIso}` : '';
    lines.push(`decision   ${d.decision} ${by} at ${d.decidedAtIso}${grant}${d.reason ? `: ${d.reason}` : ''}`);
  }
  lines.push('statement', ...a.text.split('\n').map((l) => `  ${l}`));
  if (a.state === 'pending') {
    const cmd = reviewCommands(a.id, baseUrl);
    lines.push('', `approve:   ${cmd.approve} [--reason TEXT] [--for 30m]`, `deny:      ${cmd.deny} [--reason TEXT]`);
  }
  return `${visibleText(lines.join('\n'))}\n`;
}

export function renderGrantsTable(grants: readonly GrantJson[], nowMs = Date.now()): string {
  if (grants.length === 0) return 'no active grants\n';
  const rows = grants.map((g) => [g.id, clean(g.subject, CELL_MAX), clean(g.connection, CELL_MAX), clean(g.grantedBy, CELL_MAX), g.untilIso, shortDuration(g.until / 1000 - nowMs), g.approvalId]);
  return `${table(['ID', 'SUBJECT', 'CONNECTION', 'GRANTED BY', 'UNTIL', 'LEFT', 'APPROVAL'], rows)}\n`;
}
