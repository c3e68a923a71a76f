import { newApprovalId } from '../../approvals/broker.js';
import { monoUs, nowUs } from '../../core/clock.js';
import { GatehouseError } from '../../core/errors.js';
import type { AuditEvent } from '../../core/events.js';
import type { GateDecision } from '../../policy/gate.js';
import { Emitter } from './emitter.js';
import { FrameError, Framer } from './framer.js';
import {
  BLOCKED_PORTAL, BLOCKED_SQL, decodeBind, decodeExecute, decodeFunctionCall, decodeParse, decodeQuery, decodeTarget,
  executeMessage, functionCallMessage, parseMessage, queryMessage,
} from './frontend.js';
import { ALLOWED_CURSOR, blockedError, decideSql, maskRecorded, recorded, type ClientOut, type Gate, type HeldCommand } from './relay-gate.js';
import { B, FRONTEND_TYPES, GATED_TYPES } from './relay-messages.js';
import type { PendingRecord, RelayState } from './relay-state.js';
import type { CommandRef } from './result.js';
import { recordValues } from './values.js';

/**
 * The client -> server direction of the relay: frames what the client sends, passes everything
 * that is not a command on as it comes, holds each command whole, records and decides it, and
 * queues the answer the server will owe for every request.
 */

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

export class ClientSide {
  private readonly framer: Framer;
  private step: ClientStep | null = null;
  private readonly toUpstream = new Emitter<HeldCommand>();
  /** raw bytes of the client frame in progress, while it is held (a command, or a header not read yet) */
  private parts: Buffer[] = [];
  private passing = false;

  constructor(private readonly s: RelayState) {
    this.framer = new Framer(
      {
        begin: (type, len) => {
          if (!FRONTEND_TYPES.has(type)) {
            throw new GatehouseError('GH_ERR_PROTOCOL', `unexpected message type "${String.fromCharCode(type)}" from the client`);
          }
          if (!GATED_TYPES.has(type)) {
            // not a command: its bytes go on as they come
            this.passing = true;
            for (const p of this.parts) this.toUpstream.pass(p);
            this.parts.length = 0;
          }
          if (type !== B.CopyData) return true;
          // COPY FROM STDIN data streams through unread; only its size is counted
          if (this.s.copyIn?.copy) this.s.copyIn.copy.bytes += len;
          return false;
        },
        bytes: (piece) => {
          if (this.passing) this.toUpstream.pass(piece);
          else this.parts.push(piece);
        },
        end: (type, body) => {
          // raw is only read during the call (a held command keeps a Buffer, not the array): reused
          const raw = this.parts;
          this.passing = false;
          try {
            this.onMessage(type, body, raw);
          } finally {
            raw.length = 0;
          }
        },
      },
      s.limits.maxClientMessageBytes,
    );
  }

  push(chunk: Buffer): ClientStep {
    const step: ClientStep = { records: [], out: [], fatal: null, terminate: false };
    this.step = step;
    this.toUpstream.begin(chunk);
    try {
      this.framer.push(chunk);
      step.out = this.toUpstream.finish();
    } catch (e) {
      // forward what came before the offending message, refuse the rest
      step.out = this.toUpstream.finish();
      this.parts = [];
      if (e instanceof FrameError) {
        step.fatal = new GatehouseError('GH_ERR_FRAME_TOO_LARGE', `message too large: ${e.message}`, { detail: e.message });
      } else if (e instanceof GatehouseError) {
        step.fatal = e;
      } else throw e;
    } finally {
      this.step = null;
    }
    return step;
  }

