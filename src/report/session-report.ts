import { isoFromUs } from '../core/clock.js';
import {
  commandText,
  type AuditEventType,
  type AuthDeniedEvent,
  type ClientRecord,
  type DecisionRecord,
  type PgResultEvent,
  type RecordedValue,
  type SessionStartEvent,
} from '../core/events.js';
import type { LedgerRecord, SessionSummary } from '../ledger/ledger.js';
import { isStatement } from './format.js';
import { describeSsh, foldSsh, type ReportRecording, type ReportSftp, type ReportShell, type ReportSshExit } from './ssh-model.js';

/**
 * The single report of one session, as plain data: what `gatehouse report --format json` prints
 * and what the text and HTML renderers draw. Results are folded into the statement they belong to;
 * a result whose statement is not among the records is listed as its own `pg.result` event.
 * SSH: an exit is folded into its exec or shell, typed commands and the recording into their
 * shell (see ssh-model.ts).
 */

/** A statement's result as reported: the pg.result record without its type and statement link. */
export type ReportResult = Omit<PgResultEvent, 'type' | 'statementSeq'>;

export interface ReportEvent {
  seq: number;
  /** ISO-8601 with µs */
  time: string;
  type: AuditEventType;
  command: string | null;
  /** pg.execute: bind parameters; pg.function_call: arguments */
  params?: RecordedValue[];
  /** pg.execute / pg.prepare: the prepared statement name ('' = unnamed) */
  statementName?: string;
  portal?: string;
  maxRows?: number;
  functionOid?: number;
  paramTypes?: number[];
  /** the first (usually only) result of a statement; null when none was recorded */
  result?: ReportResult | null;
  /** every result, for a simple query with several statements */
  results?: ReportResult[];
  /** session.start / auth.denied */
  connection?: string | null;
  subject?: string | null;
  authorizedBy?: string;
  /** auth.denied */
  code?: string;
  /** auth.denied / session.end */
  reason?: string | null;
  /** session.end */
  status?: string;
  statements?: number;
  errors?: number;
  durationUs?: number;
  /** pg.cancel / a pg.result listed on its own */
  statementSeq?: number | null;
  /** ledger.checkpoint / ledger.pruned */
  treeSize?: number;
  rootHash?: string;
  keyId?: string;
  upToSeq?: number;
  count?: number;
  /** statements: the policy decision, when a rule decided (absent: allowed by default) */
  decision?: DecisionRecord;
  /** approval.requested / approval.decided */
  approval?: ReportApproval;
  /** the payload was removed by retention: only its place in the chain remains */
  pruned?: true;
  /** ssh.*: the client's channel number */
  channel?: number;
  /** ssh.exec: whether the client asked for a pty, and the environment it asked to set */
  pty?: boolean;
  env?: Record<string, string>;
  /** ssh.exec / ssh.shell: how it ended (its ssh.exit record); null when none was recorded */
  exit?: ReportSshExit | null;
  /** ssh.shell: its terminal, the commands typed into it and its recording */
  shell?: ReportShell;
  /** ssh.sftp */
  sftp?: ReportSftp;
  /** ssh.refused: what the client asked for and why it was refused */
  refused?: { what: string; detail: string };
  /** ssh.recording listed on its own (its shell is not among the records) */
  recording?: ReportRecording;
}

export interface ReportApproval {
  id: string;
  /** requested: the rule, its reason, who may decide, when it expires */
  policy?: string;
  reason?: string | null;
  reviewers?: string[];
  expiresAt?: string;
  /** decided */
  decision?: 'approved' | 'denied';
  by?: string;
  reviewer?: string | null;
  scope?: string;
  waitedUs?: number;
}

export interface ReportClient {
  address: string | null;
  port: number | null;
  tls: boolean | null;
  /** client-declared (PostgreSQL startup `user`); never trusted */
  user: string | null;
  /** client-declared (`application_name`); never trusted */
  application: string | null;
}

