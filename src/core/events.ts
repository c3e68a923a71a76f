import { describeKube } from './kube-text.js';

/**
 * The audit event union: everything the ledger records. Each event has a literal `type` so
 * TypeScript narrows it; payloads hold only JSON values (strings, integers, booleans, null,
 * arrays, objects) because the ledger hashes a canonical JSON encoding of them.
 *
 * Secrets never appear here: tokens are reduced to their SHA-256 and jti, upstream credentials
 * are not known to this layer at all.
 */

export type Protocol = 'postgres' | 'ssh' | 'http' | 'kubernetes';

export type SessionStatus = 'active' | 'ok' | 'denied' | 'error';

/** Who acted: the verified identity from the OIDC token. */
export interface IdentityRecord {
  subject: string;
  groups: string[];
  issuer: string;
  clientId: string | null;
  /** The token's jti, or `sha256:<first 16 hex>` when the token has none. */
  tokenId: string;
  /** SHA-256 of the whole token (hex); lets a record be matched with the IdP's own log. */
  tokenSha256: string;
  ciJob: string | null;
  expiresAt: number | null;
}

/** What the client said about itself; recorded, never trusted. */
export interface ClientRecord {
  address: string;
  port: number;
  tls: boolean;
  /** client-declared user name (the PostgreSQL startup `user`) */
  user: string | null;
  /** client-declared application (PostgreSQL `application_name`) */
  application: string | null;
}

/** A recorded value: text, SQL NULL, binary as hex, or a truncated value with the digest of the whole. */
export type RecordedValue =
  | string
  | null
  | { hex: string }
  | { truncated: true; prefix: string; bytes: number; sha256: string };

export interface RecordedError {
  sqlstate: string;
  severity: string;
  message: string;
  detail?: string;
}

export interface SessionStartEvent {
  type: 'session.start';
  protocol: Protocol;
  connection: string;
  identity: IdentityRecord;
  /** the group that granted access to the connection */
  authorizedBy: string;
  client: ClientRecord;
  /**
   * PostgreSQL: database and TLS; SSH: the remote user and the pinned host key's SHA-256
   * fingerprint (`SHA256:<base64>`, as ssh-keygen -l prints it); `tls` is true for SSH (encrypted)
   */
  upstream: { host: string; port: number; database: string | null; user: string; tls: boolean; hostKey?: string };
  /** run-time parameters from the client's startup packet that were forwarded upstream */
  parameters: Record<string, string>;
}

export interface AuthDeniedEvent {
  type: 'auth.denied';
  protocol: Protocol;
  /** the connection the client asked for, as given */
  connection: string | null;
  code: string;
  reason: string;
  /** present when the token verified but access was refused */
  identity: IdentityRecord | null;
  /** what the token claimed, when it could be decoded but did not verify (never trusted) */
  claimed: { subject: string | null; issuer: string | null; tokenSha256: string } | null;
  client: ClientRecord;
}

export interface SessionEndEvent {
  type: 'session.end';
  status: Exclude<SessionStatus, 'active' | 'denied'>;
  reason: string | null;
  statements: number;
  errors: number;
  durationUs: number;
}

/**
 * Why a command was allowed, blocked or held: the policy decision recorded on the command itself.
 * `policy` names the rule (or the built-in 'default' / 'unparsable-sql'); `approvalId` links a held
 * command to its approval.requested / approval.decided records.
 */
export interface DecisionRecord {
  action: 'allow' | 'block' | 'review';
  policy: string;
  reason?: string;
  approvalId?: string;
}

export interface PgQueryEvent {
  type: 'pg.query';
  text: string;
  decision?: DecisionRecord;
}

export interface PgPrepareEvent {
  type: 'pg.prepare';
  name: string;
  text: string;
  paramTypes: number[];
  decision?: DecisionRecord;
}

export interface PgExecuteEvent {
  type: 'pg.execute';
  /** prepared statement name ('' = unnamed) */
  statement: string;
  portal: string;
  text: string;
  params: RecordedValue[];
  maxRows: number;
  decision?: DecisionRecord;
}

