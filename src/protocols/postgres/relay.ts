import { newApprovalId } from '../../approvals/broker.js';
import { monoUs, nowUs } from '../../core/clock.js';
import { GatehouseError } from '../../core/errors.js';
import type { AuditEvent, PgResultEvent, RecordedError, RecordedValue } from '../../core/events.js';
import { allowAll, type CommandGate, type GateDecision } from '../../policy/gate.js';
import { ALLOWED_CURSOR, blockedError, decideSql, maskRecorded, recorded, type ClientOut, type Gate, type HeldCommand } from './relay-gate.js';

export type { ClientOut, Gate, HeldCommand } from './relay-gate.js';
import type { SessionMasker } from '../../masking/session.js';
import {
  decodeCommandComplete, decodeCopyResponse, decodeErrorFields, decodeReadyForQuery, decodeRowDescription,
  errorResponse, rewriteDataRowInto, rewriteNoticeFields,
  type ColumnDescription, type DecodedError, type TxStatus,
} from './backend.js';
import { Emitter } from './emitter.js';
import { FrameError, Framer } from './framer.js';
import {
  BLOCKED_PORTAL, BLOCKED_SQL, decodeBind, decodeExecute, decodeFunctionCall, decodeParse, decodeQuery, decodeTarget,
  executeMessage, functionCallMessage, parseMessage, queryMessage,
} from './frontend.js';
import { ResultRecorder, type CommandRef, type SampleLimits } from './result.js';
import { recordValues } from './values.js';
import { code, MessageWriter } from './wire.js';

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
 */

export interface RelayLimits extends SampleLimits {
  maxClientMessageBytes: number;
  maxServerMessageBytes: number;
  maxParamBytes: number;
  maxPreparedStatements: number;
}

export interface PendingRecord {
  event: AuditEvent;
  time: number;
  /** set for commands: receives the record's seq */
  ref: CommandRef | null;
}

export interface ClientStep {
  /** to append durably before anything of `out` is sent */
  records: PendingRecord[];
  /** what goes upstream, in order */
  out: ClientOut[];
  /** an error to send the client (after forwarding), when the session must end */
  fatal: GatehouseError | null;
  /** the client sent Terminate */
  terminate: boolean;
}

export interface UpstreamStep {
  /** results to append (not awaited) */
  records: PendingRecord[];
  /** what goes to the client, in order */
  out: Buffer[];
  /** the server ended the session (FATAL error) or broke the protocol */
  fatal: GatehouseError | null;
}

interface StatementInfo {
  text: string;
  columns: ColumnDescription[] | null;
}

interface PortalInfo {
  statement: string;
  text: string;
  params: RecordedValue[];
  resultFormats: number[];
  columns: ColumnDescription[] | null;
}

type Expect =
  | { k: 'simple'; ref: CommandRef; index: number; result: ResultRecorder | null; gate: Gate | null }
  | { k: 'parse'; ref: CommandRef | null; gate: Gate | null }
  | { k: 'bind' }
  | { k: 'describe'; target: 'S' | 'P'; name: string }
  | { k: 'execute'; ref: CommandRef; portal: PortalInfo | null; result: ResultRecorder | null; gate: Gate | null }
  | { k: 'close' }
  | { k: 'sync' }
  | { k: 'function'; ref: CommandRef; result: ResultRecorder | null; gate: Gate | null };

const gateOf = (h: Expect | undefined): Gate | null =>
  h && (h.k === 'simple' || h.k === 'parse' || h.k === 'execute' || h.k === 'function') ? h.gate : null;

const B = {
  // frontend
  Query: code('Q'), Parse: code('P'), Bind: code('B'), Execute: code('E'), Describe: code('D'), Close: code('C'),
  Sync: code('S'), Flush: code('H'), Terminate: code('X'), FunctionCall: code('F'), CopyData: code('d'),
  CopyDone: code('c'), CopyFail: code('f'),
  // backend
  ParseComplete: code('1'), BindComplete: code('2'), CloseComplete: code('3'), ParameterDescription: code('t'),
  RowDescription: code('T'), NoData: code('n'), DataRow: code('D'), CommandComplete: code('C'), EmptyQuery: code('I'),
  PortalSuspended: code('s'), ErrorResponse: code('E'), ReadyForQuery: code('Z'), CopyIn: code('G'), CopyOut: code('H'),
  CopyBoth: code('W'), FunctionResult: code('V'), Notice: code('N'), Notification: code('A'), ParameterStatus: code('S'),
  NegotiateVersion: code('v'),
} as const;

