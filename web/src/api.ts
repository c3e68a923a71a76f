// The console's only way to the gateway: same-origin fetches of the management API with the session
// cookie; every state-changing call carries the session's CSRF token (from /api/auth/session).

export interface SessionInfo {
  login: boolean;
  authenticated: boolean;
  subject: string | null;
  groups: string[];
  role: 'auditor' | 'reviewer' | 'admin' | null;
  csrfToken: string | null;
  expiresAt: string | null;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly code: string | null) {
    super(message);
  }
}

let csrfToken: string | null = null;
let onUnauthenticated: (() => void) | null = null;

export function setCsrfToken(t: string | null): void {
  csrfToken = t;
}

export function whenUnauthenticated(f: () => void): void {
  onUnauthenticated = f;
}

async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  let code: string | null = null;
  try {
    const body = (await res.json()) as { error?: { message?: string; code?: string } };
    if (body.error?.message) message = body.error.message;
    code = body.error?.code ?? null;
  } catch {
    // not JSON
  }
  return new ApiError(res.status, message, code);
}

export async function api<T>(path: string, init: { method?: 'GET' | 'POST'; body?: unknown; signal?: AbortSignal } = {}): Promise<{ status: number; data: T }> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') {
    if (csrfToken) headers['x-csrf-token'] = csrfToken;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
  }
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  if (!res.ok) {
    const e = await errorOf(res);
    if (res.status === 401) onUnauthenticated?.();
    throw e;
  }
  return { status: res.status, data: (await res.json()) as T };
}

export async function apiText(path: string): Promise<string> {
  const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  if (!res.ok) throw await errorOf(res);
  return res.text();
}

export const getJson = async <T,>(path: string, signal?: AbortSignal): Promise<T> => (await api<T>(path, signal ? { signal } : {})).data;

// --- shapes of the API's answers (only what the console reads) ---

export interface SessionRow {
  id: string; protocol: string; connection: string | null; status: string; subject: string | null; groups: string[];
  authorizedBy: string | null; ciJob: string | null; clientUser: string | null; clientApplication: string | null; clientAddress: string | null;
  startedAt: string; endedAt: string | null; durationMs: number | null; statements: number; errors: number; reason: string | null;
}

export type RecordedValue = string | null | { hex: string } | { truncated: true; prefix: string; bytes: number; sha256: string };

export interface ReportResult {
  index: number; status: string; tag: string | null; rows: number | null; error: { sqlstate: string; severity: string; message: string; detail?: string } | null;
  durationUs: number; bytes: number; sha256: string; columns: string[] | null; sample: RecordedValue[][]; masked?: { rules: string[]; columns: Record<string, number> };
}

export interface ReportEvent {
  seq: number; time: string; type: string; command: string | null; params?: RecordedValue[]; result?: ReportResult | null; results?: ReportResult[];
  connection?: string | null; subject?: string | null; authorizedBy?: string; code?: string; reason?: string | null; status?: string;
  statements?: number; errors?: number; durationUs?: number; statementSeq?: number | null;
  decision?: { action: 'allow' | 'block' | 'review'; policy: string; reason?: string; approvalId?: string };
  approval?: { id: string; policy?: string; reason?: string | null; reviewers?: string[]; expiresAt?: string; decision?: 'approved' | 'denied'; by?: string; reviewer?: string | null; scope?: string; waitedUs?: number };
  exit?: { code: number | null; signal: string | null } | null;
  refused?: { what: string; detail: string };
  shell?: { typed: Array<{ command: string; time?: string }>; recording: string; recorded: { durationUs: number } | null };
  [k: string]: unknown;
}

export interface SessionReport {
  session: {
    id: string; protocol: string; connection: string | null; status: string; startedAt: string; endedAt: string | null; durationMs: number | null;
    statements: number; errors: number; reason: string | null;
    client: { address: string | null; port: number | null; tls: boolean | null; user: string | null; application: string | null };
  };
  identity: {
    subject: string | null; groups: string[]; authorizedBy: string | null; issuer: string | null; clientId: string | null; tokenId: string | null;
    tokenSha256: string | null; ciJob: string | null; verified: boolean;
  };
  events: ReportEvent[];
  ledger: { firstSeq: number | null; lastSeq: number | null; lastHash: string | null };
}

export interface Approval {
  id: string; state: 'pending' | 'approved' | 'denied'; sessionId: string; protocol: string; connection: string;
  requester: { subject: string; groups: string[]; ciJob: string | null }; policy: string; reason: string; text: string; reviewers: string[];
  requestedAtIso: string; expiresAtIso: string; expiresAt: number;
  decision: { decision: 'approved' | 'denied'; by: string; reviewer: { subject: string } | null; reason: string | null; decidedAtIso: string } | null;
}

export interface Recording {
  channel: number; shellSeq: number; file: string; bytes: number; sha256: string; events: number; durationUs: number; finished: boolean; url: string | null;
}

export interface VerificationRun {
  id: string; state: 'running' | 'ok' | 'broken' | 'failed'; startedBy: string; startedAt: string; finishedAt: string | null; checked: number;
  keyId: string | null; keySource: string | null; witnessFile: string | null; error: string | null;
  logs: Array<{ logId: string; ok: boolean; records?: number; [k: string]: unknown }>;
}

export interface Integrity {
  logId: string; head: { seq: number; hash: string }; tree: { size: number; root: string } | null;
  checkpoints: { count: number; latest: Array<{ seq: number; time: string; logId: string; treeSize: number; rootHash: string; keyId: string; signature: string }> };
  verification: VerificationRun | null;
}
