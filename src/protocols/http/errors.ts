import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorCode, GatehouseError } from '../../core/errors.js';

const DISCARD_MAX = 64 * 1024 * 1024;

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

/** How a refusal is written: Gatehouse's JSON error, or a Kubernetes `Status` object (what kubectl and client libraries read). */
export type ErrorFormat = 'json' | 'kubernetes';

const KUBE_REASONS: Record<number, string> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 502: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout',
};

/** A Kubernetes `metav1.Status` failure; the Gatehouse error code is its first cause. */
export function kubeStatus(status: number, code: ErrorCode, message: string): Record<string, unknown> {
  return {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: KUBE_REASONS[status] ?? 'InternalError',
    details: { causes: [{ reason: code, message }] }, code: status,
  };
}

export function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string, format: ErrorFormat = 'json'): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(format === 'kubernetes' ? kubeStatus(status, code, message) : { error: { code, message } });
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' };
  if (status === 401) headers['www-authenticate'] = `Bearer realm="gatehouse", error="invalid_token", error_description="${quotable(message)}"`;
  res.writeHead(status, headers);
  res.end(body);
}

export function sendGatehouseError(res: ServerResponse, err: GatehouseError, status = httpStatusOf(err.code), format: ErrorFormat = 'json'): void {
  sendError(res, status, err.code, err.message, format);
}

/**
 * Reads and discards what is left of the agent's request body, so that a refusal is read: a
 * client still sending when the gateway answers and closes would see a reset instead. Gives up
 * past 64 MiB (the connection is then closed after the answer).
 */
export function discardBody(req: IncomingMessage, limit = DISCARD_MAX): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let n = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', done);
      req.off('error', done);
      req.off('close', done);
      resolve();
    };
    const onData = (c: Buffer) => {
      n += c.length;
      if (n > limit) done();
    };
    req.on('data', onData);
    req.once('end', done);
    req.once('error', done);
    req.once('close', done);
  });
}

/** A refusal before (or instead of) forwarding: the body is discarded, then the error sent. */
export async function refuse(req: IncomingMessage, res: ServerResponse, err: GatehouseError, status = httpStatusOf(err.code), format: ErrorFormat = 'json'): Promise<void> {
  await discardBody(req);
  sendGatehouseError(res, err, status, format);
}
