import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleConfig } from '../core/config.js';
import { GatehouseError } from '../core/errors.js';
import type { ConsoleRole, ConsoleViewerRecord } from '../core/events.js';
import type { Principal } from '../identity/principal.js';

/**
 * Console roles from the config (`console.roles`): a principal's groups map to auditor (read),
 * reviewer (read + decide approvals) or admin (everything); the highest role wins. A principal whose
 * groups map to none gets 403 on every console route. Without `console.roles` nobody has a role, so
 * the console routes answer 403 to everyone and the approvals routes keep their original rules
 * (any authenticated principal reads; the broker decides who may decide).
 */

export type ConsoleRoles = ConsoleConfig['roles'];

const RANK: Record<ConsoleRole, number> = { auditor: 1, reviewer: 2, admin: 3 };

export function roleOf(p: Principal, roles: ConsoleRoles | null): ConsoleRole | null {
  if (!roles) return null;
  const has = (groups: readonly string[]) => groups.some((g) => p.groups.includes(g));
  if (has(roles.admins)) return 'admin';
  if (has(roles.reviewers)) return 'reviewer';
  if (has(roles.auditors)) return 'auditor';
  return null;
}

export function atLeast(role: ConsoleRole | null, min: ConsoleRole): boolean {
  return role !== null && RANK[role] >= RANK[min];
}

const ROLE_GROUPS: Record<ConsoleRole, keyof ConsoleRoles> = { auditor: 'auditors', reviewer: 'reviewers', admin: 'admins' };

/** Which roles' groups let a caller in, for the 403 message: 'auditors, reviewers or admins'. */
function admitted(min: ConsoleRole): string {
  const names = (Object.keys(RANK) as ConsoleRole[]).filter((r) => RANK[r] >= RANK[min]).map((r) => ROLE_GROUPS[r]);
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} or ${names.at(-1)!}`;
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new TypeError('console routes must run behind bearerAuth');
  return req.principal;
}

/** The viewer as console records carry it. */
export function viewerRecord(p: Principal, role: ConsoleRole): ConsoleViewerRecord {
  return { subject: p.subject, groups: [...p.groups], tokenId: p.tokenId, tokenSha256: p.tokenSha256, ciJob: p.ciJob, role };
}

/** A route-level onRequest hook (runs after bearerAuth): 403 unless the caller's role is at least `min`. */
export function requireRole(roles: ConsoleRoles | null, min: ConsoleRole, code: 'GH_ERR_ACCESS_DENIED' | 'GH_ERR_APPROVAL_FORBIDDEN' = 'GH_ERR_ACCESS_DENIED') {
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const p = principalOf(req);
    if (!roles) {
      throw new GatehouseError(code, 'console roles are not configured (console.roles in the gateway config): nobody may use this route');
    }
    const role = roleOf(p, roles);
    if (!atLeast(role, min)) {
      const groups = [...roles[ROLE_GROUPS[min]], ...(min !== 'admin' ? roles.admins : []), ...(min === 'auditor' ? roles.reviewers : [])];
      const yours = p.groups.length > 0 ? p.groups.join(', ') : 'none';
      throw new GatehouseError(
        code,
        `${role === null ? 'your groups map to no console role' : `your console role is ${role}`}; this needs ${admitted(min)} (groups ${[...new Set(groups)].join(', ') || 'none configured'}; yours: ${yours})`,
      );
    }
    req.consoleRole = role;
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** the caller's console role; set by requireRole on console routes */
    consoleRole: ConsoleRole | null;
  }
}
