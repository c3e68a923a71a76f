import { constants as zc, deflateRawSync, deflateSync } from 'node:zlib';
import { describeKube, kubeAttributes, resourceName } from '../../../src/protocols/kubernetes/attributes.js';
import { SPDY3_DICTIONARY, SPDY_TAP_DEFAULTS, SpdyTap } from '../../../src/protocols/kubernetes/spdy-tap.js';
import type { Direction, StreamName, TapSink } from '../../../src/protocols/kubernetes/stream-channels.js';
import { WEBSOCKET_SUBPROTOCOLS, WebSocketTap } from '../../../src/protocols/kubernetes/websocket-tap.js';
import { feedScript, mutateScript, prng, type Rng, type Segment } from './fuzz-core.js';
import { spdyControl } from '../kubernetes/tap-support.js';

/**
 * Fuzz targets of the Kubernetes gateway's sans-IO parts, on fuzz-core.ts's helpers: the
 * WebSocket tap (every channel subprotocol, and SPDY tunneled in WebSocket), the SPDY/3.1 tap,
 * and the request-attribute parser. Each `...Case(seed)` throws an Error naming the seed.
 */

const DIRS: readonly Direction[] = ['client', 'server'];

/**
 * A TapSink that logs what the tap reports, in order, as strings; consecutive data of one stream
 * and direction is joined (the tap may hand a payload over in any slices), empty data dropped.
 */
class LogSink implements TapSink {
  private done: string[] = [];
  private pending: { key: string; parts: Buffer[] } | null = null;
  violations = 0;
  afterViolation = 0;
  dataBytes: Record<Direction, number> = { client: 0, server: 0 };
  data(stream: StreamName, from: Direction, bytes: Buffer): void {
    if (this.violations > 0) this.afterViolation++;
    this.dataBytes[from] += bytes.length;
    if (bytes.length === 0) return;
    const key = `data ${from} ${stream}`;
    if (this.pending?.key !== key) {
      this.flush();
      this.pending = { key, parts: [] };
    }
    this.pending.parts.push(Buffer.from(bytes));
  }
  closed(stream: StreamName, from: Direction): void {
    this.event(`closed ${from} ${stream}`);
  }
  end(from: Direction, reason: string): void {
    this.event(`end ${from} ${reason}`);
  }
  violation(message: string): void {
    this.event(`violation ${message}`);
    this.violations++;
  }
  private event(e: string): void {
    if (this.violations > 0) this.afterViolation++;
    this.flush();
    this.done.push(e);
  }
  private flush(): void {
    if (this.pending) this.done.push(`${this.pending.key} ${Buffer.concat(this.pending.parts).toString('hex')}`);
    this.pending = null;
  }
  /** what is complete so far (`all`: also the data still being joined) */
  take(all = false): string[] {
    if (all) this.flush();
    const out = this.done;
    this.done = [];
    return out;
  }
}

/**
 * Whole vs chunked tap reports. Without a violation: equal. With one: the same violation; the
 * chunk that triggers it is not forwarded (upgrade.ts cuts the stream inside push()), so what the
 * tap reported from that chunk before it stopped may differ: whole's data per stream is a prefix
 * of the chunked run's, and whole's other events a prefix of the chunked run's.
 */
function compareTapLogs(whole: string[], cut: string[]): string | null {
  const violation = (log: string[]) => log.find((e) => e.startsWith('violation ')) ?? null;
  // the same violation, from the same side; base64 errors may word themselves differently by chunk
  // ("invalid base64" vs "base64 after padding" for one bad group)
  const side = (v: string | null) => (v === null ? null : v.includes('base64') ? v.replace(/:[^:]*base64.*$/, ': base64') : v);
  const vw = violation(whole);
  const vc = violation(cut);
  if (side(vw) !== side(vc)) return `violation ${String(vw)} vs ${String(vc)}`;
  if (vw === null) {
    const i = whole.findIndex((x, k) => x !== cut[k]);
    return whole.length === cut.length && i < 0 ? null : `first difference at ${i}: ${whole[i]} vs ${cut[i]}`;
  }
  const split = (log: string[]) => {
    const data = new Map<string, string>();
    const other: string[] = [];
    for (const e of log) {
      const m = /^(data \S+ \S+) (.*)$/.exec(e);
      if (m) data.set(m[1]!, (data.get(m[1]!) ?? '') + m[2]!);
      else other.push(e);
    }
    return { data, other };
  };
  const w = split(whole);
  const c = split(cut);
  for (const [k, v] of w.data) if (!(c.data.get(k) ?? '').startsWith(v)) return `${k}: whole run's data is not a prefix of the chunked run's`;
  const wo = w.other.filter((e) => !e.startsWith('violation '));
  const co = c.other.filter((e) => !e.startsWith('violation '));
  if (wo.length > co.length || wo.some((x, i) => x !== co[i])) return `events ${JSON.stringify(wo)} not a prefix of ${JSON.stringify(co)}`;
  return null;
}

