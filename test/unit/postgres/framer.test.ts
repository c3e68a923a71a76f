import { describe, expect, it } from 'vitest';
import { serialize } from 'pg-protocol';
import { FrameError, Framer, MAX_STARTUP_PACKET } from '../../../src/protocols/postgres/framer.js';
import { MessageWriter } from '../../../src/protocols/postgres/wire.js';

interface Seen {
  frames: Array<{ type: number; body: string | null }>;
  bytes: Buffer[];
  begun: number;
}

/** A sink that wants every body, switching from startup to typed framing after the first frame. */
function collect(startup: boolean, maxBody = 1 << 20, wants: (type: number) => boolean = () => true) {
  const seen: Seen = { frames: [], bytes: [], begun: 0 };
  const framer: Framer = new Framer(
    {
      begin: (type) => {
        seen.begun += 1;
        return wants(type);
      },
      bytes: (piece) => seen.bytes.push(Buffer.from(piece)),
      end: (type, body) => {
        seen.frames.push({ type, body: body ? body.toString('hex') : null });
        if (type === 0) framer.setStartup(false);
      },
    },
    maxBody,
    { startup },
  );
  return { framer, seen };
}

const stream = Buffer.concat([
  serialize.startup({ user: 'agent', database: 'orders', application_name: 'psql' }),
  serialize.query('SELECT 1'),
  serialize.parse({ name: 's1', text: 'SELECT $1::int', types: [23] }),
  serialize.bind({ statement: 's1', values: ['42', null] }),
  serialize.execute({ portal: '', rows: 0 }),
  serialize.sync(),
  new MessageWriter().finish('H'), // Flush: an empty body
  new MessageWriter().int16(2).int32(1).raw(Buffer.from('x')).int32(-1).finish('D'),
]);

function reference(): Seen {
  const { framer, seen } = collect(true);
  framer.push(stream);
  return seen;
}

describe('Framer', () => {
  it('frames a realistic client stream', () => {
    const seen = reference();
    expect(seen.frames.map((f) => f.type)).toEqual([0, ...'QPBESHD'].map((c) => (c === 0 ? 0 : (c as string).charCodeAt(0))));
    expect(Buffer.concat(seen.bytes).equals(stream)).toBe(true);
  });

  it('gives the same frames and bytes when the stream is split at every byte offset', () => {
    const want = reference();
    for (let cut = 0; cut <= stream.length; cut++) {
      const { framer, seen } = collect(true);
      framer.push(stream.subarray(0, cut));
      framer.push(stream.subarray(cut));
      expect(seen.frames, `split at ${cut}`).toEqual(want.frames);
      expect(Buffer.concat(seen.bytes).equals(stream), `bytes at ${cut}`).toBe(true);
    }
  });

  it('gives the same frames fed one byte at a time', () => {
    const { framer, seen } = collect(true);
    for (let i = 0; i < stream.length; i++) framer.push(stream.subarray(i, i + 1));
    expect(seen.frames).toEqual(reference().frames);
    expect(framer.atBoundary).toBe(true);
  });

  it('refuses a wanted frame over the limit before reading its body, pointing at its start', () => {
    const ok = serialize.query('SELECT 1');
    const big = serialize.query(`SELECT '${'x'.repeat(5000)}'`);
    const { framer, seen } = collect(false, 1024);
    let err: unknown;
    try {
      framer.push(Buffer.concat([ok, big]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FrameError);
    expect((err as FrameError).offset).toBe(ok.length);
    expect((err as FrameError).frameType).toBe('Q'.charCodeAt(0));
    expect(seen.frames).toHaveLength(1); // the first query only; the big one never ended
    expect(seen.begun).toBe(2);
  });

  it('refuses impossible lengths in both framings', () => {
    const typed = Buffer.from([0x51, 0, 0, 0, 3]);
    expect(() => collect(false).framer.push(typed)).toThrow(FrameError);
    const tiny = Buffer.alloc(8);
    tiny.writeInt32BE(7, 0);
    expect(() => collect(true).framer.push(tiny)).toThrow(/invalid message length 7/);
    const huge = Buffer.alloc(8);
    huge.writeInt32BE(MAX_STARTUP_PACKET + 1, 0);
    expect(() => collect(true).framer.push(huge)).toThrow(FrameError);
  });

  it('streams a frame the sink does not want, whatever its size', () => {
    const row = new MessageWriter().raw(Buffer.alloc(200_000, 1)).finish('D');
    const { framer, seen } = collect(false, 1024, (t) => t !== 'D'.charCodeAt(0));
    for (let i = 0; i < row.length; i += 4096) framer.push(row.subarray(i, i + 4096));
    expect(seen.frames).toEqual([{ type: 'D'.charCodeAt(0), body: null }]);
    expect(Buffer.concat(seen.bytes).length).toBe(row.length);
  });

  it('survives random and mutated input: frames it or throws FrameError, nothing else', () => {
    let seed = 0x9e3779b9;
    const rand = () => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const maxBody = 4096;
    for (let round = 0; round < 2000; round++) {
      const input = Buffer.from(stream);
      const mutations = 1 + Math.floor(rand() * 6);
      for (let m = 0; m < mutations; m++) input[Math.floor(rand() * input.length)] = Math.floor(rand() * 256);
      const data = round % 4 === 0 ? Buffer.from(Array.from({ length: 64 }, () => Math.floor(rand() * 256))) : input;
      let largest = 0;
      const framer: Framer = new Framer(
        {
          begin: () => true,
          end: (type, body) => {
            largest = Math.max(largest, body?.length ?? 0);
            if (type === 0) framer.setStartup(false);
          },
        },
        maxBody,
        { startup: round % 2 === 0 },
      );
      try {
        const cut = Math.floor(rand() * data.length);
        framer.push(data.subarray(0, cut));
        framer.push(data.subarray(cut));
      } catch (e) {
        expect(e).toBeInstanceOf(FrameError);
      }
      expect(largest).toBeLessThanOrEqual(maxBody);
    }
  });
});
