/**
 * A bounded, zero-copy-where-possible framer for the PostgreSQL wire protocol, used for both
 * directions. Written by hand because pg-protocol's parser has no frame size limit (fine for a
 * driver, not for a gateway facing untrusted clients) and always decodes whole messages, while the
 * relay only needs to look inside a few of them and must stream huge ones (100 MB results, COPY)
 * without buffering.
 *
 * Wire layout:
 *   startup phase (client only): Int32 length (incl. itself) | body            (no type byte)
 *   normal phase:                Byte1 type | Int32 length (incl. itself) | body
 *
 * For every frame the sink is told when it begins (and decides whether it wants the body), is
 * optionally handed the raw bytes as they pass (header included, for digests), and is told when it
 * ends. A wanted body longer than `maxBody` is a FrameError before anything is allocated.
 */

export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    message: string,
    /** the frame type (0 in the startup phase) */
    readonly frameType: number,
    readonly length: number,
    /** offset in the chunk passed to push() where the offending frame starts */
    readonly offset: number,
  ) {
    super(message);
  }
}

export interface FrameSink {
  /** A frame begins. Return true to receive its whole body in end(). */
  begin(type: number, bodyLength: number): boolean;
  /** Raw bytes of the current frame, header included, in order. Optional. */
  bytes?(piece: Buffer): void;
  /**
   * The frame is complete. `body` is given when begin() returned true. `endOffset` is the offset
   * just past the frame in the chunk being pushed.
   */
  end(type: number, body: Buffer | null, endOffset: number): void;
}

/** Smallest legal startup packet: length + protocol code. PostgreSQL allows at most 10000 bytes. */
export const MAX_STARTUP_PACKET = 10_000;

const EMPTY = Buffer.alloc(0);

const State = { Header: 0, Body: 1 } as const;
type State = (typeof State)[keyof typeof State];

export class Framer {
  private state: State = State.Header;
  /** header bytes collected so far when a header is split across chunks */
  private readonly header = Buffer.alloc(5);
  private headerHave = 0;
  private type = 0;
  private remaining = 0;
  private want = false;
  private body: Buffer | null = null;
  private bodyHave = 0;
  /** when true, frames have no type byte (the client's first messages) */
  private startup: boolean;

  constructor(
    private readonly sink: FrameSink,
    private maxBody: number,
    options: { startup?: boolean } = {},
  ) {
    this.startup = options.startup ?? false;
  }

  /** Switches between the untyped startup framing and normal typed framing (at a frame boundary). */
  setStartup(startup: boolean): void {
    if (this.state !== State.Header || this.headerHave !== 0) throw new TypeError('framing can change only between frames');
    this.startup = startup;
  }

  setMaxBody(maxBody: number): void {
    this.maxBody = maxBody;
  }

  /** True when no partial frame is pending. */
  get atBoundary(): boolean {
    return this.state === State.Header && this.headerHave === 0;
  }

  /** Feeds a chunk. Throws FrameError on a frame that breaks the limits; the framer is then unusable. */
  push(chunk: Buffer): void {
    const sink = this.sink;
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.state === State.Header) {
        // read per frame: the sink may switch from startup to typed framing between frames
        const headerLen = this.startup ? 4 : 5;
        const frameStart = pos - this.headerHave;
        let type: number;
        let len: number;
        if (this.headerHave === 0 && n - pos >= headerLen) {
          // fast path: whole header inside this chunk
          if (this.startup) {
            type = 0;
            len = chunk.readInt32BE(pos);
          } else {
            type = chunk[pos]!;
            len = chunk.readInt32BE(pos + 1);
          }
          if (sink.bytes) sink.bytes(chunk.subarray(pos, pos + headerLen));
          pos += headerLen;
        } else {
          const take = Math.min(headerLen - this.headerHave, n - pos);
          chunk.copy(this.header, this.headerHave, pos, pos + take);
          if (sink.bytes) sink.bytes(chunk.subarray(pos, pos + take));
          this.headerHave += take;
          pos += take;
          if (this.headerHave < headerLen) return;
          if (this.startup) {
            type = 0;
            len = this.header.readInt32BE(0);
          } else {
            type = this.header[0]!;
            len = this.header.readInt32BE(1);
          }
          this.headerHave = 0;
        }
        const bodyLen = len - 4;
        if (this.startup ? len < 8 || len > MAX_STARTUP_PACKET : len < 4) {
          throw new FrameError(`invalid message length ${len}`, type, len, Math.max(frameStart, 0));
        }
        this.type = type;
        this.remaining = bodyLen;
        this.want = sink.begin(type, bodyLen);
        if (this.want) {
          if (bodyLen > this.maxBody) {
            throw new FrameError(`message of ${bodyLen} bytes exceeds the limit of ${this.maxBody}`, type, len, Math.max(frameStart, 0));
          }
          this.body = null;
          this.bodyHave = 0;
        }
        if (bodyLen === 0) {
          sink.end(type, this.want ? EMPTY : null, pos);
          continue;
        }
        this.state = State.Body;
        if (this.want && n - pos >= bodyLen) {
          // fast path: whole body inside this chunk, hand out a view without copying
          const body = chunk.subarray(pos, pos + bodyLen);
          if (sink.bytes) sink.bytes(body);
          pos += bodyLen;
          this.state = State.Header;
          sink.end(type, body, pos);
          continue;
        }
        if (this.want) this.body = Buffer.allocUnsafe(bodyLen);
      }
      // State.Body: consume up to `remaining` bytes
      const take = Math.min(this.remaining, n - pos);
      const piece = chunk.subarray(pos, pos + take);
      if (sink.bytes) sink.bytes(piece);
      if (this.want) {
        piece.copy(this.body!, this.bodyHave);
        this.bodyHave += take;
      }
      pos += take;
      this.remaining -= take;
      if (this.remaining === 0) {
        this.state = State.Header;
        const body = this.want ? this.body : null;
        this.body = null;
        sink.end(this.type, body, pos);
      }
    }
  }
}
