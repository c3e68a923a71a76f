import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';
import type { DevClient } from '../core/config.js';

/**
 * DEVELOPMENT ONLY: a real OpenID Provider (oidc-provider) in-process, issuing client_credentials
 * JWT access tokens with a groups claim and an optional CI job claim. `npm start` and the tests use
 * it so that the gateway is exercised against a real issuer (discovery, JWKS, signatures).
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
  async findByUid(): Promise<undefined> {
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
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host}:${port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: `dev-${Date.now().toString(36)}`, alg: 'RS256', use: 'sig' };

  const groupsClaim = opts.groupsClaim ?? 'groups';
  const byId = new Map(opts.clients.map((c) => [c.clientId, c]));
  const provider = new Provider(issuer, {
    clients: opts.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys: [jwk] },
    adapter: MemoryAdapter,
    ttl: { ClientCredentials: opts.accessTokenTtl ?? 3600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => opts.audience,
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
  server.on('request', provider.callback());

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
