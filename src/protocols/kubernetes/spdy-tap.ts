import { inflateRaw, InflateLimitError } from './raw-inflate.js';
import {
  feedTap,
  portStream,
  streamTypeName,
  TapViolation,
  type Direction,
  type StreamName,
  type TapSink,
} from './stream-channels.js';

/**
 * A passive tap over SPDY/3.1 (`Upgrade: SPDY/3.1`, kubectl exec/attach/port-forward), fed the bytes
 * the gateway relays unchanged in both directions; it reports each stream's payload and never holds
 * one. Hand-written because no maintained SPDY library offers a passive parser: spdy-transport is
 * an endpoint (it answers pings, manages windows, owns the socket) with no bound on header blocks.
 * Only frame heads (8 bytes), fixed fields (≤ 10 bytes) and header blocks (bounded) are buffered.
 *
 * Header blocks are zlib streams with the SPDY/3 dictionary and one compression context per
 * direction for the whole connection, each block ending in a sync flush. The tap keeps that context
 * as the last 32 KiB of the direction's history (the dictionary, then every decompressed block) and
 * inflates each block synchronously as raw deflate (raw-inflate.ts: pako, not node:zlib, which leaks
 * on a malformed block) with that history as its preset window: deflate blocks carry their own Huffman
 * tables, so the window is the whole of the state across a sync flush. Everything is therefore
 * synchronous: sink calls happen inside `push()`, in wire order.
 */

export interface SpdyTapLimits {
  /** decompressed bytes of one header block (the compressed block may be 1 KiB more) */
  maxHeaderBlockBytes: number;
  /** streams open at once (a stream counts until both sides FIN or one resets it) */
  maxStreams: number;
}

export const SPDY_TAP_DEFAULTS: SpdyTapLimits = { maxHeaderBlockBytes: 64 * 1024, maxStreams: 64 };

/** SPDY/3 §2.6.10.1: length-prefixed words, then a tail of status phrases, dates and media types. */
const DICTIONARY_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding',
  'accept-language', 'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection',
  'content-base', 'content-encoding', 'content-language', 'content-length', 'content-location',
  'content-md5', 'content-range', 'content-type', 'date', 'etag', 'expect', 'expires', 'from', 'host',
  'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified',
  'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via',
  'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url',
  'public', 'set-cookie', 'keep-alive', 'origin',
];
const DICTIONARY_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request' +
  '401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented' +
  '503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ' +
  'Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,' +
  'application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=' +
  'gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

/** The 1423-byte SPDY/3 header dictionary (its Adler-32, the zlib DICTID, is 0xe3c6a7c2). */
export const SPDY3_DICTIONARY: Buffer = Buffer.concat([
  ...DICTIONARY_WORDS.map((w) => {
    const b = Buffer.alloc(4 + w.length);
    b.writeUInt32BE(w.length, 0);
    b.write(w, 4, 'latin1');
    return b;
  }),
  Buffer.from(DICTIONARY_TAIL, 'latin1'),
]);
export const SPDY3_DICTIONARY_ID = 0xe3c6a7c2;

const WINDOW = 32 * 1024;
const FLAG_FIN = 0x01;

const T = { SYN_STREAM: 1, SYN_REPLY: 2, RST_STREAM: 3, GOAWAY: 7, HEADERS: 8 } as const;

/** Fixed fields before the header block (or the whole body) of the control frames the tap reads. */
const FIXED: Partial<Record<number, number>> = {
  // stream-id(4) | associated-id(4) | pri(3) unused(5) slot(8) | header block
  [T.SYN_STREAM]: 10,
  // stream-id(4) | header block
  [T.SYN_REPLY]: 4,
  // stream-id(4) | status(4)
  [T.RST_STREAM]: 8,
  // last-good-stream-id(4) | status(4)
  [T.GOAWAY]: 8,
  // stream-id(4) | header block
  [T.HEADERS]: 4,
};
const HAS_BLOCK = new Set<number>([T.SYN_STREAM, T.SYN_REPLY, T.HEADERS]);

interface Stream {
  name: StreamName;
  closedBy: Set<Direction>;
}

type Phase = 'head' | 'data' | 'fixed' | 'block' | 'skip';

class Side {
  phase: Phase = 'head';
  readonly head = Buffer.alloc(8);
  readonly fixed = Buffer.alloc(10);
  got = 0; // bytes of head / fixed collected
  need = 0; // bytes of fixed wanted
  remaining = 0; // bytes of the frame body not yet consumed
  control = false;
  type = 0;
  flags = 0;
  streamId = 0;
  block: Buffer[] = [];
  blockBytes = 0;
  /** the inflate history: null until the zlib header has been read */
  window: Buffer | null = null;

  constructor(readonly from: Direction) {}
}

