import type { LoadedConfig, PostgresConnectionConfig } from '../../core/config.js';
import { connectionPassword } from '../../core/config.js';
import type { UpstreamTarget } from './upstream.js';

/**
 * The decisions of a PostgreSQL login, without I/O: which startup parameters are forwarded, which
 * connection the client asked for, and the upstream target (admission is src/identity/admission.ts).
 */

/** Startup parameters the gateway never forwards: it decides who logs in where. */
const NOT_FORWARDED = new Set(['user', 'database', 'options', 'replication', 'role', 'session_authorization']);

export function forwardedParameters(params: ReadonlyMap<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of params) {
    if (NOT_FORWARDED.has(k) || k.startsWith('_pq_.')) continue;
    out[k] = v;
  }
  return out;
}

/** The connection name the client selected: the database name (libpq defaults it to the user name). */
export function requestedConnection(params: ReadonlyMap<string, string>): string | null {
  return params.get('database') ?? params.get('user') ?? null;
}

export function upstreamTarget(
  loaded: LoadedConfig,
  c: PostgresConnectionConfig,
  params: Record<string, string>,
  maxMessageBytes: number,
): UpstreamTarget {
  return {
    host: c.host,
    port: c.port,
    database: c.database,
    user: c.user,
    password: connectionPassword(loaded, c),
    tls: { mode: c.tls.mode, ca: c.tls.ca, servername: c.tls.servername },
    connectTimeoutMs: c.connectTimeout,
    params,
    maxMessageBytes,
  };
}