  private command(event: AuditEvent): CommandRef {
    const ref: CommandRef = { seq: null, startedMono: monoUs() };
    this.step!.records.push({ event, time: nowUs(), ref });
    this.s.lastCommandRef = ref;
    this.s.statementsSeen += 1;
    return ref;
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
  private onMessage(type: number, body: Buffer | null, raw: Buffer[]): void {
    const s = this.s;
    switch (type) {
      case B.Query: {
        const text = decodeQuery(body!);
        const d = decideSql(s.gate, s.masker, text);
        const approvalId = d.action === 'review' ? newApprovalId() : undefined;
        const ref = this.command({ type: 'pg.query', text, ...recorded(d, approvalId) });
        const gate = this.route(raw, d, ref, text, approvalId, () => queryMessage(BLOCKED_SQL));
        s.expect({ k: 'simple', ref, index: 0, result: null, gate });
        return;
      }
      case B.Parse: {
        const p = decodeParse(body!);
        if (p.name !== '' && !s.statements.has(p.name) && s.statements.size >= s.limits.maxPreparedStatements) {
          throw new GatehouseError('GH_ERR_PROTOCOL', `too many prepared statements (limit ${s.limits.maxPreparedStatements}); close some`);
        }
        s.statements.set(p.name, { text: p.text, columns: null });
        // decided here, so a blocked statement fails at Parse; a review waits for its Execute
        const d = decideSql(s.gate, s.masker, p.text);
        const atParse: GateDecision = d.action === 'review' ? { ...d, action: 'allow' } : d;
        let ref: CommandRef | null = null;
        if (p.name !== '' || atParse.action === 'block') {
          ref = { seq: null, startedMono: monoUs() };
          const event: AuditEvent = { type: 'pg.prepare', name: p.name, text: p.text, paramTypes: p.paramTypes, ...(atParse.action === 'block' ? recorded(d) : {}) };
          this.step!.records.push({ event, time: nowUs(), ref });
        }
        const gate = this.route(raw, atParse, ref, p.text, undefined, () => parseMessage(p.name, BLOCKED_SQL));
        s.expect({ k: 'parse', ref, gate });
        return;
      }
      case B.Bind: {
        const b = decodeBind(body!);
        const st = s.statements.get(b.statement);
        s.portals.set(b.portal, {
          statement: b.statement,
          text: st ? st.text : `<unknown prepared statement "${b.statement}">`,
          params: maskRecorded(s.masker, recordValues(b.params, b.paramFormats, s.limits.maxParamBytes)),
          resultFormats: b.resultFormats,
          columns: st?.columns ?? null,
        });
        s.expect({ k: 'bind' });
        return;
      }
      case B.Execute: {
        const x = decodeExecute(body!);
        const portal = s.portals.get(x.portal) ?? null;
        const text = portal?.text ?? `<portal "${x.portal}" (a cursor declared in SQL)>`;
        // decided again: the context may have changed since Parse (time windows, grants); a cursor
        // declared in SQL was decided with its DECLARE
        const d = portal ? decideSql(s.gate, s.masker, portal.text) : ALLOWED_CURSOR;
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
        s.expect({ k: 'execute', ref, portal, result: null, gate });
        return;
      }
      case B.Describe: {
        const d = decodeTarget(body!, 'Describe');
        s.expect({ k: 'describe', target: d.target, name: d.name });
        return;
      }
      case B.Close: {
        const c = decodeTarget(body!, 'Close');
        if (c.target === 'S') s.statements.delete(c.name);
        else s.portals.delete(c.name);
        s.expect({ k: 'close' });
        return;
      }
      case B.Sync:
        s.expect({ k: 'sync' });
        return;
      case B.Terminate:
        this.step!.terminate = true;
        return;
      case B.FunctionCall: {
        const f = decodeFunctionCall(body!);
        let d = s.gate.functionCall(f.oid);
        // a fast-path call returns one opaque value (large objects, ...): masking cannot read it, so under masking it is not run
        if (d.action !== 'block' && s.masker?.active) {
          d = { action: 'block', policy: 'masking', reason: 'fast-path function calls cannot be masked; call the function in SQL', reviewers: [], timeoutMs: 0, shape: null };
        }
        const approvalId = d.action === 'review' ? newApprovalId() : undefined;
        const ref = this.command({
          type: 'pg.function_call',
          functionOid: f.oid,
          args: maskRecorded(s.masker, recordValues(f.args, f.argFormats, s.limits.maxParamBytes)),
          ...recorded(d, approvalId),
        });
        const gate = this.route(raw, d, ref, `<function call oid ${f.oid}>`, approvalId, () => functionCallMessage(0));
        s.expect({ k: 'function', ref, result: null, gate });
        return;
      }
      case B.CopyDone:
      case B.CopyFail:
        s.copyIn = null;
        return;
      default:
        return;
    }
  }
}
