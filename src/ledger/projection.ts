import type { AuditEvent } from '../core/events.js';

/**
 * The sessions index is a projection of the records: each appended record may insert or update
 * one sessions row, in the same transaction. Pure: returns SQL (SQLite dialect) and parameters.
 */
export interface SqlOp {
  sql: string;
  params: Array<string | number | null>;
}

const INSERT_SESSION = `INSERT INTO sessions (id, protocol, connection, status, subject, groups, authorized_by, issuer,
  token_id, token_sha256, ci_job, client_user, client_application, client_address, started_us, ended_us, reason)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export function sessionOps(sessionId: string, time: number, event: AuditEvent): SqlOp[] {
  switch (event.type) {
    case 'session.start': {
      const id = event.identity;
      const c = event.client;
      return [
        {
          sql: INSERT_SESSION,
          params: [
            sessionId, event.protocol, event.connection, 'active', id.subject, JSON.stringify(id.groups), event.authorizedBy,
            id.issuer, id.tokenId, id.tokenSha256, id.ciJob, c.user, c.application, c.address, time, null, null,
          ],
        },
      ];
    }
    case 'auth.denied': {
      const id = event.identity;
      const c = event.client;
      return [
        {
          sql: INSERT_SESSION,
          params: [
            sessionId, event.protocol, event.connection, 'denied', id?.subject ?? event.claimed?.subject ?? null,
            JSON.stringify(id?.groups ?? []), null, id?.issuer ?? event.claimed?.issuer ?? null, id?.tokenId ?? null,
            id?.tokenSha256 ?? event.claimed?.tokenSha256 ?? null, id?.ciJob ?? null, c.user, c.application, c.address,
            time, time, `${event.code}: ${event.reason}`,
          ],
        },
      ];
    }
    case 'session.end':
      return [
        {
          sql: 'UPDATE sessions SET status = ?, ended_us = ?, reason = ? WHERE id = ?',
          params: [event.status, time, event.reason, sessionId],
        },
      ];
    case 'pg.query':
    case 'pg.execute':
    case 'pg.function_call':
      return [{ sql: 'UPDATE sessions SET statements = statements + 1 WHERE id = ?', params: [sessionId] }];
    case 'pg.result':
      return event.error ? [{ sql: 'UPDATE sessions SET errors = errors + 1 WHERE id = ?', params: [sessionId] }] : [];
    default:
      return [];
  }
}
