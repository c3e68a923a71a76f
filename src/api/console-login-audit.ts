import { nowUs } from '../core/clock.js';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import type { ConsoleLoginEvent, ConsoleLogoutEvent, ConsoleRole } from '../core/events.js';
import type { Principal } from '../identity/principal.js';
import type { LedgerWriter } from '../ledger/ledger.js';
import { CONSOLE_SESSION_ID } from './console-audit.js';

/**
 * Logins and logouts of the web console are ledger records too (under the ledger's own session id,
 * like console.view): who logged in (the id_token's subject, groups, id and hash), with which role,
 * from where, and the short name of the console session (not its cookie), so a later logout and the
 * reads in between can be tied to it. A refused login (no console role) is recorded as well.
 */

export type ConsoleLoginRecord = ConsoleLoginEvent | ConsoleLogoutEvent;

export function loginEvent(p: Principal, role: ConsoleRole | null, session: string | null, client: ConsoleLoginEvent['client'], reason: string | null = null): ConsoleLoginEvent {
  return {
    type: 'console.login', outcome: reason === null ? 'ok' : 'refused', reason, subject: p.subject, groups: [...p.groups], issuer: p.issuer,
    tokenId: p.tokenId, tokenSha256: p.tokenSha256, role, session, client,
  };
}

/** Appends it durably; a ledger that cannot record a login refuses the login (503). */
export async function recordLogin(ledger: Pick<LedgerWriter, 'append'>, event: ConsoleLoginRecord): Promise<void> {
  try {
    await ledger.append([{ sessionId: CONSOLE_SESSION_ID, time: nowUs(), event }]);
  } catch (e) {
    if (isGatehouseError(e) && e.code === 'GH_ERR_LEDGER_UNAVAILABLE') throw e;
    throw new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', 'this login could not be recorded in the ledger, so it is refused', { detail: (e as Error).message, cause: e });
  }
}