// ---- WebSocket ----

/** FIN RSV opcode | MASK len [ext len] [mask key] payload (masked from the client) */
function wsFrame(r: Rng, from: Direction, opcode: number, payload: Buffer, fin = true): Buffer {
  const masked = from === 'client';
  const n = payload.length;
  const head = [((fin ? 0x80 : 0) | opcode) & 0xff];
  const lenForm = n < 126 && r.next() < 0.9 ? 'short' : n < 65536 && r.next() < 0.9 ? 'u16' : 'u64';
  const ext = lenForm === 'short' ? Buffer.alloc(0) : Buffer.alloc(lenForm === 'u16' ? 2 : 8);
  if (lenForm === 'short') head.push((masked ? 0x80 : 0) | n);
  else if (lenForm === 'u16') {
    head.push((masked ? 0x80 : 0) | 126);
    ext.writeUInt16BE(n, 0);
  } else {
    head.push((masked ? 0x80 : 0) | 127);
    ext.writeBigUInt64BE(BigInt(n), 0);
  }
  let body = payload;
  let key = Buffer.alloc(0);
  if (masked) {
    key = Buffer.from([r.int(256), r.int(256), r.int(256), r.int(256)]);
    body = Buffer.from(payload.map((b, i) => b ^ key[i & 3]!));
  }
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

/** A message as frames: fragmented at random, pings and pongs between fragments. */
function wsMessage(r: Rng, from: Direction, payload: Buffer, text = false): Buffer[] {
  const frames: Buffer[] = [];
  let at = 0;
  let first = true;
  do {
    const n = r.next() < 0.6 ? payload.length - at : r.int(payload.length - at + 1);
    const last = at + n >= payload.length;
    frames.push(wsFrame(r, from, first ? (text ? 1 : 2) : 0, payload.subarray(at, at + n), last));
    at += n;
    first = false;
    if (!last && r.next() < 0.3) frames.push(wsFrame(r, from, r.pick([9, 10]), Buffer.from('p')));
  } while (at < payload.length);
  return frames;
}

const PAYLOADS = ['ls -la\n', '{"Width":80,"Height":24}', 'total 0\n', '', 'x'.repeat(200), '\u00ff\u0000', '{"status":"Success"}'];

function wsScript(r: Rng, subprotocol: string): Segment[] {
  const out: Segment[] = [];
  const base64 = subprotocol.includes('base64');
  const portForward = subprotocol.startsWith('portforward');
  const prefixed = new Set<number>();
  if (subprotocol.startsWith('SPDY/')) {
    // SPDY frames carried in binary messages, any cut between messages
    for (const s of spdyScript(r)) {
      const from = DIRS[s.from]!;
      out.push({ from: s.from, bytes: Buffer.concat(wsMessage(r, from, s.bytes)), lengths: [] });
    }
    return out;
  }
  for (let i = 0, n = 1 + r.int(12); i < n; i++) {
    const from = r.next() < 0.5 ? 0 : 1;
    const dir = DIRS[from]!;
    const kind = r.int(10);
    let payload: Buffer;
    if (kind === 0) {
      // a control frame alone: ping, pong, or (last) a close
      out.push({ from, bytes: wsFrame(r, dir, r.pick([9, 10]), Buffer.from(r.pick(['', 'ping']))), lengths: [] });
      continue;
    }
    if (kind === 1 && subprotocol === 'v5.channel.k8s.io') {
      payload = Buffer.from([255, r.int(5)]);
    } else {
      const channel = portForward ? r.int(4) : r.int(6);
      let data = Buffer.from(r.pick(PAYLOADS));
      if (portForward && from === 1 && !prefixed.has(channel)) {
        prefixed.add(channel);
        const p = Buffer.alloc(2);
        p.writeUInt16LE(r.pick([8080, 5432, 1]), 0);
        data = Buffer.concat([p, data]);
      }
      payload = base64 ? Buffer.concat([Buffer.from([0x30 + channel]), Buffer.from(data.toString('base64'))]) : Buffer.concat([Buffer.from([channel]), data]);
    }
    out.push({ from, bytes: Buffer.concat(wsMessage(r, dir, payload, base64 && r.next() < 0.5)), lengths: [] });
  }
  if (r.next() < 0.4) {
    const from = r.next() < 0.5 ? 0 : 1;
    const body = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from(r.pick(['', 'bye']))]);
    out.push({ from, bytes: wsFrame(r, DIRS[from]!, 8, body), lengths: [] });
  }
  return out;
}

