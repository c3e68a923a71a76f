import type { ServerResponse } from 'node:http';
import type { ErrorCode, GatehouseError } from '../../core/errors.js';

/**
 * The public face of a Gatehouse error over HTTP: a status and a JSON body
 * `{ "error": { "code", "message" } }`. Only the public message goes out; detail stays in the
 * log and the ledger.
 */

export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'GH_ERR_TOKEN_MISSING':
    case 'GH_ERR_TOKEN_TOO_LARGE':
    case 'GH_ERR_TOKEN_MALFORMED':
    case 'GH_ERR_TOKEN_ALGORITHM':
    case 'GH_ERR_TOKEN_KEY_UNKNOWN':
    case 'GH_ERR_TOKEN_SIGNATURE':
    case 'GH_ERR_TOKEN_EXPIRED':
    case 'GH_ERR_TOKEN_NOT_YET_VALID':
    case 'GH_ERR_TOKEN_ISSUER':
    case 'GH_ERR_TOKEN_AUDIENCE':
    case 'GH_ERR_TOKEN_CLAIMS':
      return 401;
    case 'GH_ERR_CONNECTION_UNKNOWN':
      return 404;
    case 'GH_ERR_ACCESS_DENIED':
    case 'GH_ERR_POLICY_BLOCKED':
    case 'GH_ERR_APPROVAL_DENIED':
    case 'GH_ERR_APPROVAL_CANCELLED':
      return 403;
    case 'GH_ERR_PROTOCOL':
      return 400;
    case 'GH_ERR_UPSTREAM_UNAVAILABLE':
    case 'GH_ERR_UPSTREAM_TLS':
    case 'GH_ERR_UPSTREAM_PROTOCOL':
      return 502;
    default:
      return 503;
  }
}

/** A header parameter value (quoted-string) without quotes or backslashes to escape. */
const quotable = (s: string) => s.replace(/["\\\r\n]/g, ' ');

export function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code, message } });
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' };
  if (status === 401) headers['www-authenticate'] = `Bearer realm="gatehouse", error="invalid_token", error_description="${quotable(message)}"`;
  res.writeHead(status, headers);
  res.end(body);
}

export function sendGatehouseError(res: ServerResponse, err: GatehouseError, status = httpStatusOf(err.code)): void {
  sendError(res, status, err.code, err.message);
}
