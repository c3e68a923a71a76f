import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ApprovalBroker } from '../approvals/broker.js';
import { approvalJson, grantJson } from '../approvals/view.js';
import { parseDurationMs } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { Principal } from '../identity/principal.js';
import { requireRole, type ConsoleRoles } from './roles.js';
import { errorResponses } from './schemas.js';

/**
 * Reviewer routes. Without console roles (config `console.roles`), any authenticated principal may
 * list and read requests (they came through the IdP, and reviewers need to see what they decide);
 * deciding is the broker's call: reviewer groups, no self-approval, one decision per request. With
 * roles, reading needs a console role and deciding the reviewer or admin role, on top of the
 * broker's rules. docs/security.md says why.
 */

/** What the API needs of the broker (ApprovalBroker satisfies it). */
export type ApprovalDesk = Pick<ApprovalBroker, 'list' | 'decided' | 'get' | 'decide' | 'activeGrants'>;

export interface ApprovalRoutesDeps {
  broker: ApprovalDesk;
  /** console roles; null or absent: the original rules (see above) */
  roles?: ConsoleRoles | null;
}

const REASON_MAX = 2000;

const ListQuery = z.strictObject({ state: z.enum(['pending', 'all']).default('pending') });
const IdParams = z.strictObject({ id: z.string().min(1).max(64) });
const ApproveBody = z.strictObject({
  reason: z.string().max(REASON_MAX).optional(),
  /** a time-bound grant: "30m", "2h" (the broker allows up to 24 h) */
  grant: z.string().max(32).optional(),
});
const DenyBody = z.strictObject({ reason: z.string().max(REASON_MAX).optional() });

/** zod's verdict as a 400 that names the field. */
function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const where = first && first.path.length > 0 ? `${first.path.join('.')}: ` : '';
  throw new GatehouseError('GH_ERR_USAGE', `invalid ${what}: ${where}${first?.message ?? 'not accepted'}`);
}

function grantMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseDurationMs(text);
  } catch (e) {
    throw new GatehouseError('GH_ERR_USAGE', `invalid grant: ${(e as Error).message}`);
  }
}

function reviewer(req: FastifyRequest): Principal {
  if (!req.principal) throw new TypeError('approval routes must run behind bearerAuth');
  return req.principal;
}

const approvalObject = { type: 'object', additionalProperties: true, properties: { id: { type: 'string' }, state: { type: 'string' } } } as const;
const approvalResponse = { type: 'object', properties: { approval: approvalObject } } as const;
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 64 } } } as const;

export function approvalRoutes(app: FastifyInstance, deps: ApprovalRoutesDeps): void {
  const { broker } = deps;
  const roles = deps.roles ?? null;
  // with roles configured: reading needs a role, deciding reviewer or admin (and still the rule's reviewer groups)
  const read = roles ? { onRequest: requireRole(roles, 'auditor') } : {};
  const decide = roles ? { onRequest: requireRole(roles, 'reviewer', 'GH_ERR_APPROVAL_FORBIDDEN') } : {};
  const readRole = roles ? 'auditor' : 'authenticated';
  const decideRole = roles ? 'reviewer' : 'authenticated';
  // bodies are validated by zod below (no type coercion); the schema here documents them
  const docBody = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input' });

  app.get('/api/approvals', {
    ...read,
    schema: {
      summary: 'Pending approval requests (state=all: also those decided since the gateway started)', role: readRole,
      querystring: { type: 'object', additionalProperties: false, properties: { state: { type: 'string', enum: ['pending', 'all'], default: 'pending' } } },
      response: { 200: { type: 'object', properties: { approvals: { type: 'array', items: approvalObject } } }, ...errorResponses() },
    },
  }, async (req) => {
    const { state } = parse(ListQuery, req.query, 'query');
    const pending = broker.list();
    const decided = state === 'all' ? broker.decided() : [];
    return { approvals: [...pending, ...decided].map(approvalJson) };
  });

  app.get('/api/approvals/:id', {
    ...read,
    schema: { summary: 'One approval request, pending or decided', role: readRole, params: idParams, response: { 200: approvalResponse, ...errorResponses(404) } },
  }, async (req) => {
    const { id } = parse(IdParams, req.params, 'approval id');
    const a = broker.get(id);
    if (!a) throw new GatehouseError('GH_ERR_APPROVAL_NOT_FOUND', `no approval ${id} (pending, or decided since the gateway started)`);
    return { approval: approvalJson(a) };
  });

  app.post('/api/approvals/:id/approve', {
    ...decide,
    schema: {
      summary: 'Approve a held command (once, or as a time-bound grant); not your own request, and only as a member of the rule\'s reviewer groups',
      role: decideRole, params: idParams, docBody: docBody(ApproveBody), response: { 200: approvalResponse, ...errorResponses(404, 409, 413) },
    },
  }, async (req) => {
    const { id } = parse(IdParams, req.params, 'approval id');
    const body = parse(ApproveBody, req.body, 'body');
    const a = await broker.decide(id, reviewer(req), { approve: true, reason: body.reason, grantMs: grantMs(body.grant) });
    return { approval: approvalJson(a) };
  });

  app.post('/api/approvals/:id/deny', {
    ...decide,
    schema: {
      summary: 'Deny a held command', role: decideRole, params: idParams, docBody: docBody(DenyBody),
      response: { 200: approvalResponse, ...errorResponses(404, 409, 413) },
    },
  }, async (req) => {
    const { id } = parse(IdParams, req.params, 'approval id');
    const body = parse(DenyBody, req.body, 'body');
    const a = await broker.decide(id, reviewer(req), { approve: false, reason: body.reason });
    return { approval: approvalJson(a) };
  });

  app.get('/api/grants', {
    ...read,
    schema: {
      summary: 'Time-bound grants in force', role: readRole,
      response: { 200: { type: 'object', properties: { grants: { type: 'array', items: { type: 'object', additionalProperties: true } } } }, ...errorResponses() },
    },
  }, async () => ({ grants: broker.activeGrants().map(grantJson) }));
}
