import { timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { ApprovalBroker, ApprovalDecision } from '../../approvals/broker.js';
import { monoUs, nowUs } from '../../core/clock.js';
import { GatehouseError } from '../../core/errors.js';
import type { SessionEndEvent } from '../../core/events.js';
import type { Logger } from '../../core/log.js';
import type { Principal } from '../../identity/principal.js';
import type { LedgerWriter } from '../../ledger/ledger.js';
import { noticeResponse, type NoticeFields } from './backend.js';
import { endWithFatal } from './errors.js';
import type { HeldCommand, PendingRecord, PgRelay } from './relay.js';
import { watchStalledWriter } from '../../core/stall.js';
import { cancelUpstream, type UpstreamSession, type UpstreamTarget } from './upstream.js';

/**
 * Drives a PgRelay with two sockets. Client bytes are processed one chunk at a time with the client
 * paused: the chunk's command records are appended and made durable first, then the chunk is
 * forwarded (write-ahead; a failed append ends the session and forwards nothing). Server bytes go
 * to the client as they arrive, with backpressure in both directions (a paused socket stops
 * reading, so a 100 MB result never sits in memory); their result records are appended behind.
 *
 * A command held for review stops the client's stream where it stands: the driver records the
 * approval request, tells the client (NOTICE with the approval id), waits for the decision
 * (bounded by the rule's timeout; CancelRequest and the client leaving end the wait as denials),
 * and then sends the command or its stand-in.
 */

export interface SessionKey {
  processId: number;
  secretKey: Buffer;
}

export interface PgSessionOptions {
  id: string;
  client: Socket;
  upstream: UpstreamSession;
  relay: PgRelay;
  ledger: LedgerWriter;
  log: Logger;
  target: UpstreamTarget;
  key: SessionKey;
  registry: SessionRegistry;
  startedMono: number;
  principal: Principal;
  connection: string;
  /** null: review rules cannot be satisfied, so held commands are denied */
  approvals: ApprovalBroker | null;
  /** ms a client may leave results waiting without taking any before it is cut (0: never) */
  stalledClientTimeout?: number;
  /** ms a statement may run before the gateway cancels it on the server (0: never) */
  statementTimeout?: number;
}

/** Live sessions: for CancelRequest routing (by the gateway's own key) and for draining on shutdown. */
export class SessionRegistry {
  private readonly byPid = new Map<number, PgSession>();
  private readonly idle = new Set<() => void>();

  add(s: PgSession): void {
    this.byPid.set(s.key.processId, s);
  }

  remove(s: PgSession): void {
    if (this.byPid.get(s.key.processId) === s) this.byPid.delete(s.key.processId);
    if (this.byPid.size === 0) for (const w of this.idle) w();
  }

  get size(): number {
    return this.byPid.size;
  }

  async cancel(processId: number, secretKey: Buffer): Promise<void> {
    const s = this.byPid.get(processId);
    if (!s || s.key.secretKey.length !== secretKey.length || !timingSafeEqual(s.key.secretKey, secretKey)) return;
    await s.cancel();
  }

  /** Ends idle sessions now and the others once their current command is done (or when `force`). */
  async drain(force: boolean): Promise<void> {
    for (const s of this.byPid.values()) s.drain(force);
    if (this.byPid.size === 0) return;
    await new Promise<void>((resolve) => this.idle.add(resolve));
  }
}

export class PgSession {
  readonly id: string;
  readonly key: SessionKey;
  private readonly o: PgSessionOptions;
  private chain: Promise<void> = Promise.resolve();
  private ended = false;
  private draining = false;
  private terminated = false;
  /** the client was cut for taking none of its results (limits.stalledClientTimeout) */
  private stalled = false;
  /** the approval a held command waits for */
  private holding: string | null = null;

  constructor(o: PgSessionOptions) {
    this.o = o;
    this.id = o.id;
    this.key = o.key;
  }

  start(clientLeftover: Buffer): void {
    const { client, upstream, registry } = this.o;
    registry.add(this);
    const up = upstream.socket;
    up.on('data', (chunk: Buffer) => this.onUpstream(chunk));
    up.on('error', (e) => this.o.log.debug({ err: e.message }, 'upstream socket error'));
    up.on('close', () => void this.end('error', 'the target database closed the connection'));
    client.on('data', (chunk: Buffer) => {
      client.pause();
      this.chain = this.chain.then(() => this.onClient(chunk)).then(() => {
        if (!this.ended) client.resume();
      });
    });
    client.on('close', () => void (this.stalled
      ? this.end('error', `GH_ERR_CLIENT_STALLED: the client took none of the result for ${this.o.stalledClientTimeout} ms (limits.stalledClientTimeout)`)
      : this.end('ok', this.terminated ? 'client terminated the session' : 'client disconnected')));
    const maxRun = this.o.statementTimeout ?? 0;
    if (maxRun > 0) this.watchStatements(maxRun);
    // a client that stops reading holds the server back (it waits on ClientWrite): past the limit
    // the session ends, the running statement is cancelled on the server, and why is recorded
    const limit = this.o.stalledClientTimeout ?? 0;
    if (limit > 0) {
      watchStalledWriter(client, limit, () => {
        this.o.log.warn({ ms: limit }, 'the client took none of the result it was sent; ending the session');
        this.stalled = true;
        client.destroy();
      });
    }
    if (upstream.leftover.length > 0) this.onUpstream(upstream.leftover);
    if (clientLeftover.length > 0) client.emit('data', clientLeftover);
    up.resume();
    client.resume();
  }

  private async onClient(chunk: Buffer): Promise<void> {
    if (this.ended) return;
    const step = this.o.relay.fromClient(chunk);
    if (step.records.length > 0) {
      let seqs: number[];
      try {
        seqs = await this.o.ledger.append(step.records.map((r) => ({ sessionId: this.id, time: r.time, event: r.event })));
      } catch (e) {
        this.o.log.error({ err: (e as Error).message }, 'ledger append failed; the command is not forwarded');
        await this.fail(new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', 'the audit ledger cannot record this command, so it was not run; the session ends'));
        return;
      }
      step.records.forEach((r, i) => {
        if (r.ref) r.ref.seq = seqs[i]!;
      });
    }
    const up = this.o.upstream.socket;
    for (const item of step.out) {
      if (this.ended) return;
      const bytes = Buffer.isBuffer(item) ? item : await this.hold(item);
      if (this.ended) return;
      if (bytes.length > 0 && !up.write(bytes)) await drained(up);
    }
    if (this.ended) return;
    if (step.fatal) {
      await this.fail(step.fatal);
      return;
    }
    if (step.terminate) {
      this.terminated = true;
      this.o.upstream.socket.end();
      await this.end('ok', 'client terminated the session');
    }
  }

  /** Waits for a reviewer's decision on a held command; returns what to send upstream. */
  private async hold(h: HeldCommand): Promise<Buffer> {
    const { approvals, client } = this.o;
    const d = h.decision;
    if (!approvals) return this.deny(h, { code: '42501', message: `policy "${d.policy}" needs a reviewer's approval, and this gateway has no approvals configured` });
    let pending;
    try {
      pending = await approvals.request({
        id: h.approvalId, sessionId: this.id, statementSeq: h.ref.seq, protocol: 'postgres', connection: this.o.connection,
        requester: this.o.principal, policy: d.policy, reason: d.reason, text: h.text, shape: d.shape ?? h.text, reviewers: d.reviewers, timeoutMs: d.timeoutMs,
      });
    } catch (e) {
      this.o.log.error({ err: (e as Error).message }, 'ledger append of an approval request failed; the command is not run');
      await this.fail(new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', 'the audit ledger cannot record this approval request, so the command was not run; the session ends'));
      return h.substitute;
    }
    this.holding = h.approvalId;
    const minutes = Math.max(1, Math.round(d.timeoutMs / 60_000));
    const notice = this.o.relay.messageToClient(noticeResponse({
      severity: 'NOTICE', code: '00000',
      message: `approval required: policy "${d.policy}" holds this statement for review (${d.reason}); approval id ${h.approvalId}, waiting up to ${minutes} min`,
      hint: approvals.hint(h.approvalId),
    }));
    if (notice && !client.destroyed) client.write(notice);
    // listen while waiting, so a client that leaves is noticed (anything it sends meanwhile is queued)
    client.resume();
    const outcome = await pending.outcome;
    this.holding = null;
    if (outcome.decision === 'approved') {
      h.gate.state = 'allow';
      h.ref.startedMono = monoUs();
      return h.original;
    }
    return this.deny(h, deniedFields(h.approvalId, outcome));
  }

  private deny(h: HeldCommand, f: Pick<NoticeFields, 'code' | 'message'> & Partial<NoticeFields>): Buffer {
    h.gate.state = 'block';
    h.gate.error = { severity: 'ERROR', detail: 'The gateway did not run this statement. The decision is recorded in the audit ledger.', ...f };
    return h.substitute;
  }

  private onUpstream(chunk: Buffer): void {
    if (this.ended) return;
    const step = this.o.relay.fromUpstream(chunk);
    if (step.records.length > 0) this.appendBehind(step.records);
    const { client } = this.o;
    // one write per chunk: rewritten rows come as many small buffers, and a write each costs more than a copy
    const data = step.out.length === 1 ? step.out[0]! : Buffer.concat(step.out);
    const flowing = data.length === 0 || client.write(data);
    if (!flowing) {
      const up = this.o.upstream.socket;
      up.pause();
      void drained(client).then(() => {
        if (!this.ended) up.resume();
      });
    }
    if (step.fatal) {
      this.o.log.info({ err: step.fatal.detail }, 'the target database ended the session');
      void this.end('error', `${step.fatal.code}: ${step.fatal.detail ?? step.fatal.message}`);
      return;
    }
    if (this.draining && this.idleNow()) void this.shutdown();
  }

  /**
   * The connection's statementTimeout: a statement running longer is cancelled on the server, the
   * cancel recorded first (the client then gets the server's own 57014). Checked a few times per
   * limit, per statement (a pipeline of several counts each from its own start).
   */
  private watchStatements(ms: number): void {
    let seq: number | null = null;
    let since = 0;
    let cancelled: number | null = null;
    const timer = setInterval(() => {
      if (this.ended) {
        clearInterval(timer);
        return;
      }
      const running = this.holding ? null : this.o.relay.runningCommandSeq();
      if (running !== seq) {
        seq = running;
        since = monoUs();
        return;
      }
      if (running === null || cancelled === running || monoUs() - since < ms * 1000) return;
      cancelled = running;
      void this.timeOut(running, ms);
    }, Math.max(20, Math.min(1_000, Math.floor(ms / 4))));
    timer.unref();
  }

  private async timeOut(statementSeq: number, ms: number): Promise<void> {
    const reason = `statement timeout: ran longer than ${ms} ms (the connection's statementTimeout)`;
    try {
      await this.o.ledger.append([{ sessionId: this.id, time: nowUs(), event: { type: 'pg.cancel', statementSeq, reason } }]);
    } catch (e) {
      this.o.log.error({ err: (e as Error).message }, 'the statement timeout cannot be recorded; ending the session');
      await this.fail(new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', 'the audit ledger cannot record the cancel of a statement that ran too long; the session ends'));
      return;
    }
    this.o.log.info({ statementSeq, ms }, 'statement timeout: cancelling it on the server');
    await cancelUpstream(this.o.target, this.o.upstream.processId, this.o.upstream.secretKey)
      .catch((e: unknown) => this.o.log.warn({ err: (e as Error).message }, 'cancelling a statement that ran too long failed'));
  }

  /**
   * Result records are not awaited; if one cannot be stored the session ends (fail closed). It may
   * share its commit with the next statement's write-ahead record: when that commit fails, the
   * statement's own refusal (it was not run) is what the client is told, so this one waits a turn.
   */
  private appendBehind(records: PendingRecord[]): void {
    this.o.ledger.append(records.map((r) => ({ sessionId: this.id, time: r.time, event: r.event })), { behind: true }).catch((e: unknown) => {
      setImmediate(() => {
        if (this.ended) return;
        this.o.log.error({ err: (e as Error).message }, 'ledger append of a result failed; ending the session');
        void this.fail(new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', 'the audit ledger cannot record results; the session ends'));
      });
    });
  }

  private idleNow(): boolean {
    return this.o.relay.runningCommandSeq() === null && this.o.relay.transactionStatus === 'I';
  }

  async cancel(): Promise<void> {
    if (this.ended) return;
    const statementSeq = this.o.relay.runningCommandSeq();
    // the cancel is an act on the server, so it is recorded before it is sent
    await this.o.ledger.append([{ sessionId: this.id, time: nowUs(), event: { type: 'pg.cancel', statementSeq } }]);
    if (this.holding) {
      // the command waits for a reviewer: nothing runs upstream; the wait ends as a denial
      this.o.approvals?.cancel(this.holding, 'the client cancelled the statement while it waited');
      return;
    }
    try {
      await cancelUpstream(this.o.target, this.o.upstream.processId, this.o.upstream.secretKey);
    } catch (e) {
      this.o.log.warn({ err: (e as Error).message }, 'forwarding a cancel request failed');
    }
  }

  drain(force: boolean): void {
    this.draining = true;
    if (force || this.idleNow()) void this.shutdown();
  }

  private async shutdown(): Promise<void> {
    // not a failure of the session: it ends cleanly, with the reason recorded
    await this.fail(new GatehouseError('GH_ERR_SHUTTING_DOWN', 'the gateway is shutting down; reconnect in a moment'), 'ok');
  }

  private async fail(e: GatehouseError, status: SessionEndEvent['status'] = 'error'): Promise<void> {
    if (this.ended) return;
    const { client } = this.o;
    endWithFatal(client, e);
    await this.end(status, `${e.code}: ${e.message}`);
  }

  private async end(status: SessionEndEvent['status'], reason: string): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const { relay, client, upstream, ledger, log } = this.o;
    if (this.holding) this.o.approvals?.cancel(this.holding, `the session ended while the command waited (${reason})`);
    // a statement still running when the client goes is cancelled on the server, not left to run on
    // for nobody (closing the upstream socket alone does not stop it); recorded with the end
    const running = this.holding ? null : relay.runningCommandSeq();
    const orphaned = running !== null && client.destroyed && (status === 'ok' || this.stalled);
    const records = relay.interrupt();
    if (orphaned) {
      const why = this.stalled ? 'the client took none of its result for too long' : 'the client left while it ran';
      records.push({ event: { type: 'pg.cancel', statementSeq: running, reason: why }, time: nowUs(), ref: null });
    }
    const end: SessionEndEvent = {
      type: 'session.end', status, reason, statements: relay.statementsSeen, errors: relay.errorsSeen, durationUs: monoUs() - this.o.startedMono,
    };
    upstream.socket.destroy();
    if (!client.destroyed && !client.writableEnded) client.end(() => client.destroy());
    try {
      await ledger.append([...records, { event: end, time: nowUs(), ref: null }].map((r) => ({ sessionId: this.id, time: r.time, event: r.event })));
    } catch (e) {
      log.error({ err: (e as Error).message }, 'ledger append of session.end failed');
    }
    if (orphaned) {
      await cancelUpstream(this.o.target, this.o.upstream.processId, this.o.upstream.secretKey)
        .catch((e: unknown) => log.warn({ err: (e as Error).message }, 'cancelling the statement of a client that left failed'));
    }
    log.info({ status, reason, statements: end.statements }, 'session ended');
    this.o.registry.remove(this);
  }
}

function deniedFields(id: string, o: ApprovalDecision): Pick<NoticeFields, 'code' | 'message'> & Partial<NoticeFields> {
  switch (o.by) {
    case 'reviewer':
      return { code: '42501', message: `approval ${id} was denied by ${o.reviewer?.subject ?? 'a reviewer'}${o.reason ? `: ${o.reason}` : ''}` };
    case 'timeout':
      return { code: '42501', message: `approval ${id} timed out: ${o.reason ?? 'no reviewer decided in time'}` };
    case 'cancelled':
      return { code: '57014', message: 'canceling statement due to user request', detail: `Approval ${id} was cancelled while it waited; the gateway did not run this statement.` };
    default:
      return { code: '42501', message: `approval ${id} was denied: ${o.reason ?? o.by}` };
  }
}

function drained(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve();
    const done = () => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });
}
