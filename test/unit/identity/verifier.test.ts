import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, importJWK } from 'jose';
import { startDevIssuer, type DevIssuer } from '../../../src/identity/dev-issuer.js';
import { TokenVerifier } from '../../../src/identity/verifier.js';
import { parseConfig } from '../../../src/core/config.js';

let idp: DevIssuer;
let verifier: TokenVerifier;
const audience = 'api://gatehouse';

beforeAll(async () => {
  idp = await startDevIssuer({
    audience,
    ciJobClaim: 'ci_job_id',
    clients: [
      { clientId: 'ci-agent', clientSecret: 'ci-agent-secret', groups: ['ci-agents'], ciJob: '4711' },
      { clientId: 'nobody', clientSecret: 'nobody-secret-x', groups: [] },
    ],
  });
  const cfg = parseConfig({ identity: { issuer: idp.issuer, audience, ciJobClaim: 'ci_job_id' }, ledger: { sqlite: 'x' }, listeners: {} });
  verifier = new TokenVerifier(cfg.identity);
});
afterAll(async () => idp.close());

describe('TokenVerifier against a real oidc-provider', () => {
  it('verifies a client_credentials token and reads identity, groups and CI job', async () => {
    const token = await idp.token('ci-agent');
    const p = await verifier.verify(token);
    expect(p.subject).toBe('ci-agent');
    expect(p.groups).toEqual(['ci-agents']);
    expect(p.ciJob).toBe('4711');
    expect(p.clientId).toBe('ci-agent');
    expect(p.tokenId).not.toContain(token);
    expect(p.tokenSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses an expired token with a readable reason', async () => {
    const key = await importJWK(idp.signingKey, 'RS256');
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ groups: ['ci-agents'] })
      .setProtectedHeader({ alg: 'RS256', kid: idp.signingKey.kid })
      .setIssuer(idp.issuer).setAudience(audience).setSubject('ci-agent').setIssuedAt(now - 7200).setExpirationTime(now - 3600)
      .sign(key);
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'GH_ERR_TOKEN_EXPIRED', message: expect.stringContaining('expired at') });
  });
});
