import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { monoUs } from '../../core/clock.js';
import { GatehouseError } from '../../core/errors.js';
import type { KubeStreamEvent } from '../../core/events.js';
import type { Logger } from '../../core/log.js';
import { newTally, type SessionMasker } from '../../masking/session.js';
import { BodyTap } from '../http/body-tap.js';
import type { ForwardOutcome, HttpRoute } from '../http/forward.js';
import { upstreamHeaders } from '../http/forward.js';
import { withoutHopByHop } from '../http/request-parts.js';
import { CastWriter } from '../ssh/asciicast.js';
import { StreamTap } from '../ssh/stream-tap.js';
import type { KubeAttributes } from './attributes.js';
import { SpdyTap } from './spdy-tap.js';
import type { Direction, StreamName, TapSink } from './stream-channels.js';
import { WebSocketTap } from './websocket-tap.js';

/**
 * Kubernetes exec, attach and port-forward: an HTTP/1.1 Upgrade to WebSocket (the v4/v5 channel
 * protocols) or SPDY/3.1, proxied to the API server with the gateway's credential. After the
 * 101 the gateway relays the bytes unchanged both ways (backpressure: a side that cannot take
 * more pauses the other) and a passive tap reads the frames to record stdin, stdout, stderr, the
 * terminal size and the exit status: counted, hashed and sampled into the ledger, and written as an
 * asciicast that `gatehouse replay` plays. A stream the tap cannot read is cut, not relayed blind.
 */

export const UPGRADABLE_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);
/** the error channel carries one small Status object */
const MAX_STATUS_BYTES = 64 * 1024;
/** a resize message is a small JSON object ({"Width":80,"Height":24}) */
const MAX_RESIZE_BYTES = 1024;

/** Why an Upgrade request is not proxied, or null when it may be. */
export function upgradeRefusal(attrs: KubeAttributes | null): GatehouseError | null {
  if (attrs === null) return new GatehouseError('GH_ERR_PROTOCOL', 'the gateway does not proxy protocol upgrades (WebSocket) on HTTP connections');
  if (!attrs.resourceRequest || !UPGRADABLE_SUBRESOURCES.has(attrs.subresource)) {
    return new GatehouseError('GH_ERR_PROTOCOL', 'only exec, attach and portforward requests are upgraded through the gateway');
  }
  return null;
}

export interface UpgradeOptions {
  sessionId: string;
  requestSeq: number;
  recordingsDir: string;
  masker: SessionMasker | null;
  maxStreamBytes: number;
  log: Logger;
}

export type UpgradeOutcome = Pick<ForwardOutcome, 'status' | 'statusCode' | 'responseHeaders' | 'requestTap' | 'responseTap' | 'error' | 'gatewayStatus'> & {
  stream: KubeStreamEvent | null;
};

type Transport = KubeStreamEvent['transport'];

function transportOf(upgrade: string | undefined): Transport | null {
  const u = (upgrade ?? '').trim().toLowerCase();
  if (u === 'websocket') return 'websocket';
  if (u.startsWith('spdy/3.1')) return 'spdy';
  return null;
}

/** The exit code in the error channel's Status: 0 on Success, the ExitCode cause on NonZeroExitCode. */
export function exitFromStatus(text: string): { exitCode: number | null; message: string | null } {
  if (text.trim() === '') return { exitCode: null, message: null };
  let s: { status?: unknown; reason?: unknown; message?: unknown; details?: { causes?: { reason?: unknown; message?: unknown }[] } };
  try {
    s = JSON.parse(text) as typeof s;
  } catch {
    return { exitCode: null, message: text.slice(0, 200) };
  }
  if (s.status === 'Success') return { exitCode: 0, message: null };
  const cause = s.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = cause && typeof cause.message === 'string' && /^\d{1,3}$/.test(cause.message) ? Number(cause.message) : null;
  return { exitCode: s.reason === 'NonZeroExitCode' ? code : null, message: typeof s.message === 'string' ? s.message.slice(0, 500) : null };
}

/** The command of an exec request (`command=` query parameters), for the recording's title. */
function execCommand(target: string): string[] {
  const q = target.indexOf('?');
  return q < 0 ? [] : new URLSearchParams(target.slice(q + 1)).getAll('command');
}

