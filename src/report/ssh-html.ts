import type { StreamRecord } from '../core/events.js';
import { escapeHtml as esc, stripTerminal } from './sanitize.js';
import type { ReportEvent } from './session-report.js';
import {
  exitSummary, ioSummary, maskedText, moreText, recordingText, replayCommand, sampleLines, sftpText, shellTitle, unfinishedRecordingText,
} from './ssh-format.js';
import type { ReportSshExit } from './ssh-model.js';

/** SSH rows of the HTML report: exec, shell, file operation. Everything recorded is escaped. */

const MUTED_DASH = '<span class="muted">—</span>';

export const SSH_CSS = `
pre.stream{background:#f6f7fa;border-left:3px solid #ccd;padding:.2rem .4rem}pre.stream.stderr{border-left-color:#e8b4b4}
ul.typed{margin:.3rem 0;padding-left:1.2rem}.replay .link{color:#1a4fb4;text-decoration:underline;cursor:pointer}`;

/** The policy decision on a command (the same form as for a SQL statement). */
export function policyHtml(d: NonNullable<ReportEvent['decision']>): string {
  return `<div class="${d.action === 'allow' ? 'muted' : 'error'}">policy: ${esc(d.action)} by "${esc(d.policy)}"${d.reason ? ` (${esc(d.reason)})` : ''}${d.approvalId ? `, approval ${esc(d.approvalId)}` : ''}</div>`;
}

function stream(name: string, s: StreamRecord): string {
  if (s.bytes === 0 && s.sample === '') return '';
  const { lines, moreBytes, hidden } = sampleLines(s, Number.MAX_SAFE_INTEGER);
  const text = lines.map(stripTerminal).join('\n');
  return `<div class="muted">${name}, ${s.bytes} bytes</div>`
    + `<pre class="stream${name === 'stderr' ? ' stderr' : ''}">${esc(text)}</pre>`
    + (hidden ? `<div class="muted hash">${esc(moreText(s, moreBytes))}</div>` : `<div class="muted hash">sha256 ${esc(s.sha256)}</div>`);
}

function failed(x: ReportSshExit | null | undefined): boolean {
  return x !== null && x !== undefined && x.status !== 'ok';
}

function resultCell(e: ReportEvent): string {
  const x = e.exit;
  if (!x) return '<span class="muted">no exit recorded</span>';
  return `<div${failed(x) ? ' class="error"' : ''}>${esc(exitSummary(x, e.decision))}</div>`
    + (x.status === 'blocked' ? '' : `<div class="muted">${esc(ioSummary(x))}</div>`)
    + (x.masked ? `<div class="muted">${esc(maskedText(x.masked))}</div>` : '');
}

function outputCell(x: ReportSshExit | null | undefined): string {
  const out = x ? stream('stdout', x.stdout) + stream('stderr', x.stderr) : '';
  return out || MUTED_DASH;
}

function row(e: ReportEvent, cells: string[], bad: boolean): string {
  return `<tr${bad ? ' class="err"' : ''}><td>${e.seq}</td><td>${esc(e.time)}</td>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
}

/** One row of the commands table of an SSH session. */
export function sshRow(e: ReportEvent, sessionId: string): string {
  if (e.pruned) {
    return `<tr><td>${e.seq}</td><td>${esc(e.time)}</td><td colspan="3" class="muted">${esc(e.type)}: payload removed by retention</td></tr>`;
  }
  if (e.sftp) return row(e, [`<pre>sftp ${esc(sftpText(e.sftp))}</pre>`, MUTED_DASH, MUTED_DASH], false);
  if (e.shell) {
    const sh = e.shell;
    const typed = sh.typed.length === 0
      ? ''
      : `<ul class="typed">${sh.typed.map((t) => `<li><span class="muted">#${t.seq} ${esc(t.time)}</span> <code>${esc(t.command)}</code> <span class="muted">(typed, best effort)</span></li>`).join('')}</ul>`;
    const rec = sh.recorded
      ? `<div class="recording hash">${esc(recordingText(sh.recorded))}</div>`
        + `<div class="replay"><span class="link" role="link" data-recording="${esc(sh.recorded.file)}"${e.channel === undefined ? '' : ` data-channel="${e.channel}"`}>replay recording</span>`
        + ` <code>${esc(replayCommand(sessionId, e.channel))}</code></div>`
      : `<div class="muted">${esc(unfinishedRecordingText(sh.recording))}</div>`;
    return row(e, [`<pre>${esc(shellTitle(sh))}</pre>${typed}`, resultCell(e) + rec, outputCell(e.exit)], failed(e.exit));
  }
  const extra = [
    ...(e.pty ? ['with a pty'] : []),
    ...(e.env && Object.keys(e.env).length > 0 ? [`env ${Object.entries(e.env).map(([k, v]) => `${k}=${v}`).join(', ')}`] : []),
  ];
  const command = `<pre>${esc(e.command ?? '')}</pre>${e.decision ? policyHtml(e.decision) : ''}`
    + (extra.length > 0 ? `<div class="muted">${esc(extra.join('; '))}</div>` : '');
  return row(e, [command, resultCell(e), outputCell(e.exit)], failed(e.exit));
}