const FRONTEND_TYPES = new Set<number>([
  B.Query, B.Parse, B.Bind, B.Execute, B.Describe, B.Close, B.Sync, B.Flush, B.Terminate, B.FunctionCall,
  B.CopyData, B.CopyDone, B.CopyFail,
]);

/** Backend messages that belong to a result (and count into its bytes and digest). */
const RESULT_TYPES = new Set<number>([
  B.RowDescription, B.DataRow, B.CommandComplete, B.EmptyQuery, B.PortalSuspended, B.ErrorResponse, B.CopyIn,
  B.CopyOut, B.CopyBoth, B.CopyData, B.CopyDone, B.FunctionResult,
]);

/** Frontend messages that are commands: held whole and decided before they go upstream. */
const GATED_TYPES = new Set<number>([B.Query, B.Parse, B.Execute, B.FunctionCall]);

/** Backend messages whose body the relay reads (others pass by without a copy). */
const READ_BODY = new Set<number>([
  B.RowDescription, B.CommandComplete, B.ErrorResponse, B.ReadyForQuery, B.CopyIn, B.CopyOut, B.CopyBoth,
]);

function recordedError(e: DecodedError): RecordedError {
  const out: RecordedError = { sqlstate: e.code, severity: e.severity, message: e.message };
  if (e.detail !== undefined) out.detail = e.detail;
  return out;
}

export class PgRelay {
  private readonly clientFramer: Framer;
  private readonly serverFramer: Framer;
  private readonly statements = new Map<string, StatementInfo>();
  private readonly portals = new Map<string, PortalInfo>();
  private readonly queue: Expect[] = [];
  private qHead = 0;
  private txStatus: TxStatus = 'I';
  /** the result receiving COPY IN data from the client */
  private copyIn: ResultRecorder | null = null;
  /** the result the current server frame belongs to (for bytes/digest) */
  private current: ResultRecorder | null = null;
  private lastCommandRef: CommandRef | null = null;
  private clientStep: ClientStep | null = null;
  private serverRecords: PendingRecord[] = [];
  private serverFatal: GatehouseError | null = null;
  private readonly toUpstream = new Emitter<HeldCommand>();
  private readonly toClient = new Emitter<never>();
  /** raw bytes of the client frame in progress, while it is held (a command, or a header not read yet) */
  private clientParts: Buffer[] = [];
  private clientPassing = false;
  /** raw header bytes of the server frame that has not begun yet */
  private serverHeader: Buffer[] = [];
  private serverFrameBegun = false;
  /** raw bytes of a server message held whole because it may be replaced (errors; rows, notices and COPY data when masking) */
  private heldParts: Buffer[] | null = null;
  /** an empty array for the next header, recycled from the last held message */
  private spareParts: Buffer[] | null = null;
  /** messages for the client that wait for the server stream to reach a message boundary */
  private readonly injected: Buffer[] = [];
  statementsSeen = 0;
  errorsSeen = 0;

