const EMPTY = Buffer.alloc(0);
const BLOCK = 64 * 1024;

/**
 * Collects what one pushed chunk turns into, in order: runs of the chunk's own bytes (kept as
 * zero-copy views and merged while contiguous, so an untouched chunk comes out as one view of
 * itself) and items put in their place (a replaced message, a held command).
 */
export class Emitter<T> {
  private out: Array<Buffer | T> = [];
  private chunk: Buffer = EMPTY;
  private runStart = 0;
  private runEnd = 0;
  /** bytes written by the gateway itself (rewritten messages), packed into blocks: [segStart, used) is pending */
  private block: Buffer | null = null;
  private used = 0;
  private segStart = 0;
  private lastAt = 0;

  /** Starts a new chunk. */
  begin(chunk: Buffer): void {
    this.out = [];
    this.chunk = chunk;
    this.runStart = 0;
    this.runEnd = 0;
  }

  /** Bytes that go out as they came: a view of the current chunk, or of an earlier one. */
  pass(piece: Buffer): void {
    if (piece.length === 0) return;
    const off = piece.byteOffset - this.chunk.byteOffset;
    const inChunk = piece.buffer === this.chunk.buffer && off >= 0 && off + piece.length <= this.chunk.length;
    if (inChunk && off === this.runEnd && this.runEnd > this.runStart) {
      this.runEnd += piece.length;
      return;
    }
    this.flush();
    if (inChunk) {
      this.runStart = off;
      this.runEnd = off + piece.length;
    } else this.out.push(piece);
  }

  /** Something else goes out here, after everything passed so far. */
  push(item: Buffer | T): void {
    this.flush();
    this.out.push(item);
  }

  /**
   * Room for `n` bytes the caller writes now, going out here: their offset in `buffer` (the
   * current block). Consecutive rooms are one contiguous piece of a shared block, so a run of
   * rewritten rows leaves as one buffer, not one allocation (nor one view) per row. Blocks are
   * never written twice: what went out stays as it was.
   */
  room(n: number): number {
    this.flushRun();
    if (this.block === null || this.used + n > this.block.length) {
      this.flushSegment();
      this.block = Buffer.allocUnsafe(Math.max(BLOCK, n));
      this.used = 0;
      this.segStart = 0;
    }
    const at = this.used;
    this.used += n;
    this.lastAt = at;
    return at;
  }

  /** The block room() handed out its last bytes in. */
  get buffer(): Buffer {
    return this.block ?? EMPTY;
  }

  /** The offset the last room() gave. */
  get lastRoom(): number {
    return this.lastAt;
  }

  private flushRun(): void {
    if (this.runEnd > this.runStart) this.out.push(this.chunk.subarray(this.runStart, this.runEnd));
    this.runStart = this.runEnd;
  }

  private flushSegment(): void {
    if (this.block !== null && this.used > this.segStart) this.out.push(this.block.subarray(this.segStart, this.used));
    this.segStart = this.used;
  }

  private flush(): void {
    this.flushSegment();
    this.flushRun();
  }

  /** What the chunk became; the emitter is ready for the next chunk. */
  finish(): Array<Buffer | T> {
    this.flush();
    const out = this.out;
    this.out = [];
    this.chunk = EMPTY;
    this.runStart = 0;
    this.runEnd = 0;
    return out;
  }
}