export interface PgFunctionCallEvent {
  type: 'pg.function_call';
  functionOid: number;
  args: RecordedValue[];
  decision?: DecisionRecord;
}

/** Who asked, or who reviewed: a verified identity, reduced to what a decision needs. */
export interface ActorRecord {
  subject: string;
  groups: string[];
  tokenId: string;
  ciJob: string | null;
}

/** A command is held until a reviewer decides (recorded under the requesting session). */
export interface ApprovalRequestedEvent {
  type: 'approval.requested';
  approvalId: string;
  /** seq of the held command's record */
  statementSeq: number | null;
  protocol: Protocol;
  connection: string;
  requester: ActorRecord;
  /** the rule that asked for review, and its reason */
  policy: string;
  reason: string;
  text: string;
  /** the statement's shape (parser fingerprint): what a time-bound grant covers */
  shape: string;
  /** groups whose members may decide */
  reviewers: string[];
  /** µs: no decision by then = denied */
  expiresAt: number;
}

/**
 * The decision on an approval request. `by` says who decided: a reviewer, an earlier time-bound
 * grant, or the gateway itself (timeout, the client cancelled or left, shutdown, restart).
 */
export interface ApprovalDecidedEvent {
  type: 'approval.decided';
  approvalId: string;
  decision: 'approved' | 'denied';
  by: 'reviewer' | 'grant' | 'timeout' | 'cancelled' | 'shutdown' | 'restart';
  reviewer: ActorRecord | null;
  reason: string | null;
  /** once; or a grant: the same requester may run the same shape on the same connection until `until` (µs) */
  scope: { kind: 'once' } | { kind: 'grant'; until: number; grantId: string };
  waitedUs: number;
}

export interface PgCancelEvent {
  type: 'pg.cancel';
  /** seq of the statement that was running, when one was */
  statementSeq: number | null;
  /** set when the gateway cancelled on its own (the client left while the statement ran); absent: the client asked */
  reason?: string;
}

export interface PgResultEvent {
  type: 'pg.result';
  /** seq of the pg.query / pg.execute / pg.function_call record this result belongs to */
  statementSeq: number;
  /** position within a multi-statement simple Query (0-based) */
  index: number;
  /**
   * ok: completed; error: the server answered with an error; suspended: a row limit was reached
   * (Execute with maxRows); skipped: not run because an earlier message of the same batch failed;
   * interrupted: the session ended before the result completed; blocked: policy stopped the command
   * (or its reviewer denied it) and the server never ran it
   */
  status: 'ok' | 'error' | 'suspended' | 'skipped' | 'interrupted' | 'blocked';
  tag: string | null;
  rows: number | null;
  error: RecordedError | null;
  durationUs: number;
  /** bytes of backend messages for this result sent to the client */
  bytes: number;
  /** SHA-256 (hex) over those exact bytes */
  sha256: string;
  columns: string[] | null;
  sample: RecordedValue[][];
  copy: { direction: 'in' | 'out'; bytes: number } | null;
  /** masking: the rules that fired and how many values were masked per column (absent: none) */
  masked?: { rules: string[]; columns: Record<string, number> };
}

/**
 * A signed checkpoint of the ledger's Merkle tree (recorded under the empty session id ''):
 * the first `treeSize` records have root `rootHash`; see src/ledger/checkpoint.ts.
 */
export interface LedgerCheckpointEvent {
  type: 'ledger.checkpoint';
  logId: string;
  treeSize: number;
  rootHash: string;
  /** µs; part of the signed message */
  time: number;
  keyId: string;
  signature: string;
}

/** Retention pruned the payloads of records 1..upToSeq older than `before` (their hashes stay). */
export interface LedgerPrunedEvent {
  type: 'ledger.pruned';
  /** µs: records older than this were pruned */
  before: number;
  upToSeq: number;
  count: number;
  retention: string;
}

