import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';
import type { DevClient, DevLoginClient, DevUser } from '../core/config.js';
import { GatehouseError } from '../core/errors.js';
import { handleInteraction, type InteractionProvider } from './dev-login-form.js';

/**
 * DEVELOPMENT ONLY: a real OpenID Provider (oidc-provider) in-process, issuing client_credentials
 * JWT access tokens with a groups claim and an optional CI job claim, and, for the web console's human
 * login, the authorization code flow (PKCE) with a small login form over configured users
 * (dev-login-form.ts) and their groups in the id_token. `npm start` and the tests use it so that the
 * gateway is exercised against a real issuer (discovery, JWKS, signatures).
 * Its signing key is generated at start and lives only in memory.
 */
export interface DevIssuerOptions {
  host?: string;
  port?: number;
  audience: string;
  clients: DevClient[];
  groupsClaim?: string;
  ciJobClaim?: string;
  /** access token lifetime in seconds (default 3600) */
  accessTokenTtl?: number;
  /** people who can log in through the login form */
  users?: DevUser[];
  /** authorization code clients (the web console) */
  loginClients?: DevLoginClient[];
}

export interface DevIssuer {
  issuer: string;
  tokenEndpoint: string;
  /** the private signing key (tests use it to mint deliberately bad tokens with a real kid) */
  signingKey: JWK & { kid: string };
  /** client_credentials grant for one of the configured clients */
  token(clientId: string, extra?: { resource?: string }): Promise<string>;
  close(): Promise<void>;
}

/**
 * oidc-provider's storage interface over a Map: the dev issuer keeps nothing across restarts anyway,
 * and an explicit adapter keeps the provider's "in-memory adapter" warning out of the gateway's output.
 */
class MemoryAdapter {
  private static readonly store = new Map<string, { payload: Record<string, unknown>; expires: number | null }>();
  constructor(private readonly model: string) {}
  private key(id: string): string {
    return `${this.model}:${id}`;
  }
  async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number): Promise<void> {
    MemoryAdapter.store.set(this.key(id), { payload, expires: expiresIn ? Date.now() + expiresIn * 1000 : null });
  }
  async find(id: string): Promise<Record<string, unknown> | undefined> {
    const e = MemoryAdapter.store.get(this.key(id));
    if (!e) return undefined;
    if (e.expires !== null && e.expires < Date.now()) {
      MemoryAdapter.store.delete(this.key(id));
      return undefined;
    }
    return e.payload;
  }
  async findByUserCode(): Promise<undefined> {
    return undefined;
  }
  /** Sessions by uid: tokens bound to a login session (the authorization code flow) are checked against it. */
  async findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
    for (const [k, e] of MemoryAdapter.store) {
      if (k.startsWith(`${this.model}:`) && e.payload.uid === uid) return this.find(k.slice(this.model.length + 1));
    }
    return undefined;
  }
  async consume(id: string): Promise<void> {
    const e = MemoryAdapter.store.get(this.key(id));
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id: string): Promise<void> {
    MemoryAdapter.store.delete(this.key(id));
  }
  async revokeByGrantId(): Promise<void> {}
}

export async function startDevIssuer(opts: DevIssuerOptions): Promise<DevIssuer> {
  const host = opts.host ?? '127.0.0.1';
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new GatehouseError('GH_ERR_CONFIG_INVALID', `dev.issuer: cannot listen on ${host}:${opts.port ?? 0}: ${e.message} (another gateway on this config still running? or change dev.issuer.port and identity.issuer)`)));
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host}:${port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: `dev-${Date.now().toString(36)}`, alg: 'RS256', use: 'sig' };

  const groupsClaim = opts.groupsClaim ?? 'groups';
  const byId = new Map(opts.clients.map((c) => [c.clientId, c]));
  const users = new Map((opts.users ?? []).map((u) => [u.username, u]));
  const loginClientIds = new Set((opts.loginClients ?? []).map((c) => c.clientId));
  const provider = new Provider(issuer, {
    clients: [
      ...opts.clients.map((c) => ({
        client_id: c.clientId,
        client_secret: c.clientSecret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      })),
      ...(opts.loginClients ?? []).map((c) => ({
        client_id: c.clientId,
        ...(c.clientSecret !== undefined ? { client_secret: c.clientSecret, token_endpoint_auth_method: 'client_secret_basic' } : { token_endpoint_auth_method: 'none' }),
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: c.redirectUris,
      })),
    ],
    jwks: { keys: [jwk] },
    adapter: MemoryAdapter,
    ttl: {
      ClientCredentials: opts.accessTokenTtl ?? 3600, AccessToken: opts.accessTokenTtl ?? 3600, AuthorizationCode: 60, IdToken: 3600,
      Interaction: 600, Session: 8 * 3600, Grant: 8 * 3600,
    },
    // the login form's people; the groups claim is released with the `groups` scope
    findAccount: (_ctx: unknown, sub: string) => {
      const u = users.get(sub);
      if (!u) return undefined;
      return {
        accountId: u.username,
        claims: () => ({ sub: u.username, name: u.name ?? u.username, ...(u.email !== undefined ? { email: u.email } : {}), [groupsClaim]: u.groups }),
      };
    },
    claims: { openid: ['sub'], profile: ['name'], email: ['email'], groups: [groupsClaim] },
    // custom claims (groups) in the id_token itself, not only at userinfo
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // the console's login gets an opaque access token (for userinfo), the agents' JWTs for the gateway
        defaultResource: (_ctx: unknown, client: { clientId: string }) => (loginClientIds.has(client.clientId) ? undefined : opts.audience),
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: '',
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: opts.accessTokenTtl ?? 3600,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) => {
      const c = token.clientId ? byId.get(token.clientId) : undefined;
      if (!c) return {};
      const claims: Record<string, unknown> = { [groupsClaim]: c.groups };
      if (opts.ciJobClaim && c.ciJob !== undefined) claims[opts.ciJobClaim] = c.ciJob;
      return claims;
    },
  } as ConstructorParameters<typeof Provider>[1]);
  // keep oidc-provider's own error output out of the gateway's stderr
  provider.on('server_error', () => undefined);
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      handleInteraction(provider as unknown as InteractionProvider, users, req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('login failed');
      });
      return;
    }
    void callback(req, res);
  });

  const tokenEndpoint = `${issuer}/token`;
  return {
    issuer,
    tokenEndpoint,
    signingKey: jwk as JWK & { kid: string },
    async token(clientId, extra = {}) {
      const c = byId.get(clientId);
      if (!c) throw new TypeError(`unknown dev client ${clientId}`);
      const body = new URLSearchParams({ grant_type: 'client_credentials', resource: extra.resource ?? opts.audience });
      const res = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret)}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body,
      });
      const json = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (!res.ok || !json.access_token) throw new Error(`dev issuer refused a token: ${json.error ?? res.status} ${json.error_description ?? ''}`);
      return json.access_token;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
