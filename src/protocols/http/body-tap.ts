import { Transform, type TransformCallback } from 'node:stream';
import type { StreamRecord } from '../../core/events.js';
import type { MaskTally, SessionMasker } from '../../masking/session.js';
import { StreamTap } from '../ssh/stream-tap.js';
import { isTextual } from './request-parts.js';

/**
 * A body on its way through (either direction): bytes pass unchanged, each is counted and hashed,
 * and for textual content types the first `maxBytes` are kept as the ledger's (masked) sample.
 * A compressed body (Content-Encoding other than identity) is not textual to the ledger.
 */
export class BodyTap extends Transform {
  private readonly tap: StreamTap;

  constructor(contentType: string | undefined, contentEncoding: string | undefined, maxBytes: number) {
    super();
    const encoded = contentEncoding !== undefined && contentEncoding.trim().toLowerCase() !== 'identity' && contentEncoding.trim() !== '';
    this.tap = new StreamTap(isTextual(contentType) && !encoded ? maxBytes : 0);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.tap.add(chunk);
    cb(null, chunk);
  }

  get bytes(): number {
    return this.tap.bytes;
  }

  /** `scrub`: strings replaced by "****" in the sample (the connection's credential, if the upstream echoes it) */
  record(masker: SessionMasker | null, tally: MaskTally, scrub: readonly string[] = []): StreamRecord {
    const r = this.tap.record(masker, tally);
    for (const s of scrub) if (s.length >= 4 && r.sample.includes(s)) r.sample = r.sample.split(s).join('****');
    return r;
  }
}

/** The record of a body that was never read. */
export const emptyBody = (): StreamRecord => new StreamTap(0).record(null, { rules: new Set(), columns: new Map() });
