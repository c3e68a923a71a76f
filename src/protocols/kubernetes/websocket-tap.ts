import { SpdyTap, type SpdyTapLimits } from './spdy-tap.js';
import {
  feedTap,
  portStream,
  remotecommandStream,
  TapViolation,
  type Direction,
  type StreamName,
  type TapSink,
} from './stream-channels.js';

/**
 * A passive tap over a Kubernetes WebSocket stream (RFC 6455 with the channel.k8s.io family of
 * subprotocols: exec, attach, port-forward), fed the bytes the gateway relays unchanged in both
 * directions. Hand-written because the `ws` library terminates connections — it must own the socket
 * and be one end of the handshake — and cannot observe a stream relayed between two other parties.
 *
 * Bounded: only a frame head (≤ 14 bytes), a control frame's payload (≤ 125 bytes), a port prefix
 * (2 bytes) and a base64 carry (≤ 3 bytes) are held; data payloads go to the sink in the slices
 * they arrive in (unmasked copies for client frames, views of the chunk for server frames).
 * Synchronous: sink calls happen inside `push()`, in wire order per direction.
 */

export interface WebSocketTapOptions {
  /** bytes of one message across its fragments (default 64 MiB) */
  maxMessageBytes?: number;
  /** the upgrade was a port-forward (the channel protocols are shared by exec and port-forward) */
  portForward?: boolean;
  /** port-forward: the request's `ports`, in order (channels 2k, 2k+1 carry ports[k]) */
  ports?: readonly number[];
  /** limits of the SPDY tap inside a tunneled port-forward (SPDY/3.1+portforward.k8s.io) */
  spdy?: Partial<SpdyTapLimits>;
}

export const WEBSOCKET_TAP_DEFAULTS = { maxMessageBytes: 64 * 1024 * 1024 } as const;

type Encoding = 'binary' | 'base64' | 'tunnel';

const SUBPROTOCOLS: Record<string, { encoding: Encoding; closeSignal: boolean; portForward: boolean }> = {
  '': { encoding: 'binary', closeSignal: false, portForward: false },
  'channel.k8s.io': { encoding: 'binary', closeSignal: false, portForward: false },
  'v4.channel.k8s.io': { encoding: 'binary', closeSignal: false, portForward: false },
  'v5.channel.k8s.io': { encoding: 'binary', closeSignal: true, portForward: false },
  'base64.channel.k8s.io': { encoding: 'base64', closeSignal: false, portForward: false },
  'v4.base64.channel.k8s.io': { encoding: 'base64', closeSignal: false, portForward: false },
  'portforward.k8s.io': { encoding: 'binary', closeSignal: false, portForward: true },
  'SPDY/3.1+portforward.k8s.io': { encoding: 'tunnel', closeSignal: false, portForward: true },
};

export const WEBSOCKET_SUBPROTOCOLS: readonly string[] = Object.keys(SUBPROTOCOLS).filter((p) => p !== '');

const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;
const MAX_SAFE_LENGTH = 2 ** 53 - 1;
const CLOSE_SIGNAL = 255;

/** What the bytes of the current message (after its channel byte, decoded) are. */
type Part = 'none' | 'data' | 'port' | 'close-signal';

class Side {
  phase: 'head' | 'payload' = 'head';
  readonly head = Buffer.alloc(14);
  got = 0;
  need = 2;
  opcode = 0;
  fin = false;
  masked = false;
  readonly mask = Buffer.alloc(4);
  maskAt = 0;
  remaining = 0;
  readonly control = Buffer.alloc(125);
  controlLen = 0;
  closed = false;
  // the data message in progress
  inMessage = false;
  messageBytes = 0;
  /** the message's channel byte has been read (the channel itself may be any number, negative in base64) */
  hasChannel = false;
  channel = -1;
  part: Part = 'none';
  name: StreamName = 'unknown';
  readonly prefix = Buffer.alloc(2);
  prefixGot = 0;
  signalled = -1;
  signalBytes = 0;
  readonly carry = Buffer.alloc(4);
  carryLen = 0;
  padded = false;

  constructor(readonly from: Direction) {}
}

export class WebSocketTap {
  private readonly encoding: Encoding;
  private readonly closeSignal: boolean;
  private readonly portForward: boolean;
  private readonly maxMessageBytes: number;
  private readonly sides: Record<Direction, Side> = { client: new Side('client'), server: new Side('server') };
  /** port-forward: the port of each channel pair, from options or the server's prefixes */
  private readonly ports = new Map<number, number>();
  private readonly prefixed = new Set<number>();
  private readonly tunnel: SpdyTap | null = null;
  private failed = false;

