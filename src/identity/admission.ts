import type { ConnectionConfig } from '../core/config.js';
import { GatehouseError } from '../core/errors.js';
import type { AuditEvent, ClientRecord, IdentityRecord, Protocol } from '../core/events.js';
import { authorize, type Principal } from './principal.js';
import { claimedIdentity } from './verifier.js';

/**
 * Admission, shared by every protocol: the connection a client asked for must exist, be of the
 * protocol it came in through, and be mapped to one of the principal's groups. A refusal is an
 * auth.denied record.
 */

export interface Admission<C extends ConnectionConfig = ConnectionConfig> {
  connection: C;
  authorizedBy: string;
}

const HOW: Record<ConnectionConfig['type'], string> = {
  postgres: 'use a configured connection name as the database name',
  ssh: 'use a configured connection name as the SSH user name (ssh CONNECTION@gateway)',
  http: 'use /c/CONNECTION/... as the path, or a host name configured in the connection\'s hosts',
  kubernetes: 'point kubectl at https://GATEWAY/c/CONNECTION (gatehouse kubeconfig --connection CONNECTION prints a kubeconfig)',
};

/** Finds the connection and checks the group mapping; throws the refusal. */
export function admit<T extends ConnectionConfig['type']>(
  principal: Principal,
  name: string | null,
  connections: readonly ConnectionConfig[],
  type: T,
): Admission<Extract<ConnectionConfig, { type: T }>> {
  const found = name === null ? undefined : connections.find((c) => c.name === name);
  if (!found) {
    throw new GatehouseError('GH_ERR_CONNECTION_UNKNOWN', `there is no connection named "${name ?? ''}" on this gateway; ${HOW[type]}`);
  }
  if (found.type !== type) {
    throw new GatehouseError('GH_ERR_CONNECTION_UNKNOWN', `connection "${found.name}" is a ${found.type} connection; reach it through the gateway's ${found.type === 'kubernetes' ? 'http' : found.type} listener`);
  }
  const connection = found as Extract<ConnectionConfig, { type: T }>;
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
  protocol: Protocol,
  err: GatehouseError,
  connection: string | null,
  client: ClientRecord,
  identity: IdentityRecord | null,
  token: string | null,
): AuditEvent {
  const claimed = identity === null && token !== null ? claimedIdentity(token) : null;
  return {
    type: 'auth.denied',
    protocol,
    connection,
    code: err.code,
    reason: err.detail ? `${err.message} (${err.detail})` : err.message,
    identity,
    claimed,
    client,
  };
}