/**
 * One WebSocket tap case: a stream of any Kubernetes subprotocol (exec, base64, v5 close signals,
 * port-forward prefixes, SPDY tunneled) made hostile, pushed whole and in chunks. push() never
 * throws; violation() comes at most once and nothing after it; the reports do not depend on the
 * chunking; no more data comes out than went in; the held buffers stay within their sizes.
 */
export function fuzzWebSocketCase(seed: number): { events: number; violation: boolean } {
  const r = prng(seed);
  const fail = (what: string): never => {
    throw new Error(`websocket tap fuzz seed ${seed}: ${what}`);
  };
  const subprotocol = r.pick(WEBSOCKET_SUBPROTOCOLS);
  const maxMessageBytes = r.next() < 0.2 ? r.pick([0, 1, 16, 300]) : undefined;
  const options = {
    ...(maxMessageBytes !== undefined ? { maxMessageBytes } : {}),
    ...(r.next() < 0.3 ? { ports: [8080, 5432] } : {}),
    ...(r.next() < 0.2 ? { spdy: { maxStreams: r.pick([0, 1, 2]), maxHeaderBlockBytes: r.pick([0, 16, 200]) } } : {}),
  };
  const script = mutateScript(r, wsScript(r, subprotocol));
  const pushed: Record<Direction, number> = { client: 0, server: 0 };
  const { log, parser } = feedScript(
    r,
    script,
    () => ({ sink: new LogSink(), tap: null as WebSocketTap | null }),
    (p, from, c) => {
      p.tap ??= new WebSocketTap(subprotocol, p.sink, options);
      pushed[DIRS[from]!] += c.length;
      p.tap.push(DIRS[from]!, c);
      const inner = p.tap as unknown as { sides: Record<Direction, { controlLen: number; carryLen: number; messageBytes: number }> };
      for (const d of DIRS) {
        const s = inner.sides[d];
        if (s.controlLen > 125 || s.carryLen > 3) fail(`held ${s.controlLen} control / ${s.carryLen} carry bytes`);
      }
      return p.sink.take();
    },
    () => false,
    fail,
    (p) => p.sink.take(true),
    compareTapLogs,
  );
  if (parser.sink.violations > 1) fail(`${parser.sink.violations} violations`);
  if (parser.sink.afterViolation > 0) fail('reports after the violation');
  // base64 decodes 4 characters into 3 bytes; binary channels drop their channel byte: never more out than in (both runs)
  for (const d of DIRS) if (parser.sink.dataBytes[d] > pushed[d]) fail(`${parser.sink.dataBytes[d]} data bytes out of ${pushed[d]} pushed`);
  return { events: log.length, violation: parser.sink.violations > 0 };
}

// ---- SPDY/3.1 ----

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};

function nameValues(headers: Array<[string, string]>): Buffer {
  const parts = [u32(headers.length)];
  for (const [k, v] of headers) parts.push(u32(Buffer.byteLength(k)), Buffer.from(k), u32(Buffer.byteLength(v)), Buffer.from(v));
  return Buffer.concat(parts);
}

