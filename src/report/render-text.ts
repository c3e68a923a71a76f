import { formatMs, formatValue, isSshCommand, isStatement, oneLine, policyText, truncate } from './format.js';
import { escapeControls } from './sanitize.js';
import type { ReportEvent, ReportResult, SessionReport } from './session-report.js';
import { exitSummary, recordingText, refusedText, sftpText, upstreamText } from './ssh-format.js';
import { sshEntry } from './ssh-text.js';

/**
 * The terminal form of a session report (plain text, no colours). No control character but
 * newline and tab reaches the output (see sanitize.ts): recorded text cannot drive the terminal.
 */

export { formatMs };

const SAMPLE_ROWS = 5;
const CELL = 40;
const INDENT = '        ';

/** One line for a result: "SELECT 3, 3 rows, 1.2 ms" or "ERROR 22012: division by zero". */
export function resultSummary(r: ReportResult): string {
  if (r.error) return `${r.status === 'error' ? 'ERROR' : r.status.toUpperCase()} ${r.error.sqlstate}: ${r.error.message}`;
  const parts = [r.tag ?? r.status];
  if (r.rows !== null) parts.push(`${r.rows} row${r.rows === 1 ? '' : 's'}`);
  if (r.copy) parts.push(`COPY ${r.copy.direction} ${r.copy.bytes} bytes`);
  parts.push(formatMs(r.durationUs));
  if (r.status !== 'ok') parts.push(`(${r.status})`);
  return parts.join(', ');
}

/** A one-line description of a non-statement event (session.start, auth.denied, session.end, ...). */
export function eventDetail(e: ReportEvent, protocol = 'postgres'): string {
  const q = (s: string | null | undefined): string => (s === null || s === undefined ? '-' : s);
  const noun = protocol === 'ssh' ? 'command' : 'statement';
  switch (e.type) {
    case 'session.start':
      return `connection ${q(e.connection)}, subject ${q(e.subject)}, authorized by ${q(e.authorizedBy)}`;
    case 'auth.denied':
      return `${q(e.code)}: ${q(e.reason)} (connection ${q(e.connection)}, subject ${q(e.subject)})`;
    case 'session.end':
      return `${q(e.status)}${e.reason ? `: ${e.reason}` : ''} (${e.statements ?? 0} ${noun}s, ${e.errors ?? 0} errors, ${formatMs(e.durationUs ?? 0)})`;
    case 'pg.cancel':
      return e.statementSeq === null || e.statementSeq === undefined ? 'no statement running' : `cancel of statement #${e.statementSeq}${e.reason ? ` (${e.reason})` : ''}`;
    case 'pg.prepare':
      return `PREPARE ${e.statementName === '' ? '(unnamed)' : q(e.statementName)}${e.paramTypes && e.paramTypes.length > 0 ? ` param types ${e.paramTypes.join(',')}` : ''}`;
    case 'pg.result':
      return `result of statement #${q(e.statementSeq === undefined ? null : String(e.statementSeq))} (statement not in this session's records)`;
    case 'ledger.checkpoint':
      return `checkpoint tree size ${e.treeSize ?? '-'}, root ${q(e.rootHash)}, key ${q(e.keyId)}`;
    case 'ledger.pruned':
      return `pruned ${e.count ?? 0} record payload(s) up to seq ${e.upToSeq ?? '-'}`;
    case 'approval.requested':
      return `${q(e.approval?.id)} for ${noun} #${e.statementSeq ?? '-'}: policy ${q(e.approval?.policy)} (${q(e.approval?.reason)}); reviewers ${(e.approval?.reviewers ?? []).join(', ')}; expires ${q(e.approval?.expiresAt)}`;
    case 'approval.decided': {
      const a = e.approval;
      const who = a?.by === 'reviewer' ? `by ${q(a.reviewer)}` : `(${q(a?.by)})`;
      return `${q(a?.id)} ${q(a?.decision)} ${who}${a?.reason ? `: ${a.reason}` : ''}; ${q(a?.scope)}; waited ${formatMs(a?.waitedUs ?? 0)}`;
    }
    case 'ssh.refused':
      return e.refused ? refusedText(e.refused) : '';
    case 'ssh.forward':
    case 'http.response':
    case 'kubernetes.stream':
      return q(e.command);
    case 'http.request':
      return `${q(e.command)}${e.decision ? ` — ${e.decision.action} by policy "${e.decision.policy}"${e.decision.reason ? `: ${e.decision.reason}` : ''}` : ''}`;
    case 'ssh.sftp':
      return e.sftp ? sftpText(e.sftp) : '';
    case 'ssh.exit':
      return `exit of command #${e.statementSeq ?? '-'} (command not in this session's records)${e.exit ? `: ${exitSummary(e.exit)}` : ''}`;
    case 'ssh.command':
      return `typed into shell #${e.statementSeq ?? '-'} (shell not in this session's records): ${q(e.command)}  (typed, best effort)`;
    case 'ssh.recording':
      return `${e.recording ? recordingText(e.recording) : 'recording'} (shell #${e.statementSeq ?? '-'} not in this session's records)`;
    default:
      return e.pruned ? 'payload removed by retention' : '';
  }
}

