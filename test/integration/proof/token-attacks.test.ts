import { createHash, createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, generateKeyPair, importJWK, type JWK } from 'jose';
import pg from 'pg';
import type { AuditEvent } from '../../../src/core/events.js';
import type { DevIssuer } from '../../../src/identity/dev-issuer.js';
import { AUDIENCE, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';
import { startHttpEnv, type HttpEnv } from '../../support/http-env.js';
import { startSshEnv, type SshEnv } from '../../support/ssh-env.js';

/**
 * The token attack matrix: every way a presented token can be wrong, through a real driver
 * (node-postgres) against the gateway and a real OIDC provider. Each one is refused with its own
 * GatehouseError code and a real SQLSTATE, recorded as auth.denied with that code, and the ledger
 * and the log keep only the token's SHA-256, never the token. SSH and HTTP: an expired token each.
 */

type Denied = Extract<AuditEvent, { type: 'auth.denied' }>;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const b64u = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

interface Mint {
  claims?: Record<string, unknown>;
  /** claims to drop from the defaults */
  omit?: string[];
  header?: Record<string, unknown>;
  key?: Parameters<SignJWT['sign']>[0];
}

/** A token signed with the issuer's real key (unless another key is given), claims chosen by the test. */
async function mint(idp: DevIssuer, m: Mint = {}): Promise<string> {
  const t = now();
  const claims: Record<string, unknown> = {
    iss: idp.issuer, aud: AUDIENCE, sub: 'attacker', client_id: 'ci-agent', groups: ['ci-agents'],
    iat: t - 60, exp: t + 600, jti: `jti-${sha256(String(process.hrtime.bigint())).slice(0, 12)}`, ...m.claims,
  };
  for (const k of m.omit ?? []) delete claims[k];
  const key = m.key ?? (await importJWK(idp.signingKey, 'RS256'));
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: idp.signingKey.kid, typ: 'at+jwt', ...m.header }).sign(key);
}

/** Flips one byte of the decoded signature, keeping it valid base64url. */
function flipSignatureByte(token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string];
  const sig = Buffer.from(s, 'base64url');
  sig[Math.floor(sig.length / 2)]! ^= 0x01;
  return `${h}.${p}.${sig.toString('base64url')}`;
}

/** Replaces the payload (here: more groups) and keeps the original signature. */
function tamperPayload(token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
  return `${h}.${b64u({ ...claims, groups: ['dba', 'dpo'] })}.${s}`;
}

