import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createRequire } from 'node:module';
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { constants as zlibConstants, inflateSync } from 'node:zlib';
import type { Duplex } from 'node:stream';
import { generate } from 'selfsigned';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';

/**
 * A test double of a Kubernetes API server: a real HTTPS server answering the endpoints the real
 * kubectl uses (discovery, pods/secrets/configmaps CRUD + watch, logs, exec over WebSocket and over
 * SPDY/3.1, port-forward over SPDY/3.1 and SPDY-in-WebSocket), so tests can drive real kubectl at it
 * (directly or through the gateway). It keeps what it saw of every request and every exec session.
 *
 * What kubectl 1.32 actually needs (found by running it): every run first GETs /version (the gcloud
 * dispatcher picks kubectl.1.N by the server's minor; v1.32 keeps its built-in 1.32.4); legacy
 * discovery JSON with content-type application/json makes it fall back from aggregated discovery;
 * `kubectl get` asks for meta.k8s.io/v1 Tables; `kubectl delete` waits with a GET answered 404;
 * client-side apply does GET then POST, or /openapi/v3 + /openapi/v2 (404 is fine with
 * --validate=false) then a strategic-merge PATCH; `get -w` lists, then watches from the list's
 * resourceVersion.
 *
 * Debian's kubectl 1.20 needs nothing more (checked, with 1.27 to 1.33 too): it fetches /openapi/v2 and
 * /swagger-2.0.0.pb-v1 before apply (404s are fine) and sends no fieldValidation; `delete` waits with a
 * list by fieldSelector=metadata.name=NAME (an empty list: gone); `logs` names no container; exec
 * offers v4.channel.k8s.io and older over SPDY only (v5 over SPDY from 1.29, WebSocket exec from
 * 1.30); port-forward is SPDY only (tunnelled in a WebSocket from 1.31).
 */

export const KUBE_GIT_VERSION = 'v1.32.4';
const MAX_BODY = 1024 * 1024;
const MAX_LOG_LINES = 10_000;
const MAX_HISTORY = 1_000;

export interface SeenKubeRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** the Upgrade header (websocket, SPDY/3.1), when there was one */
  upgrade?: string;
  /** how the request was authenticated */
  auth: 'token' | 'client-cert' | 'none';
  /** the status the double answered with (101 for a successful upgrade) */
  status?: number;
}

export interface ExecSession {
  transport: 'websocket' | 'spdy';
  /** the negotiated subprotocol (v5.channel.k8s.io, v4.channel.k8s.io, …) */
  subprotocol: string;
  /** exec | attach | portforward */
  kind: 'exec' | 'attach' | 'portforward';
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  tty: boolean;
  /** the bytes received on stdin (bounded at 1 MiB) */
  stdin: Buffer;
  stdinClosed: boolean;
  stdout: string;
  stderr: string;
  /** the exit code the "container" reported; null while running */
  exitCode: number | null;
  /** port-forward: the remote port of each forwarded connection */
  forwardedPorts: number[];
  /** resolves when the session is over (exit code sent, connection ended) */
  done: Promise<void>;
}

export interface PodInput {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  image?: string;
  containers?: string[];
  phase?: string;
}

export interface KubeApiServerOptions {
  /** the bearer token the double requires (default: a random one) */
  token?: string;
  /** also accept requests presenting a client certificate signed by a generated client CA */
  clientCertAuth?: boolean;
  /** the gitVersion /version reports (default v1.32.4: the gcloud kubectl dispatcher then runs kubectl 1.32) */
  gitVersion?: string;
  /** which exec transports the double offers (default both); without websocket, kubectl ≥1.30 falls back to SPDY */
  execTransports?: Array<'websocket' | 'spdy'>;
  /**
   * the remote-command subprotocols the double accepts over SPDY, in preference order (default v5, v4,
   * v3, v2, channel.k8s.io: like a 1.30+ kubelet; over SPDY v5 behaves as v4, stdin closing by half-close)
   */
  spdyProtocols?: string[];
  /** port-forward target: the double connects each forwarded stream to 127.0.0.1:this port */
  portForwardTarget?: number;
  /** pods to start with (default: web-0 and web-1 in default, api-0 in prod) */
  pods?: PodInput[];
}

export interface KubeApiServer {
  /** https://127.0.0.1:PORT */
  url: string;
  port: number;
  /** the certificate kubectl must trust (self-signed, SAN IP 127.0.0.1) */
  caPem: string;
  /** the bearer token the double requires: the "upstream credential" */
  token: string;
  /** with clientCertAuth: a client certificate/key the double accepts, and the CA that signed it */
  clientCert?: { certPem: string; keyPem: string; caPem: string };
  /** every request, in order of arrival */
  seen: SeenKubeRequest[];
  execSessions: ExecSession[];
  addPod(p: PodInput): Record<string, unknown>;
  /** deletes a pod (emits DELETED to watchers); false when there was none */
  deletePod(name: string, namespace?: string): boolean;
  getPod(name: string, namespace?: string): Record<string, unknown> | undefined;
  podNames(namespace?: string): string[];
  /** appends a line to a pod's log (and to every `logs -f` following it) */
  emitLog(pod: string, line: string, namespace?: string): void;
  addSecret(name: string, data: Record<string, string>, namespace?: string): void;
  /** number of watch / follow streams currently open */
  openStreams(): number;
  /** resolves once no watch / follow stream is open (the client went away and the double noticed) */
  streamsClosed(): Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

type Obj = Record<string, unknown>;

interface WatchEvent { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; resource: string; object: Obj }

interface Watcher {
  resource: string;
  namespace: string | null;
  filter: (o: Obj) => boolean;
  send: (e: WatchEvent) => void;
}

const RESOURCES: Record<string, { kind: string; namespaced: boolean; verbs: string[]; shortNames?: string[] }> = {
  pods: { kind: 'Pod', namespaced: true, verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['po'] },
  secrets: { kind: 'Secret', namespaced: true, verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] },
  configmaps: { kind: 'ConfigMap', namespaced: true, verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['cm'] },
  namespaces: { kind: 'Namespace', namespaced: false, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['ns'] },
};

type Status = Obj & { code: number };

function status(code: number, reason: string, message: string, details?: Obj): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** 404 for a path the double does not serve */
function noSuchPath(): Status {
  return status(404, 'NotFound', 'the server could not find the requested resource');
}

/** 404 for an object that is not there (`pods "web-1" not found`) */
function notFound(kind: string, name: string): Status {
  return status(404, 'NotFound', `${kind} "${name}" not found`, { name, kind });
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache, private' });
  res.end(text);
}

/** a failure Status, answered with its own code */
function sendStatus(res: ServerResponse, s: Status): void {
  sendJson(res, s.code, s);
}

