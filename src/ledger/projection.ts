import { commandText, type AuditEvent } from '../core/events.js';

/**
 * The sessions index is a projection of the records: each appended record may insert or update
 * one sessions row, in the same transaction. Pure: returns store-neutral SQL with `?` placeholders
 * (SQLite runs it as is; the PostgreSQL store numbers the placeholders and scopes it to its log).
 */
export interface SqlOp {
  sql: string;
  params: Array<string | number | null>;
}

const INSERT_SESSION = `INSERT INTO sessions (id, protocol, connection, status, subject, groups, authorized_by, issuer,
  token_id, token_sha256, ci_job, client_user, client_application, client_address, started_us, ended_us, reason)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

const INSERT_COMMAND = 'INSERT INTO commands (seq, session_id, time_us, type, text) VALUES (?, ?, ?, ?, ?)';

export function sessionOps(seq: number, sessionId: string, time: number, event: AuditEvent): SqlOp[] {
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
      return [
        { sql: 'UPDATE sessions SET statements = statements + 1 WHERE id = ?', params: [sessionId] },
        { sql: INSERT_COMMAND, params: [seq, sessionId, time, event.type, event.text] },
      ];
    case 'pg.function_call':
      return [{ sql: 'UPDATE sessions SET statements = statements + 1 WHERE id = ?', params: [sessionId] }];
    case 'ssh.exec':
    case 'ssh.shell':
    case 'ssh.command':
    case 'http.request':
    case 'ssh.sftp':
    case 'ssh.forward': {
      if ((event.type === 'ssh.sftp' && event.op === 'close') || (event.type === 'ssh.forward' && event.phase === 'close')) return [];
      return [
        { sql: 'UPDATE sessions SET statements = statements + 1 WHERE id = ?', params: [sessionId] },
        { sql: INSERT_COMMAND, params: [seq, sessionId, time, event.type, commandText(event)] },
      ];
    }
    case 'http.response': {
      const ops: SqlOp[] = [{ sql: 'UPDATE commands SET status = ?, tag = ? WHERE seq = ?', params: [event.status, event.statusCode === null ? null : String(event.statusCode), event.requestSeq] }];
      if (event.status === 'error' || (event.statusCode !== null && event.statusCode >= 500)) ops.push({ sql: 'UPDATE sessions SET errors = errors + 1 WHERE id = ?', params: [sessionId] });
      return ops;
    }
    case 'kubernetes.stream': {
      const tag = event.exitCode !== null ? `exit ${event.exitCode}` : event.transport;
      const ops: SqlOp[] = [{ sql: 'UPDATE commands SET status = ?, tag = ? WHERE seq = ?', params: [event.status, tag, event.requestSeq] }];
      if (event.status === 'error') ops.push({ sql: 'UPDATE sessions SET errors = errors + 1 WHERE id = ?', params: [sessionId] });
      return ops;
    }
    case 'ssh.exit': {
      const tag = event.exitCode !== null ? `exit ${event.exitCode}` : event.signal !== null ? `signal ${event.signal}` : null;
      const ops: SqlOp[] = [{ sql: 'UPDATE commands SET status = ?, tag = ? WHERE seq = ?', params: [event.status, tag, event.commandSeq] }];
      if (event.status === 'error') ops.push({ sql: 'UPDATE sessions SET errors = errors + 1 WHERE id = ?', params: [sessionId] });
      return ops;
    }
    case 'pg.result': {
      const ops: SqlOp[] = [];
      if (event.index === 0 || event.error) {
        ops.push({
          sql: 'UPDATE commands SET status = ?, tag = ?, rows = ?, sqlstate = ? WHERE seq = ?',
          params: [event.status, event.tag, event.rows, event.error?.sqlstate ?? null, event.statementSeq],
        });
      }
      if (event.error) ops.push({ sql: 'UPDATE sessions SET errors = errors + 1 WHERE id = ?', params: [sessionId] });
      return ops;
    }
    default:
      return [];
  }
}

type SequencedRow = { seq: number; time: number; sessionId: string; event: AuditEvent; payload: string; prevHash: string; hash: string };

/** The SQL that stores one sequenced record (the chain itself, without its projections). */
export function recordInsert(r: SequencedRow): SqlOp {
  return {
    sql: 'INSERT INTO records (seq, time_us, session_id, type, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)',
    params: [r.seq, r.time, r.sessionId, r.event.type, r.payload, r.prevHash, r.hash],
  };
}

/** The SQL of one sequenced record: the record itself and its projections. */
export function recordOps(r: SequencedRow): SqlOp[] {
  return [recordInsert(r), ...sessionOps(r.seq, r.sessionId, r.time, r.event)];
}
