import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { isGatehouseError } from '../core/errors.js';
import type { ServerTlsOptions } from '../core/tls.js';
import type { Logger } from '../core/log.js';
import type { LedgerStore } from '../ledger/ledger.js';
import { approvalRoutes, type ApprovalRoutesDeps } from './approvals-routes.js';
import type { BearerVerifier } from './auth.js';
import { logoutRoute, publicAuthRoutes, sessionOrBearerAuth, type LoginDeps } from './auth-routes.js';
import { consoleRoutes } from './console-routes.js';
import { errorBody, httpStatusFor } from './http-errors.js';
import { integrityRoutes, type VerificationKeys } from './integrity-routes.js';
import { collectRoutes, openApiDocument } from './openapi.js';
import { schemaErrorFormatter } from './schemas.js';
import { serveWeb, type WebFiles } from './static-web.js';

/**
 * The Gatehouse HTTP API (fastify): the reviewers' side of approvals and, given a ledger, the
 * console's read routes (sessions, reports, recordings, integrity) behind console roles. Every
 * route carries a JSON schema; /api/openapi.json is generated from them. Fastify's own logger
 * stays off; this module logs one line per request itself (method, route, status, caller, time)
 * so no header, and so no Authorization header, can reach a log line.
 */

/** What the console's read routes need; without it only the approvals routes exist. */
export interface ConsoleApiDeps {
  /** the gateway's own ledger store: read for the routes, appended to for console.view / console.export */
  ledger: LedgerStore;
  /** where SSH terminal recordings are (config recordingsDir()) */
  recordingsDir: string;
  /** the public key and witness copies verification checks against (read at each run) */
  verificationKeys(): Promise<VerificationKeys>;
}

export interface ApiDeps extends ApprovalRoutesDeps {
  verifier: BearerVerifier;
  log: Logger;
  console?: ConsoleApiDeps;
  /** the web console's human login (console.login); absent: bearer tokens only */
  login?: LoginDeps | null;
  /** the web console's built files; absent: the API alone */
  web?: WebFiles | null;
}

export interface ApiOptions {
  /** serve HTTPS with this certificate (startApi reads it from listeners.api.tls) */
  tls?: ServerTlsOptions | null;
}

/** Request bodies are a reason and a duration: 16 KiB is plenty and bounds what a caller can make us parse. */
export const API_BODY_LIMIT = 16 * 1024;

export function buildApi(deps: ApiDeps, options: ApiOptions = {}): FastifyInstance {
  const log = deps.log;
  const common = {
    logger: false,
    bodyLimit: API_BODY_LIMIT,
    // a reviewer's call is short; a slow client must not hold a socket
    requestTimeout: 30_000,
    connectionTimeout: 30_000,
    forceCloseConnections: true,
    routerOptions: { maxParamLength: 128 },
    return503OnClosing: true,
    // an unknown query parameter is a 400 (a mistyped filter must not silently list everything)
    ajv: { customOptions: { removeAdditional: false } },
    schemaErrorFormatter,
  } as const;
  // An HTTPS instance differs from an HTTP one only in its raw server type; the request and reply
  // objects are the same, so both are handled as the default FastifyInstance.
  const app = (options.tls ? Fastify({ ...common, https: { ...options.tls } }) : Fastify(common)) as unknown as FastifyInstance;

  app.decorateRequest('principal', null);
  app.decorateRequest('consoleRole', null);
  app.decorateRequest('consoleSession', null);
  const routes = collectRoutes(app);

  app.addHook('onSend', async (_req, reply, payload) => {
    // decisions and pending statements are not for caches or content sniffing
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    log.info(
      { method: req.method, route: req.routeOptions.url ?? null, url: req.url, status: reply.statusCode, caller: req.principal?.subject ?? null, ms: Math.round(reply.elapsedTime) },
      'api request',
    );
  });

  app.setErrorHandler(async (e: FastifyError, req, reply) => {
    if (isGatehouseError(e)) {
      if (e.detail !== undefined) log.warn({ code: e.code, detail: e.detail, url: req.url }, 'api error');
      return reply.code(httpStatusFor(e.code)).send(errorBody(e.code, e.message));
    }
    // fastify's own client errors: bad JSON, body too large, unsupported content type
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(e.statusCode).send(errorBody('GH_ERR_USAGE', e.message));
    }
    log.error({ err: e.message, stack: e.stack, url: req.url }, 'api: unexpected error');
    return reply.code(500).send(errorBody(undefined, 'internal error; the gateway log has the details'));
  });

  const web = deps.web ?? null;
  app.setNotFoundHandler(async (req, reply) => (web && serveWeb(web, req, reply) ? reply : reply.code(404).send(errorBody('GH_ERR_USAGE', `no such endpoint: ${req.method} ${req.url.split('?')[0]}`))));

  app.get('/api/health', {
    schema: { summary: 'Liveness (no token)', role: 'public', response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } },
  }, async () => ({ status: 'ok' }));

  let openapi: Record<string, unknown> | null = null;
  app.get('/api/openapi.json', {
    schema: { summary: 'This API as an OpenAPI 3.1 document (no token: it describes, it holds no data)', role: 'public', response: { 200: { type: 'object', additionalProperties: true } } },
  }, async () => (openapi ??= openApiDocument(routes, { title: 'Gatehouse management API', version: '1' })));

  publicAuthRoutes(app, deps.login ?? null, log);

  // everything else needs a bearer token or a console session (with its CSRF token when it changes
  // something); the hook runs before the body is even read
  void app.register(async (scope) => {
    scope.addHook('onRequest', sessionOrBearerAuth(deps.verifier, log, deps.login?.sessions ?? null));
    logoutRoute(scope, deps.login ?? null, log);
    approvalRoutes(scope, deps);
    if (deps.console) {
      const roles = deps.roles ?? null;
      consoleRoutes(scope, { ledger: deps.console.ledger, roles, recordingsDir: deps.console.recordingsDir });
      integrityRoutes(scope, { ledger: deps.console.ledger, roles, verificationKeys: deps.console.verificationKeys, log });
    }
  });

  return app;
}
