import { createHash, type Hash } from 'node:crypto';

const SCRATCH = 16 * 1024;
import { monoUs } from '../../core/clock.js';
import type { PgResultEvent, RecordedError, RecordedValue } from '../../core/events.js';
import type { ColumnDescription } from './backend.js';
import { decodeDataRow, rowsFromTag, type FieldRewrite } from './backend.js';
import { formatAt, recordValue } from './values.js';
import { newTally, type MaskTally, type ResultColumn, type RowPlan } from '../../masking/session.js';

/** Where a command's record landed in the ledger; filled in once the write-ahead append is durable. */
export interface CommandRef {
  seq: number | null;
  /** monotonic µs when the gateway received the command */
  startedMono: number;
}

export interface SampleLimits {
  sampleRows: number;
  maxValueBytes: number;
}

/**
 * Accumulates one result (one statement's answer) as it streams past: row count, a sample of the
 * first rows, byte count and SHA-256 over its backend messages. Nothing is buffered beyond the
 * sample. Contiguous byte pieces are hashed in one update (see run*).
 */
export class ResultRecorder {
  rows = 0;
  bytes = 0;
  columns: ColumnDescription[] | null;
  copy: { direction: 'in' | 'out'; bytes: number } | null = null;
  readonly sample: RecordedValue[][] = [];
  /** masking: the plan for this result's rows (undefined until computed) and what it masked */
  maskPlan: RowPlan | null | undefined = undefined;
  /** the plan's row rewrite, made once per result */
  maskFn: FieldRewrite | undefined = undefined;
  /** values masked per column index, settled into the tally when the result ends */
  readonly maskCounts: number[] = [];
  readonly tally: MaskTally = newTally();
  private readonly hash: Hash = createHash('sha256');
  /** the contiguous run of bytes not hashed yet: [runStart, runEnd) of runBuffer */
  private runBuffer: ArrayBufferLike | null = null;
  private runStart = 0;
  private runEnd = 0;
  private scratch: Buffer | null = null;
  private scratchUsed = 0;

  constructor(
    readonly ref: CommandRef,
    readonly index: number,
    private readonly limits: SampleLimits,
    columns: ColumnDescription[] | null,
    /** result format codes from Bind (empty = all text) */
    private readonly formats: readonly number[],
  ) {
    this.columns = columns;
  }

  get wantsSample(): boolean {
    return this.sample.length < this.limits.sampleRows;
  }

  /** Adds raw bytes of a result message (header included). */
  addBytes(piece: Buffer): void {
    this.addRange(piece.buffer, piece.byteOffset, piece.length);
  }

  /**
   * Adds `length` bytes at `offset` of `buffer` (no view needed). Bytes contiguous with the run
   * extend it (a chunk passed through, or rows rewritten one after another into the relay's
   * block); a short run broken off is copied into the scratch, so scattered pieces are hashed
   * together rather than one update each. The scratch's bytes come before the run's.
   */
  addRange(buffer: ArrayBufferLike, offset: number, length: number): void {
    this.bytes += length;
    if (this.runBuffer === buffer && offset === this.runEnd) {
      this.runEnd += length;
      return;
    }
    if (this.runBuffer !== null) {
      const n = this.runEnd - this.runStart;
      if (n <= 512) {
        if (this.scratchUsed + n > SCRATCH) this.flushScratch();
        (this.scratch ??= Buffer.allocUnsafe(SCRATCH)).set(new Uint8Array(this.runBuffer, this.runStart, n), this.scratchUsed);
        this.scratchUsed += n;
        this.runBuffer = null;
      } else {
        this.flushScratch();
        this.hashRun();
      }
    }
    this.runBuffer = buffer;
    this.runStart = offset;
    this.runEnd = offset + length;
  }

  private flushScratch(): void {
    if (this.scratchUsed === 0) return;
    this.hash.update(this.scratch!.subarray(0, this.scratchUsed));
    this.scratchUsed = 0;
  }

  private hashRun(): void {
    if (this.runBuffer === null) return;
    this.hash.update(new Uint8Array(this.runBuffer, this.runStart, this.runEnd - this.runStart));
    this.runBuffer = null;
  }

  private flushRun(): void {
    this.flushScratch();
    this.hashRun();
  }

  /** Called at the end of each pushed chunk: the chunk's memory may be reused after that. */
  endOfChunk(): void {
    this.flushRun();
  }

  dataRow(body: Buffer | null): void {
    this.rows += 1;
    if (body === null || !this.wantsSample) return;
    const values = decodeDataRow(body);
    const row = new Array<RecordedValue>(values.length);
    for (let i = 0; i < values.length; i++) {
      // Bind's result formats are authoritative (a statement Describe reports 0 for every column)
      const fmt = this.formats.length > 0 ? formatAt(this.formats, i) : (this.columns?.[i]?.format ?? 0);
      row[i] = recordValue(values[i]!, fmt, this.limits.maxValueBytes);
    }
    this.sample.push(row);
  }

  /** The result's columns as masking sees them (formats from Bind when given). */
  resultColumns(): ResultColumn[] | null {
    if (!this.columns) return null;
    return this.columns.map((c, i) => ({
      name: c.name, tableOid: c.tableOid, column: c.column, typeOid: c.typeOid,
      format: this.formats.length > 0 ? formatAt(this.formats, i) : c.format,
    }));
  }

  /** A COPY OUT data message: one row in text/csv formats. */
  copyData(body: Buffer | null, length: number): void {
    this.rows += 1;
    if (this.copy) this.copy.bytes += length;
    if (body !== null && this.wantsSample) this.sample.push([recordValue(body, 0, this.limits.maxValueBytes)]);
  }

  finish(status: PgResultEvent['status'], tag: string | null, error: RecordedError | null): PgResultEvent {
    this.flushRun();
    if (this.maskPlan) this.maskPlan.settle(this.maskCounts, this.tally);
    return {
      type: 'pg.result',
      statementSeq: this.ref.seq ?? 0,
      index: this.index,
      status,
      tag,
      rows: tag !== null ? (rowsFromTag(tag) ?? (this.rows > 0 ? this.rows : null)) : this.rows > 0 ? this.rows : null,
      error,
      durationUs: monoUs() - this.ref.startedMono,
      bytes: this.bytes,
      sha256: this.hash.digest('hex'),
      columns: this.columns ? this.columns.map((c) => c.name) : null,
      sample: this.sample,
      copy: this.copy,
      ...(this.tally.rules.size > 0 ? { masked: { rules: [...this.tally.rules], columns: Object.fromEntries(this.tally.columns) } } : {}),
    };
  }
}