function age(created: string): string {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(created)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h`;
}

function meta(o: Obj): Obj {
  return (o.metadata ?? {}) as Obj;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A strategic-merge / JSON-merge patch, enough for client-side apply: maps merge, null deletes, lists of named objects merge by name. */
export function mergePatch(target: unknown, patch: unknown, strategic: boolean): unknown {
  if (!isObj(patch)) return patch;
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    if (v === null) {
      delete out[k];
    } else if (isObj(v)) {
      if (v.$patch === 'replace') {
        const { $patch: _, ...rest } = v;
        out[k] = rest;
      } else if (v.$patch === 'delete') {
        delete out[k];
      } else {
        out[k] = mergePatch(out[k], v, strategic);
      }
    } else if (Array.isArray(v) && strategic && Array.isArray(out[k]) && v.every((e) => isObj(e) && typeof e.name === 'string')) {
      const cur = (out[k] as unknown[]).slice();
      for (const e of v as Obj[]) {
        const i = cur.findIndex((c) => isObj(c) && c.name === e.name);
        if (e.$patch === 'delete') {
          if (i >= 0) cur.splice(i, 1);
        } else if (i >= 0) cur[i] = mergePatch(cur[i], e, strategic);
        else cur.push(mergePatch({}, e, strategic));
      }
      out[k] = cur;
    } else {
      out[k] = Array.isArray(v) ? v.map((e) => (isObj(e) ? mergePatch({}, e, strategic) : e)) : v;
    }
  }
  return out;
}

function applyJsonPatch(target: Obj, ops: unknown): Obj {
  if (!Array.isArray(ops)) throw new Error('a JSON patch is an array');
  const doc = structuredClone(target);
  for (const op of ops as Obj[]) {
    const path = String(op.path ?? '').split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = path.pop();
    if (last === undefined) throw new Error('bad path');
    let cur: unknown = doc;
    for (const p of path) cur = Array.isArray(cur) ? cur[Number(p)] : isObj(cur) ? cur[p] : undefined;
    if (!isObj(cur) && !Array.isArray(cur)) throw new Error(`path ${String(op.path)} does not exist`);
    const c = cur as Obj & unknown[];
    if (op.op === 'remove') Array.isArray(c) ? c.splice(Number(last), 1) : delete c[last];
    else if (op.op === 'add' && Array.isArray(c)) c.splice(last === '-' ? c.length : Number(last), 0, op.value);
    else if (op.op === 'add' || op.op === 'replace') c[last] = op.value;
    else if (op.op !== 'test') throw new Error(`unsupported op ${String(op.op)}`);
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------
// SPDY/3.1 framing (just what remotecommand / portforward need; client = kubectl's moby/spdystream)

let spdyDictionary: Buffer | undefined;
function spdyDict(): Buffer {
  // the SPDY/3 header-compression dictionary (spec data), as shipped by spdy-transport
  spdyDictionary ??= (createRequire(import.meta.url)('spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js') as Record<string, Buffer>)['3'];
  if (!spdyDictionary) throw new Error('SPDY/3 dictionary not found in spdy-transport');
  return spdyDictionary;
}

const SPDY = { SYN_STREAM: 1, SYN_REPLY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, HEADERS: 8, WINDOW_UPDATE: 9, FIN: 1 };

interface SpdyStream { id: number; headers: Record<string, string>; remoteClosed: boolean; localClosed: boolean; onData?: (b: Buffer) => void; onEnd?: () => void }

/** A server-side SPDY/3.1 session on an upgraded socket. Header blocks we send are zlib "stored" blocks (valid zlib, no compression needed). */
class SpdySession {
  private buf: Buffer = Buffer.alloc(0);
  private compressedIn: Buffer[] = [];
  private compressedInBytes = 0;
  private inflatedBytes = 0;
  private sentHeader = false;
  readonly streams = new Map<number, SpdyStream>();
  onStream?: (s: SpdyStream) => void;
  onClose?: () => void;
  private closed = false;

  constructor(readonly socket: Duplex) {
    socket.on('data', (c: Buffer) => this.feed(c));
    socket.on('close', () => this.finish());
    socket.on('end', () => this.finish());
    socket.on('error', () => this.finish());
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) if (!s.remoteClosed) {
      s.remoteClosed = true;
      s.onEnd?.();
    }
    this.onClose?.();
  }

  private feed(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const len = this.buf.readUIntBE(5, 3);
      if (this.buf.length < 8 + len) break;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      try {
        this.frame(frame);
      } catch {
        this.socket.destroy();
        return;
      }
    }
    if (this.buf.length > 16 * 1024 * 1024 + 8) this.socket.destroy();
  }

  private headerBlock(compressed: Buffer): Record<string, string> {
    // one zlib context per direction: inflate everything received so far, keep what is new
    this.compressedIn.push(compressed);
    this.compressedInBytes += compressed.length;
    if (this.compressedInBytes > MAX_BODY) throw new Error('too many header bytes');
    const all = inflateSync(Buffer.concat(this.compressedIn), { dictionary: spdyDict(), finishFlush: zlibConstants.Z_SYNC_FLUSH });
    const block = all.subarray(this.inflatedBytes);
    this.inflatedBytes = all.length;
    const headers: Record<string, string> = {};
    let o = 0;
    const n = block.readUInt32BE(o); o += 4;
    for (let i = 0; i < n; i++) {
      const kl = block.readUInt32BE(o); o += 4;
      const k = block.subarray(o, o + kl).toString('utf8'); o += kl;
      const vl = block.readUInt32BE(o); o += 4;
      const v = block.subarray(o, o + vl).toString('utf8'); o += vl;
      headers[k] = v.split('\0').join(',');
    }
    return headers;
  }

  private compressHeaders(h: Record<string, string>): Buffer {
    const parts: Buffer[] = [];
    const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
    const entries = Object.entries(h);
    parts.push(u32(entries.length));
    for (const [k, v] of entries) {
      const kb = Buffer.from(k.toLowerCase()); const vb = Buffer.from(v);
      parts.push(u32(kb.length), kb, u32(vb.length), vb);
    }
    const raw = Buffer.concat(parts);
    const stored = Buffer.alloc(5);
    stored[0] = 0x00; // BFINAL=0, BTYPE=00 (stored), byte-aligned
    stored.writeUInt16LE(raw.length, 1);
    stored.writeUInt16LE(~raw.length & 0xffff, 3);
    const head = this.sentHeader ? [] : [Buffer.from([0x78, 0x01])];
    this.sentHeader = true;
    // then an empty stored block, as zlib's Z_SYNC_FLUSH ends: Go's flate only hands out a stored
    // block's bytes once it has read the header of the block after it
    return Buffer.concat([...head, stored, raw, Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff])]);
  }

  private control(type: number, flags: number, payload: Buffer): void {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(0x8003, 0);
    h.writeUInt16BE(type, 2);
    h.writeUInt8(flags, 4);
    h.writeUIntBE(payload.length, 5, 3);
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(Buffer.concat([h, payload]));
  }

  private frame(f: Buffer): void {
    const control = (f[0]! & 0x80) !== 0;
    const flags = f[4]!;
    const body = f.subarray(8);
    if (!control) {
      const id = f.readUInt32BE(0) & 0x7fffffff;
      const s = this.streams.get(id);
      if (!s) return;
      if (body.length) s.onData?.(Buffer.from(body));
      if (flags & SPDY.FIN && !s.remoteClosed) {
        s.remoteClosed = true;
        s.onEnd?.();
      }
      return;
    }
    const type = f.readUInt16BE(2);
    if (type === SPDY.SYN_STREAM) {
      const id = body.readUInt32BE(0) & 0x7fffffff;
      const headers = this.headerBlock(body.subarray(10));
      const s: SpdyStream = { id, headers, remoteClosed: (flags & SPDY.FIN) !== 0, localClosed: false };
      this.streams.set(id, s);
      const p = Buffer.alloc(4); p.writeUInt32BE(id);
      this.control(SPDY.SYN_REPLY, 0, Buffer.concat([p, this.compressHeaders({})]));
      this.onStream?.(s);
    } else if (type === SPDY.RST_STREAM) {
      const s = this.streams.get(body.readUInt32BE(0) & 0x7fffffff);
      if (s) {
        s.localClosed = true;
        if (!s.remoteClosed) { s.remoteClosed = true; s.onEnd?.(); }
      }
    } else if (type === SPDY.PING) {
      this.control(SPDY.PING, 0, Buffer.from(body));
    } else if (type === SPDY.GOAWAY) {
      this.finish();
    } else if (type === SPDY.HEADERS || type === SPDY.SYN_REPLY) {
      this.headerBlock(body.subarray(4)); // keep the zlib context in step
    }
    // SETTINGS, WINDOW_UPDATE: spdystream does no flow control; nothing to do
  }

  write(s: SpdyStream, data: Buffer): void {
    if (s.localClosed) return;
    for (let o = 0; o < data.length || (o === 0 && data.length === 0); o += 16 * 1024) {
      const part = data.subarray(o, o + 16 * 1024);
      const h = Buffer.alloc(8);
      h.writeUInt32BE(s.id & 0x7fffffff, 0);
      h.writeUInt8(0, 4);
      h.writeUIntBE(part.length, 5, 3);
      if (!this.socket.destroyed && this.socket.writable) this.socket.write(Buffer.concat([h, part]));
      if (data.length === 0) break;
    }
  }

  end(s: SpdyStream): void {
    if (s.localClosed) return;
    const h = Buffer.alloc(8);
    h.writeUInt32BE(s.id & 0x7fffffff, 0);
    h.writeUInt8(SPDY.FIN, 4);
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(h);
    s.localClosed = true;
  }

  reset(s: SpdyStream, code = 5 /* CANCEL */): void {
    const p = Buffer.alloc(8);
    p.writeUInt32BE(s.id & 0x7fffffff, 0);
    p.writeUInt32BE(code, 4);
    this.control(SPDY.RST_STREAM, 0, p);
    s.localClosed = true;
  }

  goAway(): void {
    const p = Buffer.alloc(8);
    this.control(SPDY.GOAWAY, 0, p);
    this.socket.end();
  }
}

// ---------------------------------------------------------------------------------------------
// The "container": a few commands with deterministic behaviour

interface ProcIO {
  stdout(s: string | Buffer): void;
  stderr(s: string | Buffer): void;
  /** every stdin chunk; resolves when stdin closes (or at once when there is no stdin) */
  readStdin(onChunk: (b: Buffer) => void): Promise<void>;
}

async function runContainerCommand(command: string[], io: ProcIO): Promise<number> {
  const [cmd, ...args] = command;
  if (cmd === 'echo') {
    io.stdout(`${args.join(' ')}\n`);
    return 0;
  }
  if (cmd === 'cat') {
    await io.readStdin((b) => io.stdout(b));
    return 0;
  }
  if ((cmd === 'sh' || cmd === '/bin/sh' || cmd === 'bash') && args[0] === '-c') {
    const m = /^\s*exit\s+(\d+)\s*$/.exec(args[1] ?? '');
    if (m) return Number(m[1]) & 0xff;
    const e = /^\s*echo\s+(.*)$/.exec(args[1] ?? '');
    if (e) {
      io.stdout(`${e[1]}\n`);
      return 0;
    }
  }
  if (cmd === 'fail') {
    io.stderr('boom\n');
    return 1;
  }
  io.stderr(`${cmd ?? ''}: command not found\n`);
  return 127;
}

function exitStatus(code: number, command: string[]): Obj {
  if (code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {}, status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

/** What the error channel carries when the command ends: a Status (v4/v5), else text on failure only. */
function exitReport(code: number, command: string[], structured: boolean): string | undefined {
  if (structured) return JSON.stringify(exitStatus(code, command));
  return code !== 0 ? `command terminated with non-zero exit code: exit code ${code}` : undefined;
}

/** An exec session's stdin end: `closed` settles at the first `close()` (the client's EOF, or the end). */
function stdinEnd(s: ExecSession): { closed: Promise<void>; close: () => void } {
  let done!: () => void;
  const closed = new Promise<void>((r) => { done = r; });
  const close = () => {
    if (s.stdinClosed) return;
    s.stdinClosed = true;
    done();
  };
  return { closed, close };
}

// ---------------------------------------------------------------------------------------------

export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const token = opts.token ?? `kube-upstream-${randomBytes(12).toString('hex')}`;
  const gitVersion = opts.gitVersion ?? KUBE_GIT_VERSION;
  const transports = opts.execTransports ?? ['websocket', 'spdy'];
  const pems = await generate([{ name: 'commonName', value: 'kube-apiserver-double' }], {
    keySize: 2048, algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  let clientCert: KubeApiServer['clientCert'];
  if (opts.clientCertAuth) {
    const ca = await generate([{ name: 'commonName', value: 'kube-client-ca' }], {
      keySize: 2048, algorithm: 'sha256',
      extensions: [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, digitalSignature: true, cRLSign: true }],
    });
    const leaf = await generate([{ name: 'commonName', value: 'gatehouse' }, { name: 'organizationName', value: 'system:masters' }], {
      keySize: 2048, algorithm: 'sha256', ca: { key: ca.private, cert: ca.cert },
      extensions: [{ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true }, { name: 'extKeyUsage', clientAuth: true }],
    });
    clientCert = { certPem: leaf.cert, keyPem: leaf.private, caPem: ca.cert };
  }

  const seen: SeenKubeRequest[] = [];
  const execSessions: ExecSession[] = [];
  const store = new Map<string, Map<string, Obj>>(); // resource -> "ns/name" -> object
  for (const r of Object.keys(RESOURCES)) store.set(r, new Map());
  const logs = new Map<string, string[]>();
  const logFollowers = new Map<string, Set<(line: string) => void>>();
  const watchers = new Set<Watcher>();
  const history: WatchEvent[] = [];
  const openResponses = new Set<ServerResponse>();
  const closedWaiters = new Set<() => void>();
  const streamEnded = (res: ServerResponse) => {
    openResponses.delete(res);
    if (openResponses.size === 0) for (const w of closedWaiters) w();
    if (openResponses.size === 0) closedWaiters.clear();
  };
  const sockets = new Set<Socket>();
  let rv = 1000;

  const key = (ns: string | null, name: string) => `${ns ?? ''}/${name}`;
  const table = (r: string) => store.get(r)!;

  function emit(type: WatchEvent['type'], resource: string, object: Obj): void {
    const e: WatchEvent = { rv, type, resource, object: structuredClone(object) };
    history.push(e);
    if (history.length > MAX_HISTORY) history.shift();
    for (const w of watchers) {
      if (w.resource !== resource) continue;
      if (w.namespace !== null && meta(object).namespace !== w.namespace) continue;
      if (!w.filter(object)) continue;
      w.send(e);
    }
  }

  function stamp(resource: string, ns: string | null, o: Obj, existing?: Obj): Obj {
    const m = meta(o);
    const em = existing ? meta(existing) : {};
    rv += 1;
    const def = RESOURCES[resource]!;
    return {
      ...o,
      apiVersion: 'v1', kind: def.kind,
      metadata: {
        ...m,
        ...(ns !== null ? { namespace: ns } : {}),
        uid: em.uid ?? randomUUID(),
        resourceVersion: String(rv),
        creationTimestamp: em.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      },
    };
  }

  function normalizePod(o: Obj): Obj {
    const spec = isObj(o.spec) ? o.spec : {};
    const containers = Array.isArray(spec.containers) ? (spec.containers as Obj[]) : [];
    const st = isObj(o.status) ? o.status : {};
    const phase = typeof st.phase === 'string' ? st.phase : 'Running';
    return {
      ...o,
      spec: { restartPolicy: 'Always', nodeName: 'node-1', ...spec, containers },
      status: {
        phase,
        conditions: [{ type: 'Ready', status: phase === 'Running' ? 'True' : 'False' }],
        podIP: '10.0.0.10', hostIP: '192.168.0.10', startTime: meta(o).creationTimestamp,
        containerStatuses: containers.map((c) => ({ name: c.name, image: c.image, ready: phase === 'Running', restartCount: 0, started: true, state: phase === 'Running' ? { running: { startedAt: meta(o).creationTimestamp } } : { waiting: {} } })),
        ...st,
      },
    };
  }

  function put(resource: string, ns: string | null, o: Obj, type: 'ADDED' | 'MODIFIED', existing?: Obj): Obj {
    let obj = stamp(resource, ns, o, existing);
    if (resource === 'pods') obj = normalizePod(obj);
    table(resource).set(key(ns, String(meta(obj).name)), obj);
    emit(type, resource, obj);
    return obj;
  }

  function remove(resource: string, ns: string | null, name: string): Obj | undefined {
    const t = table(resource);
    const cur = t.get(key(ns, name));
    if (!cur) return undefined;
    t.delete(key(ns, name));
    rv += 1;
    const gone = { ...cur, metadata: { ...meta(cur), resourceVersion: String(rv), deletionTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } };
    emit('DELETED', resource, gone);
    return gone;
  }

  function podFrom(p: PodInput): Obj {
    const containers = (p.containers ?? ['app']).map((name) => ({ name, image: p.image ?? 'nginx:1.27' }));
    return { metadata: { name: p.name, labels: p.labels ?? { app: p.name.replace(/-\d+$/, '') } }, spec: { containers }, status: { phase: p.phase ?? 'Running' } };
  }

  // initial state
  for (const ns of ['default', 'prod', 'kube-system']) put('namespaces', null, { metadata: { name: ns }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }, 'ADDED');
  for (const p of opts.pods ?? [{ name: 'web-0' }, { name: 'web-1' }, { name: 'api-0', namespace: 'prod' }]) put('pods', p.namespace ?? 'default', podFrom(p), 'ADDED');
  put('secrets', 'default', { metadata: { name: 'db-password' }, type: 'Opaque', data: { password: Buffer.from('hunter2').toString('base64') } }, 'ADDED');
  put('secrets', 'prod', { metadata: { name: 'api-key' }, type: 'Opaque', data: { key: Buffer.from('prod-key-123').toString('base64') } }, 'ADDED');
  put('configmaps', 'default', { metadata: { name: 'app-config' }, data: { mode: 'test' } }, 'ADDED');

  // -------------------------------------------------------------------------------------------
  // tables (what `kubectl get` prints)

  function tableColumns(resource: string): Obj[] {
    const col = (name: string, type = 'string', priority = 0, format = '') => ({ name, type, format, description: name, priority });
    if (resource === 'pods') return [col('Name', 'string', 0, 'name'), col('Ready'), col('Status'), col('Restarts', 'string'), col('Age'), col('IP', 'string', 1), col('Node', 'string', 1)];
    if (resource === 'secrets') return [col('Name', 'string', 0, 'name'), col('Type'), col('Data', 'string'), col('Age')];
    if (resource === 'configmaps') return [col('Name', 'string', 0, 'name'), col('Data', 'string'), col('Age')];
    return [col('Name', 'string', 0, 'name'), col('Status'), col('Age')];
  }

  function tableCells(resource: string, o: Obj): unknown[] {
    const m = meta(o);
    const a = age(String(m.creationTimestamp));
    if (resource === 'pods') {
      const st = (o.status ?? {}) as Obj;
      const cs = (st.containerStatuses ?? []) as Obj[];
      const phase = m.deletionTimestamp ? 'Terminating' : String(st.phase ?? 'Pending');
      return [m.name, `${cs.filter((c) => c.ready).length}/${cs.length}`, phase, '0', a, st.podIP ?? '<none>', ((o.spec ?? {}) as Obj).nodeName ?? '<none>'];
    }
    if (resource === 'secrets') return [m.name, o.type ?? 'Opaque', String(Object.keys((o.data ?? {}) as Obj).length), a];
    if (resource === 'configmaps') return [m.name, String(Object.keys((o.data ?? {}) as Obj).length), a];
    return [m.name, ((o.status ?? {}) as Obj).phase ?? 'Active', a];
  }

  /** a list's metadata: the store's resourceVersion now */
  const listMeta = (): Obj => ({ resourceVersion: String(rv) });

  function list(kind: string, apiVersion: string, items: Obj[]): Obj {
    return { kind, apiVersion, metadata: listMeta(), items };
  }

  function asTable(resource: string, items: Obj[], withColumns: boolean, metadata: Obj): Obj {
    return {
      kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata,
      ...(withColumns ? { columnDefinitions: tableColumns(resource) } : { columnDefinitions: null }),
      rows: items.map((o) => ({
        cells: tableCells(resource, o),
        object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: meta(o) },
      })),
    };
  }

  const wantsTable = (req: IncomingMessage) => /as=Table/.test(req.headers.accept ?? '');

  // -------------------------------------------------------------------------------------------
  // selectors

  function selector(q: URLSearchParams): (o: Obj) => boolean {
    const fields = (q.get('fieldSelector') ?? '').split(',').filter(Boolean).map((t) => {
      const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(t);
      if (!m) throw new Error(`bad field selector ${t}`);
      return { path: m[1]!.split('.'), neg: m[2] === '!=', value: m[3] };
    });
    const labels = (q.get('labelSelector') ?? '').split(',').filter(Boolean).map((t) => {
      const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(t);
      return m ? { k: m[1]!.trim(), neg: m[2] === '!=', v: m[3]!.trim() as string | undefined } : { k: t.replace(/^!/, '').trim(), neg: t.startsWith('!'), v: undefined };
    });
    return (o) => {
      for (const f of fields) {
        let cur: unknown = o;
        for (const p of f.path) cur = isObj(cur) ? cur[p] : undefined;
        if ((String(cur ?? '') === f.value) === f.neg) return false;
      }
      const l = (meta(o).labels ?? {}) as Record<string, string>;
      for (const s of labels) {
        const has = s.v === undefined ? s.k in l : l[s.k] === s.v;
        if (has === s.neg) return false;
      }
      return true;
    };
  }

  // -------------------------------------------------------------------------------------------
  // auth

  function authenticate(req: IncomingMessage): SeenKubeRequest['auth'] {
    const h = req.headers.authorization ?? '';
    if (h === `Bearer ${token}`) return 'token';
    if (clientCert) {
      const s = req.socket as TLSSocket;
      if (s.authorized && s.getPeerCertificate && Object.keys(s.getPeerCertificate() ?? {}).length > 0) return 'client-cert';
    }
    return 'none';
  }

  function record(req: IncomingMessage, auth: SeenKubeRequest['auth']): SeenKubeRequest {
    const entry: SeenKubeRequest = { method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers }, auth };
    if (req.headers.upgrade) entry.upgrade = req.headers.upgrade;
    seen.push(entry);
    return entry;
  }

  /** the request body, at most MAX_BODY bytes (rejects beyond; the rest is drained and dropped) */
  function readBody(req: IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const tooLarge = () => Object.assign(new Error(`request body larger than ${MAX_BODY} bytes`), { code: 413 });
      if (Number(req.headers['content-length'] ?? '0') > MAX_BODY) {
        req.resume();
        return reject(tooLarge());
      }
      const chunks: Buffer[] = [];
      let n = 0;
      let failed = false;
      req.on('data', (c: Buffer) => {
        if (failed) return;
        n += c.length;
        if (n > MAX_BODY) {
          failed = true;
          chunks.length = 0;
          return reject(tooLarge());
        }
        chunks.push(c);
      });
      req.on('end', () => { if (!failed) resolve(Buffer.concat(chunks)); });
      req.on('error', (e) => { if (!failed) reject(e); });
    });
  }

  // -------------------------------------------------------------------------------------------
  // discovery

  function discovery(path: string): unknown {
    if (path === '/version') {
      const m = /^v(\d+)\.(\d+)/.exec(gitVersion);
      return {
        major: m?.[1] ?? '1', minor: m?.[2] ?? '32', gitVersion, gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean',
        buildDate: '2025-04-22T00:00:00Z', goVersion: 'go1.23.8', compiler: 'gc', platform: 'linux/amd64',
      };
    }
    if (path === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }] };
    if (path === '/api/v1') {
      const resources: Obj[] = [];
      for (const [name, d] of Object.entries(RESOURCES)) {
        resources.push({ name, singularName: d.kind.toLowerCase(), namespaced: d.namespaced, kind: d.kind, verbs: d.verbs, ...(d.shortNames ? { shortNames: d.shortNames } : {}), storageVersionHash: Buffer.from(name).toString('base64').slice(0, 11) });
      }
      resources.push({ name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] });
      resources.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
      resources.push({ name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] });
      resources.push({ name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] });
      resources.push({ name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch', 'update'] });
      return { kind: 'APIResourceList', groupVersion: 'v1', resources };
    }
    if (path === '/apis') {
      return { kind: 'APIGroupList', apiVersion: 'v1', groups: [{ name: 'apps', versions: [{ groupVersion: 'apps/v1', version: 'v1' }], preferredVersion: { groupVersion: 'apps/v1', version: 'v1' } }] };
    }
    if (path === '/apis/apps/v1') {
      return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'apps/v1', resources: [{ name: 'deployments', singularName: 'deployment', namespaced: true, kind: 'Deployment', verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['deploy'] }] };
    }
    if (path === '/apis/apps/v1/deployments') return list('DeploymentList', 'apps/v1', []);
    const dm = /^\/apis\/apps\/v1\/namespaces\/[^/]+\/deployments$/.exec(path);
    if (dm) return list('DeploymentList', 'apps/v1', []);
    if (path === '/healthz' || path === '/readyz' || path === '/livez') return 'ok';
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // requests

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = authenticate(req);
    const entry = record(req, auth);
    res.on('finish', () => { entry.status = res.statusCode; });
    res.on('close', () => { if (res.headersSent) entry.status = res.statusCode; });
    if (auth === 'none') return sendStatus(res, status(401, 'Unauthorized', 'Unauthorized'));
    const u = new URL(req.url ?? '/', 'https://double');
    const path = u.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';

    const d = method === 'GET' ? discovery(path) : undefined;
    if (d !== undefined) {
      if (typeof d === 'string') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return void res.end(d);
      }
      return sendJson(res, 200, d);
    }

    let body: Buffer = Buffer.alloc(0);
    try {
      body = await readBody(req);
    } catch (e) {
      res.setHeader('connection', 'close');
      return sendStatus(res, status(413, 'RequestEntityTooLarge', (e as Error).message));
    }

    const segs = path.split('/').filter(Boolean).map(decodeURIComponent);
    if (segs[0] !== 'api' || segs[1] !== 'v1') return sendStatus(res, noSuchPath());
    const rest = segs.slice(2);
    let ns: string | null = null;
    let resource: string;
    let name: string | undefined;
    let sub: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      ns = rest[1]!;
      resource = rest[2]!;
      name = rest[3];
      sub = rest[4];
      if (!table('namespaces').has(key(null, ns))) {
        if (method !== 'GET' || name) return sendStatus(res, notFound('namespaces', ns));
      }
    } else {
      resource = rest[0] ?? '';
      name = rest[1];
      sub = rest[2];
    }
    const def = RESOURCES[resource];
    if (!def || (def.namespaced && name !== undefined && ns === null) || rest.length > 5) {
      return sendStatus(res, noSuchPath());
    }
    const q = u.searchParams;

    if (sub !== undefined) {
      if (resource !== 'pods' || ns === null || name === undefined) return sendStatus(res, noSuchPath());
      const pod = table('pods').get(key(ns, name));
      if (!pod) return sendStatus(res, notFound('pods', name));
      if (sub === 'log' && method === 'GET') return podLog(req, res, ns, name, q);
      if (sub === 'exec' || sub === 'attach' || sub === 'portforward') {
        return sendStatus(res, status(400, 'BadRequest', 'Upgrade request required'));
      }
      if (sub === 'status' && method === 'GET') return sendJson(res, 200, pod);
      return sendStatus(res, status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
    }

    let filter: (o: Obj) => boolean;
    try {
      filter = selector(q);
    } catch (e) {
      return sendStatus(res, status(400, 'BadRequest', (e as Error).message));
    }

    if (method === 'GET' && name === undefined) {
      const watch = q.get('watch');
      if (watch === 'true' || watch === '1') return startWatch(req, res, resource, ns, filter, q);
      const items = [...table(resource).values()].filter((o) => (ns === null || meta(o).namespace === ns) && filter(o));
      if (wantsTable(req)) return sendJson(res, 200, asTable(resource, items, true, listMeta()));
      return sendJson(res, 200, list(`${def.kind}List`, 'v1', items));
    }

    if (method === 'GET' && name !== undefined) {
      const o = table(resource).get(key(ns, name));
      if (!o) return sendStatus(res, notFound(resource, name));
      if (wantsTable(req)) return sendJson(res, 200, asTable(resource, [o], true, listMeta()));
      return sendJson(res, 200, o);
    }

    let parsed: unknown;
    if (method === 'POST' || method === 'PUT' || method === 'PATCH' || (method === 'DELETE' && body.length > 0)) {
      try {
        parsed = body.length ? JSON.parse(body.toString('utf8')) : {};
      } catch {
        return sendStatus(res, status(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format (only JSON is accepted)'));
      }
    }
    const dryRun = q.getAll('dryRun').length > 0;

    if (method === 'POST' && name === undefined) {
      if (!isObj(parsed) || !isObj(parsed.metadata) || typeof parsed.metadata.name !== 'string') {
        return sendStatus(res, status(422, 'Invalid', `${def.kind} is invalid: metadata.name: Required value`));
      }
      const n = parsed.metadata.name;
      if (isObj(parsed.metadata) && typeof parsed.metadata.namespace === 'string' && ns !== null && parsed.metadata.namespace !== ns) {
        return sendStatus(res, status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
      }
      if (table(resource).has(key(ns, n))) return sendStatus(res, status(409, 'AlreadyExists', `${resource} "${n}" already exists`, { name: n, kind: resource }));
      const { status: _s, ...clean } = parsed;
      const obj = dryRun ? parsed : put(resource, ns, { ...clean, metadata: { ...parsed.metadata } }, 'ADDED');
      return sendJson(res, 201, obj);
    }

    if (name !== undefined && (method === 'PUT' || method === 'PATCH')) {
      const cur = table(resource).get(key(ns, name));
      if (!cur) return sendStatus(res, notFound(resource, name));
      let next: Obj;
      const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      try {
        if (method === 'PUT') next = parsed as Obj;
        else if (ct === 'application/strategic-merge-patch+json') next = mergePatch(cur, parsed, true) as Obj;
        else if (ct === 'application/merge-patch+json') next = mergePatch(cur, parsed, false) as Obj;
        else if (ct === 'application/json-patch+json') next = applyJsonPatch(cur, parsed);
        else return sendStatus(res, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`));
      } catch (e) {
        return sendStatus(res, status(422, 'Invalid', (e as Error).message));
      }
      if (!isObj(next)) return sendStatus(res, status(422, 'Invalid', 'the patch did not produce an object'));
      const obj = dryRun ? next : put(resource, ns, { ...next, metadata: { ...meta(next), name } }, 'MODIFIED', cur);
      return sendJson(res, 200, obj);
    }

    if (method === 'DELETE' && name !== undefined) {
      if (!table(resource).has(key(ns, name))) return sendStatus(res, notFound(resource, name));
      if (dryRun) return sendJson(res, 200, table(resource).get(key(ns, name)));
      const gone = remove(resource, ns, name)!;
      return sendJson(res, 200, gone);
    }

    return sendStatus(res, status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
  }

  function startWatch(req: IncomingMessage, res: ServerResponse, resource: string, ns: string | null, filter: (o: Obj) => boolean, q: URLSearchParams): void {
    const table_ = wantsTable(req);
    let first = true;
    const line = (e: { type: string; object: Obj }) => {
      const object = table_ ? asTable(resource, [e.object], first, { resourceVersion: String(meta(e.object).resourceVersion) }) : e.object;
      first = false;
      res.write(`${JSON.stringify({ type: e.type, object })}\n`);
    };
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    (req.socket as Socket).setNoDelay(true);
    openResponses.add(res);
    const since = q.get('resourceVersion');
    const sinceN = since && since !== '0' ? Number(since) : NaN;
    if (Number.isFinite(sinceN)) {
      // resume after a list: only what happened since (no re-ADD of what the client already has)
      for (const e of history) {
        if (e.rv > sinceN && e.resource === resource && (ns === null || meta(e.object).namespace === ns) && filter(e.object)) line(e);
      }
    } else {
      for (const o of table(resource).values()) if ((ns === null || meta(o).namespace === ns) && filter(o)) line({ type: 'ADDED', object: o });
    }
    const w: Watcher = { resource, namespace: ns, filter, send: line };
    watchers.add(w);
    const stop = () => {
      watchers.delete(w);
      streamEnded(res);
      if (timer) clearTimeout(timer);
      if (!res.writableEnded) res.end();
    };
    const t = Number(q.get('timeoutSeconds') ?? '');
    const timer = Number.isFinite(t) && t > 0 ? setTimeout(stop, Math.min(t, 3600) * 1000) : undefined;
    req.on('close', stop);
    res.on('close', stop);
  }

  function podLog(req: IncomingMessage, res: ServerResponse, ns: string, name: string, q: URLSearchParams): void {
    const k = key(ns, name);
    let lines = logs.get(k) ?? [];
    const tail = Number(q.get('tailLines') ?? '');
    if (Number.isFinite(tail) && tail >= 0 && q.has('tailLines')) lines = lines.slice(Math.max(0, lines.length - tail));
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-cache, private', ...(q.get('follow') === 'true' ? { 'transfer-encoding': 'chunked' } : {}) });
    if (q.get('follow') !== 'true') return void res.end(lines.map((l) => `${l}\n`).join(''));
    (req.socket as Socket).setNoDelay(true);
    res.flushHeaders();
    if (lines.length) res.write(lines.map((l) => `${l}\n`).join(''));
    const follower = (l: string) => res.write(`${l}\n`);
    let set = logFollowers.get(k);
    if (!set) logFollowers.set(k, (set = new Set()));
    set.add(follower);
    openResponses.add(res);
    const stop = () => {
      logFollowers.get(k)?.delete(follower);
      streamEnded(res);
      if (!res.writableEnded) res.end();
    };
    req.on('close', stop);
    res.on('close', stop);
  }

  // -------------------------------------------------------------------------------------------
  // exec / attach / port-forward (upgrades)

  const WS_PREFERENCE = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
  // 'SPDY/3.1+portforward.k8s.io' is not an RFC 7230 token, which ws refuses: it is renamed on the
  // way in and restored in the 101 response's headers
  const WS_PF_REAL = 'SPDY/3.1+portforward.k8s.io';
  const WS_PF_TOKEN = 'SPDY-3.1-portforward.k8s.io';
  const WS_PF_PREFERENCE = [WS_PF_TOKEN];
  const SPDY_PREFERENCE = opts.spdyProtocols ?? ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_BODY,
    handleProtocols: (protocols, req) => {
      const pf = /\/portforward$/.test(new URL(req.url ?? '/', 'https://double').pathname);
      return (pf ? WS_PF_PREFERENCE : WS_PREFERENCE).find((p) => protocols.has(p)) ?? false;
    },
  });

  wss.on('headers', (headers) => {
    for (let i = 0; i < headers.length; i++) headers[i] = headers[i]!.replace(`Sec-WebSocket-Protocol: ${WS_PF_TOKEN}`, `Sec-WebSocket-Protocol: ${WS_PF_REAL}`);
  });

  function rejectUpgrade(socket: Duplex, entry: SeenKubeRequest, body: Status): void {
    const code = body.code;
    entry.status = code;
    const text = JSON.stringify(body);
    const reason = code === 401 ? 'Unauthorized' : code === 404 ? 'Not Found' : code === 403 ? 'Forbidden' : 'Bad Request';
    socket.end(`HTTP/1.1 ${code} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
  }

  function newSession(transport: ExecSession['transport'], subprotocol: string, kind: ExecSession['kind'], ns: string, pod: string, q: URLSearchParams): { s: ExecSession; resolve: () => void } {
    let resolve!: () => void;
    const done = new Promise<void>((r) => { resolve = r; });
    const podObj = table('pods').get(key(ns, pod));
    const firstContainer = String((((podObj?.spec ?? {}) as Obj).containers as Obj[] | undefined)?.[0]?.name ?? '');
    const s: ExecSession = {
      transport, subprotocol, kind, namespace: ns, pod, container: q.get('container') ?? firstContainer,
      command: kind === 'exec' ? q.getAll('command') : kind === 'attach' ? ['cat'] : [],
      tty: q.get('tty') === 'true' || q.get('tty') === '1', stdin: Buffer.alloc(0), stdinClosed: false, stdout: '', stderr: '', exitCode: null, forwardedPorts: [], done,
    };
    execSessions.push(s);
    return { s, resolve };
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    sockets.add(socket as Socket);
    socket.on('error', () => undefined);
    const auth = authenticate(req);
    const entry = record(req, auth);
    if (auth === 'none') return rejectUpgrade(socket, entry, status(401, 'Unauthorized', 'Unauthorized'));
    const u = new URL(req.url ?? '/', 'https://double');
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach|portforward)$/.exec(u.pathname);
    if (!m) return rejectUpgrade(socket, entry, noSuchPath());
    const [, ns, pod, kindRaw] = m as unknown as [string, string, string, ExecSession['kind']];
    const podObj = table('pods').get(key(ns, pod));
    if (!podObj) return rejectUpgrade(socket, entry, notFound('pods', pod));
    const up = (req.headers.upgrade ?? '').toLowerCase();
    if (up === 'websocket' && transports.includes('websocket')) {
      if (kindRaw === 'portforward' && req.headers['sec-websocket-protocol']) {
        req.headers['sec-websocket-protocol'] = req.headers['sec-websocket-protocol'].split(WS_PF_REAL).join(WS_PF_TOKEN);
      }
      const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      const pref = kindRaw === 'portforward' ? WS_PF_PREFERENCE : WS_PREFERENCE;
      if (!pref.some((p) => offered.includes(p))) return rejectUpgrade(socket, entry, status(400, 'BadRequest', `no supported WebSocket subprotocol in [${offered.join(', ')}]`));
      wss.handleUpgrade(req, socket, head, (ws) => {
        entry.status = 101;
        if (kindRaw === 'portforward') return wsPortForward(ws, ns, pod, u.searchParams);
        wsExec(ws, kindRaw, ns, pod, u.searchParams);
      });
      return;
    }
    if (up === 'spdy/3.1' && transports.includes('spdy')) {
      const offered = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      const pref = kindRaw === 'portforward' ? ['portforward.k8s.io'] : SPDY_PREFERENCE;
      const proto = pref.find((p) => offered.includes(p)) ?? (offered.length === 0 ? '' : undefined);
      if (proto === undefined) return rejectUpgrade(socket, entry, status(403, 'Forbidden', `unable to upgrade: no common protocol in [${offered.join(', ')}]`));
      entry.status = 101;
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n${proto ? `X-Stream-Protocol-Version: ${proto}\r\n` : ''}\r\n`);
      (socket as Socket).setNoDelay?.(true);
      const session = new SpdySession(socket);
      if (head.length) socket.unshift(head);
      if (kindRaw === 'portforward') return spdyPortForward(session, ns, pod, u.searchParams);
      spdyExec(session, proto || 'channel.k8s.io', kindRaw, ns, pod, u.searchParams);
      return;
    }
    rejectUpgrade(socket, entry, status(400, 'BadRequest', `unsupported upgrade: ${req.headers.upgrade ?? ''}`));
  }

  /** the recorded copy of what the "container" wrote (bounded) */
  const capped = (cur: string, add: string | Buffer) => (cur.length >= MAX_BODY ? cur : (cur + add.toString()).slice(0, MAX_BODY));

  function appendStdin(s: ExecSession, b: Buffer): void {
    if (s.stdin.length < MAX_BODY) s.stdin = Buffer.concat([s.stdin, b.subarray(0, MAX_BODY - s.stdin.length)]);
  }

  function wsExec(ws: WebSocket, kind: ExecSession['kind'], ns: string, pod: string, q: URLSearchParams): void {
    const { s, resolve } = newSession('websocket', ws.protocol, kind, ns, pod, q);
    const v5 = ws.protocol === 'v5.channel.k8s.io';
    const structured = v5 || ws.protocol === 'v4.channel.k8s.io';
    const wantStdin = q.get('stdin') === 'true' || q.get('stdin') === '1';
    let onChunk: ((b: Buffer) => void) | undefined;
    const { closed: stdinClosed, close: closeStdin } = stdinEnd(s);
    if (!wantStdin) closeStdin();
    const send = (ch: number, data: string | Buffer) => {
      if (ws.readyState !== ws.OPEN) return;
      const b = typeof data === 'string' ? Buffer.from(data) : data;
      ws.send(Buffer.concat([Buffer.from([ch]), b]));
    };
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      const msg = isBinary ? raw : Buffer.from(raw.toString('utf8'), 'base64');
      if (msg.length === 0) return;
      const ch = msg[0]!;
      const data = msg.subarray(1);
      if (ch === 0 && data.length) {
        appendStdin(s, data);
        onChunk?.(Buffer.from(data));
      } else if (ch === 255 && v5 && data[0] === 0) closeStdin();
    });
    ws.on('close', () => {
      closeStdin();
      resolve();
    });
    ws.on('error', () => undefined);
    const io: ProcIO = {
      stdout: (d) => { s.stdout = capped(s.stdout, d); send(1, d); },
      stderr: (d) => { s.stderr = capped(s.stderr, d); send(2, d); },
      readStdin: (cb) => { onChunk = cb; if (s.stdin.length) cb(s.stdin); return stdinClosed; },
    };
    void runContainerCommand(s.command, io).then((code) => {
      s.exitCode = code;
      const report = exitReport(code, s.command, structured);
      if (report !== undefined) send(3, report);
      ws.close(1000);
    });
  }

  function spdyExec(session: SpdySession, proto: string, kind: ExecSession['kind'], ns: string, pod: string, q: URLSearchParams): void {
    const { s, resolve } = newSession('spdy', proto, kind, ns, pod, q);
    const flag = (n: string) => q.get(n) === 'true' || q.get(n) === '1';
    const expected = new Set<string>(['error']);
    if (flag('stdin')) expected.add('stdin');
    if (flag('stdout')) expected.add('stdout');
    if (flag('stderr') && !s.tty) expected.add('stderr');
    const byType = new Map<string, SpdyStream>();
    let stdinChunks: Buffer[] = [];
    let onChunk: ((b: Buffer) => void) | undefined;
    const { closed: stdinClosed, close: closeStdin } = stdinEnd(s);
    if (!expected.has('stdin')) closeStdin();
    let started = false;
    session.onClose = () => {
      closeStdin();
      resolve();
    };
    const guard = setTimeout(() => { if (!started) session.goAway(); }, 30_000);
    session.onStream = (st) => {
      const type = st.headers.streamtype ?? '';
      byType.set(type, st);
      if (type === 'stdin') {
        st.onData = (b) => {
          appendStdin(s, b);
          if (onChunk) onChunk(b);
          else stdinChunks.push(b);
        };
        st.onEnd = closeStdin;
      }
      if (started || ![...expected].every((t) => byType.has(t))) return;
      started = true;
      clearTimeout(guard);
      const out = (t: string) => (d: string | Buffer) => {
        const st2 = byType.get(t);
        const b = typeof d === 'string' ? Buffer.from(d) : d;
        if (t === 'stdout') s.stdout = capped(s.stdout, b); else s.stderr = capped(s.stderr, b);
        if (st2) session.write(st2, b);
      };
      const io: ProcIO = {
        stdout: out('stdout'),
        stderr: out('stderr'),
        readStdin: (cb) => {
          onChunk = cb;
          for (const c of stdinChunks) cb(c);
          stdinChunks = [];
          return stdinClosed;
        },
      };
      void runContainerCommand(s.command, io).then((code) => {
        s.exitCode = code;
        for (const t of ['stdout', 'stderr']) { const x = byType.get(t); if (x) session.end(x); }
        const err = byType.get('error')!;
        const report = exitReport(code, s.command, proto === 'v4.channel.k8s.io' || proto === 'v5.channel.k8s.io');
        if (report !== undefined) session.write(err, Buffer.from(report));
        session.end(err);
        const x = byType.get('stdin'); if (x) session.end(x);
        session.goAway();
      });
    };
  }

  // port-forward: every data stream is connected to 127.0.0.1:portForwardTarget
  function spdyPortForward(session: SpdySession, ns: string, pod: string, q: URLSearchParams, transport: ExecSession['transport'] = 'spdy', proto = 'portforward.k8s.io'): void {
    const { s, resolve } = newSession(transport, proto, 'portforward', ns, pod, q);
    session.onClose = resolve;
    const errors = new Map<string, SpdyStream>();
    session.onStream = (st) => {
      const rid = st.headers.requestid ?? '';
      if (st.headers.streamtype === 'error') {
        errors.set(rid, st);
        return;
      }
      if (st.headers.streamtype !== 'data') return;
      s.forwardedPorts.push(Number(st.headers.port ?? '0'));
      if (!opts.portForwardTarget) {
        const e = errors.get(rid);
        if (e) { session.write(e, Buffer.from('no port-forward target configured')); session.end(e); }
        session.end(st);
        return;
      }
      const tcp = tcpConnect({ host: '127.0.0.1', port: opts.portForwardTarget });
      sockets.add(tcp);
      const pending: Buffer[] = [];
      let connected = false;
      tcp.on('connect', () => { connected = true; for (const b of pending) tcp.write(b); pending.length = 0; });
      st.onData = (b) => { appendStdin(s, b); if (connected) tcp.write(b); else pending.push(b); };
      st.onEnd = () => tcp.end();
      tcp.on('data', (b: Buffer) => session.write(st, b));
      tcp.on('end', () => session.end(st));
      tcp.on('error', (err) => {
        const e = errors.get(rid);
        if (e) { session.write(e, Buffer.from(err.message)); session.end(e); }
        session.end(st);
      });
      tcp.on('close', () => sockets.delete(tcp));
    };
  }

  /** kubectl ≥1.31 tunnels the SPDY port-forward session through a WebSocket (SPDY/3.1+portforward.k8s.io) */
  function wsPortForward(ws: WebSocket, ns: string, pod: string, q: URLSearchParams): void {
    const duplex = createWebSocketStream(ws);
    duplex.on('error', () => undefined);
    spdyPortForward(new SpdySession(duplex), ns, pod, q, 'websocket', WS_PF_REAL);
  }

  // -------------------------------------------------------------------------------------------

  const server: Server = createHttpsServer({
    cert: pems.cert, key: pems.private,
    ...(clientCert ? { requestCert: true, rejectUnauthorized: false, ca: [clientCert.caPem] } : {}),
  }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendStatus(res, status(500, 'InternalError', String(e)));
      else res.destroy();
    });
  });
  server.on('upgrade', onUpgrade);
  server.on('secureConnection', (sock: Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const port = (server.address() as AddressInfo).port;

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const r of openResponses) r.destroy();
    for (const c of wss.clients) c.terminate();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    wss.close();
  };

  return {
    url: `https://127.0.0.1:${port}`,
    port,
    caPem: pems.cert,
    token,
    ...(clientCert ? { clientCert } : {}),
    seen,
    execSessions,
    addPod: (p) => put('pods', p.namespace ?? 'default', podFrom(p), 'ADDED'),
    deletePod: (name, namespace = 'default') => remove('pods', namespace, name) !== undefined,
    getPod: (name, namespace = 'default') => table('pods').get(key(namespace, name)),
    podNames: (namespace) => [...table('pods').values()].filter((o) => namespace === undefined || meta(o).namespace === namespace).map((o) => String(meta(o).name)),
    emitLog(pod, line, namespace = 'default') {
      const k = key(namespace, pod);
      let l = logs.get(k);
      if (!l) logs.set(k, (l = []));
      l.push(line);
      if (l.length > MAX_LOG_LINES) l.shift();
      for (const f of logFollowers.get(k) ?? []) f(line);
    },
    addSecret: (name, data, namespace = 'default') => {
      put('secrets', namespace, { metadata: { name }, type: 'Opaque', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) }, 'ADDED');
    },
    openStreams: () => openResponses.size,
    streamsClosed: () => (openResponses.size === 0 ? Promise.resolve() : new Promise<void>((r) => closedWaiters.add(r))),
    close,
    [Symbol.asyncDispose]: close,
  };
}