export interface SessionReport {
  session: {
    id: string;
    protocol: string;
    connection: string | null;
    status: string;
    startedAt: string;
    endedAt: string | null;
    durationMs: number | null;
    statements: number;
    errors: number;
    reason: string | null;
    client: ReportClient;
    upstream: SessionStartEvent['upstream'] | null;
    parameters: Record<string, string>;
  };
  identity: {
    subject: string | null;
    groups: string[];
    authorizedBy: string | null;
    issuer: string | null;
    clientId: string | null;
    tokenId: string | null;
    tokenSha256: string | null;
    ciJob: string | null;
    /** false when the identity is only what an unverified token claimed (or unknown) */
    verified: boolean;
  };
  events: ReportEvent[];
  ledger: { firstSeq: number | null; lastSeq: number | null; lastHash: string | null };
}

function toResult(r: PgResultEvent): ReportResult {
  return {
    index: r.index, status: r.status, tag: r.tag, rows: r.rows, error: r.error, durationUs: r.durationUs, bytes: r.bytes,
    sha256: r.sha256, columns: r.columns, sample: r.sample, copy: r.copy,
    ...(r.masked ? { masked: r.masked } : {}),
  };
}

function describe(rec: LedgerRecord): ReportEvent {
  const e = rec.event;
  const base: ReportEvent = { seq: rec.seq, time: isoFromUs(rec.time), type: e.type, command: commandText(e) };
  const decision = (e.type === 'pg.query' || e.type === 'pg.execute' || e.type === 'pg.function_call' || e.type === 'pg.prepare') && e.decision
    ? { decision: e.decision }
    : {};
  switch (e.type) {
    case 'pg.query':
      return { ...base, ...decision, result: null };
    case 'pg.execute':
      return { ...base, statementName: e.statement, portal: e.portal, params: e.params, maxRows: e.maxRows, ...decision, result: null };
    case 'pg.function_call':
      return { ...base, functionOid: e.functionOid, params: e.args, ...decision, result: null };
    case 'pg.prepare':
      return { ...base, statementName: e.name, paramTypes: e.paramTypes, ...decision };
    case 'approval.requested':
      return {
        ...base, statementSeq: e.statementSeq,
        approval: { id: e.approvalId, policy: e.policy, reason: e.reason, reviewers: e.reviewers, expiresAt: isoFromUs(e.expiresAt) },
      };
    case 'approval.decided':
      return {
        ...base,
        approval: {
          id: e.approvalId, decision: e.decision, by: e.by, reviewer: e.reviewer?.subject ?? null, reason: e.reason, waitedUs: e.waitedUs,
          scope: e.scope.kind === 'grant' ? `grant ${e.scope.grantId} until ${isoFromUs(e.scope.until)}` : 'once',
        },
      };
    case 'pg.cancel':
      return { ...base, statementSeq: e.statementSeq, ...(e.reason ? { reason: e.reason } : {}) };
    case 'session.start':
      return { ...base, connection: e.connection, subject: e.identity.subject, authorizedBy: e.authorizedBy };
    case 'session.end':
      return { ...base, status: e.status, reason: e.reason, statements: e.statements, errors: e.errors, durationUs: e.durationUs };
    case 'auth.denied':
      return {
        ...base, connection: e.connection, code: e.code, reason: e.reason,
        subject: e.identity?.subject ?? e.claimed?.subject ?? null,
      };
    case 'pg.result': {
      const r = toResult(e);
      return { ...base, statementSeq: e.statementSeq, result: r, results: [r] };
    }
    case 'ledger.checkpoint':
      return { ...base, treeSize: e.treeSize, rootHash: e.rootHash, keyId: e.keyId };
    case 'ledger.pruned':
      return { ...base, upToSeq: e.upToSeq, count: e.count };
    case 'http.request':
      return { ...base, ...(e.decision ? { decision: e.decision } : {}) };
    case 'http.response': {
      const body = (b: { bytes: number; sha256: string }) => `${b.bytes} bytes (sha256 ${b.sha256.slice(0, 16)}…)`;
      const what = e.statusCode !== null ? `status ${e.statusCode}` : e.status;
      return {
        ...base,
        statementSeq: e.requestSeq,
        command: `response to #${e.requestSeq}: ${what}${e.error ? ` (${e.error})` : ''}, request body ${body(e.requestBody)}, response body ${body(e.responseBody)}, ${(e.durationUs / 1000).toFixed(1)} ms${e.masked ? `, masked by ${e.masked.rules.join(', ')}` : ''}`,
      };
    }
    case 'kubernetes.stream': {
      const st = (name: string, b: { bytes: number }) => `${name} ${b.bytes} bytes`;
      const exit = e.exitCode !== null ? `exit ${e.exitCode}` : e.status;
      const rec = e.recording ? `, recording ${e.recording.file} (sha256 ${e.recording.sha256.slice(0, 16)}…)` : '';
      return {
        ...base,
        statementSeq: e.requestSeq,
        command: `${e.transport} stream of #${e.requestSeq}${e.subprotocol ? ` (${e.subprotocol})` : ''}: ${exit}${e.error ? ` (${e.error})` : ''}, ${st('stdin', e.stdin)}, ${st('stdout', e.stdout)}, ${st('stderr', e.stderr)}, ${(e.durationUs / 1000).toFixed(1)} ms${rec}${e.masked ? `, masked by ${e.masked.rules.join(', ')}` : ''}`,
      };
    }
    default: {
      const ssh = describeSsh(rec, base);
      if (ssh) return ssh;
      // a payload removed by retention ({"pruned":true}): keep the stored type and the record's place
      return { ...base, type: rec.type, command: null, pruned: true };
    }
  }
}


