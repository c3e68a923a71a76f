import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../../src/api/app.js';
import { consoleDepsFrom, loginDepsFrom } from '../../../src/api/start.js';
import { loadWebFiles } from '../../../src/api/static-web.js';
import { ApprovalBroker } from '../../../src/approvals/broker.js';
import { parseConfig, type LoadedConfig } from '../../../src/core/config.js';
import { startDevIssuer, type DevIssuer } from '../../../src/identity/dev-issuer.js';
import { TokenVerifier } from '../../../src/identity/verifier.js';
import { SqliteLedger } from '../../../src/ledger/sqlite.js';
import { input, principal } from '../../support/approvals.js';
import { AUDIENCE, captureLog } from '../../support/gateway-fixture.js';
import { idpLogin, setCookies } from './login-flow.js';

/**
 * The console's human login through fastify.inject(): a real oidc-provider (the dev issuer) with
 * its real login form, openid-client doing the code exchange with PKCE, the real session store,
 * the real approval broker and a real SQLite ledger. Cookies, CSRF and the authorization rules of
 * cookie sessions; bearer tokens keep working beside them.
 */

const REDIRECT = 'http://127.0.0.1:18999/api/auth/callback';
const USERS = [
  { username: 'rita', password: 'rita-password-1', groups: ['reviewers', 'dba'], name: 'Rita' },
  { username: 'ann', password: 'ann-password-12', groups: ['auditors', 'dba'] },
  { username: 'ned', password: 'ned-password-12', groups: ['interns'] },
];
const CLIENTS = [{ clientId: 'reviewer-bot', clientSecret: 'reviewer-bot-secret', groups: ['reviewers', 'dba'] }];

let dir: string;
let idp: DevIssuer;
let ledger: SqliteLedger;
let broker: ApprovalBroker;
let app: FastifyInstance;
let logText: () => string;

interface Login {
  cookie: string;
  /** the raw Set-Cookie of the session */
  setCookie: string;
  csrf: string;
}

async function login(username: string, password: string): Promise<LightMyRequestResponse> {
  const start = await app.inject({ url: '/api/auth/login?returnTo=/approvals' });
  expect(start.statusCode).toBe(302);
  const loginCookie = setCookies(start.headers['set-cookie'])[0]!.split(';')[0]!;
  const { callback } = await idpLogin(start.headers.location as string, REDIRECT, username, password);
  return app.inject({ url: `/api/auth/callback${callback.search}`, headers: { cookie: loginCookie } });
}

async function session(username: string, password: string): Promise<Login> {
  const res = await login(username, password);
  expect(res.statusCode, res.body).toBe(303);
  const setCookie = setCookies(res.headers['set-cookie']).find((c) => c.startsWith('gatehouse_session='))!;
  const cookie = setCookie.split(';')[0]!;
  const me = await app.inject({ url: '/api/me', headers: { cookie } });
  expect(me.statusCode, me.body).toBe(200);
  return { cookie, setCookie, csrf: (me.json() as { csrfToken: string }).csrfToken };
}

