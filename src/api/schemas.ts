import type { FastifySchemaValidationError } from 'fastify';

/** where a validation failed (fastify's SchemaErrorDataVar, which its main module does not re-export) */
type SchemaErrorDataVar = 'body' | 'headers' | 'params' | 'querystring';

/**
 * JSON schemas shared by the API's routes (fastify validates requests and serialises responses with
 * them; openapi.ts publishes them), and the 400 message a failed validation becomes.
 */

const str = { type: 'string' } as const;
const nstr = { type: ['string', 'null'] } as const;
const int = { type: 'integer' } as const;
const nint = { type: ['integer', 'null'] } as const;

/** `{ "error": { "code", "message", "detail"? } }` (http-errors.ts) */
export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message'],
      properties: { code: str, message: str, detail: str },
    },
  },
} as const;

/** The error answers every authenticated route may give, plus the given ones. */
export function errorResponses(...statuses: number[]): Record<number, typeof errorSchema> {
  const out: Record<number, typeof errorSchema> = {};
  for (const s of [400, 401, 403, 503, ...statuses]) out[s] = errorSchema;
  return out;
}

/** One session as `gatehouse sessions --json` prints it (report/sessions-table.ts SessionJson). */
export const sessionSchema = {
  type: 'object',
  properties: {
    id: str, protocol: str, connection: nstr, status: str, subject: nstr, groups: { type: 'array', items: str },
    authorizedBy: nstr, issuer: nstr, tokenId: nstr, tokenSha256: nstr, ciJob: nstr, clientUser: nstr, clientApplication: nstr,
    clientAddress: nstr, startedAt: { type: 'string', description: 'ISO-8601 with µs' }, endedAt: nstr, startedAtUs: int, endedAtUs: nint,
    durationMs: nint, statements: int, errors: int, reason: nstr,
  },
} as const;

/**
 * The session report model (report/session-report.ts), as `gatehouse report --format json` prints it.
 * Only the stable top of it is spelled out; the rest passes through as recorded.
 */
export const reportSchema = {
  type: 'object',
  required: ['session', 'identity', 'events', 'ledger'],
  properties: {
    session: {
      type: 'object',
      additionalProperties: true,
      properties: { id: str, protocol: str, connection: nstr, status: str, startedAt: str, endedAt: nstr, durationMs: nint, statements: int, errors: int, reason: nstr },
    },
    identity: {
      type: 'object',
      properties: {
        subject: nstr, groups: { type: 'array', items: str }, authorizedBy: nstr, issuer: nstr, clientId: nstr, tokenId: nstr, tokenSha256: nstr,
        ciJob: nstr, verified: { type: 'boolean' },
      },
    },
    events: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: true,
        properties: { seq: int, time: str, type: str, command: nstr },
      },
    },
    ledger: { type: 'object', properties: { firstSeq: nint, lastSeq: nint, lastHash: nstr } },
  },
} as const;

/** Session ids are UUIDs; anything printable and short is accepted, so a bad one is a clear 404, not a 400. */
export const sessionIdSchema = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' } as const;

const PARTS: Record<SchemaErrorDataVar, string> = { querystring: 'query parameter', params: 'path parameter', body: 'body field', headers: 'header' };

/**
 * A failed validation as a message a person can act on: `query parameter "limit" must be <= 200`,
 * `unknown query parameter "identiy"`, `query parameter "status" must be one of: active, ok, denied, error`.
 */
export function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: SchemaErrorDataVar): Error {
  const part = PARTS[dataVar] ?? dataVar;
  const e = errors[0];
  if (!e) return new Error(`invalid ${part}`);
  const name = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const p = e.params;
  let message: string;
  switch (e.keyword) {
    case 'additionalProperties':
      message = `unknown ${part} "${String(p.additionalProperty)}"`;
      break;
    case 'required':
      message = `missing ${part} "${String(p.missingProperty)}"`;
      break;
    case 'enum':
      message = `${part} "${name}" must be one of: ${(p.allowedValues as unknown[]).map(String).join(', ')}`;
      break;
    case 'pattern':
      message = `${part} "${name}" is not in the expected form (${String(p.pattern)})`;
      break;
    default:
      message = name ? `${part} "${name}" ${e.message ?? 'is not valid'}` : `${dataVar} ${e.message ?? 'is not valid'}`;
  }
  return new Error(message);
}

declare module 'fastify' {
  interface FastifySchema {
    /** OpenAPI: a one-line summary and the longer description of the route */
    summary?: string;
    description?: string;
    /** OpenAPI: the role the route needs ('public' for none), shown as x-gatehouse-role */
    role?: 'public' | 'authenticated' | 'auditor' | 'reviewer' | 'admin';
    /** OpenAPI: the request body's schema when the route validates its body itself (zod) */
    docBody?: unknown;
  }
}
