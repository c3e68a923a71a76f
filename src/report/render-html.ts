import { isoFromUs, nowUs } from '../core/clock.js';
import { formatValue, isSshCommand, isStatement } from './format.js';
import { eventDetail, resultSummary } from './render-text.js';
import { escapeHtml } from './sanitize.js';
import type { ReportEvent, ReportResult, SessionReport } from './session-report.js';
import { upstreamText } from './ssh-format.js';
import { policyHtml, SSH_CSS, sshRow } from './ssh-html.js';

/**
 * The HTML form of a session report: one self-contained file (inline CSS, no script, no external
 * resource; a CSP forbids loading anything) for a compliance reviewer. Everything from the ledger
 * is escaped: recorded SQL, commands and output are attacker-controlled text (control characters
 * too, so the file cannot drive a terminal it is printed on).
 */

export interface HtmlOptions {
  /** µs; when the report was generated (default: now) */
  generatedAtUs?: number;
}

export { escapeHtml };
const esc = escapeHtml;

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2330;max-width:1400px}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:.4rem 0}td,th{border:1px solid #d5d9e2;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f3f8}pre{margin:0;white-space:pre-wrap;word-break:break-word;font:13px/1.4 ui-monospace,monospace}
tr.err>td{background:#fdecec;border-color:#e8b4b4}.error{color:#a40000;font-weight:600}.muted{color:#667}
.status-denied,.status-error{color:#a40000;font-weight:600}.status-ok{color:#146c2e;font-weight:600}
table.sample{font-size:12px;margin:.2rem 0}table.sample td,table.sample th{padding:.1rem .35rem}
.hash{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}footer{margin-top:2rem;font-size:12px;color:#667}`;

const MUTED_DASH = '<span class="muted">—</span>';

function cell(v: string | null): string {
  return v === null || v === '' ? MUTED_DASH : esc(v);
}

function kv(rows: Array<[string, string | null, string?]>): string {
  const tr = rows.map(([k, v, cls]) => `<tr><th>${esc(k)}</th><td${cls ? ` class="${esc(cls)}"` : ''}>${cell(v)}</td></tr>`);
  return `<table>${tr.join('')}</table>`;
}

function sampleTable(r: ReportResult): string {
  if (r.sample.length === 0) return '';
  const width = Math.max(r.columns?.length ?? 0, ...r.sample.map((row) => row.length));
  const head = Array.from({ length: width }, (_, i) => `<th>${esc(r.columns?.[i] ?? `col${i + 1}`)}</th>`).join('');
  const rows = r.sample
    .map((row) => `<tr>${Array.from({ length: width }, (_, i) => {
      const v = row[i];
      return v === undefined ? '<td></td>' : v === null ? '<td class="muted">NULL</td>' : `<td>${esc(formatValue(v))}</td>`;
    }).join('')}</tr>`)
    .join('');
  const note = (r.rows ?? 0) > r.sample.length ? `<div class="muted">first ${r.sample.length} of ${r.rows ?? 0} rows</div>` : '';
  return `<table class="sample"><tr>${head}</tr>${rows}</table>${note}`;
}

function paramsCell(e: ReportEvent): string {
  if (!e.params || e.params.length === 0) return MUTED_DASH;
  const lines = e.params.map((p, i) => `$${i + 1} = ${p === null ? 'NULL' : typeof p === 'string' ? `'${p}'` : formatValue(p)}`);
  return `<pre>${esc(lines.join('\n'))}</pre>`;
}

function statementRow(e: ReportEvent): string {
  if (e.pruned) {
    return `<tr><td>${e.seq}</td><td>${esc(e.time)}</td><td colspan="4" class="muted">${esc(e.type)}: payload removed by retention</td></tr>`;
  }
  const results = e.results ?? (e.result ? [e.result] : []);
  const failed = results.some((r) => r.error !== null || r.status === 'error');
  const label = (r: ReportResult): string => (results.length > 1 ? `[${r.index}] ` : '');
  const stmtName = e.type === 'pg.execute' && e.statementName ? `<div class="muted">statement ${esc(e.statementName)}${e.portal ? `, portal ${esc(e.portal)}` : ''}</div>` : '';
  const d = e.decision;
  const policy = d ? policyHtml(d) : '';
  const res = results.length === 0
    ? '<span class="muted">no result recorded</span>'
    : results
      .map((r) => `<div${r.error ? ' class="error"' : ''}>${esc(label(r) + resultSummary(r))}</div>`
        + `<div class="muted hash">${r.bytes} bytes, sha256 ${esc(r.sha256)}</div>`)
      .join('');
  const samples = results
    .filter((r) => r.sample.length > 0)
    .map((r) => (results.length > 1 ? `<div class="muted">[${r.index}]</div>` : '') + sampleTable(r))
    .join('');
  return `<tr${failed ? ' class="err"' : ''}><td>${e.seq}</td><td>${esc(e.time)}</td>`
    + `<td><pre>${esc(e.command ?? '')}</pre>${stmtName}${policy}</td><td>${paramsCell(e)}</td><td>${res}</td><td>${samples || MUTED_DASH}</td></tr>`;
}

function otherRow(e: ReportEvent, protocol: string): string {
  const bad = e.type === 'auth.denied' || e.type === 'ssh.refused' || (e.type === 'session.end' && e.status === 'error');
  const detail = e.type === 'pg.prepare' ? `${eventDetail(e)}\n${e.command ?? ''}` : eventDetail(e, protocol);
  const result = e.type === 'pg.result' && e.result ? `\n${resultSummary(e.result)}` : '';
  return `<tr${bad ? ' class="err"' : ''}><td>${e.seq}</td><td>${esc(e.time)}</td><td>${esc(e.type)}</td><td><pre>${esc(detail + result)}</pre></td></tr>`;
}

export function renderHtml(rep: SessionReport, options: HtmlOptions = {}): string {
  const s = rep.session;
  const id = rep.identity;
  const c = s.client;
  const ssh = s.protocol === 'ssh';
  const isCommand = ssh ? isSshCommand : isStatement;
  const statements = rep.events.filter(isCommand);
  const others = rep.events.filter((e) => !isCommand(e));
  const generated = isoFromUs(options.generatedAtUs ?? nowUs());
  const upstream = s.upstream ? upstreamText(s.upstream, s.protocol, (on) => ` (tls ${on ? 'on' : 'off'})`) : null;
  const params = Object.entries(s.parameters).map(([k, v]) => `${k}=${v}`).join(', ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="referrer" content="no-referrer">
<title>Gatehouse session ${esc(s.id)}</title><style>${CSS}${ssh ? SSH_CSS : ''}</style></head><body>
<h1>Gatehouse session report: ${esc(s.id)}</h1>
<h2>Summary</h2>
${kv([
  ['Session', s.id], ['Protocol', s.protocol], ['Connection', s.connection], ['Status', s.status, `status-${s.status}`],
  ['Reason', s.reason], ['Started', s.startedAt], ['Ended', s.endedAt],
  ['Duration', s.durationMs === null ? null : `${s.durationMs} ms`],
  [ssh ? 'Commands' : 'Statements', String(s.statements)], ['Errors', String(s.errors), s.errors > 0 ? 'error' : undefined],
  ['Upstream', upstream], ...(ssh ? [] : [['Startup parameters', params] as [string, string]]),
])}
<h2>Identity${id.verified ? '' : ' (not verified: what the token claimed, if anything)'}</h2>
${kv([
  ['Subject', id.subject], ['Groups', id.groups.join(', ')], ['Authorized by group', id.authorizedBy], ['Issuer', id.issuer],
  ['Client id', id.clientId], ['Token id', id.tokenId], ['Token SHA-256', id.tokenSha256], ['CI job', id.ciJob],
  ['Client address', c.address === null ? null : `${c.address}${c.port !== null ? `:${c.port}` : ''}`],
  ssh ? ['Client transport', 'ssh'] : ['Client TLS', c.tls === null ? null : c.tls ? 'yes' : 'no'],
  ['Client-declared user', c.user], ['Client-declared application', c.application],
])}
<h2>${ssh ? 'Commands' : 'Statements'} (${statements.length})</h2>
${statements.length === 0
    ? '<p class="muted">none</p>'
    : ssh
      ? `<table><tr><th>#</th><th>Time</th><th>Command</th><th>Result</th><th>Output</th></tr>\n${statements.map((e) => sshRow(e, s.id)).join('\n')}</table>`
      : `<table><tr><th>#</th><th>Time</th><th>Command</th><th>Params</th><th>Result</th><th>Sample rows</th></tr>\n${statements.map(statementRow).join('\n')}</table>`}
<h2>Session events</h2>
${others.length === 0
    ? '<p class="muted">none</p>'
    : `<table><tr><th>#</th><th>Time</th><th>Type</th><th>Detail</th></tr>\n${others.map((e) => otherRow(e, s.protocol)).join('\n')}</table>`}
<footer>Ledger records ${rep.ledger.firstSeq ?? '—'} to ${rep.ledger.lastSeq ?? '—'}, last record hash <span class="hash">${esc(rep.ledger.lastHash ?? '—')}</span>.
Check the chain with <code>gatehouse verify</code>. generated by gatehouse report at ${esc(generated)}</footer>
</body></html>
`;
}