/** What the tap saw, summarised into the stream record. */
class StreamRecorder implements TapSink {
  readonly stdin: StreamTap;
  readonly stdout: StreamTap;
  readonly stderr: StreamTap;
  private status = Buffer.alloc(0);
  private resizeBuf = Buffer.alloc(0);
  violationMessage: string | null = null;
  onViolation: () => void = () => undefined;

  constructor(maxStreamBytes: number, private readonly cast: CastWriter | null) {
    this.stdin = new StreamTap(maxStreamBytes);
    this.stdout = new StreamTap(maxStreamBytes);
    this.stderr = new StreamTap(maxStreamBytes);
  }

  data(stream: StreamName, from: Direction, bytes: Buffer): void {
    switch (stream) {
      case 'stdin':
        this.stdin.add(bytes);
        this.cast?.input(bytes);
        return;
      case 'stdout':
        this.stdout.add(bytes);
        this.cast?.output(bytes);
        return;
      case 'stderr':
        this.stderr.add(bytes);
        this.cast?.output(bytes);
        return;
      case 'error':
        if (this.status.length < MAX_STATUS_BYTES) this.status = Buffer.concat([this.status, bytes.subarray(0, MAX_STATUS_BYTES - this.status.length)]);
        return;
      case 'resize':
        this.resize(bytes);
        return;
      default:
        // port-forward: bytes towards the pod count as stdin, from it as stdout; its error streams as stderr
        if (stream.endsWith('-data')) (from === 'client' ? this.stdin : this.stdout).add(bytes);
        else if (stream.endsWith('-error')) this.stderr.add(bytes);
    }
  }

  private resize(bytes: Buffer): void {
    this.resizeBuf = Buffer.concat([this.resizeBuf, bytes]);
    if (this.resizeBuf.length > MAX_RESIZE_BYTES) {
      this.resizeBuf = Buffer.alloc(0);
      return;
    }
    try {
      const r = JSON.parse(this.resizeBuf.toString('utf8')) as { Width?: unknown; Height?: unknown };
      this.resizeBuf = Buffer.alloc(0);
      if (Number.isInteger(r.Width) && Number.isInteger(r.Height) && (r.Width as number) >= 0 && (r.Height as number) >= 0) {
        this.cast?.resize(r.Width as number, r.Height as number);
      }
    } catch {
      // not a whole object yet
    }
  }

  closed(): void {}

  end(): void {}

  violation(message: string): void {
    this.violationMessage ??= message;
    this.onViolation();
  }

  statusText(): string {
    return this.status.toString('utf8');
  }
}

