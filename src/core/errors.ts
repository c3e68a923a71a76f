/**
 * The closed set of Gatehouse error codes. Every code is documented in docs/errors.md;
 * test/unit/errors-doc.test.ts keeps the two in sync.
 *
 * An error has a public message (safe to show to the client that caused it: no secrets,
 * no internal addresses) and an optional internal `detail` that goes only to the log and
 * the ledger. Each protocol maps codes to its own public face (SQLSTATE, HTTP status, ...).
 */
export const ErrorCodes = [
  // configuration
  'GH_ERR_CONFIG_READ',
  'GH_ERR_CONFIG_INVALID',
  'GH_ERR_CONFIG_ENV_MISSING',
  // identity (token verification)
  'GH_ERR_TOKEN_MISSING',
  'GH_ERR_TOKEN_TOO_LARGE',
  'GH_ERR_TOKEN_MALFORMED',
  'GH_ERR_TOKEN_ALGORITHM',
  'GH_ERR_TOKEN_KEY_UNKNOWN',
  'GH_ERR_TOKEN_SIGNATURE',
  'GH_ERR_TOKEN_EXPIRED',
  'GH_ERR_TOKEN_NOT_YET_VALID',
  'GH_ERR_TOKEN_ISSUER',
  'GH_ERR_TOKEN_AUDIENCE',
  'GH_ERR_TOKEN_CLAIMS',
  'GH_ERR_IDP_UNAVAILABLE',
  // authorization
  'GH_ERR_CONNECTION_UNKNOWN',
  'GH_ERR_ACCESS_DENIED',
  // client protocol
  'GH_ERR_TLS_REQUIRED',
  'GH_ERR_PROTOCOL',
  'GH_ERR_FRAME_TOO_LARGE',
  'GH_ERR_UNSUPPORTED',
  'GH_ERR_HANDSHAKE_TIMEOUT',
  'GH_ERR_CLIENT_STALLED',
  'GH_ERR_SHUTTING_DOWN',
  'GH_ERR_TOO_MANY_SESSIONS',
  // upstream
  'GH_ERR_UPSTREAM_UNAVAILABLE',
  'GH_ERR_UPSTREAM_AUTH',
  'GH_ERR_UPSTREAM_TLS',
  'GH_ERR_UPSTREAM_PROTOCOL',
  'GH_ERR_UPSTREAM_HOST_KEY',
  // ledger
  'GH_ERR_LEDGER_UNAVAILABLE',
  'GH_ERR_LEDGER_CORRUPT',
  'GH_ERR_LEDGER_SCHEMA',
  'GH_ERR_CHECKPOINT_MISSING',
  // guardrails and approvals
  'GH_ERR_POLICY_BLOCKED',
  'GH_ERR_APPROVAL_DENIED',
  'GH_ERR_APPROVAL_CANCELLED',
  'GH_ERR_APPROVAL_NOT_FOUND',
  'GH_ERR_APPROVAL_FORBIDDEN',
  'GH_ERR_APPROVAL_DECIDED',
  'GH_ERR_UNAUTHENTICATED',
  // operator commands
  'GH_ERR_SESSION_NOT_FOUND',
  'GH_ERR_USAGE',
  // terminal recordings (gatehouse replay)
  'GH_ERR_RECORDING_NOT_FOUND',
  'GH_ERR_RECORDING_MISMATCH',
  'GH_ERR_RECORDING_INVALID',
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

export interface GatehouseErrorOptions {
  /** Internal detail for logs and the ledger; never sent to a client. */
  detail?: string;
  cause?: unknown;
}

export class GatehouseError extends Error {
  override readonly name = 'GatehouseError';
  readonly code: ErrorCode;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, options: GatehouseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = options.detail;
  }
}

export function isGatehouseError(e: unknown): e is GatehouseError {
  return e instanceof GatehouseError;
}

/** Wraps anything thrown into a GatehouseError of the given code, keeping a GatehouseError as is. */
export function asGatehouseError(e: unknown, code: ErrorCode, message: string): GatehouseError {
  if (e instanceof GatehouseError) return e;
  const detail = e instanceof Error ? e.message : String(e);
  return new GatehouseError(code, message, { detail, cause: e });
}
