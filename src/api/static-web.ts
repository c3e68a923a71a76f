import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The web console's files (web/dist, built by `npm run build --prefix web`), served by the API
 * listener: read once at start into memory (a few hundred KiB), so a request can only ever reach a
 * file that was in the build. Client routes (/sessions/..., /approvals) get index.html (SPA
 * fallback). Every answer carries a strict Content-Security-Policy: scripts and styles from this
 * origin only (asciinema-player's terminal is WebAssembly, hence 'wasm-unsafe-eval'; its player
 * sets inline styles), no frames, no other origin, no fonts or CDNs from elsewhere.
 */

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.wasm': 'application/wasm', '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8', '.map': 'application/json',
};

interface WebFile {
  body: Buffer;
  type: string;
}

/** web/dist beside the package (dist/api/ and src/api/ are both two levels below the root). */
export function defaultWebDir(): string {
  return fileURLToPath(new URL('../../web/dist', import.meta.url));
}

export interface WebFiles {
  dir: string;
  /** null when the console is not built */
  files: Map<string, WebFile> | null;
}

export function loadWebFiles(dir: string): WebFiles {
  if (!existsSync(join(dir, 'index.html'))) return { dir, files: null };
  const files = new Map<string, WebFile>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else files.set(`/${relative(dir, full).split(sep).join('/')}`, { body: readFileSync(full), type: TYPES[extname(name)] ?? 'application/octet-stream' });
    }
  };
  walk(dir);
  return { dir, files };
}

/** Answers a GET/HEAD outside /api/ from the build; false when it is not the console's to answer. */
export function serveWeb(web: WebFiles, req: FastifyRequest, reply: FastifyReply): boolean {
  if ((req.method !== 'GET' && req.method !== 'HEAD') || req.url.startsWith('/api/') || req.url === '/api') return false;
  const path = decodeURIComponentSafe(req.url.split('?')[0]!.split('#')[0]!);
  reply.header('content-security-policy', CONSOLE_CSP).header('x-frame-options', 'DENY').header('referrer-policy', 'no-referrer');
  if (!web.files) {
    void reply.code(503).type('text/plain; charset=utf-8').send(`The web console is not built (no ${web.dir}/index.html). Build it with: npm ci --prefix web && npm run build --prefix web\n`);
    return true;
  }
  const file = path !== null ? web.files.get(path) : undefined;
  // a missing asset is a 404; any other path is a client route of the single-page app
  const found = file ?? (path !== null && extname(path) === '' ? web.files.get('/index.html') : undefined);
  if (!found) {
    void reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
    return true;
  }
  void reply.code(200).type(found.type).send(found.body);
  return true;
}

function decodeURIComponentSafe(p: string): string | null {
  try {
    return decodeURIComponent(p);
  } catch {
    return null;
  }
}