/** One compression context per direction: the first block has the zlib header, each ends in a sync flush. */
class Compressor {
  private history: Buffer | null = null;
  block(raw: Buffer): Buffer {
    if (this.history === null) {
      this.history = Buffer.concat([SPDY3_DICTIONARY, raw]).subarray(-32 * 1024);
      return deflateSync(raw, { dictionary: SPDY3_DICTIONARY, finishFlush: zc.Z_SYNC_FLUSH });
    }
    const out = deflateRawSync(raw, { dictionary: this.history, finishFlush: zc.Z_SYNC_FLUSH });
    this.history = Buffer.from(Buffer.concat([this.history, raw]).subarray(-32 * 1024));
    return out;
  }
}

function dataFrame(id: number, payload: Buffer, flags: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(id & 0x7fffffff, 0);
  h[4] = flags;
  h.writeUIntBE(payload.length, 5, 3);
  return Buffer.concat([h, payload]);
}

const STREAM_HEADERS: Array<Array<[string, string]>> = [
  [['streamtype', 'error']], [['streamtype', 'stdin']], [['streamtype', 'stdout']], [['streamtype', 'stderr']], [['streamtype', 'resize']],
  [['streamtype', 'data'], ['port', '8080']], [['streamtype', 'error'], ['port', '8080']], [['streamtype', 'data'], ['port', '99999']], [],
  [['streamtype', 'stdout'], ['streamtype', 'x\0y']],
];

/** kubectl-like SPDY: client SYN_STREAMs (odd ids), server SYN_REPLYs, DATA both ways, FIN, RST, PING, SETTINGS, GOAWAY. */
function spdyScript(r: Rng): Segment[] {
  const z = [new Compressor(), new Compressor()];
  const out: Segment[] = [];
  const seg = (from: 0 | 1, bytes: Buffer): void => void out.push({ from, bytes, lengths: [] });
  const open: number[] = [];
  let next = 1;
  for (let i = 0, n = 1 + r.int(14); i < n; i++) {
    const k = r.int(10);
    if (k <= 2 || open.length === 0) {
      const id = next;
      next += 2;
      open.push(id);
      const block = z[0]!.block(nameValues(r.pick(STREAM_HEADERS)));
      seg(0, spdyControl(1, r.next() < 0.1 ? 1 : 0, Buffer.concat([u32(id), u32(0), Buffer.from([0, 0]), block])));
      if (r.next() < 0.7) seg(1, spdyControl(2, 0, Buffer.concat([u32(id), z[1]!.block(nameValues([]))])));
    } else if (k <= 6) {
      const from = r.next() < 0.5 ? 0 : 1;
      seg(from, dataFrame(r.pick(open), Buffer.from(r.pick(PAYLOADS)), r.next() < 0.2 ? 1 : 0));
    } else if (k === 7) {
      seg(r.next() < 0.5 ? 0 : 1, spdyControl(3, 0, Buffer.concat([u32(r.pick(open)), u32(5)])));
    } else if (k === 8) {
      seg(r.next() < 0.5 ? 0 : 1, r.pick([spdyControl(6, 0, u32(1)), spdyControl(4, 0, Buffer.concat([u32(1), u32(7), u32(65536)])), spdyControl(9, 0, Buffer.concat([u32(1), u32(100)]))]));
    } else {
      const from = r.next() < 0.5 ? 0 : 1;
      seg(from, spdyControl(8, r.next() < 0.5 ? 1 : 0, Buffer.concat([u32(r.pick(open)), z[from]!.block(nameValues([['x', 'y']]))])));
    }
  }
  if (r.next() < 0.2) seg(r.next() < 0.5 ? 0 : 1, spdyControl(7, 0, Buffer.concat([u32(next - 2), u32(0)])));
  return out;
}

/**
 * One SPDY tap case: a kubectl-like SPDY/3.1 session (header blocks compressed with one zlib context
 * per direction) made hostile, pushed whole and in chunks: push() never throws; violation() at
 * most once, nothing after it; the reports do not depend on the chunking; the open streams, the
 * header block being collected and the inflate window stay within their bounds.
 */
