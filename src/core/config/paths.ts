import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { GatehouseError } from '../errors.js';
import type { LoadedConfig } from './load.js';
import type { PostgresConnectionConfig } from './schema.js';

/** What the rest of the gateway reads through a loaded config: paths relative to the file, and secrets in files. */

/** Resolves a path from the config against the config file's directory. */
export function configPath(loaded: LoadedConfig, p: string): string {
  return resolve(loaded.baseDir, p);
}

/** Where SSH terminal recordings are kept: recording.dir, else beside the SQLite ledger, else ./data/recordings. */
export function recordingsDir(loaded: LoadedConfig): string {
  const c = loaded.config;
  if (c.recording.dir !== undefined) return configPath(loaded, c.recording.dir);
  if (c.ledger.sqlite !== undefined) return resolve(dirname(configPath(loaded, c.ledger.sqlite)), 'recordings');
  return configPath(loaded, './data/recordings');
}

/** The upstream password of a connection, read from the config or its passwordFile. */
export function connectionPassword(loaded: LoadedConfig, c: PostgresConnectionConfig): string | null {
  if (c.password !== undefined) return c.password;
  if (c.passwordFile !== undefined) {
    try {
      return readFileSync(configPath(loaded, c.passwordFile), 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new GatehouseError('GH_ERR_CONFIG_READ', `connection ${c.name}: cannot read passwordFile: ${(e as Error).message}`);
    }
  }
  return null;
}