/** A capped stream of bytes: how much, the digest of all of it, and the (masked) beginning as text. */
export interface StreamRecord {
  bytes: number;
  /** SHA-256 (hex) over every byte of the stream, as sent */
  sha256: string;
  /** the first bytes (recording.maxStreamBytes), UTF-8 decoded, masked */
  sample: string;
  truncated: boolean;
}

/** An SSH exec request (`ssh host CMD`), recorded before it is forwarded. */
export interface SshExecEvent {
  type: 'ssh.exec';
  /** the client's channel number: links the exit record */
  channel: number;
  command: string;
  pty: boolean;
  /** environment variables the client asked to set (forwarded only when the connection allows them) */
  env: Record<string, string>;
  decision?: DecisionRecord;
}

/** An interactive shell; its terminal recording (asciicast v2) is announced by ssh.recording at its end. */
export interface SshShellEvent {
  type: 'ssh.shell';
  channel: number;
  pty: { term: string; cols: number; rows: number } | null;
  /** file name of the recording, relative to the recordings directory */
  recording: string;
}

/** A command line typed into a shell, extracted best effort from the keystrokes (not authoritative). */
export interface SshCommandEvent {
  type: 'ssh.command';
  channel: number;
  /** seq of the ssh.shell record */
  shellSeq: number;
  command: string;
  source: 'keystrokes';
  bestEffort: true;
  /** when a rule decided: a blocked or denied line was cancelled (Ctrl-C sent instead of Enter) */
  decision?: DecisionRecord;
}

/** How an exec or shell channel ended. */
export interface SshExitEvent {
  type: 'ssh.exit';
  channel: number;
  /** seq of the ssh.exec / ssh.shell record */
  commandSeq: number;
  /** ok: exit 0; error: non-zero exit or signal; blocked: policy stopped it, never forwarded; interrupted: the session ended first */
  status: 'ok' | 'error' | 'blocked' | 'interrupted';
  exitCode: number | null;
  signal: string | null;
  stdout: StreamRecord;
  stderr: StreamRecord;
  /** bytes the client sent on the channel (stdin or keystrokes) */
  stdinBytes: number;
  durationUs: number;
  /** masking: the rules that fired and how many output lines they changed (absent: none) */
  masked?: { rules: string[]; lines: number };
  /** set when the gateway ended it (GH_ERR_CLIENT_STALLED: the agent took none of the output) */
  reason?: string;
}

/** The finished terminal recording of a shell, kept beside the ledger; its digest is here. */
export interface SshRecordingEvent {
  type: 'ssh.recording';
  channel: number;
  shellSeq: number;
  /** file name, relative to the recordings directory */
  file: string;
  bytes: number;
  sha256: string;
  /** asciicast events written (output, input, resize) */
  events: number;
  durationUs: number;
}

/** A file operation over SFTP (scp uses SFTP too), recorded before it is forwarded; close carries the byte counts. */
export interface SshSftpEvent {
  type: 'ssh.sftp';
  channel: number;
  op: 'open' | 'close' | 'remove' | 'rename' | 'mkdir' | 'rmdir' | 'setstat' | 'symlink' | 'hardlink' | 'opendir';
  path: string;
  /** rename: the new name; symlink / hardlink: what the link (path) points to */
  target?: string;
  /** open: read, write, append, create, truncate, exclusive */
  flags?: string[];
  /** close of a file handle: bytes read from / written to it */
  bytesRead?: number;
  bytesWritten?: number;
}

/**
 * A local port forward (`ssh -L`) the connection allows: recorded when it opens (write-ahead),
 * and again with its byte counts when it closes.
 */
export interface SshForwardEvent {
  type: 'ssh.forward';
  phase: 'open' | 'close';
  /** where the target connects to, as the agent asked */
  host: string;
  port: number;
  /** close: bytes agent -> destination and destination -> agent */
  bytesOut?: number;
  bytesIn?: number;
}

