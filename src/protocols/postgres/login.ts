import type { LoadedConfig, PostgresConnectionConfig } from '../../core/config.js';
import { GatehouseError } from '../../core/errors.js';
import type { AuditEvent, ClientRecord, IdentityRecord } from '../../core/events.js';
import { authorize, type Principal } from '../../identity/principal.js';
import { claimedIdentity } from '../../identity/verifier.js';
import { connectionPassword } from '../../core/config.js';
import type { UpstreamTarget } from './upstream.js';

/**
 * The decisions of a login, without I/O: which startup parameters are forwarded, which
 * connection the client asked for, whether its identity may use it, and how a refusal is recorded.
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

export interface Admission {
  connection: PostgresConnectionConfig;
  authorizedBy: string;
}

/** Finds the connection and checks the group mapping; throws the refusal. */
export function admit(principal: Principal, name: string | null, connections: readonly PostgresConnectionConfig[]): Admission {
  const connection = name === null ? undefined : connections.find((c) => c.name === name);
  if (!connection) {
    throw new GatehouseError('GH_ERR_CONNECTION_UNKNOWN', `there is no connection named "${name ?? ''}" on this gateway; use a configured connection name as the database name`);
  }
  const grant = authorize(principal, connection);
  if (!grant.allowed) {
    const groups = principal.groups.length > 0 ? principal.groups.join(', ') : 'none';
    throw new GatehouseError(
      'GH_ERR_ACCESS_DENIED',
      `"${principal.subject}" may not use connection "${connection.name}": none of its groups (${groups}) is mapped to it`,
    );
  }
  return { connection, authorizedBy: grant.group };
}

/** The auth.denied record for a refusal; `token` is only hashed (and its claims decoded, untrusted). */
export function deniedEvent(
  err: GatehouseError,
  connection: string | null,
  client: ClientRecord,
  identity: IdentityRecord | null,
  token: string | null,
): AuditEvent {
  const claimed = identity === null && token !== null ? claimedIdentity(token) : null;
  return {
    type: 'auth.denied',
    protocol: 'postgres',
    connection,
    code: err.code,
    reason: err.detail ? `${err.message} (${err.detail})` : err.message,
    identity,
    claimed,
    client,
  };
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
