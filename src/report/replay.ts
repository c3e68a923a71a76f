import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { GatehouseError } from '../core/errors.js';
import type { SshRecordingEvent } from '../core/events.js';
import type { LedgerRecord } from '../ledger/ledger.js';
import type { CastEvent } from '../protocols/ssh/asciicast.js';

/**
 * Replaying an SSH terminal recording: find the shell's ssh.recording record, check the file
 * against the digest and size the ledger holds (before a byte of it is shown: the file lives
 * outside the hash chain, so this is what makes it evidence), then play its output events with
 * their timing. The clock is injected so the timing is testable without sleeping.
 */

export interface ReplayClock {
  /** monotonic ms */
  now(): number;
  /** resolves after ms, rejects when the signal aborts */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: ReplayClock = {
  now: () => performance.now(),
  sleep: (ms, signal) => delay(ms, undefined, signal === undefined ? {} : { signal }),
};

/** A recording as the ledger knows it, and where it is on disk. */
export interface RecordingRef {
  sessionId: string;
  record: SshRecordingEvent;
  path: string;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** What a session ran, for the message when it has no recording to play. */
function sessionActivity(records: readonly LedgerRecord[]): string {
  const count = (pred: (r: LedgerRecord) => boolean) => records.filter(pred).length;
  const parts = [
    [count((r) => r.event.type === 'ssh.exec'), 'exec command'],
    [count((r) => r.event.type === 'ssh.sftp'), 'file operation'],
    [count((r) => r.event.type === 'pg.query' || r.event.type === 'pg.execute' || r.event.type === 'pg.function_call'), 'SQL statement'],
    [count((r) => r.event.type === 'http.request'), 'HTTP request'],
  ] as const;
  const ran = parts.filter(([n]) => n > 0).map(([n, what]) => plural(n, what));
  return ran.length === 0 ? 'it ran no commands' : `it ran ${ran.join(', ')}`;
}

/** The recording of a session's first shell, or of the shell on `channel`. */
export function findRecording(sessionId: string, records: readonly LedgerRecord[], dir: string, channel?: number): RecordingRef {
  // a Kubernetes exec/attach stream's recording is played the same way: shown as channel 0 of its request
  const all = records.flatMap((r): SshRecordingEvent[] => {
    if (r.event.type === 'ssh.recording') return [r.event];
    const k = r.event;
    if (k.type !== 'kubernetes.stream' || k.recording === null) return [];
    return [{ type: 'ssh.recording', channel: 0, shellSeq: k.requestSeq, file: k.recording.file, bytes: k.recording.bytes, sha256: k.recording.sha256, events: k.recording.events, durationUs: k.durationUs }];
  });
  const shells = records.flatMap((r) => (r.event.type === 'ssh.shell' ? [{ seq: r.seq, event: r.event }] : []));
  const see = `see gatehouse report ${sessionId}`;
  if (records.some((r) => r.type === 'ssh.recording' && r.event.type !== 'ssh.recording')) {
    throw new GatehouseError('GH_ERR_RECORDING_NOT_FOUND', `session ${sessionId}: the ledger record of its recording was pruned by retention; the recording cannot be verified`);
  }
  const found = channel === undefined ? all[0] : all.find((e) => e.channel === channel);
  if (found === undefined) {
    const unfinished = shells.filter((s) => !all.some((e) => e.shellSeq === s.seq) && (channel === undefined || s.event.channel === channel));
    if (unfinished[0] !== undefined) {
      const s = unfinished[0];
      throw new GatehouseError(
        'GH_ERR_RECORDING_NOT_FOUND',
        `session ${sessionId}: the recording of its shell on channel ${s.event.channel} (${s.event.recording}) was never finished, so the ledger holds no digest to check it against (the shell is still running, or the gateway stopped first); play it unverified with --file`,
      );
    }
    if (channel !== undefined && all.length > 0) {
      throw new GatehouseError('GH_ERR_RECORDING_NOT_FOUND', `session ${sessionId} has no recording on channel ${channel} (recorded channels: ${all.map((e) => e.channel).join(', ')})`);
    }
    throw new GatehouseError('GH_ERR_RECORDING_NOT_FOUND', `session ${sessionId} has no terminal recording (${sessionActivity(records)}; ${see})`);
  }
  const path = resolve(dir, found.file);
  const rel = relative(dir, path);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new GatehouseError('GH_ERR_RECORDING_NOT_FOUND', `session ${sessionId}: recording file name ${JSON.stringify(found.file)} is not inside the recordings directory ${dir}`);
  }
  return { sessionId, record: found, path };
}

async function hashFile(fh: FileHandle, hash: Hash): Promise<number> {
  const buf = Buffer.allocUnsafe(256 * 1024);
  let total = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, total);
    if (bytesRead === 0) return total;
    hash.update(buf.subarray(0, bytesRead));
    total += bytesRead;
  }
}

