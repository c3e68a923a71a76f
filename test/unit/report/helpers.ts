import type { AuditEvent, ClientRecord, IdentityRecord, PgResultEvent, StreamRecord } from '../../../src/core/events.js';
import type { LedgerRecord, SessionSummary } from '../../../src/ledger/ledger.js';

/** Records and summaries for report tests (the same shapes the ledger reader gives). */

export const T0 = 1_795_000_000_123_456; // µs
export const hash = (n: number): string => n.toString(16).padStart(64, '0');

export function records(sessionId: string, events: AuditEvent[], firstSeq = 10): LedgerRecord[] {
  return events.map((event, i) => ({
    seq: firstSeq + i, time: T0 + i * 1500, sessionId, type: event.type, event, prevHash: hash(firstSeq + i - 1), hash: hash(firstSeq + i),
  }));
}

export const identity: IdentityRecord = {
  subject: 'ci-agent', groups: ['ci-agents', 'readers'], issuer: 'https://idp.example', clientId: 'ci-agent',
  tokenId: 'jti-123', tokenSha256: 'ab'.repeat(32), ciJob: '4711', expiresAt: null,
};
export const client: ClientRecord = { address: '10.0.0.7', port: 51234, tls: true, user: 'agent', application: 'psql' };

export function summary(over: Partial<SessionSummary>): SessionSummary {
  return {
    id: 's-1', protocol: 'postgres', connection: 'orders', status: 'ok', subject: 'ci-agent', groups: ['ci-agents', 'readers'],
    authorizedBy: 'ci-agents', issuer: 'https://idp.example', tokenId: 'jti-123', tokenSha256: 'ab'.repeat(32), ciJob: '4711',
    clientUser: 'agent', clientApplication: 'psql', clientAddress: '10.0.0.7', startedAt: T0, endedAt: T0 + 2_500_000,
    statements: 3, errors: 1, reason: null, ...over,
  };
}

export function result(statementSeq: number, over: Partial<PgResultEvent> = {}): PgResultEvent {
  return {
    type: 'pg.result', statementSeq, index: 0, status: 'ok', tag: 'SELECT 1', rows: 1, error: null, durationUs: 1234,
    bytes: 80, sha256: 'cd'.repeat(32), columns: ['n'], sample: [['1']], copy: null, ...over,
  };
}

export function stream(sample: string, over: Partial<StreamRecord> = {}): StreamRecord {
  return { bytes: Buffer.byteLength(sample), sha256: 'ee'.repeat(32), sample, truncated: false, ...over };
}
