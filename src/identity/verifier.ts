import { createHash } from 'node:crypto';
import {
  createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload,
} from 'jose';
import type { Config } from '../core/config.js';
import { GatehouseError, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { silentLogger } from '../core/log.js';
import type { Principal } from './principal.js';

type IdentityConfig = Config['identity'];

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
const MAX_GROUPS = 1000;
const DISCOVERY_RETRY_MS = 5_000;

/** What a token that did not verify claimed about itself (unverified; for the denial record only). */
export interface ClaimedIdentity {
  subject: string | null;
  issuer: string | null;
  tokenSha256: string;
}

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Reads sub/iss from a token without trusting it, for recording a refusal. Never throws. */
export function claimedIdentity(token: string): ClaimedIdentity {
  const sha = tokenSha256(token);
  try {
    const p = decodeJwt(token);
    const str = (v: unknown) => (typeof v === 'string' && v.length <= 512 ? v : null);
    return { subject: str(p.sub), issuer: str(p.iss), tokenSha256: sha };
  } catch {
    return { subject: null, issuer: null, tokenSha256: sha };
  }
}

function assertIssuerUrl(cfg: IdentityConfig): void {
  const u = new URL(cfg.issuer);
  if (u.protocol === 'https:') return;
  if (u.protocol === 'http:' && (LOOPBACK.has(u.hostname) || cfg.allowInsecureIssuer)) return;
  throw new GatehouseError(
    'GH_ERR_CONFIG_INVALID',
    `identity.issuer must use https:// (http:// is accepted only on a loopback address, or with allowInsecureIssuer: true): ${cfg.issuer}`,
  );
}

function fail(code: ErrorCode, message: string, detail?: string): never {
  throw new GatehouseError(code, message, detail === undefined ? {} : { detail });
}

function iso(seconds: unknown): string {
  return typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : 'an unknown time';
}

/**
 * Verifies OIDC access tokens as a relying party: discovery once (then the JWKS), signature with an
 * asymmetric algorithm from the allowlist, issuer, audience, exp/nbf with a small clock tolerance,
 * and a maximum token size checked before any parsing. jose's remote JWKS caches keys and refetches
 * once when a token names an unknown kid (key rotation), with a cooldown against abuse.
 * It never calls an IdP admin API; the only requests are discovery and the JWKS.
 */
export class TokenVerifier {
  private jwks: ReturnType<typeof createRemoteJWKSet> | null = null;
  private discovering: Promise<void> | null = null;
  private lastDiscoveryFailure = 0;
  private lastDiscoveryError = '';
  private readonly audiences: string[];

  constructor(
    private readonly cfg: IdentityConfig,
    private readonly log: Logger = silentLogger,
  ) {
    assertIssuerUrl(cfg);
    this.audiences = Array.isArray(cfg.audience) ? cfg.audience : [cfg.audience];
    if (cfg.jwksUri) this.jwks = this.remoteSet(cfg.jwksUri);
  }

  private remoteSet(uri: string) {
    return createRemoteJWKSet(new URL(uri), { timeoutDuration: 5_000, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 });
  }

  /** Fetches the discovery document and prepares the JWKS. Safe to call repeatedly. */
  async discover(): Promise<void> {
    if (this.jwks) return;
    this.discovering ??= (async () => {
      const url = `${this.cfg.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5_000), redirect: 'error' });
        if (!res.ok) throw new Error(`HTTP ${res.status} from ${url}`);
        const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
        if (doc.issuer !== this.cfg.issuer) {
          throw new Error(`discovery document names issuer ${String(doc.issuer)}, config says ${this.cfg.issuer}`);
        }
        if (typeof doc.jwks_uri !== 'string') throw new Error(`discovery document at ${url} has no jwks_uri`);
        this.jwks = this.remoteSet(doc.jwks_uri);
        this.log.info({ issuer: this.cfg.issuer, jwksUri: doc.jwks_uri }, 'OIDC discovery done');
      } catch (e) {
        this.lastDiscoveryFailure = Date.now();
        this.lastDiscoveryError = (e as Error).message;
        throw e;
      } finally {
        this.discovering = null;
      }
    })();
    return this.discovering;
  }

  private async keySet() {
    if (this.jwks) return this.jwks;
    if (Date.now() - this.lastDiscoveryFailure < DISCOVERY_RETRY_MS) {
      fail('GH_ERR_IDP_UNAVAILABLE', 'the identity provider cannot be reached, so the token cannot be verified; try again shortly', this.lastDiscoveryError);
    }
    try {
      await this.discover();
    } catch (e) {
      fail('GH_ERR_IDP_UNAVAILABLE', 'the identity provider cannot be reached, so the token cannot be verified; try again shortly', (e as Error).message);
    }
    return this.jwks!;
  }

  async verify(token: string): Promise<Principal> {
    if (token.length === 0) fail('GH_ERR_TOKEN_MISSING', 'no token: send your OIDC access token as the password');
    if (Buffer.byteLength(token) > this.cfg.maxTokenBytes) {
      fail('GH_ERR_TOKEN_TOO_LARGE', `the token is larger than the ${this.cfg.maxTokenBytes} bytes this gateway accepts`);
    }
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      fail('GH_ERR_TOKEN_MALFORMED', 'the password is not a JWT access token (expected header.payload.signature)');
    }
    if (typeof alg !== 'string' || !(this.cfg.algorithms as string[]).includes(alg)) {
      fail('GH_ERR_TOKEN_ALGORITHM', `tokens signed with ${String(alg)} are not accepted (allowed: ${this.cfg.algorithms.join(', ')})`);
    }
    const jwks = await this.keySet();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: this.cfg.issuer,
        audience: this.audiences,
        algorithms: this.cfg.algorithms,
        clockTolerance: Math.round(this.cfg.clockTolerance / 1000),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (e) {
      this.rethrow(e);
    }
    // jose checks "iat" only against a maxTokenAge; a token issued in the future is not valid yet
    if (typeof payload.iat === 'number' && payload.iat > Math.floor(Date.now() / 1000) + Math.round(this.cfg.clockTolerance / 1000)) {
      fail('GH_ERR_TOKEN_NOT_YET_VALID', `the token is not valid yet (issued at ${iso(payload.iat)}); check the clock`);
    }
    return this.principal(token, payload);
  }

  private rethrow(e: unknown): never {
    const detail = e instanceof Error ? e.message : String(e);
    if (e instanceof joseErrors.JWTExpired) fail('GH_ERR_TOKEN_EXPIRED', `the token expired at ${iso(e.payload.exp)}; get a new one from your identity provider`, detail);
    if (e instanceof joseErrors.JWTClaimValidationFailed) {
      switch (e.claim) {
        case 'iss':
          fail('GH_ERR_TOKEN_ISSUER', `the token was issued by ${String(e.payload.iss)}, this gateway trusts only ${this.cfg.issuer}`, detail);
        case 'aud':
          fail('GH_ERR_TOKEN_AUDIENCE', `the token is not meant for this gateway (audience must include ${this.audiences.join(' or ')})`, detail);
        case 'nbf':
        case 'iat':
          fail('GH_ERR_TOKEN_NOT_YET_VALID', `the token is not valid yet (not before ${iso(e.payload.nbf ?? e.payload.iat)}); check the clock`, detail);
        default:
          fail('GH_ERR_TOKEN_CLAIMS', `the token's "${e.claim}" claim is ${e.reason === 'missing' ? 'missing' : 'invalid'}`, detail);
      }
    }
    if (e instanceof joseErrors.JOSEAlgNotAllowed || e instanceof joseErrors.JOSENotSupported) fail('GH_ERR_TOKEN_ALGORITHM', 'the token is signed with an algorithm this gateway does not accept', detail);
    if (e instanceof joseErrors.JWKSNoMatchingKey) fail('GH_ERR_TOKEN_KEY_UNKNOWN', 'the token was signed with a key the identity provider does not publish', detail);
    if (e instanceof joseErrors.JWSSignatureVerificationFailed) fail('GH_ERR_TOKEN_SIGNATURE', 'the token signature is not valid (was it altered?)', detail);
    if (e instanceof joseErrors.JWKSTimeout || e instanceof joseErrors.JWKSInvalid) fail('GH_ERR_IDP_UNAVAILABLE', 'the identity provider keys cannot be fetched right now; try again shortly', detail);
    if (e instanceof joseErrors.JWSInvalid || e instanceof joseErrors.JWTInvalid) fail('GH_ERR_TOKEN_MALFORMED', 'the token is not a well-formed JWT', detail);
    if (e instanceof TypeError || (e instanceof Error && /fetch|ECONNREFUSED|ENOTFOUND/i.test(e.message))) {
      fail('GH_ERR_IDP_UNAVAILABLE', 'the identity provider keys cannot be fetched right now; try again shortly', detail);
    }
    fail('GH_ERR_TOKEN_MALFORMED', 'the token could not be verified', detail);
  }

  private principal(token: string, p: JWTPayload): Principal {
    const sha = tokenSha256(token);
    const str = (v: unknown, max = 1024): string | null => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : null);
    const subject = str(p.sub);
    if (!subject) fail('GH_ERR_TOKEN_CLAIMS', 'the token has no usable "sub" claim');
    const raw = p[this.cfg.groupsClaim];
    let groups: string[];
    if (raw === undefined) groups = [];
    else if (typeof raw === 'string') groups = [raw];
    else if (Array.isArray(raw) && raw.length <= MAX_GROUPS && raw.every((g) => typeof g === 'string' && g.length <= 256)) groups = raw as string[];
    else fail('GH_ERR_TOKEN_CLAIMS', `the token's "${this.cfg.groupsClaim}" claim must be a list of group names`);
    let ciJob: string | null = null;
    if (this.cfg.ciJobClaim) {
      const v = p[this.cfg.ciJobClaim];
      ciJob = typeof v === 'number' && Number.isFinite(v) ? String(v) : str(v, 256);
    }
    const jti = str(p.jti, 256);
    return {
      subject,
      groups,
      issuer: this.cfg.issuer,
      clientId: str(p.client_id, 256) ?? str(p.azp, 256) ?? str(p.cid, 256),
      tokenId: jti ?? `sha256:${sha.slice(0, 16)}`,
      tokenSha256: sha,
      ciJob,
      expiresAt: typeof p.exp === 'number' ? p.exp : null,
    };
  }
}