function mismatch(ref: RecordingRef, sha256: string, bytes: number, when: string): GatehouseError {
  const r = ref.record;
  const size = bytes === r.bytes ? `${bytes} bytes` : `${bytes} bytes, the ledger has ${r.bytes}`;
  return new GatehouseError(
    'GH_ERR_RECORDING_MISMATCH',
    `recording ${ref.path} does not match the ledger (sha256 ${sha256}, the ledger has ${r.sha256}; ${size}): it was changed ${when}`,
  );
}

/**
 * Opens the recording and checks its SHA-256 and size against the ledger; the handle it returns
 * is the one to play from (a file swapped in after the check is not the one played).
 */
export async function openVerified(ref: RecordingRef): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(ref.path, 'r');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `cannot be read (${(e as Error).message})`;
    throw new GatehouseError('GH_ERR_RECORDING_NOT_FOUND', `recording ${ref.path} of session ${ref.sessionId} ${why} (the ledger has sha256 ${ref.record.sha256}, ${ref.record.bytes} bytes)`);
  }
  try {
    const hash = createHash('sha256');
    const bytes = await hashFile(fh, hash);
    const sha256 = hash.digest('hex');
    if (sha256 !== ref.record.sha256 || bytes !== ref.record.bytes) throw mismatch(ref, sha256, bytes, 'after the session');
    return fh;
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** The file's bytes as a stream from the start, hashed again as they are read; `check` throws if they changed. */
export function rereadVerified(fh: FileHandle, ref: RecordingRef): { stream: Readable; check(): void } {
  const hash = createHash('sha256');
  let bytes = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, bytes);
      if (bytesRead === 0) return;
      const chunk = Buffer.from(buf.subarray(0, bytesRead));
      hash.update(chunk);
      bytes += bytesRead;
      yield chunk;
    }
  }
  return {
    stream: Readable.from(chunks(), { objectMode: false }),
    check() {
      const sha256 = hash.digest('hex');
      if (sha256 !== ref.record.sha256 || bytes !== ref.record.bytes) throw mismatch(ref, sha256, bytes, 'while it was played');
    },
  };
}

export interface PlayOptions {
  write(text: string): void | Promise<void>;
  /** playback speed factor (2: twice as fast) */
  speed: number;
  /** longest pause, in recorded seconds */
  idleLimit: number;
  /** false: write everything at once */
  wait: boolean;
  clock?: ReplayClock;
  signal?: AbortSignal;
  onResize?(cols: number, rows: number): void;
}

export interface PlayResult {
  /** output events written */
  output: number;
  /** stopped by the signal */
  interrupted: boolean;
  /** the output left the terminal in its alternate screen */
  altScreen: boolean;
}

const ALT_SCREEN = /\x1b\[\?(?:1049|1047|47)([hl])/g;

/** Plays the output events of a recording: "i" (echoed anyway) and "m" are skipped, "r" goes to onResize. */
export async function play(events: AsyncIterable<CastEvent>, opts: PlayOptions): Promise<PlayResult> {
  if (!(opts.speed > 0) || !Number.isFinite(opts.speed)) throw new TypeError(`speed must be a positive number (got ${opts.speed})`);
  if (!(opts.idleLimit >= 0)) throw new TypeError(`idleLimit must be a non-negative number (got ${opts.idleLimit})`);
  const clock = opts.clock ?? realClock;
  const start = clock.now();
  const result: PlayResult = { output: 0, interrupted: false, altScreen: false };
  let virtualMs = 0;
  let prev = 0;
  for await (const [t, code, data] of events) {
    if (opts.signal?.aborted) break;
    if (code === 'r') {
      const [cols, rows] = data.split('x').map(Number) as [number, number];
      opts.onResize?.(cols, rows);
      continue;
    }
    if (code !== 'o') continue;
    if (opts.wait) {
      virtualMs += (Math.min(Math.max(0, t - prev), opts.idleLimit) * 1000) / opts.speed;
      prev = Math.max(prev, t);
      const wait = start + virtualMs - clock.now();
      if (wait > 0) {
        try {
          await clock.sleep(wait, opts.signal);
        } catch (e) {
          if (opts.signal?.aborted) break;
          throw e;
        }
      }
    }
    for (const m of data.matchAll(ALT_SCREEN)) result.altScreen = m[1] === 'h';
    await opts.write(data);
    result.output++;
  }
  result.interrupted = opts.signal?.aborted ?? false;
  return result;
}

/**
 * What to write to a real terminal after playing (or stopping): cancel a half-written escape
 * sequence, reset colours, show the cursor, turn off mouse reporting, application cursor keys and
 * bracketed paste, and leave the alternate screen if the recording left it there. None of it
 * changes what is on the screen.
 */
export function terminalRestore(altScreen: boolean): string {
  return `\x18\x1b[0m\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1l\x1b>\x1b[?2004l${altScreen ? '\x1b[?1049l' : ''}`;
}
