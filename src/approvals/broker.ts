import { randomBytes } from 'node:crypto';
import { nowUs } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { ActorRecord, ApprovalDecidedEvent, ApprovalRequestedEvent, Protocol } from '../core/events.js';
import type { Logger } from '../core/log.js';
import type { Principal } from '../identity/principal.js';
import type { LedgerReader, LedgerWriter } from '../ledger/ledger.js';

/**
 * Hold and resume of commands that policy sends to review. A protocol asks (`request`) and waits
 * on the outcome; reviewers decide through the CLI or the HTTP API (`decide`). Every request and
 * every decision is recorded in the ledger before it takes effect: a command only runs after its
 * approval.decided record is durable, and anything that is not an explicit approval (timeout,
 * cancel, the client leaving, shutdown, a failed append) is a denial.
 *
 * Shared by every protocol: the request carries the command's text and shape, not its wire form.
 */

export interface ApprovalInput {
  /** an id chosen up front (so the command's own record can name it); default: a new one */
  id?: string;
  sessionId: string;
  statementSeq: number | null;
  protocol: Protocol;
  connection: string;
  requester: Principal;
  policy: string;
  reason: string;
  text: string;
  /** the command's shape (e.g. the SQL parser's fingerprint): what a time-bound grant covers */
  shape: string;
  reviewers: string[];
  timeoutMs: number;
}

export interface ApprovalDecision {
  by: ApprovalDecidedEvent['by'];
  decision: ApprovalDecidedEvent['decision'];
  reviewer: ActorRecord | null;
  reason: string | null;
  scope: ApprovalDecidedEvent['scope'];
  /** µs */
  decidedAt: number;
}

/** An approval request as reviewers see it (CLI, HTTP API, web console): the recorded request, and its state. */
export interface Approval extends Omit<ApprovalRequestedEvent, 'type' | 'approvalId'> {
  id: string;
  state: 'pending' | 'approved' | 'denied';
  sessionId: string;
  /** µs */
  requestedAt: number;
  decision: ApprovalDecision | null;
}

/** A time-bound grant: this requester may run this shape on this connection until `until`. */
export interface Grant {
  id: string;
  approvalId: string;
  subject: string;
  connection: string;
  shape: string;
  /** µs */
  until: number;
  grantedBy: string;
}

export interface ReviewInput {
  approve: boolean;
  reason?: string | undefined;
  /** approve as a grant for this long (ms) instead of once */
  grantMs?: number | undefined;
}

/** Told about requests and decisions (webhooks); must not throw or block. */
export interface ApprovalNotifier {
  notify(kind: 'requested' | 'decided', approval: Approval): void;
}

export interface BrokerOptions {
  ledger: LedgerWriter;
  log: Logger;
  notifier?: ApprovalNotifier;
  /** how the CLI is invoked in the hint shown to clients */
  approveHint?: (id: string) => string;
}

interface Entry {
  approval: Approval;
  settle: (d: ApprovalDecision) => void;
  timer: NodeJS.Timeout | null;
  /** a decision is being recorded: a second one is refused */
  deciding: boolean;
}

const RECENT_MAX = 1000;
const GRANT_MAX_MS = 24 * 3_600_000;

export const actorOf = (p: Principal): ActorRecord => ({ subject: p.subject, groups: [...p.groups], tokenId: p.tokenId, ciJob: p.ciJob });

/** Approval ids are short enough to type: `ap_` and 12 base32 characters (60 random bits). */
export function newApprovalId(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  const bytes = randomBytes(12);
  let s = 'ap_';
  for (const b of bytes) s += alphabet[b & 31];
  return s;
}

export class ApprovalBroker {
  private readonly pending = new Map<string, Entry>();
  private readonly recent = new Map<string, Approval>();
  private grants: Grant[] = [];
  private closed = false;

  constructor(private readonly o: BrokerOptions) {}

  hint(id: string): string {
    return this.o.approveHint?.(id) ?? `a reviewer runs: gatehouse approvals approve ${id}`;
  }

