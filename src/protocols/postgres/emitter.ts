const EMPTY = Buffer.alloc(0);

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

  private flush(): void {
    if (this.runEnd > this.runStart) this.out.push(this.chunk.subarray(this.runStart, this.runEnd));
    this.runStart = this.runEnd;
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