  constructor(
    private readonly limits: RelayLimits,
    private readonly gate: CommandGate = allowAll,
    private readonly masker: SessionMasker | null = null,
  ) {
    this.clientFramer = new Framer(
      {
        begin: (type, len) => {
          if (!FRONTEND_TYPES.has(type)) {
            throw new GatehouseError('GH_ERR_PROTOCOL', `unexpected message type "${String.fromCharCode(type)}" from the client`);
          }
          if (!GATED_TYPES.has(type)) {
            // not a command: its bytes go on as they come
            this.clientPassing = true;
            for (const p of this.clientParts) this.toUpstream.pass(p);
            this.clientParts.length = 0;
          }
          if (type !== B.CopyData) return true;
          // COPY FROM STDIN data streams through unread; only its size is counted
          if (this.copyIn?.copy) this.copyIn.copy.bytes += len;
          return false;
        },
        bytes: (piece) => {
          if (this.clientPassing) this.toUpstream.pass(piece);
          else this.clientParts.push(piece);
        },
        end: (type, body) => {
          // raw is only read during the call (a held command keeps a Buffer, not the array): reused
          const raw = this.clientParts;
          this.clientPassing = false;
          try {
            this.onClientMessage(type, body, raw);
          } finally {
            raw.length = 0;
          }
        },
      },
      limits.maxClientMessageBytes,
    );
    this.serverFramer = new Framer(
      {
        begin: (type, len) => this.serverBegin(type, len),
        bytes: (piece) => {
          if (!this.serverFrameBegun) this.serverHeader.push(piece);
          else if (this.heldParts) this.heldParts.push(piece);
          else {
            this.current?.addBytes(piece);
            this.toClient.pass(piece);
          }
        },
        end: (type, body) => {
          this.serverFrameBegun = false;
          this.onServerMessage(type, body);
          // between two server messages: a message of the gateway's own may go in here
          for (const m of this.injected.splice(0)) this.toClient.push(m);
        },
      },
      limits.maxServerMessageBytes,
    );
  }

  /**
   * A message of the gateway's own for the client (a NOTICE): returned when it can be sent now,
   * else queued until the server's stream to the client is between two messages.
   */
  messageToClient(m: Buffer): Buffer | null {
    if (this.serverFramer.atBoundary) return m;
    this.injected.push(m);
    return null;
  }

  get transactionStatus(): TxStatus {
    return this.txStatus;
  }

  /** seq of the command the server is working on, if any (for cancel records). */
  runningCommandSeq(): number | null {
    for (let i = this.qHead; i < this.queue.length; i++) {
      const e = this.queue[i]!;
      if (e.k === 'simple' || e.k === 'execute' || e.k === 'function') return e.ref.seq;
    }
    return null;
  }

  // ---------------------------------------------------------------- client -> server

  fromClient(chunk: Buffer): ClientStep {
    const step: ClientStep = { records: [], out: [], fatal: null, terminate: false };
    this.clientStep = step;
    this.toUpstream.begin(chunk);
    try {
      this.clientFramer.push(chunk);
      step.out = this.toUpstream.finish();
    } catch (e) {
      // forward what came before the offending message, refuse the rest
      step.out = this.toUpstream.finish();
      this.clientParts = [];
      if (e instanceof FrameError) {
        step.fatal = new GatehouseError('GH_ERR_FRAME_TOO_LARGE', `message too large: ${e.message}`, { detail: e.message });
      } else if (e instanceof GatehouseError) {
        step.fatal = e;
      } else throw e;
    } finally {
      this.clientStep = null;
    }
    return step;
  }

  private command(event: AuditEvent): CommandRef {
    const ref: CommandRef = { seq: null, startedMono: monoUs() };
    this.clientStep!.records.push({ event, time: nowUs(), ref });
    this.lastCommandRef = ref;
    this.statementsSeen += 1;
    return ref;
  }

  private expect(e: Expect): void {
    this.queue.push(e);
  }

  /**
   * Sends a decided command on: unchanged (allow), as its stand-in (block), or held for review.
   * Returns the gate the answer will be read through (null when nothing is to be swapped).
   */
  private route(raw: Buffer[], d: GateDecision, ref: CommandRef | null, text: string, approvalId: string | undefined, substitute: () => Buffer): Gate | null {
    if (d.action === 'allow') {
      for (const p of raw) this.toUpstream.pass(p);
      return null;
    }
    if (d.action === 'block') {
      this.toUpstream.push(substitute());
      return { state: 'block', error: blockedError(d) };
    }
    const gate: Gate = { state: 'pending', error: null };
    const original = raw.length === 1 ? raw[0]! : Buffer.concat(raw);
    this.toUpstream.push({ kind: 'held', approvalId: approvalId!, decision: d, text, ref: ref!, original, substitute: substitute(), gate });
    return gate;
  }

