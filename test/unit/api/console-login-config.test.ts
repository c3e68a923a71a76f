import { describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig } from '../../../src/core/config.js';

/** console.login and the dev issuer's users and login clients in the config schema. */

const base = { identity: { issuer: 'https://idp.example', audience: 'api://gatehouse' }, ledger: { sqlite: './l.db' }, listeners: {} };
const roles = { auditors: ['a'] };

describe('console.login config', () => {
  it('defaults: the usual scopes, 8 h sessions, 1 h idle, 1000 sessions', () => {
    const c = parseConfig({ ...base, console: { roles, login: { clientId: 'gatehouse-console' } } });
    expect(c.console!.login).toEqual({
      clientId: 'gatehouse-console', scopes: ['openid', 'profile', 'email', 'groups'], sessionTtl: 8 * 3_600_000, idleTimeout: 3_600_000, maxSessions: 1000,
    });
  });

  it('refuses both a secret and a secret file, scopes without openid, unknown keys', () => {
    expect(() => parseConfig({ ...base, console: { roles, login: { clientId: 'c', clientSecret: 's', clientSecretFile: './f' } } })).toThrow(/either clientSecret or clientSecretFile/);
    expect(() => parseConfig({ ...base, console: { roles, login: { clientId: 'c', scopes: ['profile'] } } })).toThrow(/must include openid/);
    expect(() => parseConfig({ ...base, console: { roles, login: { clientId: 'c', cookieName: 'x' } } })).toThrow(/cookieName/);
    expect(() => parseConfig({ ...base, console: { roles, login: { clientId: 'c', redirectUrl: 'not a url' } } })).toThrow(/redirectUrl/);
  });

  it('dev.issuer takes users and authorization code clients; the demo config has a working console login', () => {
    const c = parseConfig({
      ...base,
      dev: { issuer: { clients: [{ clientId: 'x', clientSecret: 'secret-123' }], users: [{ username: 'rita', password: 'rita-pass', groups: ['dba'] }], loginClients: [{ clientId: 'gatehouse-console', redirectUris: ['http://127.0.0.1:1/cb'] }] } },
    });
    expect(c.dev!.issuer!.users).toEqual([{ username: 'rita', password: 'rita-pass', groups: ['dba'] }]);
    expect(() => parseConfig({ ...base, dev: { issuer: { clients: [{ clientId: 'x', clientSecret: 'secret-123' }], users: [{ username: 'r', password: 'short' }] } } })).toThrow(/password/);
    const demo = loadConfigFile('examples/dev.yaml', {}).config;
    expect(demo.console?.login?.clientId).toBe('gatehouse-console');
    const client = demo.dev!.issuer!.loginClients.find((l) => l.clientId === demo.console!.login!.clientId)!;
    expect(client.clientSecret).toBe(demo.console!.login!.clientSecret);
    expect(client.redirectUris).toEqual([`http://127.0.0.1:${demo.listeners.api!.port}/api/auth/callback`]);
    expect(demo.dev!.issuer!.users.map((u) => u.username)).toEqual(['rita', 'ann']);
    expect(demo.dev!.issuer!.users.find((u) => u.username === 'rita')!.groups.some((g) => demo.console!.roles.reviewers.includes(g))).toBe(true);
  });
});
