import type { FastifyRequest } from 'fastify';
import { nowUs } from '../core/clock.js';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import type { ConsoleExportEvent, ConsoleViewEvent } from '../core/events.js';
import type { LedgerWriter } from '../ledger/ledger.js';
import { principalOf, viewerRecord } from './roles.js';

/**
 * The auditors are audited: every read of a session report and every file that leaves the API is a
 * ledger record (console.view / console.export) under the ledger's own session id '', appended and
 * durable before a byte of what was asked for is sent. A ledger that cannot record it refuses the
 * read (503), as the gateway refuses a command it cannot record.
 */

export type ConsoleAction = Omit<ConsoleViewEvent, 'viewer'> | Omit<ConsoleExportEvent, 'viewer'>;

/** Session id of console records: the ledger's own, like checkpoints. */
export const CONSOLE_SESSION_ID = '';

export async function recordConsoleAction(ledger: Pick<LedgerWriter, 'append'>, req: FastifyRequest, action: ConsoleAction): Promise<void> {
  const role = req.consoleRole;
  if (role === null) throw new TypeError('console actions are recorded behind requireRole');
  const event = { ...action, viewer: viewerRecord(principalOf(req), role) } as ConsoleViewEvent | ConsoleExportEvent;
  try {
    await ledger.append([{ sessionId: CONSOLE_SESSION_ID, time: nowUs(), event }]);
  } catch (e) {
    if (isGatehouseError(e) && e.code === 'GH_ERR_LEDGER_UNAVAILABLE') throw e;
    throw new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', 'this read could not be recorded in the ledger, so it is refused', { detail: (e as Error).message, cause: e });
  }
}
