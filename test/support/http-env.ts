import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import type { LoadedConfig } from '../../src/core/config.js';
import { startDevIssuer, type DevIssuer } from '../../src/identity/dev-issuer.js';
import type { LedgerRecord } from '../../src/ledger/ledger.js';
import type { AuditEvent } from '../../src/core/events.js';
import type { Gateway } from '../../src/server.js';
import { AUDIENCE, CLIENTS, runProgram, type RunResult, startConfiguredGateway, allRecordsOf, endedSessionRecords } from './gateway-fixture.js';

/**
 * The HTTP test environment: real Node HTTP and HTTPS servers as upstreams (self-signed CA for the
 * HTTPS one), a real OIDC provider, and the gateway with only its HTTP listener (port 0, SQLite
 * ledger). The upstream keeps what it saw of each request, so tests can tell what reached it.
 */

export const UPSTREAM_BEARER = 'upstream-Bearer-Secret-4c1d9e';
export const UPSTREAM_PASSWORD = 'upstream-Basic-Password-77aa1';
export const UPSTREAM_API_KEY = 'upstream-Header-Key-0b3f52';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bodyBytes: number;
  bodySha256: string;
}

/** A deterministic byte stream of `total` bytes: a pseudo-random 1 MiB block, each chunk stamped with its index. */
const BLOCK = (() => {
  const b = Buffer.allocUnsafe(1024 * 1024);
  for (let o = 0; o < b.length; o += 32) createHash('sha256').update(`block-${o}`).digest().copy(b, o);
  return b;
})();

export function* patternChunks(total: number, chunk = 64 * 1024): Generator<Buffer> {
  let sent = 0;
  let i = 0;
  while (sent < total) {
    const n = Math.min(chunk, total - sent);
    const out = Buffer.from(BLOCK.subarray(sent % BLOCK.length, (sent % BLOCK.length) + n));
    if (n >= 8) out.writeBigUInt64BE(BigInt(i++), 0);
    sent += n;
    yield out.length === n ? out : Buffer.concat([out, Buffer.alloc(n - out.length, 0x5a)]);
  }
}

/** Writes patternChunks(total) to a response as fast as it drains, then ends it. */
export function writePattern(res: ServerResponse, total: number): void {
  const chunks = patternChunks(total);
  const pump = (): void => {
    for (;;) {
      const next = chunks.next();
      if (next.done) return void res.end();
      if (!res.write(next.value)) return void res.once('drain', pump);
    }
  };
  pump();
}

export interface HttpEnv {
  dir: string;
  idp: DevIssuer;
  gateway: Gateway;
  loaded: LoadedConfig;
  /** http://127.0.0.1:PORT of the gateway */
  url: string;
  port: number;
  upstreamPort: number;
  /** what the upstreams saw, in order */
  seen: SeenRequest[];
  logText(): string;
  token(clientId: string): Promise<string>;
  /** runs /usr/bin/curl (fails naming the package when it is missing) */
  curl(args: string[]): Promise<RunResult>;
  /** records of the latest ended session of a subject on a connection */
  sessionRecords(subject: string, connection?: string): Promise<LedgerRecord[]>;
  /** every record in the ledger */
  allRecords(): Promise<Array<{ seq: number; sessionId: string; event: AuditEvent }>>;
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function upstreamHandler(seen: SeenRequest[], held: Set<ServerResponse>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const entry: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: bytes, bodySha256: hash.digest('hex') };
      seen.push(entry);
      const u = new URL(req.url ?? '/', 'http://upstream');
      if (u.pathname.endsWith('/slow')) {
        // never answers: the gateway's timeout has to act
        held.add(res);
        return;
      }
      if (u.pathname.endsWith('/download')) {
        const total = Number(u.searchParams.get('bytes') ?? '0');
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        writePattern(res, total);
        return;
      }
      const body = JSON.stringify({ method: entry.method, url: entry.url, headers: entry.headers, bodyBytes: bytes, bodySha256: entry.bodySha256 });
      res.writeHead(200, {
        'content-type': 'application/json', 'x-request-id': 'req-123', 'connection': 'keep-alive, x-upstream-hop', 'x-upstream-hop': 'should-not-pass',
        'keep-alive': 'timeout=5', 'x-upstream-plain': 'passes', 'set-cookie': 'upstream_session=abc; HttpOnly',
      });
      res.end(body);
    });
  };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  return (server.address() as AddressInfo).port;
}

