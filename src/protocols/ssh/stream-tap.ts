import { createHash, type Hash } from 'node:crypto';
import type { StreamRecord } from '../../core/events.js';
import { newTally, type MaskTally, type SessionMasker } from '../../masking/session.js';

/**
 * What the gateway keeps of a byte stream (stdout, stderr): every byte counted and hashed, the
 * first `maxBytes` kept as the ledger's sample, masked when it is recorded.
 */
export class StreamTap {
  private readonly hash: Hash = createHash('sha256');
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  bytes = 0;

  constructor(private readonly maxBytes: number) {}

  add(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    if (this.keptBytes < this.maxBytes) {
      const part = chunk.subarray(0, this.maxBytes - this.keptBytes);
      this.kept.push(Buffer.from(part));
      this.keptBytes += part.length;
    }
  }

  record(masker: SessionMasker | null, tally: MaskTally): StreamRecord {
    const text = Buffer.concat(this.kept).toString('utf8');
    return {
      bytes: this.bytes,
      sha256: this.hash.copy().digest('hex'),
      sample: masker ? masker.maskText(text, tally) : text,
      truncated: this.bytes > this.keptBytes,
    };
  }
}

const NL = 0x0a;
const MAX_LINE = 64 * 1024;

/**
 * Masks a text stream on its way to the client, sans-IO: detectors run per line, so a value is
 * never split between two scans. A partial line is held until its newline, MAX_LINE bytes, or the
 * end; in an interactive terminal the caller takes it (`partial()`) once the data pending in this
 * turn has been read, so prompts still appear (a value split across two packets of a partial line
 * can then escape the scan: the limit is in docs/security.md). Lines the detectors leave alone go
 * out as the very bytes received.
 */
export class LineMasker {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  readonly tally: MaskTally = newTally();
  /** lines the detectors changed */
  changed = 0;

  constructor(private readonly masker: SessionMasker) {}

  private maskLine(line: Buffer): Buffer {
    const text = line.toString('utf8');
    const masked = this.masker.maskText(text, this.tally);
    if (masked === text) return line;
    this.changed++;
    return Buffer.from(masked, 'utf8');
  }

  /** The held partial line, masked (empty when none). */
  partial(): Buffer[] {
    if (this.pendingBytes === 0) return [];
    const line = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return [this.maskLine(line)];
  }

  get holding(): boolean {
    return this.pendingBytes > 0;
  }

  feed(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NL, start);
      if (nl < 0) break;
      const part = chunk.subarray(start, nl + 1);
      if (this.pendingBytes > 0) {
        this.pending.push(part);
        this.pendingBytes += part.length;
        out.push(...this.partial());
      } else {
        out.push(this.maskLine(part));
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pending.push(Buffer.from(rest));
      this.pendingBytes += rest.length;
      if (this.pendingBytes >= MAX_LINE) out.push(...this.partial());
    }
    return out;
  }
}