export class SpdyTap {
  private readonly limits: SpdyTapLimits;
  private readonly sides: Record<Direction, Side> = { client: new Side('client'), server: new Side('server') };
  private readonly streams = new Map<number, Stream>();
  /** the highest stream id opened, by parity */
  private readonly highest = [0, 0];
  private failed = false;

  constructor(
    private readonly sink: TapSink,
    limits: Partial<SpdyTapLimits> = {},
  ) {
    this.limits = { ...SPDY_TAP_DEFAULTS, ...limits };
  }

  /** Streams open now (for tests and the session record). */
  get openStreams(): number {
    return this.streams.size;
  }

  get stopped(): boolean {
    return this.failed;
  }

  push(from: Direction, chunk: Buffer): void {
    if (this.failed) return;
    feedTap('spdy', from, () => this.consume(this.sides[from], chunk), (m) => {
      this.failed = true;
      this.sink.violation(m);
    });
  }

  private consume(s: Side, chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      switch (s.phase) {
        case 'head': {
          const n = Math.min(8 - s.got, chunk.length - at);
          chunk.copy(s.head, s.got, at, at + n);
          s.got += n;
          at += n;
          if (s.got === 8) this.frameHead(s);
          break;
        }
        case 'fixed': {
          const n = Math.min(s.need - s.got, chunk.length - at);
          chunk.copy(s.fixed, s.got, at, at + n);
          s.got += n;
          s.remaining -= n;
          at += n;
          if (s.got === s.need) this.fixedFields(s);
          break;
        }
        case 'block': {
          const n = Math.min(s.remaining, chunk.length - at);
          s.block.push(Buffer.from(chunk.subarray(at, at + n))); // a copy: a view would pin the chunk
          s.blockBytes += n;
          s.remaining -= n;
          at += n;
          if (s.remaining === 0) this.headerBlock(s);
          break;
        }
        case 'skip': {
          const n = Math.min(s.remaining, chunk.length - at);
          s.remaining -= n;
          at += n;
          if (s.remaining === 0) s.phase = 'head';
          break;
        }
        case 'data': {
          const n = Math.min(s.remaining, chunk.length - at);
          this.sink.data(this.nameOf(s.streamId), s.from, chunk.subarray(at, at + n));
          s.remaining -= n;
          at += n;
          if (s.remaining === 0) this.dataEnd(s);
          break;
        }
      }
    }
  }

  // control: 1 | version(15) | type(16) | flags(8) | length(24)
  // data:    0 | stream-id(31) | flags(8) | length(24)
  private frameHead(s: Side): void {
    const h = s.head;
    s.got = 0;
    s.flags = h[4]!;
    s.remaining = h.readUIntBE(5, 3);
    s.control = (h[0]! & 0x80) !== 0;
    if (!s.control) {
      s.streamId = h.readUInt32BE(0) & 0x7fffffff;
      // ids only grow, per initiator (odd: client, even: server): above the highest is garbage
      if (s.streamId === 0 || s.streamId > this.highest[s.streamId & 1]!) {
        throw new TapViolation(`data frame for stream ${s.streamId}, never opened`);
      }
      s.phase = 'data';
      if (s.remaining === 0) this.dataEnd(s);
      return;
    }
    const version = h.readUInt16BE(0) & 0x7fff;
    if (version !== 3) throw new TapViolation(`SPDY version ${version}, not 3`);
    s.type = h.readUInt16BE(2);
    const fixed = FIXED[s.type];
    if (fixed === undefined) {
      s.phase = s.remaining === 0 ? 'head' : 'skip'; // SETTINGS, PING, WINDOW_UPDATE, unknown: skipped by length
      return;
    }
    if (s.remaining < fixed || (s.type === T.RST_STREAM && s.remaining !== fixed)) {
      throw new TapViolation(`control frame type ${s.type} of ${s.remaining} bytes`);
    }
    s.need = fixed;
    s.phase = 'fixed';
  }

  private fixedFields(s: Side): void {
    s.got = 0;
    const f = s.fixed;
    if (s.type === T.GOAWAY) {
      this.sink.end(s.from, `GOAWAY last-stream=${f.readUInt32BE(0) & 0x7fffffff} status=${f.readUInt32BE(4)}`);
    } else {
      s.streamId = f.readUInt32BE(0) & 0x7fffffff;
      if (s.type === T.RST_STREAM) this.reset(s.from, s.streamId);
    }
    if (HAS_BLOCK.has(s.type)) {
      if (s.remaining > this.limits.maxHeaderBlockBytes + 1024) {
        throw new TapViolation(`compressed header block of ${s.remaining} bytes over the bound`);
      }
      s.phase = 'block';
      if (s.remaining === 0) this.headerBlock(s);
    } else {
      s.phase = s.remaining === 0 ? 'head' : 'skip';
    }
  }

  private headerBlock(s: Side): void {
    const compressed = s.block.length === 1 ? s.block[0]! : Buffer.concat(s.block);
    s.block = [];
    s.blockBytes = 0;
    s.phase = 'head';
    const headers = compressed.length === 0 ? new Map<string, string>() : nameValues(this.inflate(s, compressed));
    const fin = (s.flags & FLAG_FIN) !== 0;
    if (s.type === T.SYN_STREAM) {
      if (s.streamId === 0) throw new TapViolation('SYN_STREAM for stream 0');
      if (this.streams.has(s.streamId)) throw new TapViolation(`SYN_STREAM for open stream ${s.streamId}`);
      if (this.streams.size >= this.limits.maxStreams) {
        throw new TapViolation(`more than ${this.limits.maxStreams} streams open`);
      }
      this.streams.set(s.streamId, { name: streamName(headers), closedBy: new Set() });
      const parity = s.streamId & 1;
      this.highest[parity] = Math.max(this.highest[parity]!, s.streamId);
    }
    if (fin) this.finish(s.from, s.streamId);
  }

  private inflate(s: Side, compressed: Buffer): Buffer {
    let raw = compressed;
    if (s.window === null) {
      // zlib header: CMF | FLG [| DICTID(4) when FLG.FDICT]
      const cmf = raw[0]!;
      const flg = raw[1];
      if (flg === undefined || (cmf & 0x0f) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | flg) % 31 !== 0) {
        throw new TapViolation('header block is not a zlib stream');
      }
      if (flg & 0x20) {
        if (raw.length < 6 || raw.readUInt32BE(2) !== SPDY3_DICTIONARY_ID) {
          throw new TapViolation('header block zlib dictionary is not the SPDY/3 dictionary');
        }
        s.window = SPDY3_DICTIONARY;
        raw = raw.subarray(6);
      } else {
        s.window = Buffer.alloc(0);
        raw = raw.subarray(2);
      }
    }
    let history: Buffer;
    try {
      history = inflateRaw(raw, s.window, this.limits.maxHeaderBlockBytes);
    } catch (err) {
      if (err instanceof InflateLimitError) {
        throw new TapViolation(`header block over ${this.limits.maxHeaderBlockBytes} bytes decompressed`);
      }
      throw new TapViolation(`header block does not inflate: ${(err as Error).message}`);
    }
    const out = history.subarray(s.window.length);
    s.window = Buffer.from(history.subarray(Math.max(0, history.length - WINDOW)));
    return out;
  }

  private dataEnd(s: Side): void {
    s.phase = 'head';
    if ((s.flags & FLAG_FIN) !== 0) this.finish(s.from, s.streamId);
  }

  private nameOf(id: number): StreamName {
    return this.streams.get(id)?.name ?? 'unknown';
  }

  private finish(from: Direction, id: number): void {
    const st = this.streams.get(id);
    if (!st) {
      this.sink.closed('unknown', from);
      return;
    }
    if (!st.closedBy.has(from)) {
      st.closedBy.add(from);
      this.sink.closed(st.name, from);
    }
    if (st.closedBy.size === 2) this.streams.delete(id);
  }

  private reset(from: Direction, id: number): void {
    const st = this.streams.get(id);
    this.sink.closed(st?.name ?? 'unknown', from);
    this.streams.delete(id);
  }
}