export async function startHttpEnv(opts: { connections?: Array<Record<string, unknown>>; config?: Record<string, unknown> } = {}): Promise<HttpEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-http-'));
  const cleanups: Array<() => Promise<void>> = [];
  const seen: SeenRequest[] = [];
  const held = new Set<ServerResponse>();
  try {
    const sockets = new Set<Socket>();
    const upstream = createHttpServer(upstreamHandler(seen, held));
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keySize: 2048, algorithm: 'sha256', extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    const secure = createHttpsServer({ cert: pems.cert, key: pems.private }, upstreamHandler(seen, held));
    for (const s of [upstream, secure]) s.on('connection', (sock: Socket) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    const upstreamPort = await listen(upstream);
    const securePort = await listen(secure);
    cleanups.push(async () => {
      for (const r of held) r.destroy();
      for (const s of sockets) s.destroy();
      await Promise.all([upstream, secure].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    });
    writeFileSync(join(dir, 'upstream-ca.pem'), pems.cert);
    writeFileSync(join(dir, 'basic-password'), `${UPSTREAM_PASSWORD}\n`);
    writeFileSync(join(dir, 'api-key'), UPSTREAM_API_KEY);
    const idp = await startDevIssuer({ audience: AUDIENCE, clients: CLIENTS, ciJobClaim: 'ci_job_id' });
    cleanups.push(async () => idp.close());
    const base = `http://127.0.0.1:${upstreamPort}`;
    const raw = {
      identity: { issuer: idp.issuer, audience: AUDIENCE, ciJobClaim: 'ci_job_id' },
      ledger: { sqlite: './ledger.db' },
      listeners: { http: { host: '127.0.0.1', port: 0 } },
      connections: opts.connections ?? [
        { name: 'api', type: 'http', url: `${base}/api`, hosts: ['API.internal.test'], credential: { type: 'bearer', token: UPSTREAM_BEARER }, groups: ['ci-agents', 'dba'] },
        { name: 'basic-api', type: 'http', url: `${base}/basic`, credential: { type: 'basic', username: 'svc', passwordFile: './basic-password' }, groups: ['ci-agents'] },
        { name: 'key-api', type: 'http', url: `${base}/key`, credential: { type: 'header', name: 'X-Api-Key', valueFile: './api-key' }, groups: ['ci-agents'],
          recordHeaders: ['content-type', 'x-api-key', 'x-request-id'] },
        { name: 'secure-api', type: 'http', url: `https://127.0.0.1:${securePort}/v2`, ca: './upstream-ca.pem', credential: { type: 'bearer', token: UPSTREAM_BEARER }, groups: ['ci-agents'] },
        { name: 'slow-api', type: 'http', url: `${base}/api`, credential: { type: 'bearer', token: UPSTREAM_BEARER }, groups: ['ci-agents'], timeout: '300ms' },
        { name: 'dead-api', type: 'http', url: 'http://127.0.0.1:9/api', credential: { type: 'bearer', token: UPSTREAM_BEARER }, groups: ['ci-agents'] },
        { name: 'dba-api', type: 'http', url: `${base}/dba`, groups: ['dba'] },
      ],
      policies: [
        { name: 'no-deletes', connections: ['api'], match: { methods: ['DELETE'], paths: ['/api/items/**'] }, action: 'block', reason: 'items are not deleted by agents' },
        { name: 'deploys-reviewed', connections: ['api'], match: { methods: ['POST'], paths: ['/api/deploy/**'] }, action: 'review', reviewers: ['dba'], timeout: '1m' },
      ],
      log: { level: 'debug' },
      ...opts.config,
    };
    const { gateway, loaded, logText } = await startConfiguredGateway(dir, raw, cleanups);
    const port = gateway.http!.address.port;
    const dispose = async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    };
    return {
      dir, idp, gateway, loaded, port, upstreamPort, seen,
      url: `http://127.0.0.1:${port}`,
      logText,
      token: (clientId) => idp.token(clientId),
      async curl(args) {
        if (!existsSync('/usr/bin/curl')) throw new Error('curl is missing: apt-get install -y curl');
        return runProgram('/usr/bin/curl', ['--silent', '--show-error', ...args]);
      },
      sessionRecords: (subject, connection) => endedSessionRecords(gateway.ledger, subject, connection),
      allRecords: () => allRecordsOf(gateway.ledger),
      dispose,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (e) {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
