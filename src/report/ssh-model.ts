import { isoFromUs } from '../core/clock.js';
import type { SshExitEvent, SshRecordingEvent, SshSftpEvent } from '../core/events.js';
import type { LedgerRecord } from '../ledger/ledger.js';
import type { ReportEvent } from './session-report.js';

/**
 * The SSH part of the report model. An exec or a shell is one entry: its ssh.exit record is folded
 * into it (`exit`), and a shell also gets its typed commands and its recording. A record whose
 * owner is not among the session's records (or was pruned) is listed on its own.
 */

/** How an exec or shell ended: the ssh.exit record without its type and links. */
export type ReportSshExit = Omit<SshExitEvent, 'type' | 'channel' | 'commandSeq'>;

/** A finished terminal recording: the ssh.recording record without its type and links. */
export type ReportRecording = Omit<SshRecordingEvent, 'type' | 'channel' | 'shellSeq'>;

/** A file operation: the ssh.sftp record without its type and channel. */
export type ReportSftp = Omit<SshSftpEvent, 'type' | 'channel'>;

/** A command line typed into a shell (from the keystrokes: best effort, not authoritative). */
export interface ReportTypedCommand {
  seq: number;
  time: string;
  command: string;
}

export interface ReportShell {
  pty: { term: string; cols: number; rows: number } | null;
  /** the recording's file name, relative to the recordings directory */
  recording: string;
  typed: ReportTypedCommand[];
  /** the finished recording with its digest; null when none was recorded (still running, or the gateway stopped) */
  recorded: ReportRecording | null;
}

function toExit(e: SshExitEvent): ReportSshExit {
  return {
    status: e.status, exitCode: e.exitCode, signal: e.signal, stdout: e.stdout, stderr: e.stderr, stdinBytes: e.stdinBytes,
    durationUs: e.durationUs, ...(e.masked ? { masked: e.masked } : {}),
  };
}

function toRecording(e: SshRecordingEvent): ReportRecording {
  return { file: e.file, bytes: e.bytes, sha256: e.sha256, events: e.events, durationUs: e.durationUs };
}

/** The report entry of an SSH record; null for a record that is not an SSH event. */
export function describeSsh(rec: LedgerRecord, base: ReportEvent): ReportEvent | null {
  const e = rec.event;
  switch (e.type) {
    case 'ssh.exec':
      return { ...base, channel: e.channel, pty: e.pty, env: e.env, ...(e.decision ? { decision: e.decision } : {}), exit: null };
    case 'ssh.shell':
      return { ...base, channel: e.channel, shell: { pty: e.pty, recording: e.recording, typed: [], recorded: null }, exit: null };
    case 'ssh.sftp': {
      const { type: _type, channel, ...op } = e;
      return { ...base, channel, sftp: op };
    }
    case 'ssh.refused':
      return { ...base, refused: { what: e.what, detail: e.detail } };
    case 'ssh.forward':
      return {
        ...base,
        command: e.phase === 'open'
          ? `forward to ${e.host}:${e.port} opened`
          : `forward to ${e.host}:${e.port} closed: ${e.bytesOut ?? 0} bytes out, ${e.bytesIn ?? 0} bytes in`,
      };
    case 'ssh.exit':
      return { ...base, channel: e.channel, statementSeq: e.commandSeq, exit: toExit(e) };
    case 'ssh.command':
      return { ...base, channel: e.channel, statementSeq: e.shellSeq };
    case 'ssh.recording':
      return { ...base, channel: e.channel, statementSeq: e.shellSeq, recording: toRecording(e) };
    default:
      return null;
  }
}

/** Folds an exit, typed command or recording into its exec or shell entry; false when it has none here. */
export function foldSsh(rec: LedgerRecord, bySeq: ReadonlyMap<number, ReportEvent>): boolean {
  const e = rec.event;
  if (e.type === 'ssh.exit') {
    const owner = bySeq.get(e.commandSeq);
    if (!owner || owner.pruned || (owner.type !== 'ssh.exec' && owner.type !== 'ssh.shell')) return false;
    owner.exit = toExit(e);
    return true;
  }
  if (e.type === 'ssh.command' || e.type === 'ssh.recording') {
    const shell = bySeq.get(e.shellSeq)?.shell;
    if (!shell) return false;
    if (e.type === 'ssh.command') shell.typed.push({ seq: rec.seq, time: isoFromUs(rec.time), command: e.command });
    else shell.recorded = toRecording(e);
    return true;
  }
  return false;
}
