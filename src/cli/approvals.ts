import { existsSync } from 'node:fs';
import { apiBaseUrl } from '../approvals/review-commands.js';
import { visibleText, type ApprovalJson, type GrantJson } from '../approvals/view.js';
import { parseDurationMs } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { renderApproval, renderApprovalsTable, renderGrantsTable } from '../report/approvals-table.js';
import { ApiClient } from './api-client.js';
import { DEFAULT_CONFIG, loadConfig, out } from './common.js';

/**
 * `gatehouse approvals list|show|approve|deny|grants`: the reviewer's side of held commands,
 * through the gateway's HTTP API with the reviewer's own OIDC token (the gateway decides who may
 * decide: reviewer groups, no self-approval). The token is read from --token or GATEHOUSE_TOKEN
 * and is never printed.
 */

export interface ApiCommandOptions {
  config?: string;
  url?: string;
  token?: string;
  insecure?: boolean;
  json?: boolean;
}

/**
 * The API base URL: --url; else the config named by --config or $GATEHOUSE_CONFIG
 * (approvals.url, else listeners.api); else $GATEHOUSE_API_URL; else ./gatehouse.yaml if present.
 */
export function resolveApiUrl(opts: ApiCommandOptions, env: NodeJS.ProcessEnv = process.env): string {
  if (opts.url) return opts.url;
  const fromConfig = (file: string | undefined): string | null => {
    const url = apiBaseUrl(loadConfig(file).config);
    if (url === null) throw new GatehouseError('GH_ERR_USAGE', `${file ?? DEFAULT_CONFIG} has neither approvals.url nor listeners.api: pass --url`);
    return url;
  };
  if (opts.config !== undefined || env.GATEHOUSE_CONFIG) return fromConfig(opts.config)!;
  if (env.GATEHOUSE_API_URL) return env.GATEHOUSE_API_URL;
  if (existsSync(DEFAULT_CONFIG)) return fromConfig(undefined)!;
  throw new GatehouseError('GH_ERR_USAGE', 'where is the gateway? pass --url https://gatehouse.example:8480, set GATEHOUSE_API_URL, or --config FILE');
}

function client(opts: ApiCommandOptions): { api: ApiClient; baseUrl: string } {
  const token = opts.token ?? process.env.GATEHOUSE_TOKEN;
  if (!token) {
    throw new GatehouseError('GH_ERR_UNAUTHENTICATED', 'no token: set GATEHOUSE_TOKEN (or pass --token) to your own OIDC access token');
  }
  const baseUrl = resolveApiUrl(opts);
  return { api: new ApiClient({ baseUrl, token: token.trim(), insecure: opts.insecure === true }), baseUrl };
}

const path = (id: string, action = ''): string => `/api/approvals/${encodeURIComponent(id)}${action}`;

export async function approvalsList(opts: ApiCommandOptions & { all?: boolean }): Promise<number> {
  const { api } = client(opts);
  const { approvals } = await api.get<{ approvals: ApprovalJson[] }>(`/api/approvals${opts.all ? '?state=all' : ''}`);
  out(opts.json ? JSON.stringify(approvals, null, 2) : renderApprovalsTable(approvals));
  return 0;
}

export async function approvalsShow(id: string, opts: ApiCommandOptions): Promise<number> {
  const { api, baseUrl } = client(opts);
  const { approval } = await api.get<{ approval: ApprovalJson }>(path(id));
  out(opts.json ? JSON.stringify(approval, null, 2) : renderApproval(approval, baseUrl));
  return 0;
}

export async function approvalsApprove(id: string, opts: ApiCommandOptions & { reason?: string; for?: string }): Promise<number> {
  if (opts.for !== undefined) {
    try {
      parseDurationMs(opts.for);
    } catch (e) {
      throw new GatehouseError('GH_ERR_USAGE', `--for: ${(e as Error).message}`);
    }
  }
  const { api } = client(opts);
  const body = { ...(opts.reason !== undefined ? { reason: opts.reason } : {}), ...(opts.for !== undefined ? { grant: opts.for } : {}) };
  const { approval } = await api.post<{ approval: ApprovalJson }>(path(id, '/approve'), body);
  out(opts.json ? JSON.stringify(approval, null, 2) : decidedLine(approval));
  return 0;
}

export async function approvalsDeny(id: string, opts: ApiCommandOptions & { reason?: string }): Promise<number> {
  const { api } = client(opts);
  const { approval } = await api.post<{ approval: ApprovalJson }>(path(id, '/deny'), opts.reason !== undefined ? { reason: opts.reason } : {});
  out(opts.json ? JSON.stringify(approval, null, 2) : decidedLine(approval));
  return 0;
}

export async function approvalsGrants(opts: ApiCommandOptions): Promise<number> {
  const { api } = client(opts);
  const { grants } = await api.get<{ grants: GrantJson[] }>('/api/grants');
  out(opts.json ? JSON.stringify(grants, null, 2) : renderGrantsTable(grants));
  return 0;
}

/** One line saying what the decision does (requester and connection names shown safely). */
function decidedLine(a: ApprovalJson): string {
  return visibleText(describeDecision(a), false);
}

function describeDecision(a: ApprovalJson): string {
  const d = a.decision;
  if (d === null) return `${a.id}: ${a.state}`;
  if (d.decision === 'denied') return `denied ${a.id}${d.by === 'reviewer' ? '' : ` (${d.by})`}: the statement of ${a.requester.subject} on ${a.connection} will not run`;
  const scope = d.scope.kind === 'grant'
    ? ` as grant ${d.scope.grantId} until ${d.untilIso}: ${a.requester.subject} may run statements of this shape on ${a.connection} without review until then`
    : ` once: the statement of ${a.requester.subject} on ${a.connection} runs now`;
  return `approved ${a.id}${scope}`;
}
