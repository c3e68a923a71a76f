import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, importJWK } from 'jose';
import { AUDIENCE, cli, psql, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';

let env: GatewayEnv;
beforeAll(async () => {
  env = await startEnv();
});
afterAll(async () => env?.dispose());

/** A token signed with the issuer's real key, with claims chosen by the test. */
async function forged(claims: Record<string, unknown>, opts: { expiresIn?: number; audience?: string } = {}): Promise<string> {
  const key = await importJWK(env.idp.signingKey, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ groups: ['ci-agents'], client_id: 'forger', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: env.idp.signingKey.kid, typ: 'at+jwt' })
    .setIssuer(env.idp.issuer)
    .setAudience(opts.audience ?? AUDIENCE)
    .setSubject(String(claims.sub ?? 'forger'))
    .setIssuedAt(now - 7200)
    .setExpirationTime(now + (opts.expiresIn ?? 600))
    .setJti(`jti-${Math.random().toString(36).slice(2)}`)
    .sign(key);
}

interface Case {
  name: string;
  token: () => Promise<string>;
  database?: string;
  sqlstate: string;
  message: RegExp;
  code: string;
}

const cases: Case[] = [
  { name: 'a password that is not a token', token: async () => 'hunter2', sqlstate: '28P01', message: /not a JWT/, code: 'GH_ERR_TOKEN_MALFORMED' },
  { name: 'an expired token', token: () => forged({ sub: 'expired-agent' }, { expiresIn: -3600 }), sqlstate: '28P01', message: /expired/, code: 'GH_ERR_TOKEN_EXPIRED' },
  { name: 'a token for another audience', token: () => forged({ sub: 'wrong-aud-agent' }, { audience: 'api://something-else' }), sqlstate: '28P01', message: /audience/, code: 'GH_ERR_TOKEN_AUDIENCE' },
  { name: 'an unknown connection', token: () => env.token('ci-agent'), database: 'payroll', sqlstate: '3D000', message: /no connection named "payroll"/, code: 'GH_ERR_CONNECTION_UNKNOWN' },
  { name: 'a group not mapped to the connection', token: () => env.token('intern-bot'), sqlstate: '42501', message: /none of its groups \(interns\)/, code: 'GH_ERR_ACCESS_DENIED' },
];

describe('refusals: clear errors, real SQLSTATEs, and a record of each', () => {
  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      const r = await psql(env, await c.token(), ['-c', 'SELECT 1'], c.database ? { database: c.database } : {});
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(c.message);
      const [s] = await env.gateway.ledger.listSessions({ status: 'denied', limit: 1 });
      expect(s!.reason).toContain(c.code);
      const recs = await env.gateway.ledger.sessionRecords(s!.id);
      expect(recs).toHaveLength(1);
      expect(recs[0]!.event).toMatchObject({ type: 'auth.denied', code: c.code });
    });
  }

  it('names the SQLSTATE a driver branches on', async () => {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: await env.token('intern-bot') });
    await expect(client.connect()).rejects.toMatchObject({ code: '42501' });
  });

  it('every refusal is listed by `gatehouse sessions --status denied`', async () => {
    const r = await cli(env, ['sessions', '--status', 'denied', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout) as Array<{ status: string; reason: string; subject: string | null }>;
    for (const c of cases) expect(list.some((s) => s.reason.includes(c.code)), c.code).toBe(true);
    expect(list.every((s) => s.status === 'denied')).toBe(true);
    // the denied-but-verified identity is known; the unverifiable ones keep only what they claimed
    expect(list.find((s) => s.reason.includes('GH_ERR_ACCESS_DENIED'))!.subject).toBe('intern-bot');
    const table = await cli(env, ['sessions', '--status', 'denied']);
    expect(table.stdout).toContain('intern-bot');
    expect(table.stdout).toMatch(/denied/);
  });

  it('never stores the token itself, only its SHA-256', async () => {
    const token = await env.token('intern-bot');
    await psql(env, token, ['-c', 'SELECT 1']);
    const recs = [];
    for await (const r of env.gateway.ledger.scan()) recs.push(r.payload);
    const all = recs.join('\n');
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split('.')[2]!);
    const { createHash } = await import('node:crypto');
    expect(all).toContain(createHash('sha256').update(token).digest('hex'));
    expect(env.logText()).not.toContain(token.split('.')[2]!);
  });
});
