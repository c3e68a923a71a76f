import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';

/**
 * An OpenAPI 3.1 document generated from the routes' own fastify schemas (the ones that validate
 * requests and serialise responses), so the document cannot drift from what the API does. A small
 * generator instead of @fastify/swagger: the API's schemas are plain JSON Schema already, and OpenAPI
 * 3.1 takes them unchanged (nullable as `type: [.., 'null']`).
 */

interface CollectedRoute {
  method: string;
  url: string;
  schema: FastifySchema | undefined;
}

type JsonObject = Record<string, unknown>;

const STATUS_TEXT: Record<string, string> = {
  200: 'OK', 202: 'Accepted: still running', 400: 'Bad request (the message names the parameter)', 401: 'No token, or a token that did not verify',
  403: 'Authenticated, but the console role does not allow it', 404: 'Not found', 409: 'Conflict', 413: 'Body too large', 503: 'Ledger or identity provider unavailable',
};

/** Collects every route as it is added; call before any route is registered. */
export function collectRoutes(app: FastifyInstance): CollectedRoute[] {
  const routes: CollectedRoute[] = [];
  app.addHook('onRoute', (r: RouteOptions) => {
    for (const method of Array.isArray(r.method) ? r.method : [r.method]) {
      if (method === 'HEAD') continue; // fastify's automatic HEAD twin of each GET
      routes.push({ method, url: r.url, schema: r.schema });
    }
  });
  return routes;
}

function parameters(where: 'path' | 'query', schema: unknown): JsonObject[] {
  const s = schema as { properties?: Record<string, JsonObject>; required?: string[] } | undefined;
  if (!s?.properties) return [];
  return Object.entries(s.properties).map(([name, p]) => {
    const { description, ...rest } = p;
    return {
      name, in: where, required: where === 'path' || (s.required ?? []).includes(name), schema: rest,
      ...(typeof description === 'string' ? { description } : {}),
    };
  });
}

function responses(schema: unknown): JsonObject {
  const out: JsonObject = {};
  for (const [status, s] of Object.entries((schema ?? {}) as Record<string, JsonObject>)) {
    const content = (s as { content?: Record<string, { schema: unknown }> }).content;
    out[status] = {
      description: STATUS_TEXT[status] ?? 'response',
      content: content ?? { 'application/json': { schema: s } },
    };
  }
  return out;
}

export function openApiDocument(routes: readonly CollectedRoute[], info: { title: string; version: string }): JsonObject {
  const paths: Record<string, Record<string, JsonObject>> = {};
  for (const r of [...routes].sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method))) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const s = r.schema ?? {};
    const role = s.role ?? 'authenticated';
    const op: JsonObject = {
      operationId: `${r.method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      ...(s.summary ? { summary: s.summary } : {}),
      ...(s.description ? { description: s.description } : {}),
      'x-gatehouse-role': role,
      security: role === 'public' ? [] : [{ bearer: [] }],
      parameters: [...parameters('path', s.params), ...parameters('query', s.querystring)],
      ...(s.docBody ? { requestBody: { required: false, content: { 'application/json': { schema: s.docBody } } } } : {}),
      responses: Object.keys((s.response ?? {}) as object).length > 0 ? responses(s.response) : { 200: { description: 'OK' } },
    };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      ...info,
      description: 'The Gatehouse management API: approvals, and the console\'s read routes over the ledger. Roles come from `console.roles` (docs/configuration.md).',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'the caller\'s OIDC access token, verified like an agent\'s' } } },
    paths,
  };
}
