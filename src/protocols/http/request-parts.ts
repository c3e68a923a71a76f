import type { IncomingHttpHeaders } from 'node:http';
import type { WebConnectionConfig } from '../../core/config.js';

/**
 * Pure pieces of an HTTP request through the gateway: which connection it is for, its path on
 * the upstream (dot segments resolved, never above the connection's base path), the query as
 * recorded (secret-looking values masked), the headers that go on (hop-by-hop ones removed) and
 * the headers that are recorded. No I/O.
 */

export class PathError extends Error {}

/** `/c/<name>/rest` → { name, rest }; null when the path has no connection prefix. */
export function pathPrefix(path: string): { name: string; rest: string } | null {
  if (!path.startsWith('/c/')) return null;
  const end = path.indexOf('/', 3);
  const name = end < 0 ? path.slice(3) : path.slice(3, end);
  if (name === '') return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    return null;
  }
  return { name: decoded, rest: end < 0 ? '' : path.slice(end) };
}

/** The Host header without its port, lower case ("[::1]:8443" → "[::1]"). */
export function hostName(host: string | undefined): string | null {
  if (!host) return null;
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const close = h.indexOf(']');
    return close < 0 ? h : h.slice(0, close + 1);
  }
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

/**
 * The connection a request is for: a Host header listed in a connection's `hosts` (the whole path
 * is then the agent's), else the `/c/<name>/` prefix (stripped). `name` null: neither.
 */
export function selectConnection(
  connections: readonly WebConnectionConfig[], host: string | undefined, path: string,
): { name: string | null; rest: string; by: 'host' | 'path' | null } {
  const h = hostName(host);
  if (h !== null) {
    const c = connections.find((x) => x.hosts.some((n) => n.toLowerCase() === h));
    if (c) return { name: c.name, rest: path, by: 'host' };
  }
  const p = pathPrefix(path);
  if (p) return { name: p.name, rest: p.rest, by: 'path' };
  return { name: null, rest: path, by: null };
}

const isDot = (seg: string) => seg === '.' || seg.toLowerCase() === '%2e';
const isDotDot = (seg: string) => /^(\.|%2e){2}$/i.test(seg);

/** Percent-decodes one segment; malformed escapes are a PathError. */
function decodeSegment(seg: string): string {
  try {
    return decodeURIComponent(seg);
  } catch {
    throw new PathError(`the path has a malformed percent-escape in "${seg}"`);
  }
}

export interface UpstreamPath {
  /** as sent upstream: base path + the agent's path, escapes kept, dot segments resolved */
  raw: string;
  /** percent-decoded, for policy matching */
  decoded: string;
}

/**
 * Joins the connection's base path and the agent's path. Dot segments (also `%2e`) are resolved
 * within the agent's part; one that would climb above the base path is a PathError (a 400).
 */
export function upstreamPath(basePath: string, rest: string): UpstreamPath {
  if (rest.includes('\\')) throw new PathError('the path contains a backslash');
  const base = basePath.replace(/\/+$/, '');
  const segs = rest.split('/').slice(1);
  const out: string[] = [];
  for (const [i, seg] of segs.entries()) {
    const last = i === segs.length - 1;
    if (isDot(seg)) {
      if (last) out.push('');
      continue;
    }
    if (isDotDot(seg)) {
      if (out.length === 0) throw new PathError('the path climbs above the connection\'s base path ("..")');
      out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(seg);
  }
  const tail = out.length > 0 ? `/${out.join('/')}` : '';
  const raw = `${base}${tail}` || '/';
  const segments = raw.split('/').map(decodeSegment);
  // an encoded slash may be meant (a/b as one segment), but not one that hides a dot segment:
  // `..%2fadmin` is matched by policies as written, and an upstream that decodes %2F first would
  // resolve it above the path the policy saw
  for (const seg of segments) {
    if (/[/\\]/.test(seg) && seg.split(/[/\\]/).some((x) => x === '.' || x === '..')) {
      throw new PathError(`the path has a dot segment hidden behind an encoded slash ("${seg}")`);
    }
  }
  const decoded = segments.join('/');
  if (decoded.includes('\0')) throw new PathError('the path contains a NUL byte');
  return { raw, decoded };
}

const SECRET_NAME = /token|key|secret|password|passwd|signature|sig|auth|credential|session/i;

/** Query parameters as recorded: secret-looking names keep "****" as their value. */
export function recordedQuery(search: string): Record<string, string | string[]> {
  // a Map, not an object: names such as `constructor` or `__proto__` are recorded as sent
  const out = new Map<string, string | string[]>();
  const q = search.startsWith('?') ? search.slice(1) : search;
  for (const [k, v] of new URLSearchParams(q)) {
    const value = SECRET_NAME.test(k) ? '****' : v;
    const had = out.get(k);
    out.set(k, had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value]);
  }
  return Object.fromEntries(out);
}

/** RFC 9110 §7.6.1 connection-specific fields, plus the proxy credentials of the hop. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

type HeaderValue = string | string[] | undefined;

/** Headers without the hop-by-hop ones, including those the Connection header names. */
export function withoutHopByHop(headers: Record<string, HeaderValue>): Record<string, string | string[]> {
  const listed = new Set<string>();
  const conn = headers['connection'] ?? headers['Connection'];
  for (const v of conn === undefined ? [] : Array.isArray(conn) ? conn : [conn]) {
    for (const name of v.split(',')) if (name.trim() !== '') listed.add(name.trim().toLowerCase());
  }
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    if (v === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = v;
  }
  return out;
}

const NEVER_RECORDED = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

/** The `recordHeaders` present (lower-case names, several values joined with ", "); never credentials. */
export function recordedHeaders(headers: IncomingHttpHeaders | Record<string, HeaderValue>, names: readonly string[], credentialHeader: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  const cred = credentialHeader?.toLowerCase() ?? null;
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  for (const n of names) {
    const name = n.toLowerCase();
    if (NEVER_RECORDED.has(name) || name === cred) continue;
    const v = lower.get(name);
    if (v === undefined) continue;
    out[name] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/** Content types whose bodies are sampled as text in the ledger. */
export function isTextual(contentType: string | undefined | null): boolean {
  if (!contentType) return false;
  const t = contentType.split(';')[0]!.trim().toLowerCase();
  return t.startsWith('text/') || t === 'application/json' || t.endsWith('+json') || t === 'application/xml' || t.endsWith('+xml')
    || t === 'application/x-www-form-urlencoded';
}
