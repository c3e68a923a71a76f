import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { monoUs } from '../../core/clock.js';
import { GatehouseError } from '../../core/errors.js';

/**
 * Terminal recordings in asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON
 * header line, then one `[seconds, code, data]` line per event: "o" output, "i" input, "r" resize
 * ("COLSxROWS"), "m" marker. Files play in asciinema and in `gatehouse replay`.
 *
 * The writer never awaits in output()/input(): lines are queued and written in order by one loop,
 * hashed as they are queued, so the digest is over exactly the bytes of the file. Memory is bounded:
 * past `maxQueueBytes` waiting for the disk, events are dropped and, once the queue has room, an
 * "m" marker says how many. Data is decoded as UTF-8 per direction (a character split across
 * chunks stays whole); bytes that are not UTF-8 become U+FFFD. `mask` sees each decoded chunk, so
 * a secret split across two chunks is not masked.
 */

export interface CastHeader {
  width: number;
  height: number;
  term: string | null;
  /** unix seconds */
  timestamp: number;
  title?: string;
}

export interface CastSummary {
  bytes: number;
  /** hex, over the whole file as written */
  sha256: string;
  /** event lines written (markers included) */
  events: number;
  durationUs: number;
  /** events dropped because the disk fell behind */
  dropped: number;
}

export type CastCode = 'o' | 'i' | 'r' | 'm';
export type CastEvent = [seconds: number, code: CastCode, data: string];

export interface CastWriterOptions {
  mask?: (text: string) => string;
  /** monotonic µs (tests) */
  now?: () => number;
  /** bytes waiting for the disk before events are dropped (default 8 MiB) */
  maxQueueBytes?: number;
}

const MiB = 1024 * 1024;

export class CastWriter {
  private readonly hash: Hash = createHash('sha256');
  private readonly out = new StringDecoder('utf8');
  private readonly in = new StringDecoder('utf8');
  private readonly now: () => number;
  private readonly start: number;
  private readonly mask: ((text: string) => string) | undefined;
  private readonly maxQueue: number;
  private queue: Buffer[] = [];
  private queued = 0;
  private bytes = 0;
  private events = 0;
  private dropped = 0;
  private droppedSinceMarker = 0;
  private lastUs = 0;
  private flushing: Promise<void> | null = null;
  private failure: Error | null = null;
  private closing: Promise<CastSummary> | null = null;

  private constructor(private readonly fh: FileHandle, opts: CastWriterOptions) {
    this.now = opts.now ?? monoUs;
    this.start = this.now();
    this.mask = opts.mask;
    this.maxQueue = opts.maxQueueBytes ?? 8 * MiB;
  }

  /** Creates the file (mode 0600, parent 0700); fails if it exists. */
  static async create(path: string, header: CastHeader, opts: CastWriterOptions = {}): Promise<CastWriter> {
    if (!Number.isInteger(header.width) || !Number.isInteger(header.height) || header.width < 0 || header.height < 0) {
      throw new TypeError(`cast size must be integers (got ${header.width}x${header.height})`);
    }
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const fh = await open(path, 'wx', 0o600);
    const w = new CastWriter(fh, opts);
    const head: Record<string, unknown> = {
      version: 2,
      width: header.width,
      height: header.height,
      timestamp: Math.floor(header.timestamp),
      env: header.term === null ? {} : { TERM: header.term },
    };
    if (header.title !== undefined) head.title = header.title;
    w.push(`${JSON.stringify(head)}\n`);
    return w;
  }

  /** An "o" event (ignored after close). */
  output(data: Buffer): void {
    if (this.closing === null) this.text('o', this.out.write(data));
  }

  /** An "i" event (ignored after close). */
  input(data: Buffer): void {
    if (this.closing === null) this.text('i', this.in.write(data));
  }

  /** An "r" event (ignored after close). */
  resize(cols: number, rows: number): void {
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 0 || rows < 0) throw new TypeError(`bad terminal size ${cols}x${rows}`);
    if (this.closing === null) this.event('r', `${cols}x${rows}`);
  }

  /** Flushes, fsyncs and closes; idempotent. Rejects when a write failed (the file is closed all the same). */
  close(): Promise<CastSummary> {
    this.closing ??= this.finish();
    return this.closing;
  }

  private async finish(): Promise<CastSummary> {
    this.text('o', this.out.end());
    this.text('i', this.in.end());
    const durationUs = this.lastUs;
    this.flushMarker(true);
    this.kick();
    try {
      while (this.flushing) await this.flushing;
      if (this.failure === null) await this.fh.sync();
    } catch (e) {
      this.failure ??= e as Error;
    } finally {
      await this.fh.close().catch(() => undefined);
    }
    if (this.failure !== null) throw this.failure;
    return { bytes: this.bytes, sha256: this.hash.digest('hex'), events: this.events, durationUs, dropped: this.dropped };
  }

  private text(code: 'o' | 'i', text: string): void {
    if (text === '') return;
    this.event(code, this.mask ? this.mask(text) : text);
  }

  private event(code: CastCode, data: string): void {
    if (this.failure !== null) return;
    const us = Math.max(this.lastUs, this.now() - this.start);
    const line = `[${(us / 1e6).toFixed(6)},"${code}",${JSON.stringify(data)}]\n`;
    if (this.queued + line.length > this.maxQueue && code !== 'm') {
      this.dropped++;
      this.droppedSinceMarker++;
      return;
    }
    this.lastUs = us;
    this.flushMarker(false);
    this.events++;
    this.push(line);
  }

  private flushMarker(force: boolean): void {
    if (this.droppedSinceMarker === 0) return;
    if (!force && this.queued > this.maxQueue / 2) return;
    const n = this.droppedSinceMarker;
    this.droppedSinceMarker = 0;
    this.event('m', `gatehouse: ${n} event(s) not recorded: the disk was slower than the terminal`);
  }

  private push(line: string): void {
    const buf = Buffer.from(line, 'utf8');
    this.hash.update(buf);
    this.bytes += buf.length;
    this.queue.push(buf);
    this.queued += buf.length;
    this.kick();
  }

  private kick(): void {
    if (this.flushing !== null || this.queue.length === 0) return;
    this.flushing = this.drain().finally(() => {
      this.flushing = null;
      this.kick();
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && this.failure === null) {
        const chunk = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue);
        this.queue = [];
        for (let off = 0; off < chunk.length; ) off += (await this.fh.write(chunk, off)).bytesWritten;
        this.queued -= chunk.length;
      }
    } catch (e) {
      this.failure = e as Error;
      this.queue = [];
      this.queued = 0;
    }
  }
}

