import type { ErrorCode } from '../core/errors.js';

/**
 * The HTTP face of Gatehouse errors: a status and `{ error: { code, message, detail? } }`. Only the
 * public message goes out; a GatehouseError's internal `detail` stays in the log. `detail` in the
 * body is used for one thing: the token error code behind a 401 (GH_ERR_TOKEN_EXPIRED, ...).
 */

export interface ApiErrorBody {
  error: {
    /** absent only for a 500 (a bug: see the gateway log) */
    code?: ErrorCode;
    message: string;
    detail?: string;
  };
}

export function httpStatusFor(code: ErrorCode): number {
  switch (code) {
    case 'GH_ERR_UNAUTHENTICATED':
      return 401;
    case 'GH_ERR_APPROVAL_FORBIDDEN':
    case 'GH_ERR_ACCESS_DENIED':
      return 403;
    case 'GH_ERR_APPROVAL_NOT_FOUND':
    case 'GH_ERR_SESSION_NOT_FOUND':
    case 'GH_ERR_RECORDING_NOT_FOUND':
      return 404;
    // the file on disk is not the one the ledger holds the digest of
    case 'GH_ERR_RECORDING_MISMATCH':
      return 409;
    case 'GH_ERR_APPROVAL_DECIDED':
    // no signed checkpoint covers the session yet (the gateway signs one within seconds), or none is configured
    case 'GH_ERR_CHECKPOINT_MISSING':
      return 409;
    case 'GH_ERR_USAGE':
      return 400;
    case 'GH_ERR_LEDGER_UNAVAILABLE':
    case 'GH_ERR_IDP_UNAVAILABLE':
    case 'GH_ERR_SHUTTING_DOWN':
      return 503;
    default:
      return code.startsWith('GH_ERR_TOKEN_') ? 401 : 500;
  }
}

export function errorBody(code: ErrorCode | undefined, message: string, detail?: string): ApiErrorBody {
  return { error: { ...(code !== undefined ? { code } : {}), message, ...(detail !== undefined ? { detail } : {}) } };
}
