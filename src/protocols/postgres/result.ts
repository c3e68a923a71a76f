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
    this.bytes += piece.length;
    if (this.runBuffer !== null && piece.buffer === this.runBuffer && piece.byteOffset === this.runEnd) {
      this.runEnd += piece.length;
      return;
    }
    // at most one of the run and the scratch holds bytes, so flushing both keeps the order
    this.hashRun();
    if (piece.length <= 512) {
      // small scattered pieces (rewritten rows): copied together, hashed in one update
      if (this.scratchUsed + piece.length > SCRATCH) this.flushScratch();
      this.scratchUsed += piece.copy(this.scratch ??= Buffer.allocUnsafe(SCRATCH), this.scratchUsed);
      return;
    }
    this.flushScratch();
    this.runBuffer = piece.buffer;
    this.runStart = piece.byteOffset;
    this.runEnd = piece.byteOffset + piece.length;
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
    this.hashRun();
    this.flushScratch();
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
