import { z } from 'zod';
import { MiB } from './primitives.js';

/** The `recording` section: how much of each statement, result and stream is kept. */

export const recordingSection = z.strictObject({
  /** result rows kept per statement as a sample */
  sampleRows: z.number().int().min(0).max(1000).default(20),
  /** longest value kept in samples; longer ones keep a prefix and a digest */
  maxValueBytes: z.number().int().min(16).max(1 * MiB).default(1024),
  /** longest bound parameter kept in full */
  maxParamBytes: z.number().int().min(16).max(16 * MiB).default(64 * 1024),
  /** SSH: bytes of each stdout/stderr stream kept in the ledger (the digest covers all of it) */
  maxStreamBytes: z.number().int().min(0).max(16 * MiB).default(64 * 1024),
  /** SSH terminal recordings (asciicast v2); default: a "recordings" directory beside the SQLite ledger, or ./data/recordings */
  dir: z.string().optional(),
});
