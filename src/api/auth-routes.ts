import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { LedgerWriter } from '../ledger/ledger.js';
import { bearerAuth, type BearerVerifier } from './auth.js';
import { loginEvent, recordLogin } from './console-login-audit.js';
import { cookieValue, sessionRef, type ConsoleSession, type ConsoleSessions } from './console-sessions.js';
import { errorBody } from './http-errors.js';
import { safeReturnPath, type OidcLogin } from './oidc-login.js';
import { roleOf, type ConsoleRoles } from './roles.js';
import { errorResponses } from './schemas.js';

/**
 * The console's human login (GET /api/auth/login, GET /api/auth/callback, POST /api/auth/logout,
 * GET /api/auth/session) and the authentication of every other route: a bearer token when the
 * request has an Authorization header (scripts; no CSRF check, a browser never adds one by itself),
 * else the console session cookie, which needs the session's CSRF token in X-CSRF-Token on every
 * method but GET/HEAD/OPTIONS. Neither: 401.
 */

export interface LoginDeps {
  oidc: OidcLogin;
  sessions: ConsoleSessions;
  ledger: Pick<LedgerWriter, 'append'>;
  roles: ConsoleRoles | null;
  /** Secure on the short-lived login cookie too */
  secure: boolean;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const LOGIN_COOKIE = 'gatehouse_login';

/** The onRequest hook of the authenticated routes: session cookie (with CSRF) or bearer token. */
export function sessionOrBearerAuth(verifier: BearerVerifier, log: Logger, sessions: ConsoleSessions | null) {
  const bearer = bearerAuth(verifier, log);
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (sessions && req.headers.authorization === undefined) {
      const id = cookieValue(req.headers.cookie, sessions.cookieName);
      if (id !== null) {
        const s = sessions.get(id);
        if (!s) {
          await reply.code(401).send(errorBody('GH_ERR_UNAUTHENTICATED', 'your console session has ended (expired, logged out or the gateway restarted): log in again'));
          return;
        }
        if (!SAFE_METHODS.has(req.method)) {
          const given = req.headers['x-csrf-token'];
          if (typeof given !== 'string' || !sessions.csrfMatches(s, given)) {
            log.warn({ route: req.url, subject: s.principal.subject, session: sessionRef(s) }, 'api: console request without a valid CSRF token refused');
            await reply.code(403).send(errorBody('GH_ERR_ACCESS_DENIED', 'a console request that changes something needs the X-CSRF-Token header of your session (GET /api/me returns it)'));
            return;
          }
        }
        req.principal = s.principal;
        req.consoleSession = s;
        return;
      }
    }
    return bearer(req, reply);
  };
}

function clientOf(req: FastifyRequest) {
  const ua = req.headers['user-agent'];
  return { address: req.ip, userAgent: typeof ua === 'string' ? ua.slice(0, 256) : null };
}

