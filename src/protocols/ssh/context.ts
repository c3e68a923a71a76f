import type { LoadedConfig, SshConnectionConfig } from '../../core/config.js';
import type { AuditEvent } from '../../core/events.js';
import type { Logger } from '../../core/log.js';
import type { Principal } from '../../identity/principal.js';
import type { ApprovalBroker } from '../../approvals/broker.js';
import type { SessionMasker } from '../../masking/session.js';
import type { CommandGate } from '../../policy/gate.js';
import type { SshUpstream } from './upstream.js';

/** What every channel of one authenticated SSH session shares. */
export interface SshSessionContext {
  id: string;
  loaded: LoadedConfig;
  connection: SshConnectionConfig;
  principal: Principal;
  upstream: SshUpstream;
  log: Logger;
  gate: CommandGate;
  approvals: ApprovalBroker | null;
  /** null when no masking rule with detectors applies to this session */
  masker: SessionMasker | null;
  recordingsDir: string;
  maxStreamBytes: number;
  /** appends records under this session (time: now); resolves with their seqs; rejects when the ledger cannot */
  record(events: AuditEvent[]): Promise<number[]>;
  /** appends without waiting (records of what already happened); failures are logged */
  recordBehind(events: AuditEvent[]): void;
  counters: { commands: number; errors: number };
}

/** The terminal a client asked for with pty-req, and its later size changes. */
export interface PtyRequest {
  term: string;
  cols: number;
  rows: number;
  width: number;
  height: number;
  /** terminal modes, passed on as given */
  modes: Record<string, number | undefined>;
}

/** A gateway message on the client's stderr: how a refusal reads in a terminal or a CI log. */
export function gatewayMessage(text: string, pty: boolean): Buffer {
  const line = `gatehouse: ${text}`;
  return Buffer.from(pty ? `${line.replace(/\n/g, '\r\n')}\r\n` : `${line}\n`, 'utf8');
}
