import { createHash } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/core/events.js';
import { startHttpEnv, writePattern, type HttpEnv } from '../../support/http-env.js';
import { settled } from './settled.js';

/**
 * Slow and stuck peers on the HTTP gateway (issue 8). test/integration/http/streaming.test.ts
 * already covers an upstream that never sends its headers (504) and an unreachable one (502);
 * here: an agent that stops reading a large download (the gateway stops reading the upstream, so
 * what is in flight stays bounded; the transfer completes when the agent reads again, and one that
 * takes nothing for limits.stalledClientTimeout is cut) and an
 * upstream that stalls in the middle of a body (the connection's timeout cuts it, and it is
 * recorded as an error with the bytes that did pass).
 */

const MB = 1024 * 1024;
const TOTAL = 512 * MB;
const STALL_MS = 6_000;

interface Upstream {
  server: Server;
  port: number;
  /** bytes the upstream's sockets have handed to the kernel, by path */
  written: Map<string, () => number>;
  held: Set<ServerResponse>;
}

async function startUpstream(): Promise<Upstream> {
  const written = new Map<string, () => number>();
  const held = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const sock = req.socket;
    const base = sock.bytesWritten;
    written.set(req.url ?? '', () => sock.bytesWritten - base);
    if (req.url?.endsWith('/big')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(TOTAL) });
      writePattern(res, TOTAL);
    } else if (req.url?.endsWith('/stall')) {
      // headers and 1 MiB of body, then nothing: a stuck upstream
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(8 * MB) });
      res.write(Buffer.alloc(MB, 0x61));
      held.add(res);
    } else {
      res.end('ok');
    }
  });
  server.on('connection', (s: Socket) => s.on('error', () => undefined));
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  return { server, port: (server.address() as AddressInfo).port, written, held };
}


/** A raw HTTP/1.1 client that can stop reading: counts (and hashes) body bytes as they come. */
function rawGet(port: number, path: string, token: string) {
  const s = connect(port, '127.0.0.1');
  let received = 0;
  let headerDone = false;
  let head = Buffer.alloc(0);
  const hash = createHash('sha256');
  s.on('data', (d: Buffer) => {
    if (!headerDone) {
      head = Buffer.concat([head, d]);
      const i = head.indexOf('\r\n\r\n');
      if (i < 0) return;
      headerDone = true;
      d = head.subarray(i + 4);
      head = head.subarray(0, i);
    }
    received += d.length;
    hash.update(d);
  });
  s.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
  return { socket: s, received: () => received, head: () => head.toString('latin1'), digest: () => hash.digest('hex'), closed };
}

let up: Upstream;
let env: HttpEnv;
let token: string;

beforeAll(async () => {
  up = await startUpstream();
  const url = `http://127.0.0.1:${up.port}/u`;
  env = await startHttpEnv({
    connections: [
      { name: 'big', type: 'http', url, groups: ['ci-agents'] },
      { name: 'big-short', type: 'http', url, groups: ['ci-agents'], timeout: '500ms' },
      { name: 'stall', type: 'http', url, groups: ['ci-agents'], timeout: '500ms' },
    ],
    // a paused reader is a slow one for a few seconds, a stalled one after STALL_MS
    config: { limits: { stalledClientTimeout: STALL_MS } },
  });
  token = await env.token('ci-agent');
});
afterAll(async () => {
  await env?.dispose();
  for (const r of up?.held ?? []) r.destroy();
  up?.server.closeAllConnections();
  await new Promise<void>((resolve) => (up ? up.server.close(() => resolve()) : resolve()));
});

const responseOf = (events: AuditEvent[]) => events.find((e): e is Extract<AuditEvent, { type: 'http.response' }> => e.type === 'http.response')!;

describe('HTTP gateway: slow and stuck peers', () => {
  it('an agent that stops reading a 512 MiB download: the gateway stops reading the upstream; bounded; completes when the agent reads again', async () => {
    const c = rawGet(env.port, '/c/big/big', token);
    // read until 16 MiB has come, then stop reading
    for (const end = Date.now() + 30_000; c.received() < 16 * MB && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    c.socket.pause();
    const rss0 = process.memoryUsage().rss;
    const upstream = up.written.get('/u/big')!;
    const stuck = await settled(upstream, 1_500, 60_000);
    expect(stuck.quiet, 'the upstream kept sending to a gateway whose agent stopped reading').toBe(true);
    const inFlight = stuck.value - c.received();
    // what the upstream sent and the agent has not read: kernel socket buffers on both hops and the
    // gateway's stream buffers; the agent would have had to read 496 MiB more for the whole body
    expect(inFlight).toBeLessThan(32 * MB);
    expect(stuck.value).toBeLessThan(TOTAL / 4);
    // the gateway runs in this process: coarse, its memory did not take the body in
    expect(process.memoryUsage().rss - rss0).toBeLessThan(128 * MB);
    // the default 60 s timeout is idle time of the upstream, not of the agent: nothing was cut
    expect(c.socket.destroyed).toBe(false);
    c.socket.resume();
    await c.closed;
    expect(c.received()).toBe(TOTAL);
    const res = responseOf((await env.sessionRecords('ci-agent', 'big')).map((r) => r.event));
    expect(res).toMatchObject({ status: 'ok', statusCode: 200, responseBody: { bytes: TOTAL, sha256: c.digest() } });
    console.log(`slow agent: upstream stopped at ${(stuck.value / MB).toFixed(1)} MiB sent, ${(inFlight / MB).toFixed(1)} MiB in flight`);
  });

  it('an agent that takes nothing for limits.stalledClientTimeout: cut, the upstream released, recorded as interrupted with why', async () => {
    const c = rawGet(env.port, '/c/big-short/big', token);
    for (const end = Date.now() + 30_000; c.received() < 4 * MB && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    c.socket.pause();
    const got = c.received();
    // the connection's own timeout (500 ms) is the upstream's idle time, not the agent's; the
    // gateway cuts the agent that took nothing for STALL_MS: its record (polled) says so
    const res = responseOf((await env.sessionRecords('ci-agent', 'big-short')).map((r) => r.event));
    // a paused socket does not see the reset until it reads again
    c.socket.resume();
    await c.closed;
    expect(c.received()).toBeLessThan(TOTAL);
    expect(c.received()).toBeGreaterThanOrEqual(got);
    expect(res).toMatchObject({ status: 'interrupted', statusCode: 200, error: expect.stringContaining(`took none of the response for ${STALL_MS} ms (limits.stalledClientTimeout)`) });
    expect(res.responseBody.bytes).toBeLessThan(TOTAL);
  });

  it('an upstream that stalls mid-body: the timeout cuts it; the agent sees a truncated body; recorded as an error', async () => {
    const c = rawGet(env.port, '/c/stall/stall', token);
    await c.closed; // the gateway ends it: no sleep, the close is what is observed (vitest's timeout is the deadline)
    expect(c.head()).toMatch(/^HTTP\/1\.1 200/);
    expect(c.received()).toBe(MB);
    const res = responseOf((await env.sessionRecords('ci-agent', 'stall')).map((r) => r.event));
    expect(res).toMatchObject({ status: 'error', statusCode: 200, responseBody: { bytes: MB }, error: expect.stringMatching(/cut off.*UND_ERR_BODY_TIMEOUT|UND_ERR_BODY_TIMEOUT/s) });
  });
});
