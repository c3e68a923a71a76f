import type { WebConnectionConfig } from '../../../src/core/config.js';
import { PathError, recordedQuery, selectConnection, upstreamPath } from '../../../src/protocols/http/request-parts.js';
import { prng, type Rng } from './fuzz-core.js';

/**
 * Fuzz target of the HTTP gateway's request parts, on fuzz-core.ts's PRNG: random and hostile
 * paths (dot segments in every spelling, escapes valid and not, backslashes, NUL, long names),
 * queries and Host headers through upstreamPath, recordedQuery and selectConnection.
 */

const SEGS = ['a', 'items', '', '.', '..', '%2e', '%2E', '.%2e', '%2e%2E', '...', '%2e%2e%2f', '%2f', '%', '%zz', '%c3%a9', '%00', 'é', '\\', '..\\',
  'c', 'api', '%252e%252e', ';', '?', '#', 'x'.repeat(200)];
const KEYS = ['q', 'token', 'api_key', 'Signature', 'page', 'AUTH', 'x', '', 'session_id', 'a b', '%zz', 'passwd', 'limit'];
const VALUES = ['1', '', 'secret-value', '%zz', 'a+b', 'é', '%00', '=', '&'];

export const FUZZ_CONNECTIONS = [
  { name: 'api', hosts: ['API.internal.test'] },
  { name: 'other', hosts: ['other.test', '[::1]'] },
  { name: 'c', hosts: [] },
] as unknown as readonly WebConnectionConfig[];

function randomPath(r: Rng): string {
  const parts: string[] = [];
  for (let i = 0, n = r.int(10); i < n; i++) parts.push(r.pick(SEGS));
  return '/' + parts.join('/');
}

const SECRET = /token|key|secret|password|passwd|signature|sig|auth|credential|session/i;
const isDotSeg = (s: string) => /^(\.|%2e){1,2}$/i.test(s);

/**
 * One case. upstreamPath throws only PathError and never climbs above the base path (no dot
 * segment left in the raw path, the raw path starts with the base); recordedQuery never throws,
 * keeps every parameter (keys outside Object.prototype's names: see the GAP test) and masks every
 * secret-looking one; selectConnection never throws and names only a listed connection or the
 * decoded /c/<name>/ prefix. Returns counts of what was seen (for the coverage checks).
 */
export function fuzzRequestPartsCase(seed: number): { pathError: boolean; decodedDotDot: boolean } {
  const r = prng(seed);
  const fail = (what: string): never => {
    throw new Error(`request-parts fuzz seed ${seed}: ${what}`);
  };
  const base = r.pick(['', '/', '/api', '/api/', '/v2/x']);
  const rest = randomPath(r);
  let pathError = false;
  let decodedDotDot = false;
  try {
    const u = upstreamPath(base, rest);
    const b = base.replace(/\/+$/, '');
    if (!(u.raw === (b || '/') || u.raw.startsWith(`${b}/`))) fail(`raw ${u.raw} is not under the base ${base}`);
    const agent = u.raw.slice(b.length).split('/');
    if (agent.some(isDotSeg)) fail(`a dot segment left in ${u.raw} (from ${rest})`);
    if (u.decoded.includes('\0')) fail('a NUL in the decoded path');
    decodedDotDot = u.decoded.split('/').some((s) => s === '..');
  } catch (e) {
    if (!(e instanceof PathError)) fail(`upstreamPath threw ${(e as Error).name}: ${(e as Error).message}`);
    pathError = true;
  }

  const pairs: string[] = [];
  for (let i = 0, n = r.int(6); i < n; i++) pairs.push(r.next() < 0.1 ? r.pick(KEYS) : `${r.pick(KEYS)}=${r.pick(VALUES)}`);
  const search = (r.next() < 0.5 ? '?' : '') + pairs.join('&');
  let q: Record<string, string | string[]>;
  try {
    q = recordedQuery(search);
  } catch (e) {
    return fail(`recordedQuery threw ${(e as Error).message}`);
  }
  const want = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(search.startsWith('?') ? search.slice(1) : search)) want.set(k, [...(want.get(k) ?? []), SECRET.test(k) ? '****' : v]);
  for (const [k, vs] of want) {
    const got = Object.hasOwn(q, k) ? q[k] : undefined;
    const list = got === undefined ? [] : Array.isArray(got) ? got : [got];
    if (JSON.stringify(list) !== JSON.stringify(vs)) fail(`query ${JSON.stringify(search)}: ${k} recorded as ${JSON.stringify(got)}, want ${JSON.stringify(vs)}`);
  }
  if (Object.keys(q).length !== want.size) fail('recorded query keys that were not sent');

  const host = r.pick([undefined, '', 'api.internal.test', 'API.INTERNAL.TEST:8443', 'other.test', '[::1]:80', '[::1', 'evil.test', ' api.internal.test ']);
  const path = r.next() < 0.5 ? `/c/${r.pick(['api', 'c', '%63', '%zz', '', 'a%2Fb', 'none'])}${r.next() < 0.7 ? randomPath(r) : ''}` : rest;
  let sel: ReturnType<typeof selectConnection>;
  try {
    sel = selectConnection(FUZZ_CONNECTIONS, host, path);
  } catch (e) {
    return fail(`selectConnection threw ${(e as Error).message}`);
  }
  if (sel.by === 'host' && (sel.rest !== path || !FUZZ_CONNECTIONS.some((c) => c.name === sel.name))) fail(`by host: ${JSON.stringify(sel)}`);
  if (sel.by === 'path' && (!path.startsWith('/c/') || !path.endsWith(sel.rest) || !(sel.rest === '' || sel.rest.startsWith('/')))) fail(`by path: ${JSON.stringify(sel)}`);
  if (sel.by === null && (sel.name !== null || sel.rest !== path)) fail(`no connection: ${JSON.stringify(sel)}`);
  return { pathError, decodedDotDot };
}
