import type { DecisionRecord, SessionStartEvent, StreamRecord } from '../core/events.js';
import { formatDuration } from './format.js';
import type { ReportRecording, ReportSftp, ReportShell, ReportSshExit } from './ssh-model.js';

/** Text of SSH report entries, shared by the text and HTML renderers (unescaped: they escape). */

/** The upstream of a session: "user@host:port (host key SHA256:...)" for SSH, with the database for PostgreSQL. */
export function upstreamText(u: SessionStartEvent['upstream'], protocol: string, tls: (on: boolean) => string): string {
  if (protocol === 'ssh') return `${u.user}@${u.host}:${u.port}${u.hostKey ? ` (host key ${u.hostKey})` : ''}`;
  if (protocol === 'http' || protocol === 'kubernetes') return `${u.host}:${u.port} (credential ${u.user})${tls(u.tls)}`;
  return `${u.user}@${u.host}:${u.port}/${u.database}${tls(u.tls)}`;
}

/** "exit 0, 12.3 ms", "ERROR exit 2, 4.1 ms", "ERROR signal KILL, ...", "BLOCKED by policy ...; not run". */
export function exitSummary(x: ReportSshExit, decision?: DecisionRecord): string {
  if (x.status === 'blocked') {
    if (decision?.action === 'block') return `BLOCKED by policy "${decision.policy}"${decision.reason ? `: ${decision.reason}` : ''}; not run`;
    if (decision?.action === 'review') return `BLOCKED: held for review by policy "${decision.policy}" and not approved${decision.approvalId ? ` (approval ${decision.approvalId})` : ''}; not run`;
    return 'BLOCKED; not run';
  }
  if (x.status === 'interrupted') return `interrupted: the session ended first, ${formatDuration(x.durationUs)}`;
  const how = x.exitCode !== null ? `exit ${x.exitCode}` : x.signal !== null ? `signal ${x.signal}` : 'no exit status';
  return `${x.status === 'error' ? 'ERROR ' : ''}${how}, ${formatDuration(x.durationUs)}`;
}

/** "stdout 120 bytes, stderr 0 bytes, stdin 0 bytes" */
export function ioSummary(x: ReportSshExit): string {
  return `stdout ${x.stdout.bytes} bytes, stderr ${x.stderr.bytes} bytes, stdin ${x.stdinBytes} bytes`;
}

export function maskedText(m: NonNullable<ReportSshExit['masked']>): string {
  return `masked by ${m.rules.join(', ')}: ${m.lines} line${m.lines === 1 ? '' : 's'} changed`;
}

/** "open /path (read,write)", "close /path: read N bytes, wrote M bytes", "rename a -> b", "mkdir /d". */
export function sftpText(s: ReportSftp): string {
  const flags = s.flags && s.flags.length > 0 ? ` (${s.flags.join(',')})` : '';
  const target = s.target !== undefined ? ` -> ${s.target}` : '';
  const counted = s.bytesRead !== undefined || s.bytesWritten !== undefined
    ? `: read ${s.bytesRead ?? 0} bytes, wrote ${s.bytesWritten ?? 0} bytes`
    : '';
  return `${s.op} ${s.path}${target}${flags}${counted}`;
}

export function refusedText(r: { what: string; detail: string }): string {
  return `refused: ${r.what} — ${r.detail}`;
}

export function shellTitle(sh: ReportShell): string {
  return `interactive shell (${sh.pty ? `pty ${sh.pty.term} ${sh.pty.cols}x${sh.pty.rows}` : 'no pty'})`;
}

export function recordingText(r: ReportRecording): string {
  return `recording ${r.file}, ${r.bytes} bytes, sha256 ${r.sha256}, ${r.events} events, ${formatDuration(r.durationUs)}`;
}

export function unfinishedRecordingText(file: string): string {
  return `recording ${file} was not finished: the ledger holds no digest of it (the shell still runs, or the gateway stopped first)`;
}

export function replayCommand(sessionId: string, channel: number | undefined): string {
  return `gatehouse replay ${sessionId}${channel === undefined ? '' : ` --channel ${channel}`}`;
}

/** A stream sample split into lines (on LF, CRLF or CR), at most `maxLines`, and what is left unshown. */
export interface SampleLines {
  lines: string[];
  /** bytes of the stream not shown (0 when all of it is) */
  moreBytes: number;
  /** whether anything is not shown: lines over the cap, or a stream longer than its sample */
  hidden: boolean;
}

export function sampleLines(s: StreamRecord, maxLines: number): SampleLines {
  const lines: string[] = [];
  const re = /\r\n|\r|\n/g;
  let start = 0;
  let shownEnd = s.sample.length;
  let capped = false;
  for (let m = re.exec(s.sample); m !== null; m = re.exec(s.sample)) {
    if (lines.length === maxLines) {
      capped = true;
      shownEnd = start;
      break;
    }
    lines.push(s.sample.slice(start, m.index));
    start = m.index + m[0].length;
  }
  if (!capped && start < s.sample.length) {
    if (lines.length === maxLines) {
      capped = true;
      shownEnd = start;
    } else {
      lines.push(s.sample.slice(start));
    }
  }
  const hidden = capped || s.truncated;
  const moreBytes = hidden ? Math.max(0, s.bytes - Buffer.byteLength(s.sample.slice(0, shownEnd))) : 0;
  return { lines, moreBytes, hidden };
}

/** "… 1200 more bytes, sha256 <hex>" */
export function moreText(s: StreamRecord, moreBytes: number): string {
  return `… ${moreBytes > 0 ? `${moreBytes} more bytes` : 'more not shown'}, sha256 ${s.sha256}`;
}
