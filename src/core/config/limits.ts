import { z } from 'zod';
import { duration, MiB } from './primitives.js';

/** The `limits` section: message sizes, timeouts and session counts that bound what a client can cost. */

export const limitsSection = z.strictObject({
  /** largest client message the gateway reads whole (queries, Parse, Bind); bigger ones are refused */
  maxClientMessageBytes: z.number().int().min(1024).max(1024 * MiB).default(16 * MiB),
  /** largest server message the gateway decodes (RowDescription, errors, sampled rows) */
  maxServerMessageBytes: z.number().int().min(1024).max(1024 * MiB).default(64 * MiB),
  handshakeTimeout: duration.default(15_000),
  maxSessions: z.number().int().min(1).default(10_000),
  /** a client that has data waiting and takes none of it this long is cut (PostgreSQL results, HTTP and Kubernetes responses) */
  stalledClientTimeout: duration.default(300_000),
});
