import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../identity/principal.js';

/**
 * The web console's login sessions: a browser holds an opaque random id in an HttpOnly cookie; the
 * gateway keeps, in memory, who it belongs to (the Principal the login yielded), a CSRF token and
 * two deadlines (absolute and idle). The store is keyed by the id's SHA-256, so neither a heap dump
 * nor a log line holds a usable cookie, and is bounded: when full, the least recently used session
 * goes. No token of the IdP is kept (the Principal carries only the id_token's hash and id).
 * Sessions end with a restart; people log in again.
 */

export interface ConsoleSession {
  /** SHA-256 (hex) of the cookie value; its first 16 characters name the session in ledger records */
  key: string;
  principal: Principal;
  /** sent back as X-CSRF-Token on every state-changing request */
  csrfToken: string;
  createdAt: number;
  expiresAt: number;
  lastSeen: number;
}

export interface ConsoleSessionOptions {
  /** ms from login to the end of the session */
  ttlMs: number;
  /** ms without a request after which the session ends */
  idleMs: number;
  maxSessions: number;
  /** Secure cookie (the API listener has TLS): the cookie is then named with the __Host- prefix */
  secure: boolean;
  now?: () => number;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export class ConsoleSessions {
  private readonly byKey = new Map<string, ConsoleSession>();
  private readonly now: () => number;
  readonly cookieName: string;

  constructor(private readonly o: ConsoleSessionOptions) {
    this.now = o.now ?? Date.now;
    this.cookieName = o.secure ? '__Host-gatehouse_session' : 'gatehouse_session';
  }

  get size(): number {
    return this.byKey.size;
  }

  /** A new session for a principal: returns the cookie value (only the browser keeps it) and the session. */
  create(principal: Principal): { id: string; session: ConsoleSession } {
    const now = this.now();
    this.sweep(now);
    // a Map iterates in insertion order and get() re-inserts: the first key is the least recently used
    while (this.byKey.size >= this.o.maxSessions) {
      const oldest = this.byKey.keys().next().value;
      if (oldest === undefined) break;
      this.byKey.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const session: ConsoleSession = {
      key: sha256(id), principal, csrfToken: randomBytes(32).toString('base64url'), createdAt: now, expiresAt: now + this.o.ttlMs, lastSeen: now,
    };
    this.byKey.set(session.key, session);
    return { id, session };
  }

  /** The live session of a cookie value, touched; null when unknown, expired or idle too long. */
  get(id: string): ConsoleSession | null {
    if (id.length === 0 || id.length > 128) return null;
    const key = sha256(id);
    const s = this.byKey.get(key);
    if (!s) return null;
    const now = this.now();
    if (now >= s.expiresAt || now - s.lastSeen >= this.o.idleMs) {
      this.byKey.delete(key);
      return null;
    }
    s.lastSeen = now;
    this.byKey.delete(key);
    this.byKey.set(key, s);
    return s;
  }

  delete(s: ConsoleSession): void {
    this.byKey.delete(s.key);
  }

  csrfMatches(s: ConsoleSession, given: string): boolean {
    const a = Buffer.from(s.csrfToken);
    const b = Buffer.from(given);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Set-Cookie for a new session (a session cookie in the browser; the server enforces the deadlines). */
  setCookie(id: string): string {
    return `${this.cookieName}=${id}; Path=/; HttpOnly; SameSite=Lax${this.o.secure ? '; Secure' : ''}`;
  }

  clearCookie(): string {
    return `${this.cookieName}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${this.o.secure ? '; Secure' : ''}`;
  }

  private sweep(now: number): void {
    for (const [k, s] of this.byKey) if (now >= s.expiresAt || now - s.lastSeen >= this.o.idleMs) this.byKey.delete(k);
  }
}

/** One cookie's value from a Cookie header (RFC 6265 syntax; the first of several with that name). */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

/** The short name of a session in ledger records and logs: not the cookie, not enough to rebuild it. */
export const sessionRef = (s: ConsoleSession) => s.key.slice(0, 16);