export function fuzzSpdyCase(seed: number): { events: number; violation: boolean } {
  const r = prng(seed);
  const fail = (what: string): never => {
    throw new Error(`spdy tap fuzz seed ${seed}: ${what}`);
  };
  const limits = r.next() < 0.3 ? { maxStreams: r.pick([0, 1, 3]), maxHeaderBlockBytes: r.pick([0, 8, 64, 4096]) } : {};
  const bound = { ...SPDY_TAP_DEFAULTS, ...limits };
  const script = mutateScript(r, spdyScript(r));
  const { log, parser } = feedScript(
    r,
    script,
    () => {
      const sink = new LogSink();
      return { sink, tap: new SpdyTap(sink, limits) };
    },
    (p, from, c) => {
      p.tap.push(DIRS[from]!, c);
      if (p.tap.openStreams > bound.maxStreams) fail(`${p.tap.openStreams} streams open, at most ${bound.maxStreams}`);
      const inner = p.tap as unknown as { sides: Record<Direction, { blockBytes: number; window: Buffer | null }> };
      for (const d of DIRS) {
        const s = inner.sides[d];
        if (s.blockBytes > bound.maxHeaderBlockBytes + 1024) fail(`a header block of ${s.blockBytes} bytes held`);
        if ((s.window?.length ?? 0) > 32 * 1024) fail(`an inflate window of ${s.window?.length} bytes`);
      }
      return p.sink.take();
    },
    () => false,
    fail,
    (p) => p.sink.take(true),
    compareTapLogs,
  );
  if (parser.sink.violations > 1) fail(`${parser.sink.violations} violations`);
  if (parser.sink.afterViolation > 0) fail('reports after the violation');
  return { events: log.length, violation: parser.sink.violations > 0 };
}

// ---- request attributes ----

const SEGMENTS = ['api', 'apis', 'v1', 'apps', 'namespaces', 'default', 'kube-system', 'pods', 'web-1', 'exec', 'log', 'status', 'finalize', 'watch',
  'deployments', 'scale', 'secrets', '', '.', '..', '%2F', 'a/b', 'é', 'constructor', '__proto__', 'x'.repeat(300)];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'get', 'PROPFIND', '', 'CONNECT'];
const QUERIES = ['', '?', 'watch=1', '?watch=true', 'watch=false', 'fieldSelector=metadata.name%3Dweb-1', '?fieldSelector=metadata.name==a,status.phase=x',
  'fieldSelector=metadata.name%3D..', 'fieldSelector=metadata.name%3Da%2Fb', '%zz=%', 'watch=1&watch=0', 'labelSelector=app%3Dweb&limit=500'];

/**
 * One attribute case: a random method, path (API segments, dots, escapes, long names) and query:
 * kubeAttributes never throws; resource, namespace, name and subresource are single path
 * segments; the verb is the method's or one of the Kubernetes verbs; describeKube and
 * resourceName never throw; the same input gives the same attributes.
 */
export function fuzzKubeAttributesCase(seed: number): string {
  const r = prng(seed);
  const fail = (what: string): never => {
    throw new Error(`kube attributes fuzz seed ${seed}: ${what}`);
  };
  const parts: string[] = [];
  for (let i = 0, n = r.int(9); i < n; i++) parts.push(i === 0 && r.next() < 0.7 ? r.pick(['api', 'apis']) : r.pick(SEGMENTS));
  const path = (r.next() < 0.9 ? '/' : '') + parts.join(r.next() < 0.9 ? '/' : '//');
  const method = r.pick(METHODS);
  const search = [r.pick(QUERIES), r.pick(QUERIES)].join(r.pick(['&', '']));
  let a: ReturnType<typeof kubeAttributes>;
  try {
    a = kubeAttributes(method, path, search);
  } catch (e) {
    return fail(`threw ${(e as Error).message} for ${method} ${path}?${search}`);
  }
  const KUBE_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
  if (!KUBE_VERBS.includes(a.verb) && a.verb !== method.toLowerCase()) fail(`verb ${a.verb} for ${method}`);
  for (const k of ['resource', 'namespace', 'name', 'subresource', 'apiGroup', 'apiVersion'] as const) {
    if (a[k].includes('/')) fail(`${k} "${a[k]}" holds a slash (${path})`);
  }
  if (!a.resourceRequest && a.path !== path) fail('a non-resource request lost its path');
  const line = `${describeKube(a)} | ${resourceName(a)}`;
  if (JSON.stringify(kubeAttributes(method, path, search)) !== JSON.stringify(a)) fail('not deterministic');
  return line;
}
