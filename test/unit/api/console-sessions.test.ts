import { describe, expect, it } from 'vitest';
import { ConsoleSessions, cookieValue, sessionRef } from '../../../src/api/console-sessions.js';
import { safeReturnPath } from '../../../src/api/oidc-login.js';
import { principal } from '../../support/approvals.js';

/** The console's session store with a mocked clock: deadlines, bound, cookies. */

function store(over: Partial<{ ttlMs: number; idleMs: number; maxSessions: number; secure: boolean }> = {}) {
  let now = 1_000_000;
  const s = new ConsoleSessions({ ttlMs: 8 * 3_600_000, idleMs: 3_600_000, maxSessions: 10, secure: false, ...over, now: () => now });
  return { s, advance: (ms: number) => (now += ms) };
}

describe('ConsoleSessions', () => {
  it('an id is 256 random bits; the store keeps only its hash', () => {
    const { s } = store();
    const { id, session } = s.create(principal('rita', ['dba']));
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.key).toMatch(/^[0-9a-f]{64}$/);
    expect(session.key).not.toContain(id);
    expect(sessionRef(session)).toBe(session.key.slice(0, 16));
    expect(s.get(id)?.principal.subject).toBe('rita');
    expect(s.get(`${id}x`)).toBeNull();
    expect(s.get('')).toBeNull();
  });

  it('ends after the idle timeout, and after the absolute lifetime however busy', () => {
    const { s, advance } = store({ ttlMs: 10_000, idleMs: 4_000 });
    const a = s.create(principal('a', []));
    advance(3_000);
    expect(s.get(a.id)).not.toBeNull();
    advance(3_000);
    expect(s.get(a.id)).not.toBeNull(); // touched 3 s ago
    advance(4_000);
    expect(s.get(a.id)).toBeNull(); // idle 4 s
    const b = s.create(principal('b', []));
    for (let i = 0; i < 3; i++) {
      advance(3_000);
      expect(s.get(b.id)).not.toBeNull();
    }
    advance(1_000);
    expect(s.get(b.id)).toBeNull(); // 10 s after login
    expect(s.size).toBe(0);
  });

  it('is bounded: the least recently used session goes first', () => {
    const { s, advance } = store({ maxSessions: 2 });
    const a = s.create(principal('a', []));
    advance(1);
    const b = s.create(principal('b', []));
    advance(1);
    s.get(a.id);
    s.create(principal('c', []));
    expect(s.size).toBe(2);
    expect(s.get(b.id)).toBeNull();
    expect(s.get(a.id)).not.toBeNull();
  });

  it('CSRF tokens compare in constant time and only to their own session', () => {
    const { s } = store();
    const a = s.create(principal('a', [])).session;
    const b = s.create(principal('b', [])).session;
    expect(s.csrfMatches(a, a.csrfToken)).toBe(true);
    expect(s.csrfMatches(a, b.csrfToken)).toBe(false);
    expect(s.csrfMatches(a, '')).toBe(false);
    expect(s.csrfMatches(a, `${a.csrfToken}x`)).toBe(false);
  });

  it('cookies: HttpOnly, SameSite=Lax, Path=/; with TLS Secure and the __Host- prefix', () => {
    expect(store().s.setCookie('abc')).toBe('gatehouse_session=abc; Path=/; HttpOnly; SameSite=Lax');
    const tls = store({ secure: true }).s;
    expect(tls.cookieName).toBe('__Host-gatehouse_session');
    expect(tls.setCookie('abc')).toBe('__Host-gatehouse_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure');
    expect(tls.clearCookie()).toContain('Max-Age=0');
    expect(cookieValue('a=1; gatehouse_session=xyz; b=2', 'gatehouse_session')).toBe('xyz');
    expect(cookieValue('xgatehouse_session=1', 'gatehouse_session')).toBeNull();
    expect(cookieValue(undefined, 'gatehouse_session')).toBeNull();
  });

  it('after login the browser only goes to a path of the console', () => {
    expect(safeReturnPath('/sessions/abc?x=1')).toBe('/sessions/abc?x=1');
    for (const bad of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'sessions', '/api/auth/logout', '/a\nb', undefined, '']) {
      expect(safeReturnPath(bad)).toBe('/');
    }
  });
});