/**
 * SPDY/3 name/value block: count(32) then count × { name-len(32) name value-len(32) value }; a value
 * may hold several NUL-separated values (the first is used). Names are lower case on the wire.
 */
function nameValues(block: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  const bad = (): never => {
    throw new TapViolation('malformed name/value header block');
  };
  if (block.length < 4) bad();
  const count = block.readUInt32BE(0);
  let at = 4;
  const field = (): string => {
    if (at + 4 > block.length) bad();
    const n = block.readUInt32BE(at);
    if (at + 4 + n > block.length) bad();
    const text = block.toString('latin1', at + 4, at + 4 + n);
    at += 4 + n;
    return text;
  };
  for (let i = 0; i < count; i++) {
    const name = field();
    const value = field();
    if (!out.has(name)) out.set(name, value.split('\0')[0] ?? '');
  }
  if (at !== block.length) bad();
  return out;
}

/** kubectl's streams: `streamtype` error|stdin|stdout|stderr|resize, or data|error with `port`. */
function streamName(headers: Map<string, string>): StreamName {
  const type = headers.get('streamtype') ?? '';
  const portText = headers.get('port');
  if (portText !== undefined) {
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535) || (type !== 'data' && type !== 'error')) return 'unknown';
    return portStream(port, type);
  }
  return streamTypeName(type);
}
