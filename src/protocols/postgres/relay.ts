import { allowAll, type CommandGate } from '../../policy/gate.js';
import type { SessionMasker } from '../../masking/session.js';
import type { TxStatus } from './backend.js';
import { ClientSide, type ClientStep } from './relay-client.js';
import { interruptAll } from './relay-results.js';
import { ServerSide, type UpstreamStep } from './relay-server.js';
import { RelayState, type PendingRecord, type RelayLimits } from './relay-state.js';

export type { ClientOut, Gate, HeldCommand } from './relay-gate.js';
export type { ClientStep } from './relay-client.js';
export type { UpstreamStep } from './relay-server.js';
export type { PendingRecord, RelayLimits } from './relay-state.js';

/**
 * The relay phase of a PostgreSQL session, sans-IO: it owns no socket. The listener feeds it the
 * bytes that arrive from the client and from the upstream server; it answers with what to record
 * (commands, write-ahead: durably before the bytes that carry them are forwarded), what to forward
 * and what to answer locally. It parses both directions with bounded framing and follows the
 * protocol's request/response pairing (simple Query, the extended protocol's Parse/Bind/Describe/
 * Execute/Close/Sync, FunctionCall, COPY in both directions) to tie every result to its command.
 *
 * Guardrails: every command (Query, and Parse / Execute / FunctionCall of the extended protocol)
 * is held back whole until its last byte has arrived, decided by the session's CommandGate, and
 * then either passed on unchanged, replaced by a stand-in the server rejects without running
 * anything (block), or handed to the driver as a HeldCommand to wait for a reviewer (review). The
 * server's error for a stand-in is swapped for the gateway's own on the way back, so the client
 * sees 42501 with the rule's reason while the server's transaction state stays the truth.
 * Everything else passes through as views of the chunks received (no copies).
 *
 * The records of a chunk are made durable before anything of that chunk is forwarded, so the
 * server cannot run anything that is not in the ledger.
 *
 * The work is split by direction: relay-client.ts (framing, gating, the queue of expected
 * answers), relay-server.ts (the answers, holding and masking), relay-results.ts (how answers
 * close results), over the state both share (relay-state.ts). This class is their one face.
 */
export class PgRelay {
  private readonly state: RelayState;
  private readonly client: ClientSide;
  private readonly server: ServerSide;

  constructor(limits: RelayLimits, gate: CommandGate = allowAll, masker: SessionMasker | null = null) {
    this.state = new RelayState(limits, gate, masker);
    this.client = new ClientSide(this.state);
    this.server = new ServerSide(this.state);
  }

  /** Commands sent so far (for the session's end record). */
  get statementsSeen(): number {
    return this.state.statementsSeen;
  }

  /** Errors the server answered with so far (for the session's end record). */
  get errorsSeen(): number {
    return this.state.errorsSeen;
  }

  get transactionStatus(): TxStatus {
    return this.state.txStatus;
  }

  /** seq of the command the server is working on, if any (for cancel records). */
  runningCommandSeq(): number | null {
    return this.state.runningCommandSeq();
  }

  /**
   * A message of the gateway's own for the client (a NOTICE): returned when it can be sent now,
   * else queued until the server's stream to the client is between two messages.
   */
  messageToClient(m: Buffer): Buffer | null {
    return this.server.messageToClient(m);
  }

  fromClient(chunk: Buffer): ClientStep {
    return this.client.push(chunk);
  }

  fromUpstream(chunk: Buffer): UpstreamStep {
    return this.server.push(chunk);
  }

  /** The session is ending: results still open are recorded as interrupted. */
  interrupt(): PendingRecord[] {
    return interruptAll(this.state);
  }
}