  /**
   * Records approval.requested and starts the wait. The returned promise settles with the
   * decision once it is recorded; it never rejects (failures are denials).
   */
  async request(input: ApprovalInput): Promise<{ approval: Approval; outcome: Promise<ApprovalDecision> }> {
    const now = nowUs();
    const approval: Approval = {
      id: input.id ?? newApprovalId(),
      state: 'pending',
      sessionId: input.sessionId,
      statementSeq: input.statementSeq,
      protocol: input.protocol,
      connection: input.connection,
      requester: actorOf(input.requester),
      policy: input.policy,
      reason: input.reason,
      text: input.text,
      shape: input.shape,
      reviewers: [...input.reviewers],
      requestedAt: now,
      expiresAt: now + input.timeoutMs * 1000,
      decision: null,
    };
    const { id, state: _state, sessionId: _session, requestedAt: _at, decision: _decision, ...fields } = approval;
    const requested: ApprovalRequestedEvent = { type: 'approval.requested', approvalId: id, ...fields };
    await this.o.ledger.append([{ sessionId: approval.sessionId, time: now, event: requested }]);
    let settle!: (d: ApprovalDecision) => void;
    const outcome = new Promise<ApprovalDecision>((resolve) => (settle = resolve));
    const entry: Entry = { approval, settle, timer: null, deciding: false };
    this.pending.set(approval.id, entry);
    const grant = this.grantFor(approval.requester.subject, approval.connection, approval.shape, now);
    if (grant || this.closed) {
      await this.finish(entry, grant
        ? { by: 'grant', decision: 'approved', reviewer: null, reason: `grant ${grant.id} by ${grant.grantedBy} (approval ${grant.approvalId})`, scope: { kind: 'once' }, decidedAt: nowUs() }
        : { by: 'shutdown', decision: 'denied', reviewer: null, reason: 'the gateway is shutting down', scope: { kind: 'once' }, decidedAt: nowUs() });
      return { approval, outcome };
    }
    entry.timer = setTimeout(() => {
      void this.finish(entry, { by: 'timeout', decision: 'denied', reviewer: null, reason: `no decision within ${Math.round(input.timeoutMs / 1000)}s`, scope: { kind: 'once' }, decidedAt: nowUs() });
    }, input.timeoutMs);
    this.o.log.info({ approval: approval.id, policy: approval.policy, session: approval.sessionId }, 'approval requested');
    this.o.notifier?.notify('requested', approval);
    return { approval, outcome };
  }

  /** A reviewer decides. Refuses unknown ids, decided requests, non-reviewers and self-approval. */
  async decide(id: string, reviewer: Principal, input: ReviewInput): Promise<Approval> {
    const entry = this.pending.get(id);
    if (!entry || entry.deciding) {
      if (this.recent.has(id) || entry) throw new GatehouseError('GH_ERR_APPROVAL_DECIDED', `approval ${id} is already decided`);
      throw new GatehouseError('GH_ERR_APPROVAL_NOT_FOUND', `no pending approval ${id}`);
    }
    const a = entry.approval;
    if (!a.reviewers.some((g) => reviewer.groups.includes(g))) {
      throw new GatehouseError('GH_ERR_APPROVAL_FORBIDDEN', `only members of ${a.reviewers.join(', ')} may decide approval ${id}`);
    }
    if (input.approve && reviewer.subject === a.requester.subject) {
      throw new GatehouseError('GH_ERR_APPROVAL_FORBIDDEN', 'you may not approve your own request');
    }
    if (input.grantMs !== undefined && (!input.approve || input.grantMs <= 0 || input.grantMs > GRANT_MAX_MS)) {
      throw new GatehouseError('GH_ERR_USAGE', `a grant is given with an approval and lasts between 1 s and ${GRANT_MAX_MS / 3_600_000} h`);
    }
    const decidedAt = nowUs();
    const scope: ApprovalDecidedEvent['scope'] = input.grantMs !== undefined
      ? { kind: 'grant', until: decidedAt + input.grantMs * 1000, grantId: `gr_${a.id.slice(3)}` }
      : { kind: 'once' };
    const ok = await this.finish(entry, {
      by: 'reviewer', decision: input.approve ? 'approved' : 'denied', reviewer: actorOf(reviewer), reason: input.reason ?? null, scope, decidedAt,
    });
    if (!ok) throw new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', 'the decision could not be recorded; the request was denied');
    return a;
  }

  /** The client cancelled, or its session ended: a held command is denied. */
  cancel(id: string, reason: string): void {
    const entry = this.pending.get(id);
    if (!entry || entry.deciding) return;
    void this.finish(entry, { by: 'cancelled', decision: 'denied', reviewer: null, reason, scope: { kind: 'once' }, decidedAt: nowUs() });
  }