function publicPem(jwk: JWK): string {
  const { kty, n, e } = jwk;
  return createPublicKey({ key: { kty, n, e } as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
}

/** A real-key token whose length falls in [min, max]: past the verifier's limit but inside the password frame's slack. */
async function sizedToken(idp: DevIssuer, min: number, max: number): Promise<string> {
  const jti = 'jti-sized';
  const base = (await mint(idp, { claims: { jti, pad: '' } })).length;
  for (let pad = Math.floor(((min - base) * 3) / 4); ; pad++) {
    const t = await mint(idp, { claims: { jti, pad: 'x'.repeat(pad) } });
    if (t.length > max) throw new Error(`no token length in [${min}, ${max}]`);
    if (t.length >= min) return t;
  }
}

interface Case {
  name: string;
  token: (idp: DevIssuer) => Promise<string>;
  code: string;
  sqlstate: string;
  message: RegExp;
}

const cases: Case[] = [
  { name: 'expired', token: (i) => mint(i, { claims: { exp: now() - 3600, iat: now() - 7200 } }), code: 'GH_ERR_TOKEN_EXPIRED', sqlstate: '28P01', message: /expired/ },
  { name: 'not yet valid (nbf an hour ahead)', token: (i) => mint(i, { claims: { nbf: now() + 3600 } }), code: 'GH_ERR_TOKEN_NOT_YET_VALID', sqlstate: '28P01', message: /not valid yet/ },
  { name: 'issued in the future (iat an hour ahead)', token: (i) => mint(i, { claims: { iat: now() + 3600, exp: now() + 7200 } }), code: 'GH_ERR_TOKEN_NOT_YET_VALID', sqlstate: '28P01', message: /not valid yet/ },
  { name: 'from another issuer (real key)', token: (i) => mint(i, { claims: { iss: 'https://idp.evil.example' } }), code: 'GH_ERR_TOKEN_ISSUER', sqlstate: '28P01', message: /issued by https:\/\/idp\.evil\.example/ },
  { name: 'for another audience', token: (i) => mint(i, { claims: { aud: 'api://billing' } }), code: 'GH_ERR_TOKEN_AUDIENCE', sqlstate: '28P01', message: /audience/ },
  {
    name: 'alg: none (unsigned)',
    token: async (i) => `${b64u({ alg: 'none', typ: 'JWT' })}.${b64u({ iss: i.issuer, aud: AUDIENCE, sub: 'attacker', groups: ['dba'], exp: now() + 600 })}.`,
    code: 'GH_ERR_TOKEN_ALGORITHM', sqlstate: '28P01', message: /signed with none are not accepted/,
  },
  {
    name: 'HS256 with the RSA public key as the HMAC secret (key confusion)',
    token: (i) => mint(i, { header: { alg: 'HS256' }, key: new TextEncoder().encode(publicPem(i.signingKey)) }),
    code: 'GH_ERR_TOKEN_ALGORITHM', sqlstate: '28P01', message: /signed with HS256 are not accepted/,
  },
  {
    name: 'signed by an unknown key (unknown kid)',
    token: async (i) => mint(i, { header: { kid: 'attacker-key-1' }, key: (await generateKeyPair('RS256')).privateKey }),
    code: 'GH_ERR_TOKEN_KEY_UNKNOWN', sqlstate: '28P01', message: /key the identity provider does not publish/,
  },
  {
    name: 'signed by another key under the real kid',
    token: async (i) => mint(i, { key: (await generateKeyPair('RS256')).privateKey }),
    code: 'GH_ERR_TOKEN_SIGNATURE', sqlstate: '28P01', message: /signature is not valid/,
  },
  { name: 'a real token with one signature byte flipped', token: async (i) => flipSignatureByte(await i.token('ci-agent')), code: 'GH_ERR_TOKEN_SIGNATURE', sqlstate: '28P01', message: /signature is not valid/ },
  { name: 'a real token with its claims changed, signature kept', token: async (i) => tamperPayload(await i.token('intern-bot')), code: 'GH_ERR_TOKEN_SIGNATURE', sqlstate: '28P01', message: /signature is not valid/ },
  {
    name: 'oversize (just over identity.maxTokenBytes)',
    token: (i) => sizedToken(i, 16 * 1024 + 1, 16 * 1024 + 60), code: 'GH_ERR_TOKEN_TOO_LARGE', sqlstate: '28P01', message: /larger than the 16384 bytes/,
  },
  { name: 'without a groups claim', token: (i) => mint(i, { claims: { sub: 'groupless-agent' }, omit: ['groups'] }), code: 'GH_ERR_ACCESS_DENIED', sqlstate: '42501', message: /none of its groups/ },
  { name: 'without a sub claim', token: (i) => mint(i, { omit: ['sub'] }), code: 'GH_ERR_TOKEN_CLAIMS', sqlstate: '28P01', message: /"sub" claim is missing/ },
  {
    name: 'minted by the real IdP for another resource server',
    token: (i) => i.token('ci-agent', { resource: 'api://billing' }), code: 'GH_ERR_TOKEN_AUDIENCE', sqlstate: '28P01', message: /audience/,
  },
];

let env: GatewayEnv;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => env?.dispose());

async function deniedFor(ledger: GatewayEnv['gateway']['ledger'], token: string): Promise<Denied[]> {
  const sha = sha256(token);
  const out: Denied[] = [];
  for await (const r of ledger.scan()) {
    const e = JSON.parse(r.payload) as AuditEvent;
    if (e.type === 'auth.denied' && (e.claimed?.tokenSha256 === sha || e.identity?.tokenSha256 === sha)) out.push(e);
  }
  return out;
}

describe('token attacks against the PostgreSQL listener', () => {
  const tried: string[] = [];

  for (const c of cases) {
    it(`refuses a token ${c.name}: ${c.code}, SQLSTATE ${c.sqlstate}, recorded`, async () => {
      const token = await c.token(env.idp);
      tried.push(token);
      const client = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: token });
      client.on('error', () => undefined);
      const err = (await client.connect().then(() => null, (e: unknown) => e)) as (Error & { code?: string }) | null;
      await client.end().catch(() => undefined);
      expect(err, 'the connection was accepted').not.toBeNull();
      expect(err!.code).toBe(c.sqlstate);
      expect(err!.message).toMatch(c.message);
      const denied = await deniedFor(env.gateway.ledger, token);
      expect(denied).toEqual([expect.objectContaining({ protocol: 'postgres', code: c.code, connection: 'orders' })]);
    });
  }

  it('a token far beyond the limit is refused before it is read, and recorded', async () => {
    const token = await mint(env.idp, { claims: { pad: 'y'.repeat(200 * 1024) } });
    tried.push(token);
    const client = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: token });
    client.on('error', () => undefined);
    const err = (await client.connect().then(() => null, (e: unknown) => e)) as (Error & { code?: string }) | null;
    await client.end().catch(() => undefined);
    expect(err?.code).toBe('28P01');
    expect(err!.message).toMatch(/larger than the 16384 bytes/);
    const all: Denied[] = [];
    for await (const r of env.gateway.ledger.scan()) {
      const e = JSON.parse(r.payload) as AuditEvent;
      if (e.type === 'auth.denied' && e.code === 'GH_ERR_TOKEN_TOO_LARGE') all.push(e);
    }
    expect(all).toHaveLength(2);
  });

  it('no token, and no signature of one, is in the ledger or the log; their SHA-256 are', async () => {
    expect(tried).toHaveLength(cases.length + 1);
    const payloads: string[] = [];
    for await (const r of env.gateway.ledger.scan()) payloads.push(r.payload);
    const ledger = payloads.join('\n');
    const log = env.logText();
    for (const [i, token] of tried.entries()) {
      const sig = token.split('.')[2]!;
      expect(ledger.includes(token), `token ${i} in the ledger`).toBe(false);
      expect(log.includes(token), `token ${i} in the log`).toBe(false);
      if (sig.length > 0) {
        expect(ledger.includes(sig), `signature ${i} in the ledger`).toBe(false);
        expect(log.includes(sig), `signature ${i} in the log`).toBe(false);
      }
      // the one refused before it was read was never hashed either
      if (i < cases.length) expect(ledger, `digest of token ${i}`).toContain(sha256(token));
    }
  });
});

