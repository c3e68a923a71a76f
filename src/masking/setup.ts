import { readFileSync } from 'node:fs';
import { configPath, type LoadedConfig } from '../core/config.js';
import { GatehouseError } from '../core/errors.js';
import type { MaskingSetup } from './session.js';
import { maskKey } from './strategies.js';

/** The configured masking with its pseudonym key loaded (from the config or keyFile); null when there are no rules. */
export function maskingSetup(loaded: LoadedConfig): MaskingSetup | null {
  const m = loaded.config.masking;
  if (m.rules.length === 0) return null;
  let secret: string | Buffer | null = m.key ?? null;
  if (m.keyFile !== undefined) {
    try {
      secret = readFileSync(configPath(loaded, m.keyFile));
    } catch (e) {
      throw new GatehouseError('GH_ERR_CONFIG_READ', `masking.keyFile: cannot read ${m.keyFile}: ${(e as Error).message}`);
    }
    if (secret.length < 16) throw new GatehouseError('GH_ERR_CONFIG_INVALID', 'masking.keyFile: the key must be at least 16 bytes');
  }
  return { config: m, key: secret === null ? null : maskKey(secret) };
}
