/**
 * Gatehouse configuration: YAML, validated with zod (unknown keys are errors, so a typo is caught),
 * `${VAR}` / `${VAR:-default}` replaced from the environment in string values after parsing (never in
 * the raw text, so a variable cannot inject YAML). Relative paths are relative to the config file.
 * docs/configuration.md documents every key.
 *
 * This module is the public entry: the schema lives in config/ (one module per section, assembled in
 * config/schema.ts), loading in config/load.ts, path and secret resolution in config/paths.ts.
 */

export { ConfigSchema } from './config/schema.js';
export type {
  Config,
  ConnectionConfig,
  PostgresConnectionConfig,
  SshConnectionConfig,
  HttpConnectionConfig,
  KubernetesConnectionConfig,
  WebConnectionConfig,
} from './config/schema.js';
export type { SshListenerConfig, HttpListenerConfig, ListenerTlsConfig, ApiListenerConfig } from './config/listeners.js';
export type { DevClient, DevUser, DevLoginClient } from './config/dev.js';
export type { PolicyRule } from './config/policy.js';
export type { MaskingConfig, MaskingRule } from './config/masking.js';
export type { ApprovalsConfig } from './config/approvals.js';
export type { ConsoleConfig, ConsoleLoginConfig } from './config/console.js';
export { substituteEnv, parseConfig, loadConfigText, loadConfigFile } from './config/load.js';
export type { LoadedConfig } from './config/load.js';
export { configPath, recordingsDir, connectionPassword } from './config/paths.js';