  /** Records the decision, then settles the waiter. Returns false when it could not be recorded. */
  private async finish(entry: Entry, d: ApprovalDecision): Promise<boolean> {
    if (entry.deciding) return false;
    entry.deciding = true;
    if (entry.timer) clearTimeout(entry.timer);
    const a = entry.approval;
    const event: ApprovalDecidedEvent = {
      type: 'approval.decided', approvalId: a.id, decision: d.decision, by: d.by, reviewer: d.reviewer, reason: d.reason, scope: d.scope,
      waitedUs: Math.max(0, d.decidedAt - a.requestedAt),
    };
    let recorded = true;
    let final = d;
    try {
      await this.o.ledger.append([{ sessionId: a.sessionId, time: d.decidedAt, event }]);
    } catch (e) {
      recorded = false;
      this.o.log.error({ err: (e as Error).message, approval: a.id }, 'recording an approval decision failed; the command is denied');
      final = { ...d, decision: 'denied', reason: 'the decision could not be recorded' };
    }
    if (recorded && d.decision === 'approved' && d.scope.kind === 'grant') {
      this.grants.push({ id: d.scope.grantId, approvalId: a.id, subject: a.requester.subject, connection: a.connection, shape: a.shape, until: d.scope.until, grantedBy: d.reviewer?.subject ?? '?' });
    }
    a.state = final.decision;
    a.decision = final;
    this.pending.delete(a.id);
    this.recent.set(a.id, a);
    if (this.recent.size > RECENT_MAX) this.recent.delete(this.recent.keys().next().value!);
    this.o.log.info({ approval: a.id, decision: final.decision, by: final.by, reviewer: final.reviewer?.subject }, 'approval decided');
    this.o.notifier?.notify('decided', a);
    entry.settle(final);
    return recorded;
  }

  grantFor(subject: string, connection: string, shape: string, now = nowUs()): Grant | null {
    this.grants = this.grants.filter((g) => g.until > now);
    return this.grants.find((g) => g.subject === subject && g.connection === connection && g.shape === shape) ?? null;
  }

  activeGrants(now = nowUs()): Grant[] {
    this.grants = this.grants.filter((g) => g.until > now);
    return [...this.grants];
  }

  /** Pending requests, oldest first. */
  list(): Approval[] {
    return [...this.pending.values()].map((e) => e.approval);
  }

  /** Recently decided requests (the last 1000 since start), newest first. */
  decided(): Approval[] {
    return [...this.recent.values()].reverse();
  }

  /** A pending or recently decided request. */
  get(id: string): Approval | null {
    return this.pending.get(id)?.approval ?? this.recent.get(id) ?? null;
  }

  /**
   * At start: requests a previous run left waiting are recorded as denied (their sessions are gone,
   * the commands never ran), and grants still in force are restored.
   */
  async recover(reader: LedgerReader): Promise<{ denied: number; grants: number }> {
    const requested = await reader.recordsOfType('approval.requested');
    const decided = await reader.recordsOfType('approval.decided');
    const done = new Set<string>();
    const now = nowUs();
    for (const r of decided) {
      if (r.event.type !== 'approval.decided') continue;
      done.add(r.event.approvalId);
      const s = r.event.scope;
      if (r.event.decision === 'approved' && s.kind === 'grant' && s.until > now && !this.grants.some((g) => g.id === s.grantId)) {
        const req = requested.find((q) => q.event.type === 'approval.requested' && q.event.approvalId === (r.event as ApprovalDecidedEvent).approvalId);
        if (req?.event.type === 'approval.requested') {
          this.grants.push({ id: s.grantId, approvalId: req.event.approvalId, subject: req.event.requester.subject, connection: req.event.connection, shape: req.event.shape, until: s.until, grantedBy: r.event.reviewer?.subject ?? '?' });
        }
      }
    }
    const orphans = requested.filter((r) => r.event.type === 'approval.requested' && !done.has(r.event.approvalId));
    if (orphans.length > 0) {
      await this.o.ledger.append(orphans.map((r) => {
        const q = r.event as ApprovalRequestedEvent;
        const event: ApprovalDecidedEvent = {
          type: 'approval.decided', approvalId: q.approvalId, decision: 'denied', by: 'restart', reviewer: null,
          reason: 'the gateway restarted while the command waited; it was not run', scope: { kind: 'once' }, waitedUs: Math.max(0, now - r.time),
        };
        return { sessionId: r.sessionId, time: now, event };
      }));
    }
    return { denied: orphans.length, grants: this.grants.length };
  }

  /** Shutdown: every waiting command is denied (and recorded so). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.pending.values()].map((e) =>
      this.finish(e, { by: 'shutdown', decision: 'denied', reviewer: null, reason: 'the gateway is shutting down', scope: { kind: 'once' }, decidedAt: nowUs() })));
  }
}