function loginCookie(value: string, secure: boolean, maxAge: number): string {
  return `${LOGIN_COOKIE}=${value}; Path=/api/auth; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
}

/** Back to the console's login page with a reason it shows. */
function toLoginPage(reply: FastifyReply, error: string, secure: boolean) {
  return reply.code(303).header('set-cookie', loginCookie('', secure, 0)).header('location', `/login?error=${encodeURIComponent(error)}`).send();
}

/** Routes that need no authentication of their own: login, callback, the session probe. */
export function publicAuthRoutes(app: FastifyInstance, deps: LoginDeps | null, log: Logger): void {
  // without console.login these routes do not exist (the API is for bearer tokens only)
  if (!deps) return;
  const { oidc, sessions, secure } = deps;

  app.get('/api/auth/session', {
    schema: {
      summary: 'The console\'s start: whether login is available, and who the session cookie belongs to (with its CSRF token)', role: 'public',
      response: {
        200: {
          type: 'object',
          properties: {
            login: { type: 'boolean' }, authenticated: { type: 'boolean' }, subject: { type: ['string', 'null'] }, groups: { type: 'array', items: { type: 'string' } },
            role: { type: ['string', 'null'] }, csrfToken: { type: ['string', 'null'] }, expiresAt: { type: ['string', 'null'] },
          },
        },
      },
    },
  }, async (req) => {
    const id = cookieValue(req.headers.cookie, sessions.cookieName);
    const s = id === null ? null : sessions.get(id);
    if (!s) return { login: true, authenticated: false, subject: null, groups: [], role: null, csrfToken: null, expiresAt: null };
    const p = s.principal;
    return { login: true, authenticated: true, subject: p.subject, groups: p.groups, role: roleOf(p, deps.roles), csrfToken: s.csrfToken, expiresAt: new Date(s.expiresAt).toISOString() };
  });

  app.get('/api/auth/login', {
    schema: {
      summary: 'Starts the console login: redirects to the identity provider (authorization code + PKCE)', role: 'public',
      querystring: { type: 'object', additionalProperties: false, properties: { returnTo: { type: 'string', maxLength: 1024 } } },
      response: { 302: { type: 'null' }, ...errorResponses() },
    },
  }, async (req, reply) => {
    const { returnTo } = req.query as { returnTo?: string };
    const { state, url } = await oidc.begin(safeReturnPath(returnTo));
    // binds the callback to this browser: a code delivered to another browser finds no matching cookie
    return reply.code(302).header('set-cookie', loginCookie(state, secure, 600)).header('location', url).send();
  });

  app.get('/api/auth/callback', {
    schema: {
      summary: 'Where the identity provider returns the browser: exchanges the code, checks the id_token, starts a console session (recorded: console.login)',
      role: 'public',
      querystring: { type: 'object', additionalProperties: { type: 'string', maxLength: 4096 }, properties: { code: { type: 'string' }, state: { type: 'string' } } },
      response: { 303: { type: 'null' }, ...errorResponses() },
    },
  }, async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    const state = q.state;
    if (q.error !== undefined) {
      log.info({ error: q.error, description: q.error_description }, 'api: the identity provider refused the login');
      return toLoginPage(reply, `the identity provider said: ${q.error}${q.error_description ? ` (${q.error_description.slice(0, 200)})` : ''}`, secure);
    }
    const bound = cookieValue(req.headers.cookie, LOGIN_COOKIE);
    const pending = state !== undefined && bound === state ? oidc.take(state) : null;
    if (state === undefined || pending === null) {
      log.info({ hasState: state !== undefined, cookieMatches: bound === state }, 'api: login callback without a matching login in this browser');
      return toLoginPage(reply, 'this login was not started in this browser, or it took too long: try again', secure);
    }
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
    let principal;
    try {
      principal = await oidc.complete(pending, state, query);
    } catch (e) {
      if (!isGatehouseError(e)) throw e;
      log.warn({ code: e.code, detail: e.detail }, 'api: console login failed');
      return toLoginPage(reply, e.message, secure);
    }
    const role = roleOf(principal, deps.roles);
    if (role === null) {
      await recordLogin(deps.ledger, loginEvent(principal, null, null, clientOf(req), 'no console role for these groups'));
      log.info({ subject: principal.subject, groups: principal.groups }, 'api: console login refused: no console role');
      return toLoginPage(reply, `you are ${principal.subject}, but your groups (${principal.groups.join(', ') || 'none'}) map to no console role (console.roles)`, secure);
    }
    const { id, session } = sessions.create(principal);
    try {
      await recordLogin(deps.ledger, loginEvent(principal, role, sessionRef(session), clientOf(req)));
    } catch (e) {
      sessions.delete(session);
      throw e;
    }
    log.info({ subject: principal.subject, role, session: sessionRef(session) }, 'api: console login');
    return reply.code(303).header('set-cookie', [sessions.setCookie(id), loginCookie('', secure, 0)]).header('location', pending.returnTo).send();
  });
}

/** Logout: behind the session-or-bearer hook, so the CSRF token is checked. */
export function logoutRoute(app: FastifyInstance, deps: LoginDeps | null, log: Logger): void {
  if (!deps) return;
  app.post('/api/auth/logout', {
    schema: {
      summary: 'Ends the console session of the cookie (needs X-CSRF-Token); recorded (console.logout)', role: 'authenticated',
      response: { 200: { type: 'object', properties: { loggedOut: { type: 'boolean' } } }, ...errorResponses() },
    },
  }, async (req, reply) => {
    const s: ConsoleSession | null = req.consoleSession;
    if (!s) throw new GatehouseError('GH_ERR_USAGE', 'there is no console session to log out of (bearer tokens have none)');
    deps.sessions.delete(s);
    await recordLogin(deps.ledger, { type: 'console.logout', subject: s.principal.subject, tokenId: s.principal.tokenId, session: sessionRef(s), client: clientOf(req) });
    log.info({ subject: s.principal.subject, session: sessionRef(s) }, 'api: console logout');
    return reply.header('set-cookie', deps.sessions.clearCookie()).send({ loggedOut: true });
  });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** the console session the request came with (null: bearer token) */
    consoleSession: ConsoleSession | null;
  }
}
