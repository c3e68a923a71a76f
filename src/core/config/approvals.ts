import { z } from 'zod';
import { duration } from './primitives.js';

/** The `approvals` section: how approval requests and decisions reach the reviewers. */

export const approvalsSection = z.strictObject({
  /** POST every approval request and decision to this URL */
  webhook: z
    .strictObject({
      url: z.url(),
      /** json: { event, approval }; slack: an incoming-webhook message ({ text, blocks }) */
      format: z.enum(['json', 'slack']).default('json'),
      /** HMAC-SHA256 key: when set, X-Gatehouse-Signature: sha256=<hex> signs the body */
      secret: z.string().min(16, 'use at least 16 characters').optional(),
      timeout: duration.default(5_000),
    })
    .optional(),
  /** public base URL of the reviewers' API, shown in hints and messages (default: from listeners.api) */
  url: z.url().optional(),
});

export type ApprovalsConfig = z.output<typeof approvalsSection>;
