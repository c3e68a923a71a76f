import { isoFromUs } from '../core/clock.js';
import { commandText, type AuditEvent, type PgResultEvent, type RecordedValue } from '../core/events.js';
import type { LedgerRecord, SessionSummary } from '../ledger/ledger.js';

/**
 * The single report of one session, as plain data: what `gatehouse report --format json` prints
 * and what the text and HTML renderers draw. Results are folded into the statement they belong to.
 */

export interface ReportResult {
  index: number;
  status: PgResultEvent['status'];
  tag: string | null;
  rows: number | null;
  error: PgResultEvent['error'];
  durationUs: number;
  bytes: number;
  sha256: string;
  columns: string[] | null;
  sample: RecordedValue[][];
  copy: PgResultEvent['copy'];
}

export interface ReportEvent {
  seq: number;
  time: string;
  type: AuditEvent['type'];
  command: string | null;
  params?: RecordedValue[];
  statementName?: string;
  portal?: string;
  /** the first (usually only) result of a statement */
  result?: ReportResult | null;
  /** every result, for a simple query with several statements */
  results?: ReportResult[];
  detail?: Record<string, unknown>;
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
    client: { address: string | null; port: number | null; tls: boolean | null; user: string | null; application: string | null };
    upstream: { host: string; port: number; database: string; user: string; tls: boolean } | null;
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
    verified: boolean;
  };
  events: ReportEvent[];
  ledger: { firstSeq: number | null; lastSeq: number | null; lastHash: string | null };
}

function toResult(r: PgResultEvent): ReportResult {
  return {
    index: r.index, status: r.status, tag: r.tag, rows: r.rows, error: r.error, durationUs: r.durationUs, bytes: r.bytes,
    sha256: r.sha256, columns: r.columns, sample: r.sample, copy: r.copy,
  };
}

function describe(rec: LedgerRecord): ReportEvent {
  const e = rec.event;
  const base: ReportEvent = { seq: rec.seq, time: isoFromUs(rec.time), type: e.type, command: commandText(e) };
  switch (e.type) {
    case 'pg.execute':
      return { ...base, params: e.params, statementName: e.statement, portal: e.portal, result: null };
    case 'pg.function_call':
      return { ...base, params: e.args, result: null };
    case 'pg.query':
      return { ...base, result: null };
    case 'pg.prepare':
      return { ...base, statementName: e.name, detail: { paramTypes: e.paramTypes } };
    case 'pg.cancel':
      return { ...base, detail: { statementSeq: e.statementSeq } };
    case 'session.start':
      return { ...base, detail: { connection: e.connection, authorizedBy: e.authorizedBy, upstream: e.upstream } };
    case 'session.end':
      return { ...base, detail: { status: e.status, reason: e.reason, statements: e.statements, errors: e.errors, durationUs: e.durationUs } };
    case 'auth.denied':
      return { ...base, detail: { code: e.code, reason: e.reason, connection: e.connection } };
    case 'pg.result':
      return { ...base, detail: { statementSeq: e.statementSeq }, result: toResult(e), results: [toResult(e)] };
    case 'ledger.checkpoint':
      return { ...base, detail: { treeSize: e.treeSize, rootHash: e.rootHash, keyId: e.keyId } };
    case 'ledger.pruned':
      return { ...base, detail: { before: e.before, upToSeq: e.upToSeq, count: e.count } };
    default:
      // a payload removed by retention: only its place in the chain remains
      return { ...base, type: rec.type, command: null, detail: { pruned: true } };
  }
}

export function buildSessionReport(summary: SessionSummary, records: readonly LedgerRecord[]): SessionReport {
  const events: ReportEvent[] = [];
  const bySeq = new Map<number, ReportEvent>();
  let start: Extract<AuditEvent, { type: 'session.start' }> | null = null;
  let denied: Extract<AuditEvent, { type: 'auth.denied' }> | null = null;
  for (const rec of records) {
    const e = rec.event;
    if (e.type === 'session.start') start = e;
    if (e.type === 'auth.denied') denied = e;
    if (e.type === 'pg.result') {
      const owner = bySeq.get(e.statementSeq);
      if (owner && 'result' in owner) {
        const r = toResult(e);
        owner.results = [...(owner.results ?? []), r];
        owner.result ??= r;
        continue;
      }
    }
    const ev = describe(rec);
    bySeq.set(rec.seq, ev);
    events.push(ev);
  }
  const id = start?.identity ?? denied?.identity ?? null;
  const client = start?.client ?? denied?.client ?? null;
  const last = records.at(-1);
  return {
    session: {
      id: summary.id,
      protocol: summary.protocol,
      connection: summary.connection,
      status: summary.status,
      startedAt: isoFromUs(summary.startedAt),
      endedAt: summary.endedAt === null ? null : isoFromUs(summary.endedAt),
      durationMs: summary.endedAt === null ? null : Math.round((summary.endedAt - summary.startedAt) / 1000),
      statements: summary.statements,
      errors: summary.errors,
      reason: summary.reason,
      client: {
        address: client?.address ?? summary.clientAddress, port: client?.port ?? null, tls: client?.tls ?? null,
        user: client?.user ?? summary.clientUser, application: client?.application ?? summary.clientApplication,
      },
      upstream: start?.upstream ?? null,
      parameters: start?.parameters ?? {},
    },
    identity: {
      subject: id?.subject ?? denied?.claimed?.subject ?? summary.subject,
      groups: id?.groups ?? summary.groups,
      authorizedBy: start?.authorizedBy ?? null,
      issuer: id?.issuer ?? denied?.claimed?.issuer ?? summary.issuer,
      clientId: id?.clientId ?? null,
      tokenId: id?.tokenId ?? summary.tokenId,
      tokenSha256: id?.tokenSha256 ?? denied?.claimed?.tokenSha256 ?? summary.tokenSha256,
      ciJob: id?.ciJob ?? summary.ciJob,
      verified: id !== null,
    },
    events,
    ledger: { firstSeq: records[0]?.seq ?? null, lastSeq: last?.seq ?? null, lastHash: last?.hash ?? null },
  };
}
