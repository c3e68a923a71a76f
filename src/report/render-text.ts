import { formatValue, isStatement, resultLine, truncate } from './format.js';
import type { ReportEvent, SessionReport } from './session-report.js';

/** The terminal form of a session report (no colours, fits 120 columns). */

const SAMPLE_ROWS = 5;
const CELL = 40;

function table(columns: string[] | null, rows: string[][]): string[] {
  const head = columns ?? rows[0]?.map((_, i) => `col${i + 1}`) ?? [];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map(line)];
}

function statement(e: ReportEvent, out: string[]): void {
  const [first = '', ...rest] = (e.command ?? '').split('\n');
  out.push(`#${e.seq}  ${e.time}  ${first}`);
  for (const l of rest) out.push(`        ${l}`);
  if (e.params && e.params.length > 0) out.push(`        params: ${e.params.map((p, i) => `$${i + 1}=${truncate(formatValue(p), CELL)}`).join(', ')}`);
  const results = e.results ?? (e.result ? [e.result] : []);
  if (results.length === 0) out.push('        → (no result recorded)');
  for (const r of results) {
    out.push(`        → ${results.length > 1 ? `[${r.index}] ` : ''}${resultLine(r)}`);
    if (r.sample.length > 0) {
      const rows = r.sample.slice(0, SAMPLE_ROWS).map((row) => row.map((v) => truncate(formatValue(v), CELL)));
      for (const l of table(r.columns, rows)) out.push(`          ${l}`);
      if (r.sample.length > SAMPLE_ROWS || (r.rows ?? 0) > SAMPLE_ROWS) out.push(`          (${r.rows ?? r.sample.length} rows in all; ${Math.min(r.sample.length, SAMPLE_ROWS)} shown)`);
    }
  }
}

export function renderText(rep: SessionReport): string {
  const s = rep.session;
  const id = rep.identity;
  const out: string[] = [];
  out.push(`Session ${s.id}`);
  out.push(`  connection   ${s.connection ?? '-'} (${s.protocol})`);
  out.push(`  status       ${s.status}${s.reason ? ` — ${s.reason}` : ''}`);
  out.push(`  started      ${s.startedAt}`);
  out.push(`  ended        ${s.endedAt ?? '(still active)'}${s.durationMs !== null ? `  (${s.durationMs} ms)` : ''}`);
  out.push(`  statements   ${s.statements}, errors ${s.errors}`);
  out.push('');
  out.push(`Identity${id.verified ? '' : ' (NOT verified: what the token claimed)'}`);
  out.push(`  subject      ${id.subject ?? '-'}`);
  out.push(`  groups       ${id.groups.length > 0 ? id.groups.join(', ') : '-'}`);
  out.push(`  authorized by ${id.authorizedBy ?? '-'}`);
  out.push(`  issuer       ${id.issuer ?? '-'}`);
  out.push(`  token id     ${id.tokenId ?? '-'}   sha256 ${id.tokenSha256 ?? '-'}`);
  out.push(`  CI job       ${id.ciJob ?? '-'}`);
  out.push(`  client       ${s.client.address ?? '-'}${s.client.port ? `:${s.client.port}` : ''} tls=${s.client.tls ?? '-'} user="${s.client.user ?? ''}" application="${s.client.application ?? ''}" (client-declared)`);
  if (s.upstream) out.push(`  upstream     ${s.upstream.user}@${s.upstream.host}:${s.upstream.port}/${s.upstream.database} tls=${s.upstream.tls}`);
  out.push('');
  out.push('Events');
  for (const e of rep.events) {
    if (isStatement(e)) statement(e, out);
    else if (e.type === 'pg.prepare') out.push(`#${e.seq}  ${e.time}  PREPARE ${e.statementName}: ${(e.command ?? '').split('\n').join(' ')}`);
    else out.push(`#${e.seq}  ${e.time}  ${e.type}${e.detail ? `  ${JSON.stringify(e.detail)}` : ''}`);
  }
  out.push('');
  out.push(`Ledger records ${rep.ledger.firstSeq ?? '-'}…${rep.ledger.lastSeq ?? '-'}, last hash ${rep.ledger.lastHash ?? '-'}`);
  return `${out.join('\n')}\n`;
}