/** An HTTP request through the gateway, recorded before it is forwarded. */
export interface HttpRequestEvent {
  type: 'http.request';
  method: string;
  /** the upstream path (the connection's base path + the agent's path), without the query */
  path: string;
  /** query parameters, values of secret-looking names (token, key, secret, password, signature, ...) masked */
  query: Record<string, string | string[]>;
  /** the connection's recordHeaders that were present (never Authorization, Cookie, or the credential header) */
  headers: Record<string, string>;
  /** Kubernetes connections: the request in the API server's terms */
  kubernetes?: KubeRequestRecord;
  decision?: DecisionRecord;
}

/** A Kubernetes API request's attributes, as the API server derives them. */
export interface KubeRequestRecord {
  /** get, list, watch, create, update, patch, delete, deletecollection (resource requests); the lower-case method otherwise */
  verb: string;
  /** false for /version, /healthz, /openapi and discovery */
  resourceRequest: boolean;
  /** '' for the core group */
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

/**
 * An upgraded Kubernetes stream (exec, attach, port-forward over WebSocket or SPDY), recorded when
 * it ends; the http.request before it was recorded write-ahead. The terminal-style recording
 * (stdin as input, stdout and stderr as output) plays in `gatehouse replay`.
 */
export interface KubeStreamEvent {
  type: 'kubernetes.stream';
  requestSeq: number;
  transport: 'websocket' | 'spdy';
  /** the negotiated subprotocol (v5.channel.k8s.io, portforward.k8s.io, ...) */
  subprotocol: string | null;
  status: 'ok' | 'error' | 'interrupted';
  /** the remote command's exit code, from the error channel's Status (null: not a command, or not told) */
  exitCode: number | null;
  stdin: StreamRecord;
  stdout: StreamRecord;
  stderr: StreamRecord;
  /** asciicast v2 file, relative to the recordings directory */
  recording: { file: string; bytes: number; sha256: string; events: number } | null;
  durationUs: number;
  error: string | null;
  masked?: { rules: string[] };
}

/** Its response (or how it failed), recorded when the response body has been streamed to the agent. */
export interface HttpResponseEvent {
  type: 'http.response';
  /** seq of the http.request record */
  requestSeq: number;
  /** ok: a response was passed on (any status); error: no response (upstream unreachable, timeout); blocked: policy stopped it; interrupted: the agent left first */
  status: 'ok' | 'error' | 'blocked' | 'interrupted';
  statusCode: number | null;
  headers: Record<string, string>;
  /** textual bodies keep a masked sample; every body its size and digest */
  requestBody: StreamRecord;
  responseBody: StreamRecord;
  durationUs: number;
  error: string | null;
  masked?: { rules: string[] };
}

/** Something the client asked for and the gateway refused (forwarding, agent, X11, a subsystem). */
export interface SshRefusedEvent {
  type: 'ssh.refused';
  what: 'port-forward' | 'remote-forward' | 'agent-forward' | 'x11' | 'subsystem' | 'env' | 'shell';
  detail: string;
}

export type AuditEvent =
  | LedgerCheckpointEvent
  | LedgerPrunedEvent
  | SessionStartEvent
  | AuthDeniedEvent
  | SessionEndEvent
  | PgQueryEvent
  | PgPrepareEvent
  | PgExecuteEvent
  | PgFunctionCallEvent
  | PgCancelEvent
  | PgResultEvent
  | ApprovalRequestedEvent
  | ApprovalDecidedEvent
  | SshExecEvent
  | SshShellEvent
  | SshCommandEvent
  | SshExitEvent
  | SshRecordingEvent
  | SshSftpEvent
  | SshForwardEvent
  | SshRefusedEvent
  | HttpRequestEvent
  | HttpResponseEvent
  | KubeStreamEvent
  | ConsoleViewEvent
  | ConsoleExportEvent
  | ConsoleLoginEvent
  | ConsoleLogoutEvent;

export type AuditEventType = AuditEvent['type'];

/** Events that carry a command (recorded write-ahead, before it is forwarded). */
export type CommandEvent = PgQueryEvent | PgExecuteEvent | PgFunctionCallEvent | SshExecEvent | SshShellEvent | SshCommandEvent | SshSftpEvent | HttpRequestEvent;

export function isCommandEvent(e: AuditEvent): e is CommandEvent {
  switch (e.type) {
    case 'pg.query':
    case 'pg.execute':
    case 'pg.function_call':
    case 'ssh.exec':
    case 'ssh.shell':
    case 'ssh.command':
    case 'ssh.sftp':
    case 'http.request':
      return true;
    default:
      return false;
  }
}

/** The human-readable command of an event, when it has one. */
export function commandText(e: AuditEvent): string | null {
  switch (e.type) {
    case 'pg.query':
    case 'pg.execute':
    case 'pg.prepare':
      return e.text;
    case 'pg.function_call':
      return `<function call oid ${e.functionOid}>`;
    case 'ssh.exec':
    case 'ssh.command':
      return e.command;
    case 'ssh.shell':
      return '<interactive shell>';
    case 'ssh.sftp':
      return `sftp ${e.op} ${e.path}${e.target !== undefined ? ` -> ${e.target}` : ''}`;
    case 'ssh.forward':
      return `forward to ${e.host}:${e.port}`;
    case 'http.request': {
      if (e.kubernetes) {
        const k = e.kubernetes;
        const what = describeKube(k, e.path);
        const cmd = k.subresource === 'exec' ? e.query['command'] : undefined;
        return `${what}${cmd === undefined ? '' : ` -- ${[cmd].flat().join(' ')}`} (${e.method} ${e.path})`;
      }
      const q = Object.entries(e.query).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${x}`)).join('&');
      return `${e.method} ${e.path}${q ? `?${q}` : ''}`;
    }
    default:
      return null;
  }
}

/** A console role (config `console.roles`): auditors read, reviewers also decide approvals, admins everything. */
export type ConsoleRole = 'auditor' | 'reviewer' | 'admin';

/** Who used the management API: the verified identity of the bearer token, and the console role it mapped to. */
export interface ConsoleViewerRecord extends ActorRecord {
  /** SHA-256 of the whole token (hex), to match the IdP's own log */
  tokenSha256: string;
  role: ConsoleRole;
}

/**
 * The auditors are audited: a session's report was read through the management API. Recorded under
 * the ledger's own session id '' (like checkpoints), before the report is sent.
 */
export interface ConsoleViewEvent {
  type: 'console.view';
  viewer: ConsoleViewerRecord;
  /** what was read: the session report model (JSON) */
  what: 'session.report';
  /** the session whose report was read */
  sessionId: string;
}

/** Something left the API as a file: a session's HTML report, or an SSH terminal recording (after its digest checked out). */
export interface ConsoleExportEvent {
  type: 'console.export';
  viewer: ConsoleViewerRecord;
  what: 'session.report.html' | 'ssh.recording' | 'session.evidence';
  sessionId: string;
  /** session.evidence: the signed checkpoint the bundle's proofs lead to */
  treeSize?: number;
  /** ssh.recording: the file, its channel and the digest it was checked against */
  file?: string;
  channel?: number;
  bytes?: number;
  sha256?: string;
}

/** A login to the web console (or its refusal: no console role), recorded before the session cookie is set. */
export interface ConsoleLoginEvent {
  type: 'console.login';
  outcome: 'ok' | 'refused';
  /** refused: why */
  reason: string | null;
  subject: string;
  groups: string[];
  issuer: string;
  tokenId: string;
  /** SHA-256 of the id_token (hex) */
  tokenSha256: string;
  role: ConsoleRole | null;
  /** first 16 hex of the SHA-256 of the session cookie; null when refused */
  session: string | null;
  client: { address: string; userAgent: string | null };
}

/** A logout from the web console. */
export interface ConsoleLogoutEvent {
  type: 'console.logout';
  subject: string;
  tokenId: string;
  session: string;
  client: { address: string; userAgent: string | null };
}