  /** `raw`: the whole message of a command (held until now); empty for other messages, which went on as they came. */
  private onClientMessage(type: number, body: Buffer | null, raw: Buffer[]): void {
    switch (type) {
      case B.Query: {
        const text = decodeQuery(body!);
        const d = decideSql(this.gate, this.masker, text);
        const approvalId = d.action === 'review' ? newApprovalId() : undefined;
        const ref = this.command({ type: 'pg.query', text, ...recorded(d, approvalId) });
        const gate = this.route(raw, d, ref, text, approvalId, () => queryMessage(BLOCKED_SQL));
        this.expect({ k: 'simple', ref, index: 0, result: null, gate });
        return;
      }
      case B.Parse: {
        const p = decodeParse(body!);
        if (p.name !== '' && !this.statements.has(p.name) && this.statements.size >= this.limits.maxPreparedStatements) {
          throw new GatehouseError('GH_ERR_PROTOCOL', `too many prepared statements (limit ${this.limits.maxPreparedStatements}); close some`);
        }
        this.statements.set(p.name, { text: p.text, columns: null });
        // decided here, so a blocked statement fails at Parse; a review waits for its Execute
        const d = decideSql(this.gate, this.masker, p.text);
        const atParse: GateDecision = d.action === 'review' ? { ...d, action: 'allow' } : d;
        let ref: CommandRef | null = null;
        if (p.name !== '' || atParse.action === 'block') {
          ref = { seq: null, startedMono: monoUs() };
          const event: AuditEvent = { type: 'pg.prepare', name: p.name, text: p.text, paramTypes: p.paramTypes, ...(atParse.action === 'block' ? recorded(d) : {}) };
          this.clientStep!.records.push({ event, time: nowUs(), ref });
        }
        const gate = this.route(raw, atParse, ref, p.text, undefined, () => parseMessage(p.name, BLOCKED_SQL));
        this.expect({ k: 'parse', ref, gate });
        return;
      }
      case B.Bind: {
        const b = decodeBind(body!);
        const st = this.statements.get(b.statement);
        this.portals.set(b.portal, {
          statement: b.statement,
          text: st ? st.text : `<unknown prepared statement "${b.statement}">`,
          params: maskRecorded(this.masker, recordValues(b.params, b.paramFormats, this.limits.maxParamBytes)),
          resultFormats: b.resultFormats,
          columns: st?.columns ?? null,
        });
        this.expect({ k: 'bind' });
        return;
      }
      case B.Execute: {
        const x = decodeExecute(body!);
        const portal = this.portals.get(x.portal) ?? null;
        const text = portal?.text ?? `<portal "${x.portal}" (a cursor declared in SQL)>`;
        // decided again: the context may have changed since Parse (time windows, grants); a cursor
        // declared in SQL was decided with its DECLARE
        const d = portal ? decideSql(this.gate, this.masker, portal.text) : ALLOWED_CURSOR;
        const approvalId = d.action === 'review' ? newApprovalId() : undefined;
        const ref = this.command({
          type: 'pg.execute',
          statement: portal?.statement ?? '',
          portal: x.portal,
          text,
          params: portal?.params ?? [],
          maxRows: x.maxRows,
          ...recorded(d, approvalId),
        });
        const gate = this.route(raw, d, ref, text, approvalId, () => executeMessage(BLOCKED_PORTAL, 0));
        this.expect({ k: 'execute', ref, portal, result: null, gate });
        return;
      }
      case B.Describe: {
        const d = decodeTarget(body!, 'Describe');
        this.expect({ k: 'describe', target: d.target, name: d.name });
        return;
      }
      case B.Close: {
        const c = decodeTarget(body!, 'Close');
        if (c.target === 'S') this.statements.delete(c.name);
        else this.portals.delete(c.name);
        this.expect({ k: 'close' });
        return;
      }
      case B.Sync:
        this.expect({ k: 'sync' });
        return;
      case B.Terminate:
        this.clientStep!.terminate = true;
        return;
      case B.FunctionCall: {
        const f = decodeFunctionCall(body!);
        let d = this.gate.functionCall(f.oid);
        // a fast-path call returns one opaque value (large objects, ...): masking cannot read it, so under masking it is not run
        if (d.action !== 'block' && this.masker?.active) {
          d = { action: 'block', policy: 'masking', reason: 'fast-path function calls cannot be masked; call the function in SQL', reviewers: [], timeoutMs: 0, shape: null };
        }
        const approvalId = d.action === 'review' ? newApprovalId() : undefined;
        const ref = this.command({
          type: 'pg.function_call',
          functionOid: f.oid,
          args: maskRecorded(this.masker, recordValues(f.args, f.argFormats, this.limits.maxParamBytes)),
          ...recorded(d, approvalId),
        });
        const gate = this.route(raw, d, ref, `<function call oid ${f.oid}>`, approvalId, () => functionCallMessage(0));
        this.expect({ k: 'function', ref, result: null, gate });
        return;
      }
      case B.CopyDone:
      case B.CopyFail:
        this.copyIn = null;
        return;
      default:
        return;
    }
  }