const errorOf = (res: LightMyRequestResponse) => (res.json() as { error: { code?: string; message: string } }).error;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-console-login-'));
  idp = await startDevIssuer({
    audience: AUDIENCE, clients: CLIENTS, users: USERS, loginClients: [{ clientId: 'gatehouse-console', clientSecret: 'console-secret-1', redirectUris: [REDIRECT] }],
  });
  const config = parseConfig({
    identity: { issuer: idp.issuer, audience: AUDIENCE },
    ledger: { sqlite: './ledger.db' },
    listeners: { api: { port: 0 } },
    console: {
      roles: { auditors: ['auditors'], reviewers: ['reviewers'], admins: ['platform-admins'] },
      login: { clientId: 'gatehouse-console', clientSecret: 'console-secret-1', redirectUrl: REDIRECT, maxSessions: 3 },
    },
  });
  const loaded: LoadedConfig = { config, file: null, baseDir: dir };
  const captured = captureLog();
  logText = captured.text;
  ledger = new SqliteLedger(join(dir, 'ledger.db'));
  broker = new ApprovalBroker({ ledger, log: captured.log });
  const roles = config.console!.roles;
  const loginDeps = loginDepsFrom(loaded, ledger, roles, false, () => 'http://unused')!;
  mkdirSync(join(dir, 'web', 'assets'), { recursive: true });
  writeFileSync(join(dir, 'web', 'index.html'), '<!doctype html><title>console</title>');
  writeFileSync(join(dir, 'web', 'assets', 'app.js'), 'console.log(1)');
  app = buildApi({
    broker, verifier: new TokenVerifier(config.identity, captured.log), log: captured.log, roles, console: consoleDepsFrom(loaded, ledger), login: loginDeps,
    web: loadWebFiles(join(dir, 'web')),
  });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await broker?.close();
  await ledger?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('console login (authorization code + PKCE)', () => {
  it('no cookie and no token: no data', async () => {
    for (const url of ['/api/sessions', '/api/me', '/api/approvals', '/api/integrity']) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(401);
      expect(errorOf(res).code).toBe('GH_ERR_UNAUTHENTICATED');
    }
    expect((await app.inject({ url: '/api/auth/session' })).json()).toMatchObject({ login: true, authenticated: false, csrfToken: null });
    // a made-up cookie is no session
    const forged = await app.inject({ url: '/api/sessions', headers: { cookie: 'gatehouse_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } });
    expect(forged.statusCode).toBe(401);
    expect(errorOf(forged).message).toContain('log in again');
  });

  it('login redirects to the issuer with PKCE (S256), state and nonce, and binds the login to the browser', async () => {
    const res = await app.inject({ url: '/api/auth/login?returnTo=/sessions/abc' });
    expect(res.statusCode).toBe(302);
    const to = new URL(res.headers.location as string);
    expect(to.origin).toBe(idp.issuer);
    expect(Object.fromEntries(to.searchParams)).toMatchObject({
      client_id: 'gatehouse-console', response_type: 'code', redirect_uri: REDIRECT, code_challenge_method: 'S256', scope: 'openid profile email groups',
    });
    expect(to.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(to.searchParams.get('nonce')).toBeTruthy();
    const [cookie] = setCookies(res.headers['set-cookie']);
    expect(cookie).toBe(`gatehouse_login=${to.searchParams.get('state')}; Path=/api/auth; HttpOnly; SameSite=Lax; Max-Age=600`);
  });

  it('a reviewer logs in with the login form: an opaque HttpOnly SameSite=Lax cookie, the same Principal shape as a bearer token, a console.login record', async () => {
    const res = await login('rita', 'rita-password-1');
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location, logText().split('\n').filter((l) => l.includes('login')).join('\n')).toBe('/approvals');
    const cookies = setCookies(res.headers['set-cookie']);
    const sessionCookie = cookies.find((c) => c.startsWith('gatehouse_session='))!;
    expect(sessionCookie).toMatch(/^gatehouse_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/); // no Secure: this listener has no TLS
    expect(cookies).toContain('gatehouse_login=; Path=/api/auth; HttpOnly; SameSite=Lax; Max-Age=0');
    const cookie = sessionCookie.split(';')[0]!;
    const me = await app.inject({ url: '/api/me', headers: { cookie } });
    expect(me.json()).toMatchObject({ subject: 'rita', groups: ['reviewers', 'dba'], role: 'reviewer', via: 'session', may: { decideApprovals: true } });
    const csrf = (me.json() as { csrfToken: string }).csrfToken;
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await app.inject({ url: '/api/auth/session', headers: { cookie } })).json()).toMatchObject({ authenticated: true, subject: 'rita', role: 'reviewer', csrfToken: csrf });
    // reads work with the cookie alone (GET needs no CSRF token)
    expect((await app.inject({ url: '/api/sessions', headers: { cookie } })).statusCode).toBe(200);

    const [rec] = (await ledger.recordsOfType('console.login' as never)).slice(-1);
    expect(rec!.sessionId).toBe('');
    expect(rec!.event).toMatchObject({
      type: 'console.login', outcome: 'ok', subject: 'rita', groups: ['reviewers', 'dba'], issuer: idp.issuer, role: 'reviewer',
      tokenSha256: expect.stringMatching(/^[0-9a-f]{64}$/), session: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    // neither the cookie, nor the CSRF token, nor any IdP token reaches the ledger or the log
    const value = cookie.split('=')[1]!;
    const recorded = JSON.stringify(rec!.event);
    for (const secret of [value, csrf]) {
      expect(recorded).not.toContain(secret);
      expect(logText()).not.toContain(secret);
    }
    expect(recorded).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    expect(logText()).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });

  it('a wrong password stays at the IdP; a callback from another browser, or replayed, starts no session', async () => {
    const start = await app.inject({ url: '/api/auth/login' });
    await expect(idpLogin(start.headers.location as string, REDIRECT, 'rita', 'wrong-password')).rejects.toThrow(/Unknown user name or wrong password/);

    const begin = await app.inject({ url: '/api/auth/login' });
    const loginCookie = setCookies(begin.headers['set-cookie'])[0]!.split(';')[0]!;
    const { callback } = await idpLogin(begin.headers.location as string, REDIRECT, 'rita', 'rita-password-1');
    // no login cookie: the code was not asked for by this browser
    const stolen = await app.inject({ url: `/api/auth/callback${callback.search}` });
    expect(stolen.statusCode).toBe(303);
    expect(stolen.headers.location).toMatch(/^\/login\?error=/);
    expect(setCookies(stolen.headers['set-cookie']).some((c) => c.startsWith('gatehouse_session='))).toBe(false);
    // with it, once
    const ok = await app.inject({ url: `/api/auth/callback${callback.search}`, headers: { cookie: loginCookie } });
    expect(ok.headers.location).toBe('/');
    const again = await app.inject({ url: `/api/auth/callback${callback.search}`, headers: { cookie: loginCookie } });
    expect(again.headers.location).toMatch(/^\/login\?error=/);
    // the IdP's own refusal is shown, not a session
    const refused = await app.inject({ url: '/api/auth/callback?error=access_denied&error_description=nope&state=x' });
    expect(decodeURIComponent(refused.headers.location as string)).toContain('the identity provider said: access_denied (nope)');
  });

  it('a person whose groups map to no console role gets no session (the refusal is recorded)', async () => {
    const res = await login('ned', 'ned-password-12');
    expect(res.statusCode).toBe(303);
    expect(decodeURIComponent(res.headers.location as string)).toContain('map to no console role');
    expect(setCookies(res.headers['set-cookie']).some((c) => c.startsWith('gatehouse_session='))).toBe(false);
    const [rec] = (await ledger.recordsOfType('console.login' as never)).slice(-1);
    expect(rec!.event).toMatchObject({ type: 'console.login', outcome: 'refused', subject: 'ned', role: null, session: null });
  });

  it('CSRF: a cookie session cannot approve without its X-CSRF-Token; with it, a reviewer approves', async () => {
    const rita = await session('rita', 'rita-password-1');
    const { approval, outcome } = await broker.request(input({ requester: principal('ci-agent', ['ci-agents']) }));
    const url = `/api/approvals/${approval.id}/approve`;
    const none = await app.inject({ method: 'POST', url, headers: { cookie: rita.cookie }, payload: { reason: 'ok' } });
    expect(none.statusCode).toBe(403);
    expect(errorOf(none).message).toContain('X-CSRF-Token');
    // one character changed (to a different one: the token may itself end in 'A', 1 time in 64)
    const wrongToken = `${rita.csrf.slice(0, -1)}${rita.csrf.endsWith('A') ? 'B' : 'A'}`;
    const wrong = await app.inject({ method: 'POST', url, headers: { cookie: rita.cookie, 'x-csrf-token': wrongToken }, payload: {} });
    expect(wrong.statusCode).toBe(403);
    // another session's token is not this session's
    const ann = await session('ann', 'ann-password-12');
    expect((await app.inject({ method: 'POST', url, headers: { cookie: rita.cookie, 'x-csrf-token': ann.csrf }, payload: {} })).statusCode).toBe(403);
    expect(broker.get(approval.id)!.state).toBe('pending');

    const ok = await app.inject({ method: 'POST', url, headers: { cookie: rita.cookie, 'x-csrf-token': rita.csrf }, payload: { reason: 'ticket OPS-1' } });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(await outcome).toMatchObject({ decision: 'approved', by: 'reviewer', reason: 'ticket OPS-1', reviewer: { subject: 'rita', groups: ['reviewers', 'dba'] } });
  });

  it('an auditor cannot approve, even with the CSRF token and a reviewer group of the rule', async () => {
    const ann = await session('ann', 'ann-password-12');
    const { approval } = await broker.request(input({ requester: principal('ci-agent', ['ci-agents']) }));
    const res = await app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/approve`, headers: { cookie: ann.cookie, 'x-csrf-token': ann.csrf }, payload: {} });
    expect(res.statusCode).toBe(403);
    expect(errorOf(res)).toMatchObject({ code: 'GH_ERR_APPROVAL_FORBIDDEN' });
    expect(errorOf(res).message).toContain('your console role is auditor');
    // but reads
    expect((await app.inject({ url: '/api/approvals', headers: { cookie: ann.cookie } })).statusCode).toBe(200);
    await broker.decide(approval.id, principal('someone', ['dba']), { approve: false, reason: 'cleanup' });
  });

  it('a reviewer cannot approve their own request', async () => {
    const rita = await session('rita', 'rita-password-1');
    const { approval } = await broker.request(input({ requester: principal('rita', ['reviewers', 'dba']) }));
    const res = await app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/approve`, headers: { cookie: rita.cookie, 'x-csrf-token': rita.csrf }, payload: {} });
    expect(res.statusCode).toBe(403);
    expect(errorOf(res)).toMatchObject({ code: 'GH_ERR_APPROVAL_FORBIDDEN', message: 'you may not approve your own request' });
    await broker.decide(approval.id, principal('someone', ['dba']), { approve: false, reason: 'cleanup' });
  });

  it('bearer tokens keep working for scripts, without a CSRF token (a browser never sends one by itself)', async () => {
    const token = await idp.token('reviewer-bot');
    const { approval, outcome } = await broker.request(input({ requester: principal('ci-agent', ['ci-agents']) }));
    const me = await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } });
    expect(me.json()).toMatchObject({ subject: 'reviewer-bot', role: 'reviewer' });
    expect(me.json()).not.toHaveProperty('csrfToken');
    const res = await app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/deny`, headers: { authorization: `Bearer ${token}` }, payload: { reason: 'scripted' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(await outcome).toMatchObject({ decision: 'denied', reviewer: { subject: 'reviewer-bot' } });
    // a bad bearer token is refused even when a valid cookie rides along: the header decides
    const rita = await session('rita', 'rita-password-1');
    expect((await app.inject({ url: '/api/me', headers: { authorization: 'Bearer nope', cookie: rita.cookie } })).statusCode).toBe(401);
  });

  it('logout needs the CSRF token, ends the session, clears the cookie and is recorded', async () => {
    const rita = await session('rita', 'rita-password-1');
    expect((await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { cookie: rita.cookie } })).statusCode).toBe(403);
    const out = await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { cookie: rita.cookie, 'x-csrf-token': rita.csrf } });
    expect(out.statusCode).toBe(200);
    expect(setCookies(out.headers['set-cookie'])).toEqual(['gatehouse_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0']);
    expect((await app.inject({ url: '/api/me', headers: { cookie: rita.cookie } })).statusCode).toBe(401);
    const [rec] = (await ledger.recordsOfType('console.logout' as never)).slice(-1);
    expect(rec!.event).toMatchObject({ type: 'console.logout', subject: 'rita', session: expect.stringMatching(/^[0-9a-f]{16}$/) });
    // a bearer caller has nothing to log out of
    const token = await idp.token('reviewer-bot');
    expect((await app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(400);
  });

  it('sessions are bounded: the least recently used goes first (console.login.maxSessions)', async () => {
    const a = await session('rita', 'rita-password-1');
    const b = await session('ann', 'ann-password-12');
    const c = await session('rita', 'rita-password-1');
    // a is used, so b is now the least recently used
    expect((await app.inject({ url: '/api/me', headers: { cookie: a.cookie } })).statusCode).toBe(200);
    await session('ann', 'ann-password-12');
    expect((await app.inject({ url: '/api/me', headers: { cookie: b.cookie } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/me', headers: { cookie: a.cookie } })).statusCode).toBe(200);
    expect((await app.inject({ url: '/api/me', headers: { cookie: c.cookie } })).statusCode).toBe(200);
  });

  it('the API listener serves the web console with a strict CSP, client routes fall back to index.html, /api stays JSON', async () => {
    const index = await app.inject({ url: '/sessions/some-id' });
    expect(index.statusCode).toBe(200);
    expect(index.headers['content-type']).toContain('text/html');
    expect(index.body).toContain('<title>console</title>');
    const csp = index.headers['content-security-policy'] as string;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/https?:/);
    const js = await app.inject({ url: '/assets/app.js' });
    expect(js.headers['content-type']).toContain('text/javascript');
    expect((await app.inject({ url: '/assets/missing.js' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/../package.json' })).statusCode).not.toBe(200);
    const api = await app.inject({ url: '/api/nope' });
    expect(api.statusCode).toBe(404);
    expect(errorOf(api).code).toBe('GH_ERR_USAGE');
    expect((await app.inject({ method: 'POST', url: '/sessions' })).statusCode).toBe(404);
  });
});
