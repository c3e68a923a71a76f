import type { LoadedConfig } from '../core/config.js';
import type { Logger } from '../core/log.js';
import type { Principal } from '../identity/principal.js';
import type { LedgerWriter } from '../ledger/ledger.js';
import type { ApprovalBroker } from '../approvals/broker.js';
import type { MaskingSetup } from '../masking/session.js';

/** What every protocol listener is given by the server wiring. */

export interface TokenVerifierLike {
  verify(token: string): Promise<Principal>;
}

export interface ListenerDeps {
  loaded: LoadedConfig;
  verifier: TokenVerifierLike;
  ledger: LedgerWriter;
  log: Logger;
  approvals: ApprovalBroker | null;
  masking: MaskingSetup | null;
}