  constructor(
    readonly subprotocol: string,
    private readonly sink: TapSink,
    options: WebSocketTapOptions = {},
  ) {
    const p = SUBPROTOCOLS[subprotocol];
    if (!p) throw new TypeError(`not a Kubernetes stream subprotocol: ${JSON.stringify(subprotocol)}`);
    this.encoding = p.encoding;
    this.closeSignal = p.closeSignal;
    this.portForward = p.portForward || options.portForward === true;
    this.maxMessageBytes = options.maxMessageBytes ?? WEBSOCKET_TAP_DEFAULTS.maxMessageBytes;
    options.ports?.forEach((port, k) => this.ports.set(k, port));
    if (p.encoding === 'tunnel') {
      this.tunnel = new SpdyTap(
        {
          data: (st, from, b) => sink.data(st, from, b),
          closed: (st, from) => sink.closed(st, from),
          end: (from, reason) => sink.end(from, reason),
          violation: (m) => this.fail(`tunneled ${m}`),
        },
        options.spdy,
      );
    }
  }

  get stopped(): boolean {
    return this.failed;
  }

  push(from: Direction, chunk: Buffer): void {
    if (this.failed) return;
    feedTap('websocket', from, () => this.consume(this.sides[from], chunk), (m) => this.fail(m));
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.sink.violation(message);
  }

