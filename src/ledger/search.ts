import { GatehouseError } from '../core/errors.js';
import type { SessionStatus } from '../core/events.js';

/**
 * Search over recorded commands: full text (SQLite FTS5 syntax: words, "phrases", AND/OR/NOT,
 * prefix*) plus filters on the session (identity, group, connection, protocol, status, CI job,
 * token id or token SHA-256) and time. Results are statements, newest first, paged with a cursor
 * (the seq to continue below).
 */

export interface SearchFilter {
  text?: string;
  identity?: string;
  group?: string;
  connection?: string;
  protocol?: string;
  status?: SessionStatus;
  /** the command's own outcome: ok, error, blocked, skipped, suspended, interrupted */
  result?: string;
  ciJob?: string;
  /** jti-based token id, or the token's SHA-256 */
  token?: string;
  /** µs */
  since?: number;
  until?: number;
  /** continue below this seq (from the previous page's `next`) */
  cursor?: number;
  limit?: number;
}

export interface CommandHit {
  seq: number;
  time: number;
  sessionId: string;
  type: string;
  text: string;
  status: string | null;
  tag: string | null;
  rows: number | null;
  sqlstate: string | null;
  subject: string | null;
  connection: string | null;
  authorizedBy: string | null;
  ciJob: string | null;
}

export interface SearchPage {
  hits: CommandHit[];
  /** cursor for the next page, or null when this was the last */
  next: number | null;
}

/** The session-level part of a filter, as a WHERE over the sessions table (null: none). */
export function sessionFilterSql(f: SearchFilter): { where: string; params: Array<string | number> } | null {
  const where: string[] = [];
  const params: Array<string | number> = [];
  const on = (clause: string, ...values: Array<string | number>) => {
    where.push(clause);
    params.push(...values);
  };
  if (f.identity !== undefined) on('subject = ?', f.identity);
  if (f.group !== undefined) on('EXISTS (SELECT 1 FROM json_each(groups) g WHERE g.value = ?)', f.group);
  if (f.connection !== undefined) on('connection = ?', f.connection);
  if (f.protocol !== undefined) on('protocol = ?', f.protocol);
  if (f.status !== undefined) on('status = ?', f.status);
  if (f.ciJob !== undefined) on('ci_job = ?', f.ciJob);
  if (f.token !== undefined) on('id IN (SELECT id FROM sessions WHERE token_id = ? UNION SELECT id FROM sessions WHERE token_sha256 = ?)', f.token, f.token);
  return where.length > 0 ? { where: where.join(' AND '), params } : null;
}

/**
 * Builds the SQLite query; the caller runs it. Three plans, newest first in each:
 * - with text: walk the full-text index by descending rowid (FTS5 does this natively) and stop at
 *   the page size, instead of collecting every match;
 * - with a selective session filter (`manySessions` false): the sessions' commands through
 *   commands_session, then sort;
 * - with a broad one: walk commands backwards and test session membership (the `+` keeps SQLite
 *   from choosing the index, which would collect every command of thousands of sessions).
 */
export function searchSql(f: SearchFilter, manySessions = false): { sql: string; params: Array<string | number> } {
  const where: string[] = [];
  const params: Array<string | number> = [];
  const add = (clause: string, ...values: Array<string | number>) => {
    where.push(clause);
    params.push(...values);
  };
  const text = f.text !== undefined;
  if (text) add('commands_fts MATCH ?', f.text!);
  const sessions = sessionFilterSql(f);
  if (sessions) add(`${manySessions && !text ? '+' : ''}c.session_id IN (SELECT id FROM sessions WHERE ${sessions.where})`, ...sessions.params);
  if (f.result !== undefined) add('c.status = ?', f.result);
  if (f.since !== undefined) add('c.time_us >= ?', f.since);
  if (f.until !== undefined) add('c.time_us < ?', f.until);
  if (f.cursor !== undefined) add(`${text ? 'f.rowid' : 'c.seq'} < ?`, f.cursor);
  const from = text
    ? 'commands_fts f JOIN commands c ON c.seq = f.rowid LEFT JOIN sessions s ON s.id = c.session_id'
    : 'commands c LEFT JOIN sessions s ON s.id = c.session_id';
  const sql = `SELECT c.seq, c.time_us, c.session_id, c.type, c.text, c.status, c.tag, c.rows, c.sqlstate,
      s.subject, s.connection, s.authorized_by, s.ci_job
    FROM ${from}
    ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY ${text ? 'f.rowid' : 'c.seq'} DESC LIMIT ?`;
  params.push((f.limit ?? 50) + 1);
  return { sql, params };
}

/** A full-text query the index cannot parse is the user's input error, said in their terms. */
export function searchError(e: unknown, text: string): unknown {
  const message = e instanceof Error ? e.message : String(e);
  if (!/fts5|syntax|unterminated|no such column/i.test(message)) return e;
  return new GatehouseError('GH_ERR_USAGE', `--text "${text}" is not a valid search (${message}); use words, "phrases", AND, OR, NOT, prefix*`);
}

/**
 * Translates the search syntax (FTS5's: words, "phrases", AND, OR, NOT, prefix*, implicit AND) to a
 * PostgreSQL tsquery for the PostgreSQL store. Words are reduced to letters, digits and _ as the
 * 'simple' text search configuration does.
 */
export function pgTsQuery(text: string): string {
  const tokens = text.match(/"[^"]*"|\(|\)|[^\s()"]+/g) ?? [];
  const out: string[] = [];
  let expectOperand = true;
  const lexemes = (w: string) => (w.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? []);
  for (const t of tokens) {
    const upper = t.toUpperCase();
    if (upper === 'AND' || upper === 'OR') {
      if (expectOperand) throw new GatehouseError('GH_ERR_USAGE', `--text "${text}" is not a valid search: ${t} needs something before it`);
      out.push(upper === 'AND' ? '&' : '|');
      expectOperand = true;
      continue;
    }
    if (upper === 'NOT') {
      if (!expectOperand) out.push('&');
      out.push('!');
      expectOperand = true;
      continue;
    }
    if (!expectOperand && t !== ')') out.push('&');
    if (t === '(' || t === ')') {
      out.push(t);
      expectOperand = t === '(';
      continue;
    }
    const prefix = t.endsWith('*');
    const words = lexemes(t.startsWith('"') ? t.slice(1, -1) : t);
    if (words.length === 0) throw new GatehouseError('GH_ERR_USAGE', `--text "${text}" is not a valid search: "${t}" has no searchable word`);
    out.push(words.length === 1 ? `${words[0]}${prefix ? ':*' : ''}` : `(${words.join(' <-> ')})`);
    expectOperand = false;
  }
  if (expectOperand) throw new GatehouseError('GH_ERR_USAGE', `--text "${text}" is not a valid search: it ends with an operator or is empty`);
  return out.join(' ');
}