  // ---------------------------------------------------------------- server -> client

  fromUpstream(chunk: Buffer): UpstreamStep {
    this.serverRecords = [];
    this.serverFatal = null;
    this.toClient.begin(chunk);
    try {
      this.serverFramer.push(chunk);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.serverFatal = new GatehouseError('GH_ERR_UPSTREAM_PROTOCOL', 'the target database sent a message the gateway cannot accept', { detail: why });
    }
    const out = this.toClient.finish();
    this.current?.endOfChunk();
    for (let i = this.qHead; i < this.queue.length; i++) {
      const e = this.queue[i]!;
      if ((e.k === 'simple' || e.k === 'execute' || e.k === 'function') && e.result && e.result !== this.current) e.result.endOfChunk();
    }
    return { records: this.serverRecords, out, fatal: this.serverFatal };
  }

  private head(): Expect | undefined {
    return this.queue[this.qHead];
  }

  private shift(): void {
    this.qHead += 1;
    if (this.qHead > 1024 && this.qHead * 2 > this.queue.length) {
      this.queue.splice(0, this.qHead);
      this.qHead = 0;
    }
  }

  /** The result the next result message belongs to, created on first use. */
  private resultFor(h: Expect | undefined): ResultRecorder | null {
    if (!h) return null;
    if (h.k === 'simple') {
      h.result ??= new ResultRecorder(h.ref, h.index, this.limits, null, []);
      return h.result;
    }
    if (h.k === 'execute') {
      const columns = h.portal ? (h.portal.columns ?? this.statements.get(h.portal.statement)?.columns ?? null) : null;
      h.result ??= new ResultRecorder(h.ref, 0, this.limits, columns, h.portal?.resultFormats ?? []);
      return h.result;
    }
    if (h.k === 'function') {
      h.result ??= new ResultRecorder(h.ref, 0, this.limits, null, []);
      return h.result;
    }
    return null;
  }

  private serverBegin(type: number, _len: number): boolean {
    const h = this.head();
    this.current = RESULT_TYPES.has(type) && !(type === B.RowDescription && h?.k === 'describe') ? this.resultFor(h) : null;
    // the header is passed on once the frame's owner is known (its bytes count into that result);
    // an error is held whole: it is swapped for the gateway's own when it answers a blocked command
    this.serverFrameBegun = true;
    // the header array is reused frame after frame (this runs for every row): no garbage
    const header = this.serverHeader;
    if (type === B.ErrorResponse || this.masks(type)) {
      // the header's array becomes the held message's (no copy per row); a spare one takes its place
      this.heldParts = header;
      this.serverHeader = this.spareParts ?? [];
      this.spareParts = null;
      return true;
    }
    for (const p of header) {
      this.current?.addBytes(p);
      this.toClient.pass(p);
    }
    header.length = 0;
    if (type === B.DataRow) return this.current !== null && this.current.wantsSample;
    if (type === B.CopyData) return this.current !== null && this.current.wantsSample;
    return READ_BODY.has(type);
  }

  /** Whether a server message is held for masking (a row of a masked result, a notice, COPY OUT data). */
  private masks(type: number): boolean {
    const m = this.masker;
    if (!m?.active) return false;
    if (type === B.Notice) return true;
    const r = this.current;
    if (!r) return false;
    if (type === B.CopyData) return r.copy?.direction === 'out';
    if (type !== B.DataRow) return false;
    if (r.maskPlan === undefined) {
      const cols = r.resultColumns();
      r.maskPlan = cols ? m.planFor(cols) : m.planForUnknown();
    }
    return r.maskPlan !== null;
  }

  /** Sends on a held message: as it came, or replaced. Its bytes count into the current result. */
  private release(parts: Buffer[], replacement: Buffer | null): void {
    if (replacement) {
      this.current?.addBytes(replacement);
      this.toClient.push(replacement);
      return;
    }
    for (const p of parts) {
      this.current?.addBytes(p);
      this.toClient.pass(p);
    }
  }

