import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GatehouseError } from '../../../src/core/errors.js';
import { CastWriter, readCast, type CastHeader } from '../../../src/protocols/ssh/asciicast.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cast-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const HEADER: CastHeader = { width: 80, height: 24, term: 'xterm-256color', timestamp: 1_795_000_000.7 };

/** A clock that advances by `step` µs on every read. */
function ticking(step: number): () => number {
  let t = 5_000_000;
  return () => (t += step);
}

async function readError(path: string): Promise<GatehouseError> {
  return readCast(path).then(
    () => {
      throw new Error('accepted');
    },
    (e: unknown) => e as GatehouseError,
  );
}

describe('CastWriter and readCast', () => {
  it('round trip: header, output, input, resize with µs times; the summary matches the file', async () => {
    const path = join(dir, 'sub', 'dir', 's1.cast');
    const w = await CastWriter.create(path, { ...HEADER, title: 'web1' }, { now: ticking(1_500) });
    w.output(Buffer.from('agent@web1:~$ '));
    w.input(Buffer.from('ls\r'));
    w.output(Buffer.from('ls\r\nfile "quoted" \\ \x1b[1mbold\x1b[0m\r\n'));
    w.resize(120, 40);
    const summary = await w.close();
    expect(await w.close()).toEqual(summary); // idempotent
    w.output(Buffer.from('late')); // ignored after close

    const bytes = readFileSync(path);
    expect(summary).toEqual({ bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), events: 4, durationUs: 6_000, dropped: 0 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'sub', 'dir')).mode & 0o777).toBe(0o700);
    const lines = bytes.toString('utf8').split('\n');
    expect(JSON.parse(lines[0]!)).toEqual({ version: 2, width: 80, height: 24, timestamp: 1_795_000_000, env: { TERM: 'xterm-256color' }, title: 'web1' });
    expect(lines[1]).toBe('[0.001500,"o","agent@web1:~$ "]');

    const cast = await readCast(path);
    expect(cast.header).toMatchObject({ width: 80, height: 24, term: 'xterm-256color', timestamp: 1_795_000_000, title: 'web1' });
    expect(cast.events).toEqual([
      [0.0015, 'o', 'agent@web1:~$ '],
      [0.003, 'i', 'ls\r'],
      [0.0045, 'o', 'ls\r\nfile "quoted" \\ \x1b[1mbold\x1b[0m\r\n'],
      [0.006, 'r', '120x40'],
    ]);
  });

  it('a multi-byte character split at every byte offset is written whole', async () => {
    const text = 'é€😀 ok 日本';
    const bytes = Buffer.from(text, 'utf8');
    for (let at = 0; at <= bytes.length; at++) {
      const path = join(dir, `split-${at}.cast`);
      const w = await CastWriter.create(path, HEADER, { now: ticking(1) });
      w.output(bytes.subarray(0, at));
      w.output(bytes.subarray(at));
      w.input(bytes.subarray(0, at));
      w.input(bytes.subarray(at));
      await w.close();
      const { events } = await readCast(path);
      expect(events.filter((e) => e[1] === 'o').map((e) => e[2]).join(''), `split at ${at}`).toBe(text);
      expect(events.filter((e) => e[1] === 'i').map((e) => e[2]).join(''), `split at ${at}`).toBe(text);
      expect(events.every((e) => !e[2].includes('\ufffd'))).toBe(true);
    }
  });

  it('a character left incomplete at close is written as U+FFFD', async () => {
    const path = join(dir, 'cut.cast');
    const w = await CastWriter.create(path, HEADER);
    w.output(Buffer.from('ok \xe2\x82', 'latin1'));
    await w.close();
    expect((await readCast(path)).events.map((e) => e[2]).join('')).toBe('ok \ufffd');
  });

  it('applies mask to output and input text before writing', async () => {
    const path = join(dir, 'masked.cast');
    const mask = (t: string) => t.replace(/hunter2/g, '****');
    const w = await CastWriter.create(path, { ...HEADER, term: null }, { mask });
    w.input(Buffer.from('export PW=hunter2\r'));
    w.output(Buffer.from('export PW=hunter2\r\n'));
    await w.close();
    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain('hunter2');
    const cast = await readCast(path);
    expect(cast.header.term).toBeNull();
    expect(cast.events.map((e) => e[2])).toEqual(['export PW=****\r', 'export PW=****\r\n']);
  });

  it('refuses to overwrite an existing file', async () => {
    const path = join(dir, 'exists.cast');
    writeFileSync(path, 'keep me');
    await expect(CastWriter.create(path, HEADER)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(readFileSync(path, 'utf8')).toBe('keep me');
  });

  it('bounds memory: past maxQueueBytes events are dropped and a marker says how many', async () => {
    const path = join(dir, 'slow.cast');
    const w = await CastWriter.create(path, HEADER, { maxQueueBytes: 4096 });
    // all queued in one synchronous burst: the disk has had no chance to write any of it
    for (let i = 0; i < 100; i++) w.output(Buffer.from(`${'x'.repeat(90)}\r\n`));
    const summary = await w.close();
    expect(summary.dropped).toBeGreaterThan(0);
    const { events } = await readCast(path);
    expect(events.filter((e) => e[1] === 'o').length).toBe(100 - summary.dropped);
    expect(events.at(-1)).toEqual([expect.any(Number), 'm', `gatehouse: ${summary.dropped} event(s) not recorded: the disk was slower than the terminal`]);
    expect(summary.events).toBe(events.length);
    expect(summary.sha256).toBe(createHash('sha256').update(readFileSync(path)).digest('hex'));
  });

  it('reader errors name the line and what is wrong', async () => {
    const header = JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 1 });
    const cases: Array<[string, RegExp]> = [
      ['', /line 1: no asciicast header/],
      ['not json\n', /line 1: the header is not JSON/],
      [`${JSON.stringify({ version: 1, width: 80, height: 24 })}\n`, /line 1: asciicast version 1 is not supported/],
      [`${JSON.stringify({ version: 2, width: -1, height: 24 })}\n`, /line 1: header width/],
      [`${header}\n[0.1,"o","ok"]\n[0.2,"o",\n`, /line 3: not JSON/],
      [`${header}\n[0.1,"o"]\n`, /line 2: an event must be \[time, code, data\]/],
      [`${header}\n[0.1,"o","a"]\n\n[0.2,"x","a"]\n`, /line 4: unknown event code "x"/],
      [`${header}\n["0.1","o","a"]\n`, /line 2: event time/],
      [`${header}\n[0.1,"r","wide"]\n`, /line 2: resize data must be COLSxROWS/],
      [`${header}\n[0.1,"o",7]\n`, /line 2: event data must be a string/],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const path = join(dir, `bad-${i}.cast`);
      writeFileSync(path, text);
      const e = await readError(path);
      expect(e, text).toBeInstanceOf(GatehouseError);
      expect(e.code).toBe('GH_ERR_RECORDING_INVALID');
      expect(e.message).toContain(path);
      expect(e.message, text).toMatch(message);
    }
    expect((await readError(join(dir, 'missing.cast'))).code).toBe('GH_ERR_RECORDING_NOT_FOUND');
  });

  it('refuses a line longer than 16 MiB without reading it whole', async () => {
    const path = join(dir, 'long.cast');
    writeFileSync(path, `${JSON.stringify({ version: 2, width: 80, height: 24 })}\n[0.1,"o","${'x'.repeat(17 * 1024 * 1024)}"]\n`);
    const e = await readError(path);
    expect(e.message).toMatch(/line 2: line longer than 16 MiB/);
  });
});