describe('an expired token over SSH and HTTP', () => {
  let ssh: SshEnv;
  let http: HttpEnv;
  beforeAll(async () => {
    [ssh, http] = await Promise.all([startSshEnv(), startHttpEnv()]);
  });
  afterAll(async () => {
    await Promise.all([ssh?.dispose(), http?.dispose()]);
  });

  const expired = (idp: DevIssuer) => mint(idp, { claims: { sub: 'ci-agent', exp: now() - 3600, iat: now() - 7200 } });

  it('ssh: Permission denied, recorded with protocol ssh and the token only hashed', async () => {
    const token = await expired(ssh.idp);
    const r = await ssh.ssh(token, 'web-1', 'echo should-not-run');
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('Permission denied');
    expect(ssh.sshd.commands()).not.toContain('echo should-not-run\n');
    const denied = await deniedFor(ssh.gateway.ledger, token);
    expect(denied.length).toBeGreaterThan(0);
    expect(denied.every((d) => d.protocol === 'ssh' && d.code === 'GH_ERR_TOKEN_EXPIRED' && d.connection === 'web-1')).toBe(true);
    const all: string[] = [];
    for await (const rec of ssh.gateway.ledger.scan()) all.push(rec.payload);
    expect(all.join('\n')).not.toContain(token.split('.')[2]!);
  });

  it('http: 401, recorded with protocol http and the token only hashed', async () => {
    const token = await expired(http.idp);
    const before = http.seen.length;
    const r = await http.curl(['-i', '-H', `Authorization: Bearer ${token}`, `${http.url}/c/api/items`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 401/);
    expect(r.stdout).toContain('GH_ERR_TOKEN_EXPIRED');
    expect(http.seen.length).toBe(before);
    const denied = await deniedFor(http.gateway.ledger, token);
    expect(denied).toEqual([expect.objectContaining({ protocol: 'http', code: 'GH_ERR_TOKEN_EXPIRED', connection: 'api' })]);
    expect(JSON.stringify(await http.allRecords())).not.toContain(token.split('.')[2]!);
  });
});