  private emit(r: ResultRecorder, status: PgResultEvent['status'], tag: string | null, error: RecordedError | null): void {
    const event = r.finish(status, tag, error);
    this.serverRecords.push({ event, time: nowUs(), ref: null });
    if (error) this.errorsSeen += 1;
  }

  private onServerMessage(type: number, body: Buffer | null): void {
    const h = this.head();
    const held = this.heldParts;
    this.heldParts = null;
    if (held && type !== B.ErrorResponse) {
      this.onHeldMessage(type, body!, held);
      // its pieces went out (views, not the array): the array is the next header's
      held.length = 0;
      this.spareParts = held;
      return;
    }
    switch (type) {
      case B.DataRow:
        this.current?.dataRow(body);
        return;
      case B.CopyData:
        this.current?.copyData(body, body ? body.length : 0);
        return;
      case B.RowDescription: {
        const cols = decodeRowDescription(body!);
        if (h?.k === 'describe') {
          if (h.target === 'S') {
            const st = this.statements.get(h.name);
            if (st) st.columns = cols;
          } else {
            const p = this.portals.get(h.name);
            if (p) p.columns = cols;
          }
          this.shift();
        } else if (this.current) this.current.columns = cols;
        return;
      }
      case B.NoData:
        if (h?.k === 'describe') this.shift();
        return;
      case B.ParseComplete:
      case B.BindComplete:
      case B.CloseComplete:
        if (h && (h.k === 'parse' || h.k === 'bind' || h.k === 'close')) this.shift();
        return;
      case B.CommandComplete:
      case B.EmptyQuery:
      case B.PortalSuspended: {
        const r = this.current;
        if (!r || !h) return;
        const tag = type === B.CommandComplete ? decodeCommandComplete(body!) : null;
        this.emit(r, type === B.PortalSuspended ? 'suspended' : 'ok', tag, null);
        this.finishResult(h);
        return;
      }
      case B.CopyIn:
      case B.CopyOut:
      case B.CopyBoth: {
        decodeCopyResponse(body!);
        if (this.current) {
          this.current.copy = { direction: type === B.CopyIn ? 'in' : 'out', bytes: 0 };
          if (type === B.CopyIn) this.copyIn = this.current;
        }
        return;
      }
      case B.FunctionResult:
        return;
      case B.ErrorResponse: {
        const parts = held ?? [];
        const gate = gateOf(h);
        if (gate?.state === 'block' && gate.error) {
          this.release(parts, errorResponse(gate.error));
          this.onServerError(gate.error, h, true);
          return;
        }
        // an error may echo values ("Key (email)=(...) already exists"): masked like results
        const m = this.masker;
        const masked = m?.active ? rewriteNoticeFields('E', body!, (t) => m.maskServerText(t)) : null;
        this.release(parts, masked);
        this.onServerError(decodeErrorFields(masked ? masked.subarray(5) : body!), h, false);
        return;
      }
      case B.ReadyForQuery:
        this.txStatus = decodeReadyForQuery(body!);
        if (h && (h.k === 'simple' || h.k === 'sync' || h.k === 'function')) {
          if (h.k === 'function' && h.result) this.emit(h.result, 'ok', null, null);
          this.shift();
        }
        this.copyIn = null;
        return;
      default:
        return;
    }
  }