  private consume(s: Side, chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.failed) {
      if (s.closed) throw new TapViolation('bytes after the close frame');
      if (s.phase === 'head') {
        const n = Math.min(s.need - s.got, chunk.length - at);
        chunk.copy(s.head, s.got, at, at + n);
        s.got += n;
        at += n;
        if (s.got === 2) s.need = headLength(s.head);
        if (s.got === s.need) this.frameHead(s);
        continue;
      }
      const n = Math.min(s.remaining, chunk.length - at);
      let slice = chunk.subarray(at, at + n);
      at += n;
      s.remaining -= n;
      if (s.masked) slice = unmask(slice, s.mask, s);
      if (s.opcode >= OP.CLOSE) {
        slice.copy(s.control, s.controlLen);
        s.controlLen += slice.length;
      } else {
        this.messageBytes(s, slice);
      }
      if (s.remaining === 0) this.frameEnd(s);
    }
  }

  // FIN(1) RSV(3) opcode(4) | MASK(1) len(7) [len(16) | len(64)] [mask-key(32)]
  private frameHead(s: Side): void {
    const h = s.head;
    s.got = 0;
    s.need = 2;
    s.fin = (h[0]! & 0x80) !== 0;
    s.opcode = h[0]! & 0x0f;
    s.masked = (h[1]! & 0x80) !== 0;
    if (h[0]! & 0x70) throw new TapViolation('RSV bits set (no extension was negotiated)');
    if (s.masked !== (s.from === 'client')) {
      throw new TapViolation(s.masked ? 'masked frame from the server' : 'unmasked frame from the client');
    }
    const len7 = h[1]! & 0x7f;
    let length: number;
    let at = 2;
    if (len7 === 126) {
      length = h.readUInt16BE(2);
      at = 4;
    } else if (len7 === 127) {
      const big = h.readBigUInt64BE(2);
      if (big > BigInt(MAX_SAFE_LENGTH)) throw new TapViolation(`frame length ${big} over 2^53`);
      length = Number(big);
      at = 10;
    } else {
      length = len7;
    }
    if (s.masked) h.copy(s.mask, 0, at, at + 4);
    s.maskAt = 0;
    s.remaining = length;
    if (s.opcode >= OP.CLOSE) {
      if (s.opcode > OP.PONG) throw new TapViolation(`reserved opcode ${s.opcode}`);
      if (!s.fin || length > 125) throw new TapViolation('fragmented or oversize control frame');
      s.controlLen = 0;
    } else {
      if (s.opcode > OP.BINARY) throw new TapViolation(`reserved opcode ${s.opcode}`);
      if (s.opcode === OP.CONT && !s.inMessage) throw new TapViolation('continuation frame outside a message');
      if (s.opcode !== OP.CONT && s.inMessage) throw new TapViolation('new message inside a fragmented message');
      if (s.opcode !== OP.CONT) this.messageStart(s);
      s.messageBytes += length;
      if (s.messageBytes > this.maxMessageBytes) {
        throw new TapViolation(`message of ${s.messageBytes}+ bytes over ${this.maxMessageBytes}`);
      }
    }
    s.phase = 'payload';
    if (length === 0) this.frameEnd(s);
  }

  private frameEnd(s: Side): void {
    s.phase = 'head';
    if (s.opcode === OP.CLOSE) {
      if (s.controlLen === 1) throw new TapViolation('close frame of 1 byte');
      const code = s.controlLen >= 2 ? s.control.readUInt16BE(0) : 1005;
      const reason = s.control.toString('utf8', 2, Math.max(2, s.controlLen));
      s.closed = true;
      this.sink.end(s.from, reason ? `${code} ${reason}` : String(code));
    } else if (s.opcode < OP.CLOSE && s.fin) {
      this.messageEnd(s);
    }
  }

  private messageStart(s: Side): void {
    s.inMessage = true;
    s.messageBytes = 0;
    s.hasChannel = false;
    s.channel = -1;
    s.part = 'none';
    s.name = 'unknown';
    s.prefixGot = 0;
    s.signalled = -1;
    s.signalBytes = 0;
    s.carryLen = 0;
    s.padded = false;
  }

  private messageEnd(s: Side): void {
    s.inMessage = false;
    if (this.encoding === 'base64' && s.carryLen !== 0) throw new TapViolation('base64 message not a multiple of 4');
    if (s.part === 'port' && s.hasChannel) throw new TapViolation(`short port prefix on channel ${s.channel}`);
    // Kubernetes ignores a close signal that is not exactly [255, channel]
    if (s.part === 'close-signal' && s.signalBytes === 1) this.sink.closed(remotecommandStream(s.signalled), s.from);
  }

  /** Payload bytes of a data message, unmasked. */
  private messageBytes(s: Side, bytes: Buffer): void {
    if (this.tunnel) {
      if (bytes.length > 0) this.tunnel.push(s.from, bytes);
      return;
    }
    let b = bytes;
    if (!s.hasChannel) {
      if (b.length === 0) return;
      this.channelStart(s, b[0]!);
      b = b.subarray(1);
    }
    if (this.encoding === 'base64') b = this.decodeBase64(s, b);
    if (b.length > 0) this.decoded(s, b);
  }

  private channelStart(s: Side, byte: number): void {
    s.hasChannel = true;
    if (this.closeSignal && byte === CLOSE_SIGNAL) {
      s.channel = CLOSE_SIGNAL;
      s.part = 'close-signal';
      return;
    }
    const channel = this.encoding === 'base64' ? byte - 0x30 : byte;
    s.channel = channel;
    s.part = 'data';
    if (channel < 0) {
      s.name = 'unknown';
    } else if (!this.portForward) {
      s.name = remotecommandStream(channel);
    } else if (s.from === 'server' && !this.prefixed.has(channel)) {
      s.part = 'port'; // the first message on each channel from the server starts with its port
    } else {
      s.name = this.portName(channel);
    }
  }

  private portName(channel: number): StreamName {
    const port = this.ports.get(channel >> 1);
    return port === undefined ? 'unknown' : portStream(port, channel % 2 === 0 ? 'data' : 'error');
  }

  /** Bytes after the channel byte, decoded. */
  private decoded(s: Side, b: Buffer): void {
    if (s.part === 'close-signal') {
      if (s.signalBytes === 0) s.signalled = b[0]!;
      s.signalBytes += b.length;
      return;
    }
    if (s.part === 'port') {
      const n = Math.min(2 - s.prefixGot, b.length);
      b.copy(s.prefix, s.prefixGot, 0, n);
      s.prefixGot += n;
      b = b.subarray(n);
      if (s.prefixGot < 2) return;
      // port (little-endian uint16), written by the kubelet as each channel's first message
      this.ports.set(s.channel >> 1, s.prefix.readUInt16LE(0));
      this.prefixed.add(s.channel);
      s.part = 'data';
      s.name = this.portName(s.channel);
      if (b.length === 0) return;
    }
    this.sink.data(s.name, s.from, b);
  }

  /** Decodes whole 4-character groups; up to 3 characters wait in the carry for the next fragment. */
  private decodeBase64(s: Side, b: Buffer): Buffer {
    if (b.length === 0) return b;
    if (s.padded) throw new TapViolation('base64 after padding');
    const text = s.carryLen > 0 ? Buffer.concat([s.carry.subarray(0, s.carryLen), b]) : b;
    const whole = text.length - (text.length % 4);
    s.carryLen = text.length - whole;
    text.copy(s.carry, 0, whole);
    for (let i = 0; i < whole; i++) {
      const c = text[i]!;
      if (B64[c] === 1) continue;
      // '=' only as the last one or two characters of a group, and only in the last group
      const pos = i % 4;
      if (c !== 0x3d || pos < 2 || (pos === 2 && text[i + 1] !== 0x3d) || i + 4 - pos < whole) {
        throw new TapViolation('invalid base64');
      }
      s.padded = true;
    }
    if (s.padded && s.carryLen > 0) throw new TapViolation('base64 after padding');
    return Buffer.from(text.toString('latin1', 0, whole), 'base64');
  }
}

const B64 = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') B64[c.charCodeAt(0)] = 1;

/** The whole head's length, known once its first two bytes are in. */
function headLength(h: Buffer): number {
  const len7 = h[1]! & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (h[1]! & 0x80 ? 4 : 0);
}

/** A copy of `slice` unmasked with the frame's key, continuing at the side's mask offset. */
function unmask(slice: Buffer, mask: Buffer, s: { maskAt: number }): Buffer {
  const out = Buffer.allocUnsafe(slice.length);
  let k = s.maskAt;
  for (let i = 0; i < slice.length; i++) {
    out[i] = slice[i]! ^ mask[k]!;
    k = (k + 1) & 3;
  }
  s.maskAt = k;
  return out;
}
