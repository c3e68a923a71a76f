import { nowUs, isoFromUs } from '../core/clock.js';
import { formatValue, isStatement, resultLine } from './format.js';
import type { ReportEvent, ReportResult, SessionReport } from './session-report.js';

/**
 * The HTML form of a session report: one self-contained file (inline CSS, no script, no external
 * resource; a CSP forbids loading anything) for a compliance reviewer. Everything from the ledger is
 * escaped: recorded SQL is attacker-controlled text.
 */

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2330;max-width:1200px}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:.4rem 0}td,th{border:1px solid #d5d9e2;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f3f8}pre{margin:0;white-space:pre-wrap;word-break:break-word;font:13px/1.4 ui-monospace,monospace}
.err{background:#fdecec}.err td{border-color:#e8b4b4}.muted{color:#667}.status-denied,.status-error{color:#a40000;font-weight:600}
.status-ok{color:#146c2e;font-weight:600}table.sample{font-size:12px}footer{margin-top:2rem;font-size:12px;color:#667}`;

function kv(rows: Array<[string, string | null]>): string {
  return `<table>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v === null ? '<span class="muted">—</span>' : esc(v)}</td></tr>`).join('')}</table>`;
}

function sample(r: ReportResult): string {
  if (r.sample.length === 0) return '';
  const head = (r.columns ?? r.sample[0]!.map((_, i) => `col${i + 1}`)).map((c) => `<th>${esc(c)}</th>`).join('');
  const rows = r.sample.map((row) => `<tr>${row.map((v) => `<td>${esc(formatValue(v))}</td>`).join('')}</tr>`).join('');
  const note = (r.rows ?? 0) > r.sample.length ? `<div class="muted">first ${r.sample.length} of ${r.rows} rows</div>` : '';
  return `<table class="sample"><tr>${head}</tr>${rows}</table>${note}`;
}

function statementRow(e: ReportEvent): string {
  const results = e.results ?? (e.result ? [e.result] : []);
  const failed = results.some((r) => r.error !== null);
  const params = e.params && e.params.length > 0 ? `<pre>${esc(e.params.map((p, i) => `$${i + 1} = ${formatValue(p)}`).join('\n'))}</pre>` : '';
  const res = results.length === 0
    ? '<span class="muted">no result recorded</span>'
    : results.map((r) => `<div>${esc(resultLine(r))}</div>${sample(r)}<div class="muted">${r.bytes} bytes, sha256 ${esc(r.sha256)}</div>`).join('');
  return `<tr${failed ? ' class="err"' : ''}><td>${e.seq}</td><td>${esc(e.time)}</td><td><pre>${esc(e.command ?? '')}</pre>${params}</td><td>${res}</td></tr>`;
}

export function renderHtml(rep: SessionReport): string {
  const s = rep.session;
  const id = rep.identity;
  const statements = rep.events.filter(isStatement);
  const others = rep.events.filter((e) => !isStatement(e));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Gatehouse session ${esc(s.id)}</title><style>${CSS}</style></head><body>
<h1>Gatehouse session report</h1>
${kv([
  ['Session', s.id], ['Connection', `${s.connection ?? '—'} (${s.protocol})`], ['Status', s.status], ['Reason', s.reason],
  ['Started', s.startedAt], ['Ended', s.endedAt], ['Duration', s.durationMs === null ? null : `${s.durationMs} ms`],
  ['Statements', String(s.statements)], ['Errors', String(s.errors)],
]).replace(`<td>${esc(s.status)}</td>`, `<td class="status-${esc(s.status)}">${esc(s.status)}</td>`)}
<h2>Identity${id.verified ? '' : ' (not verified: what the token claimed)'}</h2>
${kv([
  ['Subject', id.subject], ['Groups', id.groups.join(', ') || null], ['Authorized by group', id.authorizedBy], ['Issuer', id.issuer],
  ['Client id', id.clientId], ['Token id (jti)', id.tokenId], ['Token SHA-256', id.tokenSha256], ['CI job', id.ciJob],
  ['Client address', s.client.address === null ? null : `${s.client.address}${s.client.port ? `:${s.client.port}` : ''}`],
  ['Client TLS', s.client.tls === null ? null : String(s.client.tls)],
  ['Client-declared user', s.client.user], ['Client-declared application', s.client.application],
  ['Upstream', s.upstream ? `${s.upstream.user}@${s.upstream.host}:${s.upstream.port}/${s.upstream.database} (tls ${s.upstream.tls})` : null],
])}
<h2>Statements (${statements.length})</h2>
${statements.length === 0 ? '<p class="muted">none</p>' : `<table><tr><th>#</th><th>Time</th><th>Command</th><th>Result</th></tr>${statements.map(statementRow).join('\n')}</table>`}
<h2>Session events</h2>
<table><tr><th>#</th><th>Time</th><th>Type</th><th>Detail</th></tr>${others
  .map((e) => `<tr><td>${e.seq}</td><td>${esc(e.time)}</td><td>${esc(e.type)}</td><td><pre>${esc(e.command ?? JSON.stringify(e.detail ?? {}, null, 1))}</pre></td></tr>`)
  .join('')}</table>
<footer>Ledger records ${rep.ledger.firstSeq ?? '—'} to ${rep.ledger.lastSeq ?? '—'}, last record hash ${esc(rep.ledger.lastHash ?? '—')}.
Check the chain with <code>gatehouse verify</code>. Generated by gatehouse report at ${esc(isoFromUs(nowUs()))}.</footer>
</body></html>
`;
}
