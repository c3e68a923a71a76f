import type { IdentityRecord } from '../core/events.js';
import type { ConnectionConfig } from '../core/config.js';

/** The verified identity behind a session: who the token says the agent is, checked. */
export type Principal = IdentityRecord;

export type Grant = { allowed: true; group: string } | { allowed: false };

/**
 * A principal may use a connection when one of its groups is mapped to it. The authorizing group
 * is the first of the connection's groups (in config order) that the principal holds, so the
 * answer to "why was this allowed" is stable.
 */
export function authorize(principal: Principal, connection: ConnectionConfig): Grant {
  const held = new Set(principal.groups);
  for (const g of connection.groups) if (held.has(g)) return { allowed: true, group: g };
  return { allowed: false };
}