function table(columns: string[] | null, rows: string[][]): string[] {
  const width = Math.max(columns?.length ?? 0, ...rows.map((r) => r.length));
  const head = Array.from({ length: width }, (_, i) => truncate(columns?.[i] ?? `col${i + 1}`, CELL));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => head.map((_, i) => (cells[i] ?? '').padEnd(widths[i] ?? 0)).join(' | ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map(line)];
}

function statement(e: ReportEvent, out: string[]): void {
  const [first = '', ...rest] = (e.command ?? '').split(/\r?\n/);
  const name = e.type === 'pg.execute' && e.statementName ? ` [${e.statementName}]` : '';
  out.push(`#${e.seq}  ${e.time}  ${first}${rest.length === 0 ? name : ''}`);
  for (const l of rest) out.push(`${INDENT}${l}`);
  if (rest.length > 0 && name) out.push(`${INDENT}(statement${name})`);
  if (e.decision) {
    const d = e.decision;
    out.push(`${INDENT}policy: ${policyText(d)}`);
  }
  if (e.params && e.params.length > 0) {
    out.push(`${INDENT}params: ${e.params.map((p, i) => `$${i + 1}=${p === null ? 'NULL' : typeof p === 'string' ? `'${oneLine(truncate(p, CELL))}'` : oneLine(truncate(formatValue(p), CELL))}`).join(', ')}`);
  }
  const results = e.results ?? (e.result ? [e.result] : []);
  if (results.length === 0) out.push(`${INDENT}→ (no result recorded)`);
  for (const r of results) {
    out.push(`${INDENT}→ ${results.length > 1 ? `[${r.index}] ` : ''}${oneLine(resultSummary(r))}`);
    if (r.masked) {
      const cols = Object.entries(r.masked.columns).map(([c, n]) => `${c} ${n}`).join(', ');
      out.push(`${INDENT}  masked by ${r.masked.rules.join(', ')}${cols ? `: ${cols}` : ''}`);
    }
    if (r.sample.length === 0) continue;
    const rows = r.sample.slice(0, SAMPLE_ROWS).map((row) => row.map((v) => oneLine(truncate(formatValue(v), CELL))));
    for (const l of table(r.columns, rows)) out.push(`${INDENT}  ${l}`);
    const total = Math.max(r.rows ?? 0, r.sample.length);
    if (total > rows.length) out.push(`${INDENT}  (${rows.length} of ${total} rows shown)`);
  }
}

export function renderText(rep: SessionReport): string {
  const s = rep.session;
  const id = rep.identity;
  const c = s.client;
  const ssh = s.protocol === 'ssh';
  const out: string[] = [];
  out.push(`Session ${s.id}`);
  out.push(`  connection     ${s.connection ?? '-'} (${s.protocol})`);
  out.push(`  status         ${s.status}`);
  out.push(`  started        ${s.startedAt}`);
  out.push(`  ended          ${s.endedAt ?? '(still active)'}`);
  out.push(`  duration       ${s.durationMs === null ? '-' : `${s.durationMs} ms`}`);
  out.push(`  ${ssh ? 'commands  ' : 'statements'}     ${s.statements}, errors ${s.errors}`);
  out.push('');
  out.push(`Identity${id.verified ? '' : ' (NOT verified: what the token claimed, if anything)'}`);
  out.push(`  subject        ${id.subject ?? '-'}`);
  out.push(`  groups         ${id.groups.length > 0 ? id.groups.join(', ') : '-'}`);
  out.push(`  authorized by  ${id.authorizedBy ?? '-'}`);
  out.push(`  issuer         ${id.issuer ?? '-'}`);
  out.push(`  client id      ${id.clientId ?? '-'}`);
  out.push(`  token id       ${id.tokenId ?? '-'}`);
  out.push(`  token sha256   ${id.tokenSha256 ?? '-'}`);
  out.push(`  CI job         ${id.ciJob ?? '-'}`);
  out.push(`  client user    ${c.user ?? '-'} (client-declared)`);
  out.push(`  client app     ${c.application ?? '-'} (client-declared)`);
  out.push(`  address        ${c.address ?? '-'}${c.port !== null ? `:${c.port}` : ''}${ssh ? ' (ssh)' : c.tls === null ? '' : c.tls ? ' (tls)' : ' (no tls)'}`);
  if (s.upstream) out.push(`  upstream       ${upstreamText(s.upstream, s.protocol, (on) => (on ? ' (tls)' : ' (no tls)'))}`);
  out.push('');
  out.push('Events');
  for (const e of rep.events) {
    if (e.pruned) out.push(`#${e.seq}  ${e.time}  ${e.type}  (payload removed by retention)`);
    else if (isStatement(e)) statement(e, out);
    else if (e.type === 'pg.prepare') out.push(`#${e.seq}  ${e.time}  ${eventDetail(e)}: ${oneLine(e.command ?? '')}`);
    else if (isSshCommand(e)) sshEntry(e, s.id, out);
    else if (e.type === 'ssh.refused') out.push(`#${e.seq}  ${e.time}  ${oneLine(eventDetail(e, s.protocol))}`);
    else out.push(`#${e.seq}  ${e.time}  ${e.type}  ${oneLine(eventDetail(e, s.protocol))}`.trimEnd());
  }
  if (rep.events.length === 0) out.push('  (no records)');
  out.push('');
  out.push(`Ended: ${s.endedAt === null ? '(still active)' : s.status}${s.reason ? ` — ${oneLine(s.reason)}` : ''}`);
  out.push(`Ledger records ${rep.ledger.firstSeq ?? '-'}..${rep.ledger.lastSeq ?? '-'}, last hash ${rep.ledger.lastHash ?? '-'}`);
  return escapeControls(`${out.join('\n')}\n`);
}
