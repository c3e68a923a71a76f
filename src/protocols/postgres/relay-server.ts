import { GatehouseError } from '../../core/errors.js';
import type { SessionMasker } from '../../masking/session.js';
import {
  decodeCommandComplete, decodeCopyResponse, decodeErrorFields, decodeReadyForQuery, decodeRowDescription,
  errorResponse, rewriteDataRowInto, rewriteNoticeFields,
} from './backend.js';
import { Emitter } from './emitter.js';
import { Framer } from './framer.js';
import { B, READ_BODY, RESULT_TYPES } from './relay-messages.js';
import { emit, finishResult, serverError } from './relay-results.js';
import { gateOf, type PendingRecord, type RelayState } from './relay-state.js';
import type { ResultRecorder } from './result.js';
import { MessageWriter } from './wire.js';

/**
 * The server -> client direction of the relay: ties every message to the result it belongs to
 * (by the head of the queue of expected answers), passes bytes on as views of the chunks read, and
 * holds whole only what may be replaced: errors (the answer to a blocked command becomes the
 * gateway's own) and, when masking, rows, notices and COPY OUT data. This runs for every row: no
 * closure or object is made per message.
 */

export interface UpstreamStep {
  /** results to append (not awaited) */
  records: PendingRecord[];
  /** what goes to the client, in order */
  out: Buffer[];
  /** the server ended the session (FATAL error) or broke the protocol */
  fatal: GatehouseError | null;
}

export class ServerSide {
  private readonly framer: Framer;
  private readonly masker: SessionMasker | null;
  private readonly toClient = new Emitter<never>();
  /** the result the current server frame belongs to (for bytes/digest) */
  private current: ResultRecorder | null = null;
  /** raw header bytes of the server frame that has not begun yet */
  private header: Buffer[] = [];
  private frameBegun = false;
  /** raw bytes of a server message held whole because it may be replaced (errors; rows, notices and COPY data when masking) */
  private heldParts: Buffer[] | null = null;
  /** an empty array for the next header, recycled from the last held message */
  private spareParts: Buffer[] | null = null;
  /** messages for the client that wait for the server stream to reach a message boundary */
  private readonly injected: Buffer[] = [];

  constructor(private readonly s: RelayState) {
    this.masker = s.masker;
    this.framer = new Framer(
      {
        begin: (type, len) => this.begin(type, len),
        bytes: (piece) => {
          if (!this.frameBegun) this.header.push(piece);
          else if (this.heldParts) this.heldParts.push(piece);
          else {
            this.current?.addBytes(piece);
            this.toClient.pass(piece);
          }
        },
        end: (type, body) => {
          this.frameBegun = false;
          this.onMessage(type, body);
          // between two server messages: a message of the gateway's own may go in here
          for (const m of this.injected.splice(0)) this.toClient.push(m);
        },
      },
      s.limits.maxServerMessageBytes,
    );
  }

  /**
   * A message of the gateway's own for the client (a NOTICE): returned when it can be sent now,
   * else queued until the server's stream to the client is between two messages.
   */
  messageToClient(m: Buffer): Buffer | null {
    if (this.framer.atBoundary) return m;
    this.injected.push(m);
    return null;
  }

  push(chunk: Buffer): UpstreamStep {
    const s = this.s;
    s.records = [];
    s.fatal = null;
    this.toClient.begin(chunk);
    try {
      this.framer.push(chunk);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      s.fatal = new GatehouseError('GH_ERR_UPSTREAM_PROTOCOL', 'the target database sent a message the gateway cannot accept', { detail: why });
    }
    const out = this.toClient.finish();
    this.current?.endOfChunk();
    s.endOfChunk(this.current);
    return { records: s.records, out, fatal: s.fatal };
  }

  private begin(type: number, _len: number): boolean {
    const h = this.s.head();
    this.current = RESULT_TYPES.has(type) && !(type === B.RowDescription && h?.k === 'describe') ? this.s.resultFor(h) : null;
    // the header is passed on once the frame's owner is known (its bytes count into that result);
    // an error is held whole: it is swapped for the gateway's own when it answers a blocked command
    this.frameBegun = true;
    // the header array is reused frame after frame (this runs for every row): no garbage
    const header = this.header;
    if (type === B.ErrorResponse || this.masks(type)) {
      // the header's array becomes the held message's (no copy per row); a spare one takes its place
      this.heldParts = header;
      this.header = this.spareParts ?? [];
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

  private onMessage(type: number, body: Buffer | null): void {
    const s = this.s;
    const h = s.head();
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
            const st = s.statements.get(h.name);
            if (st) st.columns = cols;
          } else {
            const p = s.portals.get(h.name);
            if (p) p.columns = cols;
          }
          s.shift();
        } else if (this.current) this.current.columns = cols;
        return;
      }
      case B.NoData:
        if (h?.k === 'describe') s.shift();
        return;
      case B.ParseComplete:
      case B.BindComplete:
      case B.CloseComplete:
        if (h && (h.k === 'parse' || h.k === 'bind' || h.k === 'close')) s.shift();
        return;
      case B.CommandComplete:
      case B.EmptyQuery:
      case B.PortalSuspended: {
        const r = this.current;
        if (!r || !h) return;
        const tag = type === B.CommandComplete ? decodeCommandComplete(body!) : null;
        emit(s, r, type === B.PortalSuspended ? 'suspended' : 'ok', tag, null);
        finishResult(s, h);
        this.current = null;
        return;
      }
      case B.CopyIn:
      case B.CopyOut:
      case B.CopyBoth: {
        decodeCopyResponse(body!);
        if (this.current) {
          this.current.copy = { direction: type === B.CopyIn ? 'in' : 'out', bytes: 0 };
          if (type === B.CopyIn) s.copyIn = this.current;
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
          serverError(s, gate.error, h, true);
          this.current = null;
          return;
        }
        // an error may echo values ("Key (email)=(...) already exists"): masked like results
        const m = this.masker;
        const masked = m?.active ? rewriteNoticeFields('E', body!, (t) => m.maskServerText(t)) : null;
        this.release(parts, masked);
        serverError(s, decodeErrorFields(masked ? masked.subarray(5) : body!), h, false);
        this.current = null;
        return;
      }
      case B.ReadyForQuery:
        s.txStatus = decodeReadyForQuery(body!);
        if (h && (h.k === 'simple' || h.k === 'sync' || h.k === 'function')) {
          if (h.k === 'function' && h.result) emit(s, h.result, 'ok', null, null);
          s.shift();
        }
        s.copyIn = null;
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
    // DataRow of a masked result
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
}