/** Relays one direction with backpressure, handing each chunk to `seen` first; ends `to` when `from` ends. */
function relay(from: Duplex, to: Duplex, seen: (chunk: Buffer) => void): void {
  from.on('data', (chunk: Buffer) => {
    seen(chunk);
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.once('end', () => to.end());
}

const closed = (s: Duplex) => (s.destroyed && s.closed ? Promise.resolve() : new Promise<void>((resolve) => s.once('close', () => resolve())));

/**
 * Proxies the Upgrade request; never throws. A non-101 answer from the API server (a refusal, a
 * plain response) is passed on to the agent as it is.
 */
export async function proxyUpgrade(
  req: IncomingMessage, res: ServerResponse, upgrade: { socket: Duplex; head: Buffer }, route: HttpRoute, target: string, o: UpgradeOptions,
): Promise<UpgradeOutcome> {
  const started = monoUs();
  const c = route.connection;
  const none = { requestTap: null, responseTap: null, responseHeaders: {}, stream: null };
  const transport = transportOf(req.headers.upgrade);
  if (transport === null) {
    return {
      ...none, status: 'blocked', statusCode: null, gatewayStatus: 400,
      error: new GatehouseError('GH_ERR_PROTOCOL', `the gateway relays WebSocket and SPDY/3.1 upgrades only, not "${String(req.headers.upgrade).slice(0, 40)}"`),
    };
  }
  const headers = upstreamHeaders(req.headers, route, req.socket.remoteAddress ?? '');
  headers['connection'] = 'Upgrade';
  headers['upgrade'] = req.headers.upgrade!;
  // no extension (permessage-deflate) may be negotiated: the tap reads plain frames
  delete headers['sec-websocket-extensions'];

  const up = httpsRequest({
    host: route.host, port: route.port, method: req.method, path: target, headers, ...route.tlsOptions,
    ...(isIP(route.host) === 0 ? { servername: route.host } : {}),
    agent: false,
  });
  const answer = await new Promise<
    | { kind: 'upgrade'; res: IncomingMessage; socket: Duplex; head: Buffer }
    | { kind: 'response'; res: IncomingMessage }
    | { kind: 'error'; err: Error; timeout: boolean }
  >((resolve) => {
    const timer = setTimeout(() => {
      up.destroy(new Error('timeout'));
      resolve({ kind: 'error', err: new Error(`no answer within ${c.timeout} ms`), timeout: true });
    }, c.timeout);
    const done = (v: Parameters<typeof resolve>[0]) => {
      clearTimeout(timer);
      resolve(v);
    };
    up.once('upgrade', (r, s, h) => done({ kind: 'upgrade', res: r, socket: s, head: h }));
    up.once('response', (r) => done({ kind: 'response', res: r }));
    up.once('error', (err) => done({ kind: 'error', err, timeout: false }));
    upgrade.socket.once('close', () => up.destroy(new Error('the agent left')));
    up.end();
  });

  if (answer.kind === 'error') {
    const detail = `${(answer.err as { code?: string }).code ?? ''} ${answer.err.message}`.trim();
    if (upgrade.socket.destroyed) {
      return { ...none, status: 'interrupted', statusCode: null, gatewayStatus: null, error: new GatehouseError('GH_ERR_UPSTREAM_UNAVAILABLE', 'the agent left before the upstream answered', { detail }) };
    }
    return {
      ...none, status: 'error', statusCode: null, gatewayStatus: answer.timeout ? 504 : 502,
      error: new GatehouseError('GH_ERR_UPSTREAM_UNAVAILABLE', answer.timeout ? `the upstream of connection "${c.name}" did not answer within ${c.timeout} ms` : `the gateway cannot reach the upstream of connection "${c.name}" right now`, { detail }),
    };
  }

  if (answer.kind === 'response') {
    // the API server refused the upgrade (403, 400, ...) or answered plainly: pass it on
    const responseHeaders = withoutHopByHop(answer.res.headers);
    const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
    const responseTap = new BodyTap(one(responseHeaders['content-type']), one(responseHeaders['content-encoding']), o.maxStreamBytes);
    try {
      res.writeHead(answer.res.statusCode ?? 502, responseHeaders);
      await pipelineAsync(answer.res, responseTap, res);
      return { ...none, responseTap, responseHeaders, status: 'ok', statusCode: answer.res.statusCode ?? null, gatewayStatus: null, error: null };
    } catch (e) {
      res.destroy();
      return {
        ...none, responseTap, responseHeaders, status: 'error', statusCode: answer.res.statusCode ?? null, gatewayStatus: null,
        error: new GatehouseError('GH_ERR_UPSTREAM_UNAVAILABLE', 'the response was cut off', { detail: (e as Error).message }),
      };
    }
  }

  // 101: the agent gets the API server's answer, then the two sockets are joined
  const upRes = answer.res;
  const upSocket = answer.socket;
  const agent = upgrade.socket;
  const subprotocol = (() => {
    const h = transport === 'websocket' ? upRes.headers['sec-websocket-protocol'] : upRes.headers['x-stream-protocol-version'];
    return typeof h === 'string' && h !== '' ? h : null;
  })();
  const isCommand = !(subprotocol ?? '').startsWith('portforward') && !target.includes('/portforward');
  const tally = newTally();
  const sampleMasker = o.masker?.hasDetectors ? o.masker : null;
  const maskText = o.masker?.hasDetectors ? (t: string) => o.masker!.maskText(t, tally) : undefined;
  const file = `${o.sessionId}.cast`;
  let cast: CastWriter | null = null;
  if (isCommand) {
    try {
      const cmd = execCommand(target);
      cast = await CastWriter.create(join(o.recordingsDir, file), {
        width: 80, height: 24, term: null, timestamp: Date.now() / 1000, ...(cmd.length > 0 ? { title: cmd.join(' ') } : {}),
      }, maskText ? { mask: maskText } : {});
    } catch (e) {
      o.log.error({ err: (e as Error).message }, 'cannot create the exec recording; the stream is refused');
      upSocket.destroy();
      return {
        ...none, status: 'error', statusCode: null, gatewayStatus: 503,
        error: new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', 'the gateway cannot record this stream, so it refuses it', { detail: (e as Error).message }),
      };
    }
  }
  const rec = new StreamRecorder(o.maxStreamBytes, cast);
  let tap: WebSocketTap | SpdyTap;
  try {
    const q = target.indexOf('?');
    const ports = q < 0 ? [] : new URLSearchParams(target.slice(q + 1)).getAll('ports').map(Number).filter((n) => Number.isInteger(n) && n > 0 && n < 65536);
    tap = transport === 'websocket' ? new WebSocketTap(subprotocol ?? '', rec, { portForward: !isCommand, ports }) : new SpdyTap(rec);
  } catch (e) {
    // a subprotocol the tap cannot read: refused before the agent sees the 101
    upSocket.destroy();
    await cast?.close().catch(() => undefined);
    return {
      ...none, status: 'error', statusCode: null, gatewayStatus: 502,
      error: new GatehouseError('GH_ERR_UPSTREAM_PROTOCOL', `the API server chose a stream protocol the gateway cannot record (${subprotocol ?? 'none'}), so the stream is refused`, { detail: (e as Error).message }),
    };
  }
  rec.onViolation = () => {
    agent.destroy();
    upSocket.destroy();
  };

  let head = `HTTP/1.1 101 ${upRes.statusMessage || 'Switching Protocols'}\r\n`;
  for (let i = 0; i < upRes.rawHeaders.length; i += 2) head += `${upRes.rawHeaders[i]}: ${upRes.rawHeaders[i + 1]}\r\n`;
  agent.write(`${head}\r\n`);
  agent.on('error', () => undefined);
  upSocket.on('error', () => undefined);
  const fromAgent = (chunk: Buffer) => tap.push('client', chunk);
  const fromServer = (chunk: Buffer) => tap.push('server', chunk);
  if (upgrade.head.length > 0) {
    fromAgent(upgrade.head);
    upSocket.write(upgrade.head);
  }
  if (answer.head.length > 0) {
    fromServer(answer.head);
    agent.write(answer.head);
  }
  relay(agent, upSocket, fromAgent);
  relay(upSocket, agent, fromServer);
  // one side gone for good (not a half-close) takes the other with it, once what it sent is flushed
  const closeAfterFlush = (s: Duplex) => {
    if (s.destroyed) return;
    s.once('finish', () => s.destroy());
    s.end();
  };
  agent.once('close', () => closeAfterFlush(upSocket));
  upSocket.once('close', () => closeAfterFlush(agent));
  await Promise.all([closed(agent), closed(upSocket)]);

  const exit = exitFromStatus(rec.statusText());
  let recording: KubeStreamEvent['recording'] = null;
  let castError: string | null = null;
  if (cast) {
    try {
      const s = await cast.close();
      recording = { file, bytes: s.bytes, sha256: s.sha256, events: s.events };
    } catch (e) {
      castError = `the recording could not be completed: ${(e as Error).message}`;
      o.log.error({ err: (e as Error).message }, 'the exec recording could not be completed');
    }
  }
  const problem = rec.violationMessage !== null ? `the stream could not be read and was cut: ${rec.violationMessage}` : castError;
  const stream: KubeStreamEvent = {
    type: 'kubernetes.stream', requestSeq: o.requestSeq, transport, subprotocol, status: problem ? 'error' : 'ok',
    exitCode: exit.exitCode, stdin: rec.stdin.record(sampleMasker, tally), stdout: rec.stdout.record(sampleMasker, tally), stderr: rec.stderr.record(sampleMasker, tally),
    recording, durationUs: monoUs() - started, error: problem ?? (exit.exitCode === null ? exit.message : null),
  };
  if (tally.rules.size > 0) stream.masked = { rules: [...tally.rules].sort() };
  return {
    ...none, stream, status: problem ? 'error' : 'ok', statusCode: 101, gatewayStatus: null, responseHeaders: withoutHopByHop(upRes.headers),
    error: problem ? new GatehouseError('GH_ERR_UPSTREAM_PROTOCOL', problem) : null,
  };
}
