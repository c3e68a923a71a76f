import { GatehouseError } from '../../core/errors.js';

/** Bounds-checked reader over one message body. Every read past the end is a protocol error. */
export class BodyReader {
  pos = 0;
  constructor(readonly buf: Buffer, readonly what: string) {}

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) this.bad(`truncated (needs ${n} more bytes at offset ${this.pos})`);
  }

  bad(why: string): never {
    throw new GatehouseError('GH_ERR_PROTOCOL', `malformed ${this.what} message`, { detail: why });
  }

  byte(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A count that must be non-negative and plausible for the bytes left (each item >= minItemBytes). */
  count16(minItemBytes: number): number {
    const n = this.int16();
    if (n < 0 || n * minItemBytes > this.buf.length - this.pos) this.bad(`impossible count ${n}`);
    return n;
  }

  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) this.bad('unterminated string');
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  rest(): Buffer {
    const b = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return b;
  }

  get done(): boolean {
    return this.pos === this.buf.length;
  }
}

/** Builds one typed backend/frontend message: Byte1 type | Int32 length | body. */
export class MessageWriter {
  private parts: Buffer[] = [];
  private size = 0;

  private add(b: Buffer): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  byte(v: number): this {
    return this.add(Buffer.from([v]));
  }

  int16(v: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeInt16BE(v);
    return this.add(b);
  }

  int32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(v);
    return this.add(b);
  }

  cstring(s: string): this {
    return this.add(Buffer.from(`${s.replace(/\0/g, '')}\0`, 'utf8'));
  }

  raw(b: Buffer): this {
    return this.add(b);
  }

  finish(type: string | null): Buffer {
    const headerLen = type === null ? 4 : 5;
    const out = Buffer.allocUnsafe(headerLen + this.size);
    let pos = 0;
    if (type !== null) out[pos++] = type.charCodeAt(0);
    out.writeInt32BE(this.size + 4, pos);
    pos += 4;
    for (const p of this.parts) {
      p.copy(out, pos);
      pos += p.length;
    }
    return out;
  }
}

export const code = (c: string): number => c.charCodeAt(0);
