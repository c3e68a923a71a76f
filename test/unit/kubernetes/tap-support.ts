import type { Direction, StreamName, TapSink } from '../../../src/protocols/kubernetes/stream-channels.js';
import { prng } from '../proof/fuzz-core.js';

/** What the WebSocket and SPDY tap tests share: a recording sink and ways to cut a stream into chunks. */

export type TapEvent =
  | { t: 'data'; stream: StreamName; from: Direction; text: string }
  | { t: 'closed'; stream: StreamName; from: Direction }
  | { t: 'end'; from: Direction; reason: string }
  | { t: 'violation'; message: string };

/** Records events, merging adjacent data slices of one stream and direction; counts slices. */
export class Recorder implements TapSink {
  readonly events: TapEvent[] = [];
  slices = 0;
  maxSlice = 0;
  constructor(private readonly onEvent: (e: TapEvent) => void = () => {}) {}
  data(stream: StreamName, from: Direction, bytes: Buffer): void {
    this.slices++;
    this.maxSlice = Math.max(this.maxSlice, bytes.length);
    const last = this.events.at(-1);
    const text = bytes.toString('latin1');
    if (last?.t === 'data' && last.stream === stream && last.from === from) last.text += text;
    else this.events.push({ t: 'data', stream, from, text });
  }
  closed(stream: StreamName, from: Direction): void {
    this.push({ t: 'closed', stream, from });
  }
  end(from: Direction, reason: string): void {
    this.push({ t: 'end', from, reason });
  }
  violation(message: string): void {
    this.push({ t: 'violation', message });
  }
  private push(e: TapEvent): void {
    this.events.push(e);
    this.onEvent(e);
  }
  get violations(): string[] {
    return this.events.flatMap((e) => (e.t === 'violation' ? [e.message] : []));
  }
}

export type Segment = readonly [Direction, Buffer];
/** how many of the `left` bytes the next chunk takes */
export type Cut = (left: number) => number;
export const whole: Cut = (left) => left;
export const bytewise: Cut = () => 1;
export const randomCuts = (seed: number): Cut => {
  const r = prng(seed);
  return (left) => 1 + Math.floor(r.next() * Math.min(left, 40));
};

/** Feeds every segment to `push`, cut into chunks by `cut`. */
export function feed(push: (from: Direction, chunk: Buffer) => void, segments: readonly Segment[], cut: Cut): void {
  for (const [from, bytes] of segments) {
    let at = 0;
    while (at < bytes.length) {
      const n = Math.max(1, Math.min(cut(bytes.length - at), bytes.length - at));
      push(from, bytes.subarray(at, at + n));
      at += n;
    }
  }
}

/** A SPDY/3 control frame: 1 | version(15) | type(16) | flags(8) | length(24), then the body. */
export function spdyControl(type: number, flags: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(type, 2);
  h[4] = flags;
  h.writeUIntBE(body.length, 5, 3);
  return Buffer.concat([h, body]);
}
