import { loadConfigFile, configPath, type LoadedConfig } from '../core/config.js';
import { GatehouseError } from '../core/errors.js';
import type { LedgerStore } from '../ledger/ledger.js';
import { openLedger } from '../ledger/open.js';

/** Shared plumbing of the operator commands: config, read-only ledger, errors to exit codes. */

export const DEFAULT_CONFIG = 'gatehouse.yaml';

export function loadConfig(file: string | undefined): LoadedConfig {
  return loadConfigFile(file ?? process.env.GATEHOUSE_CONFIG ?? DEFAULT_CONFIG);
}

/** Opens the configured ledger for reading: operator commands never write to it. */
export function openReader(loaded: LoadedConfig): Promise<LedgerStore> {
  return openLedger(loaded, { readonly: true });
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${text}`);
}

/** Runs a command body; a GatehouseError becomes one clear line on stderr and a non-zero exit. */
export async function run(body: () => Promise<number | void>): Promise<void> {
  try {
    const code = await body();
    process.exitCode = code ?? 0;
  } catch (e) {
    if (e instanceof GatehouseError) {
      process.stderr.write(`gatehouse: ${e.message}${e.detail ? ` (${e.detail})` : ''} [${e.code}]\n`);
      process.exitCode = e.code === 'GH_ERR_USAGE' || e.code.startsWith('GH_ERR_CONFIG') ? 2 : 1;
      return;
    }
    throw e;
  }
}

/** A full session id, or a unique prefix of one (at least 6 characters), to the full id. */
export async function resolveSessionId(reader: LedgerStore, id: string): Promise<string> {
  if (await reader.getSession(id)) return id;
  const matches = id.length >= 6 ? await reader.sessionIdsWithPrefix(id, 2) : [];
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new GatehouseError('GH_ERR_USAGE', `session id prefix ${id} matches several sessions; give more of it`);
  throw new GatehouseError('GH_ERR_SESSION_NOT_FOUND', `no session with id ${id} in the ledger (list them with: gatehouse sessions)`);
}
