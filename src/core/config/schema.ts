import { z } from 'zod';
import { approvalsSection } from './approvals.js';
import { connection } from './connections.js';
import { consoleSection } from './console.js';
import { devSection } from './dev.js';
import { identitySection } from './identity.js';
import { ledgerSection } from './ledger.js';
import { limitsSection } from './limits.js';
import { listenersSection } from './listeners.js';
import { maskingSection } from './masking.js';
import { policyRule, policySection } from './policy.js';
import { MiB } from './primitives.js';
import { recordingSection } from './recording.js';

/** The whole configuration, assembled from its sections; each section's keys are documented in its module. */

export const ConfigSchema = z.strictObject({
  identity: identitySection,
  ledger: ledgerSection,
  listeners: listenersSection,
  connections: z.array(connection).default([]),
  /** guardrails, evaluated in order; the first matching rule decides */
  policies: z.array(policyRule).default([]),
  policy: policySection.default({ default: 'allow', unparsable: 'block' }),
  recording: recordingSection.default({ sampleRows: 20, maxValueBytes: 1024, maxParamBytes: 64 * 1024, maxStreamBytes: 64 * 1024 }),
  limits: limitsSection.default({ maxClientMessageBytes: 16 * MiB, maxServerMessageBytes: 64 * MiB, handshakeTimeout: 15_000, maxSessions: 10_000, stalledClientTimeout: 300_000 }),
  approvals: approvalsSection.default({}),
  /** roles of the management API's console routes (absent: nobody may read sessions through the API) */
  console: consoleSection.optional(),
  /** masking of sensitive values in results and in the ledger */
  masking: maskingSection.default({ detectors: [], rules: [] }),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).default({ level: 'info' }),
  /** development-only embedded components (dev OIDC issuer, demo PostgreSQL); never use in production */
  dev: devSection.optional(),
});

export type Config = z.output<typeof ConfigSchema>;
export type ConnectionConfig = Config['connections'][number];
export type PostgresConnectionConfig = Extract<ConnectionConfig, { type: 'postgres' }>;
export type SshConnectionConfig = Extract<ConnectionConfig, { type: 'ssh' }>;
export type HttpConnectionConfig = Extract<ConnectionConfig, { type: 'http' }>;
export type KubernetesConnectionConfig = Extract<ConnectionConfig, { type: 'kubernetes' }>;
/** the connections served by the HTTP listener */
export type WebConnectionConfig = HttpConnectionConfig | KubernetesConnectionConfig;
