import { configPath, type LoadedConfig } from '../core/config.js';
import type { LedgerStore } from './ledger.js';
import { PostgresLedger } from './postgres.js';
import { SqliteLedger } from './sqlite.js';

/** Opens the configured ledger store: `ledger.sqlite` (a file) or `ledger.postgres` (a URL). */
export async function openLedger(loaded: LoadedConfig, options: { readonly?: boolean } = {}): Promise<LedgerStore> {
  const l = loaded.config.ledger;
  if (l.postgres !== undefined) return PostgresLedger.open(l.postgres, { ...options, durability: l.durability });
  return new SqliteLedger(configPath(loaded, l.sqlite!), { ...options, durability: l.durability });
}

/** Where the ledger lives, for messages (a PostgreSQL password is masked). */
export function ledgerLocation(loaded: LoadedConfig): string {
  const l = loaded.config.ledger;
  return l.postgres !== undefined ? l.postgres.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@') : configPath(loaded, l.sqlite!);
}
