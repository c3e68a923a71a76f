import { z } from 'zod';
import { parseDurationMs } from '../clock.js';
import { duration } from './primitives.js';

/** The `ledger` section: where records are kept, how durably, for how long, and its signed checkpoints. */

export const ledgerSection = z.strictObject({
  /** SQLite file (embedded default) ... */
  sqlite: z.string().min(1).optional(),
  /** ... or a PostgreSQL URL (several gateways can share it); exactly one of the two */
  postgres: z.string().regex(/^postgres(ql)?:\/\//, 'use a postgres:// or postgresql:// URL').optional(),
  /**
   * strict: every commit reaches the disk (fsync) before the command it records is forwarded:
   * survives a power loss. process: every commit reaches the operating system before the command
   * is forwarded, the disk soon after: survives the gateway being killed, not a crash of the host.
   */
  durability: z.enum(['strict', 'process']).default('strict'),
  /** prune payloads of records older than this (hashes stay, so the tree and checkpoints still verify) */
  retention: z.string().optional().transform((v, ctx) => {
    if (v === undefined) return undefined;
    try {
      const ms = parseDurationMs(v);
      if (ms < 86_400_000) throw new Error('retention must be at least 1d');
      return { text: v, ms };
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  }),
  /** signed Merkle checkpoints (Ed25519); without a key the ledger is hash-chained but not signed */
  checkpoints: z
    .strictObject({
      /** PEM file of the Ed25519 private key (`gatehouse keys generate`) */
      signingKeyFile: z.string().optional(),
      /** the PEM text itself, typically `${GATEHOUSE_SIGNING_KEY}` */
      signingKey: z.string().optional(),
      /** sign after this many new records ... */
      everyRecords: z.number().int().min(1).default(1000),
      /** ... or this long after the last checkpoint, whichever comes first */
      every: duration.default(10_000),
      /** append each signed checkpoint as a JSON line to this file (keep it off the gateway host) */
      witnessFile: z.string().optional(),
      /** POST each signed checkpoint as JSON to this URL */
      witnessUrl: z.url().optional(),
    })
    .refine((c) => (c.signingKeyFile === undefined) !== (c.signingKey === undefined), {
      message: 'give exactly one of signingKeyFile or signingKey',
    })
    .optional(),
}).refine((l) => (l.sqlite === undefined) !== (l.postgres === undefined), { message: 'give exactly one of ledger.sqlite or ledger.postgres' });
