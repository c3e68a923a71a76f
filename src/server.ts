import type { LoadedConfig } from './core/config.js';
import { configPath } from './core/config.js';
import type { Logger } from './core/log.js';
import { TokenVerifier } from './identity/verifier.js';
import type { LedgerStore } from './ledger/ledger.js';
import { openLedger } from './ledger/open.js';
import { Checkpointer, checkpointOptions } from './ledger/checkpointer.js';
import { startRetention } from './ledger/retention.js';
import { startPgListener, type PgListener } from './protocols/postgres/listener.js';
import { ApprovalBroker } from './approvals/broker.js';
import { initClassifier } from './policy/classify.js';

/**
 * The server wiring: the only module that opens listeners. It opens the ledger, prepares the token
 * verifier, starts each configured listener, and on close drains sessions before closing the ledger.
 */

export interface Gateway {
  postgres: PgListener | null;
  approvals: ApprovalBroker;
  ledger: LedgerStore;
  close(graceMs?: number): Promise<void>;
}

export async function startGateway(loaded: LoadedConfig, log: Logger): Promise<Gateway> {
  const cfg = loaded.config;
  const signing = checkpointOptions(loaded);
  const ledger = await openLedger(loaded);
  const checkpointer = signing ? new Checkpointer(ledger, signing, log.child({ component: 'ledger' })) : null;
  if (checkpointer) await checkpointer.start();
  else log.warn('ledger checkpoints are not signed: set ledger.checkpoints.signingKeyFile (gatehouse keys generate)');
  const retention = cfg.ledger.retention ? startRetention(ledger, cfg.ledger.retention, checkpointer, log.child({ component: 'ledger' })) : null;
  await retention?.runNow();
  const verifier = new TokenVerifier(cfg.identity, log.child({ component: 'identity' }));
  // discovery now, so a wrong issuer shows at start; failure is not fatal (retried per login)
  await verifier.discover().catch((e: unknown) => log.warn({ issuer: cfg.identity.issuer, err: (e as Error).message }, 'OIDC discovery failed; will retry on the first login'));
  // the SQL parser (WASM) is loaded before the first statement needs it
  await initClassifier();
  const approvals = new ApprovalBroker({ ledger, log: log.child({ component: 'approvals' }) });
  // requests a previous run left waiting are recorded as denied; grants still in force come back
  const recovered = await approvals.recover(ledger);
  if (recovered.denied > 0) log.warn({ denied: recovered.denied }, 'approval requests left waiting by the previous run were recorded as denied');
  let postgres: PgListener | null = null;
  try {
    if (cfg.listeners.postgres) postgres = await startPgListener({ loaded, verifier, ledger, log, approvals });
  } catch (e) {
    await checkpointer?.close();
    await ledger.close();
    throw e;
  }
  let closing: Promise<void> | null = null;
  return {
    postgres,
    approvals,
    ledger,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        // commands waiting for a reviewer are denied first, so their sessions can drain
        await approvals.close();
        if (postgres) await postgres.close(graceMs);
        retention?.stop();
        // the last checkpoint covers every session's end
        await checkpointer?.close();
        await ledger.close();
      })();
      return closing;
    },
  };
}