function reportClient(client: ClientRecord | null, summary: SessionSummary): ReportClient {
  return {
    address: client?.address ?? summary.clientAddress,
    port: client?.port ?? null,
    tls: client?.tls ?? null,
    user: client?.user ?? summary.clientUser,
    application: client?.application ?? summary.clientApplication,
  };
}

export function buildSessionReport(summary: SessionSummary, records: readonly LedgerRecord[]): SessionReport {
  const ordered = [...records].sort((a, b) => a.seq - b.seq);
  const events: ReportEvent[] = [];
  const bySeq = new Map<number, ReportEvent>();
  let start: SessionStartEvent | null = null;
  let denied: AuthDeniedEvent | null = null;
  let endDurationUs: number | null = null;
  for (const rec of ordered) {
    const e = rec.event;
    if (e.type === 'session.start') start ??= e;
    if (e.type === 'auth.denied') denied ??= e;
    if (e.type === 'session.end') endDurationUs = e.durationUs;
    if (e.type === 'pg.result') {
      const owner = bySeq.get(e.statementSeq);
      if (owner && isStatement(owner)) {
        const r = toResult(e);
        owner.results = [...(owner.results ?? []), r].sort((a, b) => a.index - b.index);
        owner.result = owner.results[0] ?? null;
        continue;
      }
    }
    if (foldSsh(rec, bySeq)) continue;
    const ev = describe(rec);
    bySeq.set(rec.seq, ev);
    events.push(ev);
  }
  for (const ev of events) if (isStatement(ev) && ev.results === undefined) ev.results = [];

  const id = start?.identity ?? denied?.identity ?? null;
  const claimed = denied?.claimed ?? null;
  const last = ordered.at(-1);
  const durationMs = summary.endedAt !== null
    ? Math.round((summary.endedAt - summary.startedAt) / 1000)
    : endDurationUs !== null ? Math.round(endDurationUs / 1000) : null;
  return {
    session: {
      id: summary.id,
      protocol: summary.protocol,
      connection: summary.connection ?? start?.connection ?? denied?.connection ?? null,
      status: summary.status,
      startedAt: isoFromUs(summary.startedAt),
      endedAt: summary.endedAt === null ? null : isoFromUs(summary.endedAt),
      durationMs,
      statements: summary.statements,
      errors: summary.errors,
      reason: summary.reason,
      client: reportClient(start?.client ?? denied?.client ?? null, summary),
      upstream: start?.upstream ?? null,
      parameters: start?.parameters ?? {},
    },
    identity: {
      subject: id?.subject ?? claimed?.subject ?? summary.subject,
      groups: id?.groups ?? summary.groups,
      authorizedBy: start?.authorizedBy ?? summary.authorizedBy,
      issuer: id?.issuer ?? claimed?.issuer ?? summary.issuer,
      clientId: id?.clientId ?? null,
      tokenId: id?.tokenId ?? summary.tokenId,
      tokenSha256: id?.tokenSha256 ?? claimed?.tokenSha256 ?? summary.tokenSha256,
      ciJob: id?.ciJob ?? summary.ciJob,
      verified: id !== null,
    },
    events,
    ledger: { firstSeq: ordered[0]?.seq ?? null, lastSeq: last?.seq ?? null, lastHash: last?.hash ?? null },
  };
}
