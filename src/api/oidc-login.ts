import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import type { ConsoleLoginConfig } from '../core/config.js';
import { GatehouseError } from '../core/errors.js';
import type { Principal } from '../identity/principal.js';

/**
 * Human login to the console: OIDC authorization code with PKCE (openid-client) against the
 * gateway's own issuer. `begin` makes the authorization URL and keeps state, nonce and the PKCE
 * verifier server-side (bounded, ten minutes); `complete` exchanges the code, lets openid-client
 * validate the id_token (signature, issuer, audience, nonce, expiry) and turns its claims into the
 * same Principal shape the bearer path yields. Groups come from the id_token, or from userinfo
 * when the id_token has no groups claim. No token is returned or kept: only the id_token's hash.
 */

export interface OidcLoginOptions {
  issuer: string;
  login: ConsoleLoginConfig;
  /** the client secret (read from clientSecretFile by the caller); null: a public client */
  clientSecret: string | null;
  /** where the IdP sends the browser back (resolved once the API listens) */
  redirectUrl(): string;
  groupsClaim: string;
  ciJobClaim: string | null;
  /** http:// issuers are allowed on loopback (the dev issuer) or with identity.allowInsecureIssuer */
  allowHttp: boolean;
}

interface Pending {
  codeVerifier: string;
  nonce: string;
  returnTo: string;
  createdAt: number;
}

const PENDING_TTL_MS = 10 * 60_000;
const PENDING_MAX = 1000;

/** Where to go after login: a path of this console only (never another origin, never //host). */
export function safeReturnPath(p: string | undefined): string {
  if (!p || !p.startsWith('/') || p.startsWith('//') || p.startsWith('/\\') || p.startsWith('/api/') || p.length > 1024 || /[\u0000-\u001f]/.test(p)) return '/';
  return p;
}

function stringList(v: unknown): string[] | null {
  if (Array.isArray(v) && v.every((g) => typeof g === 'string')) return v as string[];
  if (typeof v === 'string') return [v];
  return null;
}

export class OidcLogin {
  private config: Promise<oidc.Configuration> | null = null;
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly o: OidcLoginOptions) {}

  private configuration(): Promise<oidc.Configuration> {
    if (!this.config) {
      const auth = this.o.clientSecret !== null ? oidc.ClientSecretBasic(this.o.clientSecret) : oidc.None();
      const options = this.o.allowHttp ? { execute: [oidc.allowInsecureRequests] } : {};
      this.config = oidc.discovery(new URL(this.o.issuer), this.o.login.clientId, undefined, auth, { ...options, timeout: 10 }).catch((e: unknown) => {
        this.config = null; // try again on the next login
        throw new GatehouseError('GH_ERR_IDP_UNAVAILABLE', 'the identity provider cannot be reached for login; try again shortly', { detail: (e as Error).message, cause: e });
      });
    }
    return this.config;
  }

  /** Starts a login: the state (for the browser-binding cookie) and the IdP URL to send the browser to. */
  async begin(returnTo: string): Promise<{ state: string; url: string }> {
    const config = await this.configuration();
    const now = Date.now();
    for (const [k, p] of this.pending) if (now - p.createdAt > PENDING_TTL_MS) this.pending.delete(k);
    while (this.pending.size >= PENDING_MAX) {
      const oldest = this.pending.keys().next().value;
      if (oldest === undefined) break;
      this.pending.delete(oldest);
    }
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    this.pending.set(state, { codeVerifier, nonce, returnTo: safeReturnPath(returnTo), createdAt: now });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.o.redirectUrl(),
      scope: this.o.login.scopes.join(' '),
      response_type: 'code',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { state, url: url.href };
  }

  /** Takes the pending login of a state (once); null when unknown or expired. */
  take(state: string): Pending | null {
    const p = this.pending.get(state);
    if (!p) return null;
    this.pending.delete(state);
    return Date.now() - p.createdAt > PENDING_TTL_MS ? null : p;
  }

  /** Exchanges the code of a callback (its full query string) for a verified Principal. */
  async complete(pending: Pending, state: string, query: string): Promise<Principal> {
    const config = await this.configuration();
    const current = new URL(this.o.redirectUrl());
    current.search = query;
    let tokens;
    try {
      tokens = await oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: pending.codeVerifier, expectedState: state, expectedNonce: pending.nonce, idTokenExpected: true,
      });
    } catch (e) {
      // openid-client's ResponseBodyError carries the IdP's OAuth error; its other errors say what check failed
      const oauth = e as { error?: unknown; error_description?: unknown; code?: unknown };
      const said = typeof oauth.error === 'string' ? ` (${oauth.error}${typeof oauth.error_description === 'string' ? `: ${oauth.error_description}` : ''})` : '';
      throw new GatehouseError('GH_ERR_UNAUTHENTICATED', `the login could not be completed${said}`, { detail: `${String(oauth.code ?? '')} ${(e as Error).message}${said}`.trim(), cause: e });
    }
    const claims = tokens.claims();
    const idToken = tokens.id_token;
    if (!claims || !idToken) throw new GatehouseError('GH_ERR_UNAUTHENTICATED', 'the identity provider returned no id_token');
    let groups = stringList(claims[this.o.groupsClaim]);
    let ciJob = claims[this.o.ciJobClaim ?? ''];
    if (groups === null && config.serverMetadata().userinfo_endpoint) {
      const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub).catch((e: unknown) => {
        throw new GatehouseError('GH_ERR_IDP_UNAVAILABLE', 'the identity provider\'s userinfo could not be read', { detail: (e as Error).message, cause: e });
      });
      groups = stringList(info[this.o.groupsClaim]);
      ciJob ??= this.o.ciJobClaim ? info[this.o.ciJobClaim] : undefined;
    }
    const tokenSha256 = createHash('sha256').update(idToken).digest('hex');
    return {
      subject: claims.sub,
      groups: groups ?? [],
      issuer: claims.iss,
      clientId: this.o.login.clientId,
      tokenId: typeof claims.jti === 'string' ? claims.jti : `sha256:${tokenSha256.slice(0, 16)}`,
      tokenSha256,
      ciJob: typeof ciJob === 'string' || typeof ciJob === 'number' ? String(ciJob) : null,
      expiresAt: typeof claims.exp === 'number' ? claims.exp : null,
    };
  }
}
