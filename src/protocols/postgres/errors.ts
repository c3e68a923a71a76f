import type { Socket } from 'node:net';
import type { ErrorCode, GatehouseError } from '../../core/errors.js';
import { errorResponse } from './backend.js';

/**
 * The PostgreSQL face of Gatehouse errors: a real SQLSTATE (clients and drivers branch on these)
 * and the error's public message. Internal detail never goes on the wire. docs/errors.md lists the
 * same mapping.
 */
export function sqlstateFor(code: ErrorCode): string {
  if (code.startsWith('GH_ERR_TOKEN_')) return '28P01'; // invalid_password: the "password" was the token
  if (code.startsWith('GH_ERR_UPSTREAM_')) return '08001'; // sqlclient_unable_to_establish_sqlconnection
  switch (code) {
    case 'GH_ERR_IDP_UNAVAILABLE':
    case 'GH_ERR_TLS_REQUIRED':
      return '28000'; // invalid_authorization_specification
    case 'GH_ERR_CONNECTION_UNKNOWN':
      return '3D000'; // invalid_catalog_name
    case 'GH_ERR_ACCESS_DENIED':
    case 'GH_ERR_POLICY_BLOCKED':
    case 'GH_ERR_APPROVAL_DENIED':
      return '42501'; // insufficient_privilege
    case 'GH_ERR_APPROVAL_CANCELLED':
      return '57014'; // query_canceled
    case 'GH_ERR_UNSUPPORTED':
      return '0A000'; // feature_not_supported
    case 'GH_ERR_TOO_MANY_SESSIONS':
      return '53300'; // too_many_connections
    case 'GH_ERR_SHUTTING_DOWN':
      return '57P01'; // admin_shutdown
    case 'GH_ERR_LEDGER_UNAVAILABLE':
      return '58030'; // io_error: the audit record could not be written
    default:
      return '08P01'; // protocol_violation (PROTOCOL, FRAME_TOO_LARGE, HANDSHAKE_TIMEOUT, ...)
  }
}

/** A FATAL ErrorResponse for an error that ends the session. */
export function fatalResponse(e: GatehouseError): Buffer {
  return errorResponse({ severity: 'FATAL', code: sqlstateFor(e.code), message: e.message, hint: hintFor(e.code) });
}

/**
 * Sends a FATAL error and closes the connection once it is written, whatever the client does next:
 * a client that never closes its side must not keep holding a connection slot.
 */
export function endWithFatal(socket: Socket, e: GatehouseError): void {
  if (socket.destroyed) return;
  socket.end(fatalResponse(e), () => socket.destroy());
}

function hintFor(code: ErrorCode): string | undefined {
  if (code === 'GH_ERR_TOKEN_MISSING') return 'Set PGPASSWORD to your OIDC access token (e.g. PGPASSWORD=$(gatehouse token ...)).';
  if (code.startsWith('GH_ERR_TOKEN_')) return 'Obtain a fresh access token from your identity provider and connect again.';
  if (code === 'GH_ERR_CONNECTION_UNKNOWN') return 'Use a connection name from the gateway configuration as the database name.';
  if (code === 'GH_ERR_ACCESS_DENIED') return 'Ask an administrator to map one of your groups to this connection.';
  if (code === 'GH_ERR_TLS_REQUIRED') return 'Connect with sslmode=require.';
  return undefined;
}
