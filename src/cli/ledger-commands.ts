import { writeFileSync } from 'node:fs';
import { usFromTimeArg } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { SessionStatus } from '../core/events.js';
import type { SessionFilter } from '../ledger/ledger.js';
import { renderHtml } from '../report/render-html.js';
import { renderText } from '../report/render-text.js';
import { buildSessionReport } from '../report/session-report.js';
import { renderSessionsTable, sessionJson } from '../report/sessions-table.js';
import { renderSearchTable } from '../report/search-table.js';
import type { SearchFilter } from '../ledger/search.js';
import { loadConfig, openReader, out, resolveSessionId } from './common.js';

/** `gatehouse sessions`, `gatehouse search`, `gatehouse report`: read-only views of the ledger. */

const STATUSES: readonly SessionStatus[] = ['active', 'ok', 'denied', 'error'];

export interface SessionsOptions {
  config?: string;
  text?: string;
  group?: string;
  protocol?: string;
  token?: string;
  cursor?: string;
  identity?: string;
  connection?: string;
  status?: string;
  since?: string;
  until?: string;
  ciJob?: string;
  limit: string;
  json?: boolean;
}

function timeArg(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  try {
    return usFromTimeArg(v);
  } catch (e) {
    throw new GatehouseError('GH_ERR_USAGE', `${flag}: ${(e as Error).message}`);
  }
}

export async function sessions(opts: SessionsOptions): Promise<number> {
  if (opts.status !== undefined && !STATUSES.includes(opts.status as SessionStatus)) {
    throw new GatehouseError('GH_ERR_USAGE', `--status must be one of ${STATUSES.join(', ')} (got "${opts.status}")`);
  }
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new GatehouseError('GH_ERR_USAGE', `--limit must be a positive integer (got "${opts.limit}")`);
  const filter: SessionFilter = { limit };
  if (opts.identity !== undefined) filter.identity = opts.identity;
  if (opts.connection !== undefined) filter.connection = opts.connection;
  if (opts.status !== undefined) filter.status = opts.status as SessionStatus;
  if (opts.ciJob !== undefined) filter.ciJob = opts.ciJob;
  if (opts.text !== undefined) filter.text = opts.text;
  if (opts.group !== undefined) filter.group = opts.group;
  if (opts.protocol !== undefined) filter.protocol = opts.protocol;
  if (opts.token !== undefined) filter.token = opts.token;
  if (opts.cursor !== undefined) filter.cursor = opts.cursor;
  const since = timeArg('--since', opts.since);
  const until = timeArg('--until', opts.until);
  if (since !== undefined) filter.since = since;
  if (until !== undefined) filter.until = until;
  const reader = await openReader(loadConfig(opts.config));
  try {
    const list = await reader.listSessions(filter);
    out(opts.json ? JSON.stringify(list.map(sessionJson), null, 2) : renderSessionsTable(list));
    const last = list.at(-1);
    if (last && list.length === limit) process.stderr.write(`more: add --cursor ${last.startedAt}:${last.id}\n`);
    return 0;
  } finally {
    await reader.close();
  }
}

export async function report(id: string, opts: { config?: string; format: string; out?: string }): Promise<number> {
  if (!['text', 'json', 'html'].includes(opts.format)) {
    throw new GatehouseError('GH_ERR_USAGE', `--format must be text, json or html (got "${opts.format}")`);
  }
  const reader = await openReader(loadConfig(opts.config));
  try {
    const full = await resolveSessionId(reader, id);
    const summary = (await reader.getSession(full))!;
    const rep = buildSessionReport(summary, await reader.sessionRecords(full));
    const text = opts.format === 'json' ? JSON.stringify(rep, null, 2) : opts.format === 'html' ? renderHtml(rep) : renderText(rep);
    if (opts.out) {
      writeFileSync(opts.out, text.endsWith('\n') ? text : `${text}\n`);
      process.stderr.write(`report written to ${opts.out}\n`);
    } else out(text);
    return 0;
  } finally {
    await reader.close();
  }
}

export interface SearchOptions extends SessionsOptions {
  cursor?: string;
  result?: string;
}

const RESULTS = ['ok', 'error', 'blocked', 'skipped', 'suspended', 'interrupted'];

export async function search(opts: SearchOptions): Promise<number> {
  if (opts.status !== undefined && !STATUSES.includes(opts.status as SessionStatus)) {
    throw new GatehouseError('GH_ERR_USAGE', `--status must be one of ${STATUSES.join(', ')} (got "${opts.status}")`);
  }
  if (opts.result !== undefined && !RESULTS.includes(opts.result)) {
    throw new GatehouseError('GH_ERR_USAGE', `--result must be one of ${RESULTS.join(', ')} (got "${opts.result}")`);
  }
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new GatehouseError('GH_ERR_USAGE', `--limit must be an integer from 1 to 10000 (got "${opts.limit}")`);
  const cursor = opts.cursor === undefined ? undefined : Number(opts.cursor);
  if (cursor !== undefined && !Number.isInteger(cursor)) throw new GatehouseError('GH_ERR_USAGE', `--cursor "${opts.cursor}" is not a cursor from a previous page`);
  const f: SearchFilter = { limit };
  const set = <K extends keyof SearchFilter>(k: K, v: SearchFilter[K] | undefined) => {
    if (v !== undefined) f[k] = v;
  };
  set('text', opts.text);
  set('identity', opts.identity);
  set('group', opts.group);
  set('connection', opts.connection);
  set('protocol', opts.protocol);
  set('status', opts.status as SessionStatus | undefined);
  set('ciJob', opts.ciJob);
  set('token', opts.token);
  set('result', opts.result);
  set('since', timeArg('--since', opts.since));
  set('until', timeArg('--until', opts.until));
  set('cursor', cursor);
  const reader = await openReader(loadConfig(opts.config));
  try {
    const page = await reader.searchCommands(f);
    out(opts.json ? JSON.stringify(page, null, 2) : renderSearchTable(page));
    return 0;
  } finally {
    await reader.close();
  }
}
