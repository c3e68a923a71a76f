import { once } from 'node:events';
import { recordingsDir } from '../core/config.js';
import { GatehouseError } from '../core/errors.js';
import { openCast, type CastEvent } from '../protocols/ssh/asciicast.js';
import { findRecording, openVerified, play, rereadVerified, terminalRestore, type PlayResult } from '../report/replay.js';
import { loadConfig, openReader, out, resolveSessionId } from './common.js';

/** `gatehouse replay`: play a session's terminal recording after checking it against the ledger. */

export interface ReplayOptions {
  config?: string;
  channel?: string;
  speed: string;
  idleLimit: string;
  /** false with --no-wait */
  wait: boolean;
  file?: string;
  verifyOnly?: boolean;
}

function numberFlag(flag: string, v: string, ok: (n: number) => boolean, what: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new GatehouseError('GH_ERR_USAGE', `${flag} must be ${what} (got "${v}")`);
  return n;
}

const seconds = (us: number) => `${(us / 1e6).toFixed(1)} s`;

export async function replay(session: string | undefined, opts: ReplayOptions): Promise<number> {
  const speed = numberFlag('--speed', opts.speed, (n) => n > 0, 'a positive number');
  const idleLimit = numberFlag('--idle-limit', opts.idleLimit, (n) => n >= 0, 'a number of seconds (0 or more)');
  const channel = opts.channel === undefined ? undefined : numberFlag('--channel', opts.channel, (n) => Number.isInteger(n) && n >= 0, 'a channel number');
  if (session !== undefined && opts.file !== undefined) throw new GatehouseError('GH_ERR_USAGE', 'give a session id or --file, not both');
  if (session === undefined && opts.file === undefined) {
    throw new GatehouseError('GH_ERR_USAGE', 'give a session id (its recording is checked against the ledger) or --file CAST (a file played unchecked)');
  }
  if (opts.file !== undefined) {
    const { events } = await openCast(opts.file);
    if (opts.verifyOnly) {
      let n = 0;
      let last = 0;
      for await (const e of events) [n, last] = [n + 1, e[0]];
      out(`${opts.file} is a valid asciicast v2 file (${n} events, ${seconds(last * 1e6)}); it was not checked against a ledger (give a session id for that)`);
      return 0;
    }
    return playToStdout(events, { speed, idleLimit, wait: opts.wait });
  }

  const loaded = loadConfig(opts.config);
  const reader = await openReader(loaded);
  let ref;
  try {
    const id = await resolveSessionId(reader, session!);
    ref = findRecording(id, await reader.sessionRecords(id), recordingsDir(loaded), channel);
  } finally {
    await reader.close();
  }
  const fh = await openVerified(ref);
  try {
    const r = ref.record;
    if (opts.verifyOnly) {
      out(`recording ${ref.path} matches the ledger: session ${ref.sessionId}, channel ${r.channel}, ${r.bytes} bytes, sha256 ${r.sha256}, ${r.events} events, ${seconds(r.durationUs)}`);
      return 0;
    }
    const source = rereadVerified(fh, ref);
    const { events } = await openCast(ref.path, source.stream);
    const code = await playToStdout(events, { speed, idleLimit, wait: opts.wait });
    if (code === 0) source.check();
    return code;
  } finally {
    await fh.close();
  }
}

/** Plays to stdout; Ctrl-C stops at once (a second one exits), and a terminal is put back in order. */
async function playToStdout(events: AsyncIterable<CastEvent>, o: { speed: number; idleLimit: number; wait: boolean }): Promise<number> {
  const stdout = process.stdout;
  const stop = new AbortController();
  const onSigint = () => (stop.signal.aborted ? process.exit(130) : stop.abort());
  const onError = () => stop.abort(); // EPIPE: the reader went away
  process.on('SIGINT', onSigint);
  stdout.on('error', onError);
  let result: PlayResult | null = null;
  try {
    result = await play(events, {
      ...o,
      signal: stop.signal,
      write: async (text) => {
        if (!stdout.write(text)) await once(stdout, 'drain', { signal: stop.signal }).catch(() => undefined);
      },
    });
  } finally {
    if (stdout.isTTY) stdout.write(terminalRestore(result?.altScreen ?? false));
    process.off('SIGINT', onSigint);
    stdout.off('error', onError);
  }
  return result.interrupted ? 130 : 0;
}
