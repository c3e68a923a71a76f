import type { StreamRecord } from '../core/events.js';
import { oneLine, policyText } from './format.js';
import { stripTerminal } from './sanitize.js';
import type { ReportEvent } from './session-report.js';
import {
  exitSummary, ioSummary, maskedText, moreText, recordingText, replayCommand, sampleLines, sftpText, shellTitle, unfinishedRecordingText,
} from './ssh-format.js';
import type { ReportSshExit } from './ssh-model.js';

/**
 * SSH entries of the text report. Output samples are preformatted, each line marked "| " so a
 * program's output cannot pass for a line of the report; terminal escape sequences are removed
 * (and renderText escapes any control character left).
 */

const INDENT = '        ';
/** lines of each stream sample shown */
export const SAMPLE_LINES = 20;

function streamBlock(name: string, s: StreamRecord, out: string[]): void {
  if (s.bytes === 0 && s.sample === '') return;
  const { lines, moreBytes, hidden } = sampleLines(s, SAMPLE_LINES);
  out.push(`${INDENT}  ${name} (${s.bytes} bytes):`);
  for (const l of lines) out.push(`${INDENT}  | ${stripTerminal(l)}`.trimEnd());
  if (hidden) out.push(`${INDENT}  ${moreText(s, moreBytes)}`);
}

function exitBlock(e: ReportEvent, x: ReportSshExit | null | undefined, out: string[]): void {
  if (!x) {
    out.push(`${INDENT}→ (no exit recorded)`);
    return;
  }
  const blocked = x.status === 'blocked';
  out.push(`${INDENT}→ ${oneLine(exitSummary(x, e.decision))}${blocked ? '' : `; ${ioSummary(x)}`}`);
  if (x.masked) out.push(`${INDENT}  ${maskedText(x.masked)}`);
  streamBlock('stdout', x.stdout, out);
  streamBlock('stderr', x.stderr, out);
}

function head(e: ReportEvent, title: string, out: string[]): void {
  const [first = '', ...rest] = title.split(/\r?\n/);
  out.push(`#${e.seq}  ${e.time}  ${first}`);
  for (const l of rest) out.push(`${INDENT}${l}`);
}

/** An exec, a shell or a file operation, with what belongs to it. */
export function sshEntry(e: ReportEvent, sessionId: string, out: string[]): void {
  if (e.sftp) {
    out.push(`#${e.seq}  ${e.time}  sftp ${oneLine(sftpText(e.sftp))}`);
    return;
  }
  if (e.shell) {
    const sh = e.shell;
    head(e, shellTitle(sh), out);
    for (const t of sh.typed) out.push(`${INDENT}#${t.seq}  ${t.time}  ${oneLine(t.command)}  (typed, best effort)`);
    exitBlock(e, e.exit, out);
    if (sh.recorded) {
      out.push(`${INDENT}${oneLine(recordingText(sh.recorded))}`);
      out.push(`${INDENT}replay: ${replayCommand(sessionId, e.channel)}`);
    } else {
      out.push(`${INDENT}${oneLine(unfinishedRecordingText(sh.recording))}`);
    }
    return;
  }
  head(e, e.command ?? '', out);
  if (e.decision) out.push(`${INDENT}policy: ${policyText(e.decision)}`);
  const extra = [
    ...(e.pty ? ['with a pty'] : []),
    ...(e.env && Object.keys(e.env).length > 0 ? [`env ${Object.entries(e.env).map(([k, v]) => `${k}=${v}`).join(', ')}`] : []),
  ];
  if (extra.length > 0) out.push(`${INDENT}${oneLine(extra.join('; '))}`);
  exitBlock(e, e.exit, out);
}