/** Longest line readCast accepts. */
export const MAX_CAST_LINE = 16 * MiB;

function invalid(path: string, line: number, why: string): GatehouseError {
  return new GatehouseError('GH_ERR_RECORDING_INVALID', `${path} line ${line}: ${why}`);
}

/** The lines of a stream, refusing one longer than MAX_CAST_LINE before buffering it whole. */
async function* lines(input: Readable, path: string): AsyncGenerator<[number, string]> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let n = 0;
  for await (const chunk of input as AsyncIterable<Buffer>) {
    const from = pending.length;
    pending += decoder.write(chunk);
    let start = 0;
    for (let nl = pending.indexOf('\n', from); nl >= 0; nl = pending.indexOf('\n', start)) {
      yield [++n, pending.slice(start, nl).replace(/\r$/, '')];
      start = nl + 1;
    }
    pending = pending.slice(start);
    if (pending.length > MAX_CAST_LINE) throw invalid(path, n + 1, 'line longer than 16 MiB');
  }
  pending += decoder.end();
  if (pending !== '') yield [++n, pending];
}

function parseHeader(path: string, text: string | undefined): CastHeader & Record<string, unknown> {
  let h: unknown;
  try {
    h = text === undefined ? undefined : JSON.parse(text);
  } catch {
    throw invalid(path, 1, 'the header is not JSON (not an asciicast file?)');
  }
  if (typeof h !== 'object' || h === null || Array.isArray(h)) throw invalid(path, 1, 'no asciicast header object');
  const o = h as Record<string, unknown>;
  if (o.version !== 2) throw invalid(path, 1, `asciicast version ${JSON.stringify(o.version)} is not supported (only 2)`);
  const size = (k: string) => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalid(path, 1, `header ${k} must be a non-negative integer`);
    return v;
  };
  const env = typeof o.env === 'object' && o.env !== null ? (o.env as Record<string, unknown>) : {};
  const header: CastHeader & Record<string, unknown> = {
    ...o,
    width: size('width'),
    height: size('height'),
    term: typeof env.TERM === 'string' ? env.TERM : null,
    timestamp: typeof o.timestamp === 'number' ? o.timestamp : 0,
  };
  if (o.title !== undefined && typeof o.title !== 'string') throw invalid(path, 1, 'header title must be a string');
  return header;
}

function parseEvent(path: string, n: number, text: string): CastEvent {
  let e: unknown;
  try {
    e = JSON.parse(text);
  } catch (err) {
    throw invalid(path, n, `not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(e) || e.length !== 3) throw invalid(path, n, 'an event must be [time, code, data]');
  const [t, code, data] = e as unknown[];
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw invalid(path, n, 'event time must be a non-negative number');
  if (code !== 'o' && code !== 'i' && code !== 'r' && code !== 'm') throw invalid(path, n, `unknown event code ${JSON.stringify(code)}`);
  if (typeof data !== 'string') throw invalid(path, n, 'event data must be a string');
  if (code === 'r' && !/^\d+x\d+$/.test(data)) throw invalid(path, n, `resize data must be COLSxROWS (got ${JSON.stringify(data)})`);
  return [t, code, data];
}

/** Opens a recording for streaming: its header, then its events one by one (validated, line numbers in errors). */
export async function openCast(
  path: string,
  input: Readable = createReadStream(path),
): Promise<{ header: CastHeader & Record<string, unknown>; events: AsyncGenerator<CastEvent> }> {
  const it = lines(input, path);
  let first: IteratorResult<[number, string]>;
  try {
    first = await it.next();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new GatehouseError('GH_ERR_RECORDING_NOT_FOUND', `no recording at ${path}`);
    throw e;
  }
  const header = parseHeader(path, first.done ? undefined : first.value[1]);
  async function* events(): AsyncGenerator<CastEvent> {
    for await (const [n, text] of it) {
      if (text.trim() === '') continue;
      yield parseEvent(path, n, text);
    }
  }
  return { header, events: events() };
}

/** Reads a whole recording (tests, small files); replay streams with openCast. */
export async function readCast(path: string): Promise<{ header: CastHeader & Record<string, unknown>; events: CastEvent[] }> {
  const { header, events } = await openCast(path);
  const all: CastEvent[] = [];
  for await (const e of events) all.push(e);
  return { header, events: all };
}
