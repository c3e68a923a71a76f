import type { LoadedConfig } from './core/config.js';
import type { Logger } from './core/log.js';
import { TokenVerifier } from './identity/verifier.js';
import type { LedgerStore } from './ledger/ledger.js';
import { openLedger } from './ledger/open.js';
import { Checkpointer, checkpointOptions } from './ledger/checkpointer.js';
import { startRetention } from './ledger/retention.js';
import { startPgListener, type PgListener } from './protocols/postgres/listener.js';
import { ApprovalBroker } from './approvals/broker.js';
import { webhookFromConfig } from './approvals/notify.js';
import { apiBaseUrl, approveHint } from './approvals/review-commands.js';
import { startApi, type ApiServer } from './api/start.js';
import { initClassifier } from './policy/classify.js';
import { maskingSetup } from './masking/setup.js';
import { startSshListener, type SshListener } from './protocols/ssh/listener.js';
import { startHttpListener, type HttpListener } from './protocols/http/listener.js';

/**
 * The server wiring: the only module that opens listeners. It opens the ledger, prepares the token
 * verifier, starts each configured listener, and on close drains sessions before closing the ledger.
 */

export interface Gateway {
  postgres: PgListener | null;
  ssh: SshListener | null;
  /** the HTTP API gateway, when listeners.http is configured */
  http: HttpListener | null;
  /** the reviewers' HTTP API, when listeners.api is configured */
  api: ApiServer | null;
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
  const webhook = webhookFromConfig(cfg.approvals, apiBaseUrl(cfg), log.child({ component: 'webhook' }));
  let api: ApiServer | null = null;
  const approvals = new ApprovalBroker({
    ledger,
    log: log.child({ component: 'approvals' }),
    ...(webhook ? { notifier: webhook } : {}),
    // the hint names the API the reviewers reach: the configured public URL, else the bound one
    approveHint: (id) => approveHint(cfg.approvals.url ?? api?.url ?? null)(id),
  });
  // requests a previous run left waiting are recorded as denied; grants still in force come back
  const recovered = await approvals.recover(ledger);
  if (recovered.denied > 0) log.warn({ denied: recovered.denied }, 'approval requests left waiting by the previous run were recorded as denied');
  let postgres: PgListener | null = null;
  let ssh: SshListener | null = null;
  let http: HttpListener | null = null;
  try {
    if (cfg.listeners.api) api = await startApi({ loaded, broker: approvals, verifier, ledger, log: log.child({ component: 'api' }) });
    else if (cfg.policies.some((p) => p.action === 'review')) {
      log.warn('policies hold statements for review, but listeners.api is not configured: nobody can decide, so held statements time out as denied');
    }
    const masking = maskingSetup(loaded);
    if (cfg.listeners.postgres) postgres = await startPgListener({ loaded, verifier, ledger, log, approvals, masking });
    if (cfg.listeners.ssh) ssh = await startSshListener({ loaded, verifier, ledger, log, approvals, masking });
    if (cfg.listeners.http) http = await startHttpListener({ loaded, verifier, ledger, log, approvals, masking });
  } catch (e) {
    await postgres?.close(0);
    await ssh?.close(0);
    await api?.close();
    await checkpointer?.close();
    await ledger.close();
    throw e;
  }
  let closing: Promise<void> | null = null;
  return {
    postgres,
    ssh,
    http,
    api,
    approvals,
    ledger,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        // commands waiting for a reviewer are denied first, so their sessions can drain
        await approvals.close();
        await api?.close();
        await Promise.all([postgres?.close(graceMs), ssh?.close(graceMs), http?.close(graceMs)]);
        await webhook?.flush();
        retention?.stop();
        // the last checkpoint covers every session's end
        await checkpointer?.close();
        await ledger.close();
      })();
      return closing;
    },
  };
}
