import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { DevUser } from '../core/config.js';

/**
 * DEVELOPMENT ONLY: the dev issuer's login form (oidc-provider interactions). GET /interaction/:uid
 * shows a user name / password form; POST /interaction/:uid/login checks them against the
 * configured users (dev.issuer.users) and finishes the interaction with a grant for the requested
 * scopes (no consent screen: the console is a first-party client). A second authorization while the
 * IdP session is alive only needs the grant. Plain HTML, no script, no external resource.
 */

export type InteractionProvider = Provider;

const FORM_LIMIT = 8 * 1024;

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res: ServerResponse, status: number, title: string, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    // no form-action: Chromium applies it to the redirects after the POST, which end at the client's redirect URL
  });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>
body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#111;display:flex;justify-content:center;padding-top:10vh;margin:0}
main{background:#fff;border:1px solid #bbb;border-radius:6px;padding:2rem;min-width:20rem;max-width:26rem}
label{display:block;margin:.8rem 0 .2rem;font-weight:600}input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #555;border-radius:4px}
button{margin-top:1.2rem;padding:.55rem 1.2rem;font-size:1rem;background:#0b4f9c;color:#fff;border:0;border-radius:4px;cursor:pointer}
button:focus-visible,input:focus-visible{outline:3px solid #f5a623;outline-offset:2px}.error{color:#a00;font-weight:600}.note{color:#444;font-size:.9rem}
</style></head><body><main>${body}</main></body></html>`);
}

function form(res: ServerResponse, uid: string, client: string, error: string | null, username = ''): void {
  page(res, error ? 401 : 200, 'Sign in: Gatehouse dev issuer', `<h1>Sign in</h1>
<p class="note">Development issuer, for <strong>${esc(client)}</strong>. Never use it in production.</p>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label for="login">User name</label><input id="login" name="login" required autofocus value="${esc(username)}">
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form>`);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_LIMIT) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compares digests, so neither the length nor the content leaks through timing. */
function passwordMatches(user: DevUser | undefined, given: string): boolean {
  const ok = timingSafeEqual(digest(user?.password ?? '\u0000no such user'), digest(given));
  return user !== undefined && ok;
}

async function finish(provider: Provider, req: IncomingMessage, res: ServerResponse, accountId: string): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const params = details.params as { client_id: string; scope?: string };
  const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId: params.client_id });
  if (!grant) throw new Error('grant not found');
  if (params.scope) grant.addOIDCScope(params.scope);
  const missing = details.prompt.details as { missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

export async function handleInteraction(provider: Provider, users: ReadonlyMap<string, DevUser>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const m = /^\/interaction\/([A-Za-z0-9_-]{1,64})(\/login)?(?:\?.*)?$/.exec(req.url ?? '');
  if (!m) return page(res, 404, 'Not found', '<p>No such page.</p>');
  const uid = m[1]!;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch {
    return page(res, 400, 'Login expired', '<h1>This login has expired</h1><p>Go back to the application and sign in again.</p>');
  }
  if (details.uid !== uid) return page(res, 400, 'Login expired', '<h1>This login has expired</h1><p>Go back to the application and sign in again.</p>');
  const client = String((details.params as { client_id?: unknown }).client_id ?? '');
  if (req.method === 'GET' && !m[2]) {
    // already signed in at the IdP: only the grant is missing
    if (details.prompt.name === 'consent' && details.session?.accountId) return finish(provider, req, res, details.session.accountId);
    return form(res, uid, client, null);
  }
  if (req.method === 'POST' && m[2]) {
    const body = await readForm(req);
    const username = body.get('login') ?? '';
    const user = users.get(username);
    if (!passwordMatches(user, body.get('password') ?? '')) return form(res, uid, client, 'Unknown user name or wrong password.', username);
    return finish(provider, req, res, user!.username);
  }
  return page(res, 405, 'Method not allowed', '<p>Method not allowed.</p>');
}
