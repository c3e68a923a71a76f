import { readFileSync } from 'node:fs';

/**
 * Reads the statements a PostgreSQL server ran from its log (log_statement=all, log_line_prefix
 * '%m [%p] %u@%d ' as set by pg-cluster.ts), for tests that compare the server's own account with
 * the gateway's ledger. A line starting with the prefix begins an entry; other lines continue the
 * previous statement (multi-line SQL). DETAIL/other messages end the statement.
 *
 *   2026-11-22 14:00:00.123 UTC [4242] orders_app@orders LOG:  statement: SELECT 1
 *   2026-11-22 14:00:00.124 UTC [4242] orders_app@orders LOG:  execute <unnamed>: SELECT $1
 *   2026-11-22 14:00:00.124 UTC [4242] orders_app@orders DETAIL:  Parameters: $1 = '2'
 */
export interface LoggedStatement {
  user: string | null;
  database: string | null;
  kind: 'statement' | 'execute';
  text: string;
}

const LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[\d+\] (\S*)@(\S*) (\w+):  (.*)$/;
const STATEMENT = /^statement: ([\s\S]*)$/;
const EXECUTE = /^execute [^:]+: ([\s\S]*)$/;

export function readStatementLog(logFile: string): LoggedStatement[] {
  const out: LoggedStatement[] = [];
  let current: LoggedStatement | null = null;
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const m = LINE.exec(line);
    if (!m) {
      if (current) current.text += `\n${line}`;
      continue;
    }
    current = null;
    const [, user, database, level, message] = m as unknown as [string, string, string, string, string];
    if (level !== 'LOG') continue;
    const s = STATEMENT.exec(message);
    const x = s ? null : EXECUTE.exec(message);
    if (!s && !x) continue;
    current = { user: user || null, database: database || null, kind: s ? 'statement' : 'execute', text: (s ?? x)![1]! };
    out.push(current);
  }
  // a trailing newline of the file is not part of the last statement
  for (const e of out) e.text = e.text.replace(/\n+$/, '');
  return out;
}