  /** A message held for masking: a row, a notice, or a line of COPY OUT data. */
  private onHeldMessage(type: number, body: Buffer, parts: Buffer[]): void {
    const m = this.masker!;
    const r = this.current;
    if (type === B.Notice) {
      const masked = rewriteNoticeFields('N', body, (t) => m.maskServerText(t));
      this.release(parts, masked.equals(Buffer.concat(parts)) ? null : masked);
      return;
    }
    if (type === B.CopyData) {
      const text = body.toString('utf8');
      const masked = m.maskText(text, r?.tally);
      const replacement = masked === text ? null : new MessageWriter().raw(Buffer.from(masked, 'utf8')).finish('d');
      this.release(parts, replacement);
      r?.copyData(replacement ? replacement.subarray(5) : body, body.length);
      return;
    }
    // DataRow of a masked result: rewritten straight into the output
    const plan = r?.maskPlan;
    const rewrite = plan ? (r.maskFn ??= (i, b, start, end) => m.maskValue(plan, i, b, start, end, r.tally, r.maskCounts)) : null;
    // written straight into the output's block (no view, no copy of its own); or, when every change
    // keeps its length (partial masking of ASCII) and the row lies whole in the chunk read from the
    // server (the framer handed out a view of it: the body is the last part), changed where it lies
    const out = this.toClient;
    const length = rewrite ? rewriteDataRowInto(body, rewrite, out, plan!.masked, parts[parts.length - 1] === body) : 0;
    const at = out.lastRoom;
    if (length > 0) r!.addRange(out.buffer.buffer, out.buffer.byteOffset + at, length);
    else this.release(parts, null);
    // the row's bytes are read only for the sample (the first rows)
    r?.dataRow(!r.wantsSample ? null : length > 0 ? out.buffer.subarray(at + 5, at + length) : body);
  }

  /** After a statement's completion: simple queries move to their next statement, others are done. */
  private finishResult(h: Expect): void {
    if (h.k === 'simple') {
      h.index += 1;
      h.result = null;
    } else if (h.k === 'execute' || h.k === 'function') {
      h.result = null;
      if (h.k === 'execute') this.shift();
    }
    this.current = null;
  }

  private onServerError(e: DecodedError, h: Expect | undefined, blocked: boolean): void {
    const err = recordedError(e);
    const status: PgResultEvent['status'] = blocked ? 'blocked' : 'error';
    if (e.severity === 'FATAL' || e.severity === 'PANIC') {
      this.serverFatal = new GatehouseError('GH_ERR_UPSTREAM_UNAVAILABLE', e.message, { detail: `${e.code} ${e.message}` });
    }
    if (!h) {
      // an error outside any request: attribute it to the last command, if any
      if (this.lastCommandRef) this.emit(new ResultRecorder(this.lastCommandRef, 0, this.limits, null, []), status, null, err);
      return;
    }
    if (h.k === 'simple') {
      // the rest of a multi-statement query does not run; ReadyForQuery follows
      this.emit(this.resultFor(h)!, status, null, err);
      this.finishResult(h);
      this.copyIn = null;
      return;
    }
    if (h.k === 'function') {
      this.emit(this.resultFor(h)!, status, null, err);
      h.result = null;
      this.current = null;
      return;
    }
    if (h.k === 'sync') {
      // e.g. a deferred constraint failing at the implicit commit
      if (this.lastCommandRef) this.emit(new ResultRecorder(this.lastCommandRef, 0, this.limits, null, []), status, null, err);
      return;
    }
    // extended protocol: the server skips everything up to the next Sync
    let attributed = false;
    while (this.qHead < this.queue.length) {
      const x = this.head()!;
      if (x.k === 'sync') break;
      if (x.k === 'execute' || (x.k === 'parse' && x.ref)) {
        const rec = x.k === 'execute' ? this.resultFor(x)! : new ResultRecorder(x.ref!, 0, this.limits, null, []);
        if (!attributed) {
          this.emit(rec, status, null, err);
          attributed = true;
        } else if (x.k === 'execute') {
          // a command the gateway blocked stays "blocked" even when an earlier error skipped it
          const g = x.gate;
          if (g?.state === 'block' && g.error) this.emit(rec, 'blocked', null, recordedError(g.error));
          else this.emit(rec, 'skipped', null, null);
        }
      }
      this.shift();
    }
    if (!attributed && this.lastCommandRef) this.emit(new ResultRecorder(this.lastCommandRef, 0, this.limits, null, []), status, null, err);
    this.current = null;
    this.copyIn = null;
  }

  /** The session is ending: results still open are recorded as interrupted. */
  interrupt(): PendingRecord[] {
    this.serverRecords = [];
    while (this.qHead < this.queue.length) {
      const h = this.head()!;
      if ((h.k === 'simple' || h.k === 'execute' || h.k === 'function') && h.ref.seq !== null) {
        this.emit(this.resultFor(h)!, 'interrupted', null, null);
      }
      this.shift();
    }
    return this.serverRecords;
  }
}
