/**
 * Tests of the hand-written SPDY/3.1 tap (a passive, bounded parser over bytes the gateway relays
 * unchanged in both directions; no maintained SPDY library exposes one). Frames are built here with
 * an independent encoder (spdy-transport's dictionary, Node's deflate with one context per direction
 * and a sync flush per block); the last test checks the tap against real spdy-transport traffic.
 */
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { constants as zc, createDeflate, type Deflate } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SPDY3_DICTIONARY, SPDY3_DICTIONARY_ID, SpdyTap } from '../../../src/protocols/kubernetes/spdy-tap.js';
import type { Direction, TapSink } from '../../../src/protocols/kubernetes/stream-channels.js';
import { Recorder, bytewise, feed, randomCuts, spdyControl, whole, type Cut, type Segment, type TapEvent } from './tap-support.js';
import { prng } from '../proof/fuzz-core.js';

// ---- an independent SPDY/3 encoder: spdy-transport's copy of the dictionary, Node's deflate ----

const require = createRequire(import.meta.url);
const TRANSPORT_DICTIONARY = (
  require('spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js') as Record<number, Buffer>
)[3]!;

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};

function nameValueBlock(headers: Record<string, string>): Buffer {
  const parts = [u32(Object.keys(headers).length)];
  for (const [k, v] of Object.entries(headers)) parts.push(u32(Buffer.byteLength(k)), Buffer.from(k), u32(Buffer.byteLength(v)), Buffer.from(v));
  return Buffer.concat(parts);
}

/** One compression context per direction for the connection, a sync flush per header block. */
class HeaderEncoder {
  private readonly z: Deflate;
  constructor(dictionary: Buffer = TRANSPORT_DICTIONARY) {
    this.z = createDeflate({ dictionary });
  }
  block(headers: Record<string, string> | Buffer): Promise<Buffer> {
    const raw = Buffer.isBuffer(headers) ? headers : nameValueBlock(headers);
    return new Promise((resolve) => {
      this.z.write(raw);
      this.z.flush(zc.Z_SYNC_FLUSH, () => {
        const out: Buffer[] = [];
        let c: Buffer | null;
        while ((c = this.z.read() as Buffer | null) !== null) out.push(c);
        resolve(Buffer.concat(out));
      });
    });
  }
}

// data: 0 | stream-id(31) | flags(8) | length(24)
function data(id: number, payload: string | Buffer, fin = false): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(id, 0);
  h[4] = fin ? 1 : 0;
  h.writeUIntBE(body.length, 5, 3);
  return Buffer.concat([h, body]);
}
const FIN = 1;
const synStream = (id: number, block: Buffer, flags = 0): Buffer =>
  spdyControl(1, flags, Buffer.concat([u32(id), u32(0), Buffer.from([0, 0]), block]));
const synReply = (id: number, block: Buffer, flags = 0): Buffer => spdyControl(2, flags, Buffer.concat([u32(id), block]));
const headersFrame = (id: number, block: Buffer, flags = 0): Buffer => spdyControl(8, flags, Buffer.concat([u32(id), block]));
const rst = (id: number, status: number): Buffer => spdyControl(3, 0, Buffer.concat([u32(id), u32(status)]));
const goaway = (last: number, status: number): Buffer => spdyControl(7, 0, Buffer.concat([u32(last), u32(status)]));
const settings = (): Buffer => spdyControl(4, 0, Buffer.concat([u32(1), u32(0x00000007), u32(65536)]));
const ping = (id: number): Buffer => spdyControl(6, 0, u32(id));
const windowUpdate = (id: number, delta: number): Buffer => spdyControl(9, 0, Buffer.concat([u32(id), u32(delta)]));

// ---- a recording sink and chunking helpers (the same as in websocket-tap.test.ts) ----


function run(segments: readonly Segment[], cut: Cut, limits: ConstructorParameters<typeof SpdyTap>[1] = {}): Recorder {
  const rec = new Recorder();
  const tap = new SpdyTap(rec, limits);
  feed((from, chunk) => tap.push(from, chunk), segments, cut);
  return rec;
}

// ---- fixtures ----

/** kubectl exec over SPDY/3.1: the client opens five streams, the server replies, data flows. */
async function execConversation(): Promise<{ segments: Segment[]; expected: TapEvent[] }> {
  const c = new HeaderEncoder();
  const s = new HeaderEncoder();
  const segments: Segment[] = [
    ['client', settings()],
    ['client', synStream(1, await c.block({ streamtype: 'error', requestid: '0' }))],
    ['client', synStream(3, await c.block({ streamtype: 'stdin', requestid: '0' }))],
    ['client', synStream(5, await c.block({ streamtype: 'stdout', requestid: '0' }))],
    ['client', synStream(7, await c.block({ streamtype: 'stderr', requestid: '0' }))],
    ['client', synStream(9, await c.block({ streamtype: 'resize', requestid: '0' }))],
    ['server', settings()],
    ['server', synReply(1, await s.block({}))],
    ['server', synReply(3, await s.block({}))],
    ['server', Buffer.concat([synReply(5, await s.block({})), synReply(7, await s.block({})), synReply(9, await s.block({}))])],
    ['client', Buffer.concat([data(3, 'ls -la\n'), data(9, '{"Width":80,"Height":24}'), ping(1)])],
    ['server', Buffer.concat([ping(1), data(5, 'total 0\n'), windowUpdate(3, 1000), data(7, 'warning: x\n')])],
    ['server', Buffer.concat([spdyControl(0x20, 0, Buffer.from('unknown frame type, skipped')), data(5, 'drwx .\n')])],
    ['client', data(3, '', true)],
    ['server', headersFrame(5, await s.block({ trailer: 'x' }), FIN)],
    ['server', data(7, '', true)],
    ['server', data(1, '{"metadata":{},"status":"Success"}', true)],
    ['client', rst(9, 5)],
    ['server', goaway(0, 0)],
  ];
  const expected: TapEvent[] = [
    { t: 'data', stream: 'stdin', from: 'client', text: 'ls -la\n' },
    { t: 'data', stream: 'resize', from: 'client', text: '{"Width":80,"Height":24}' },
    { t: 'data', stream: 'stdout', from: 'server', text: 'total 0\n' },
    { t: 'data', stream: 'stderr', from: 'server', text: 'warning: x\n' },
    { t: 'data', stream: 'stdout', from: 'server', text: 'drwx .\n' },
    { t: 'closed', stream: 'stdin', from: 'client' },
    { t: 'closed', stream: 'stdout', from: 'server' },
    { t: 'closed', stream: 'stderr', from: 'server' },
    { t: 'data', stream: 'error', from: 'server', text: '{"metadata":{},"status":"Success"}' },
    { t: 'closed', stream: 'error', from: 'server' },
    { t: 'closed', stream: 'resize', from: 'client' },
    { t: 'end', from: 'server', reason: 'GOAWAY last-stream=0 status=0' },
  ];
  return { segments, expected };
}

describe('SPDY/3 dictionary', () => {
  it('is byte for byte the one spdy-transport uses, and has the DICTID senders put in the zlib header', () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(SPDY3_DICTIONARY.equals(TRANSPORT_DICTIONARY)).toBe(true);
    expect(SPDY3_DICTIONARY_ID).toBe(0xe3c6a7c2);
  });

  it('matches the DICTID of a zlib stream compressed with it', async () => {
    const first = await new HeaderEncoder().block({ streamtype: 'stdin' });
    expect(first.readUInt32BE(2)).toBe(SPDY3_DICTIONARY_ID);
  });
});

describe('SpdyTap', () => {
  it('reports every remotecommand stream, FIN, RST and GOAWAY in wire order', async () => {
    const { segments, expected } = await execConversation();
    const rec = run(segments, whole);
    expect(rec.events).toEqual(expected);
  });

  it('reports the same whatever the chunking: whole, byte by byte, random splits', async () => {
    const { segments, expected } = await execConversation();
    expect(run(segments, bytewise).events).toEqual(expected);
    for (let seed = 1; seed <= 25; seed++) expect(run(segments, randomCuts(seed)).events).toEqual(expected);
  });

  it('reports the same when one direction is split at every offset', async () => {
    const c = new HeaderEncoder();
    const stream = Buffer.concat([
      synStream(1, await c.block({ streamtype: 'error' })),
      synStream(3, await c.block({ streamtype: 'stdin' })),
      data(3, 'echo hi\n'),
      headersFrame(3, await c.block({ extra: 'y'.repeat(50) })),
      data(3, 'exit\n', true),
      data(1, '', true),
    ]);
    const reference = run([['client', stream]], whole).events;
    // the HEADERS frame in between reports nothing, so the two data frames merge
    expect(reference).toEqual([
      { t: 'data', stream: 'stdin', from: 'client', text: 'echo hi\nexit\n' },
      { t: 'closed', stream: 'stdin', from: 'client' },
      { t: 'closed', stream: 'error', from: 'client' },
    ]);
    for (let k = 1; k < stream.length; k++) {
      const rec = run(
        [
          ['client', stream.subarray(0, k)],
          ['client', stream.subarray(k)],
        ],
        whole,
      );
      expect(rec.events, `split at ${k}`).toEqual(reference);
    }
  });

  it('keeps one compression context per direction across many header blocks', async () => {
    const c = new HeaderEncoder();
    const segments: Segment[] = [];
    const expected: TapEvent[] = [];
    // 40 streams, each opened with repetitive headers (later blocks refer back into earlier ones)
    for (let i = 0; i < 40; i++) {
      const id = 2 * i + 1;
      segments.push(['client', synStream(id, await c.block({ streamtype: 'stdin', requestid: String(i), filler: 'abc'.repeat(200 + i) }))]);
      segments.push(['client', data(id, `line ${i}`, true)]);
      expected.push({ t: 'data', stream: 'stdin', from: 'client', text: `line ${i}` }, { t: 'closed', stream: 'stdin', from: 'client' });
    }
    expect(run(segments, whole).events).toEqual(expected);
    expect(run(segments, randomCuts(7)).events).toEqual(expected);
  });

  it('names port-forward streams by port, in both directions', async () => {
    const c = new HeaderEncoder();
    const s = new HeaderEncoder();
    const segments: Segment[] = [
      ['client', synStream(1, await c.block({ streamtype: 'error', port: '8080', requestid: '1' }))],
      ['client', synStream(3, await c.block({ streamtype: 'data', port: '8080', requestid: '1' }))],
      ['server', synReply(1, await s.block({}))],
      ['server', synReply(3, await s.block({}))],
      ['client', data(3, 'GET / HTTP/1.1\r\n\r\n')],
      ['server', data(3, 'HTTP/1.1 200 OK\r\n\r\n', true)],
      ['server', data(1, 'connection refused', true)],
      ['client', synStream(5, await c.block({ streamtype: 'data', port: 'nope' }))],
      ['client', data(5, '?')],
    ];
    expect(run(segments, bytewise).events).toEqual([
      { t: 'data', stream: 'port-8080-data', from: 'client', text: 'GET / HTTP/1.1\r\n\r\n' },
      { t: 'data', stream: 'port-8080-data', from: 'server', text: 'HTTP/1.1 200 OK\r\n\r\n' },
      { t: 'closed', stream: 'port-8080-data', from: 'server' },
      { t: 'data', stream: 'port-8080-error', from: 'server', text: 'connection refused' },
      { t: 'closed', stream: 'port-8080-error', from: 'server' },
      { t: 'data', stream: 'unknown', from: 'client', text: '?' },
    ]);
  });

  it('reports FIN on SYN_STREAM and SYN_REPLY, and forgets streams closed on both sides', async () => {
    const c = new HeaderEncoder();
    const s = new HeaderEncoder();
    const rec = new Recorder();
    const tap = new SpdyTap(rec, { maxStreams: 1 });
    tap.push('client', synStream(1, await c.block({ streamtype: 'error' }), FIN));
    tap.push('server', synReply(1, await s.block({}), FIN));
    expect(tap.openStreams).toBe(0);
    tap.push('client', synStream(3, await c.block({ streamtype: 'stdout' })));
    tap.push('server', rst(3, 5));
    expect(tap.openStreams).toBe(0);
    tap.push('client', synStream(5, await c.block({ streamtype: 'stderr' })));
    tap.push('client', data(3, 'late data on a reset stream'));
    expect(rec.events).toEqual([
      { t: 'closed', stream: 'error', from: 'client' },
      { t: 'closed', stream: 'error', from: 'server' },
      { t: 'closed', stream: 'stdout', from: 'server' },
      { t: 'data', stream: 'unknown', from: 'client', text: 'late data on a reset stream' },
    ]);
    expect(rec.violations).toEqual([]);
  });

  it('streams a 16 MiB data frame in slices, never holding it', async () => {
    const c = new HeaderEncoder();
    const rec = new Recorder();
    const tap = new SpdyTap(rec);
    tap.push('client', synStream(1, await c.block({ streamtype: 'stdin' })));
    const size = 0xffffff;
    const head = data(1, Buffer.alloc(0));
    head.writeUIntBE(size, 5, 3);
    tap.push('client', head);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    let seenBeforeEnd = 0;
    while (sent < size) {
      const n = Math.min(chunk.length, size - sent);
      tap.push('client', chunk.subarray(0, n));
      sent += n;
      if (sent < size) seenBeforeEnd = rec.slices;
    }
    expect(seenBeforeEnd).toBeGreaterThan(200);
    expect(rec.maxSlice).toBeLessThanOrEqual(chunk.length);
    const ev = rec.events[0];
    expect(ev?.t === 'data' ? ev.text.length : 0).toBe(size);
  });
});

describe('SpdyTap violations', () => {
  const firstViolation = (rec: Recorder): string => rec.violations[0] ?? '';

  it('garbage: an HTTP request, random bytes, a wrong version', () => {
    for (const garbage of [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      Buffer.from([0x80, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]),
    ]) {
      const rec = run([['client', garbage]], bytewise);
      expect(rec.violations).toHaveLength(1);
      expect(rec.events).toHaveLength(1);
    }
  });

  it('a header block that is not zlib, or uses another dictionary', async () => {
    const notZlib = run([['client', synStream(1, Buffer.from('plain text headers'))]], whole);
    expect(firstViolation(notZlib)).toMatch(/not a zlib stream/);
    const other = new HeaderEncoder(Buffer.from('some other dictionary'));
    const wrongDict = run([['client', synStream(1, await other.block({ streamtype: 'stdin' }))]], whole);
    expect(firstViolation(wrongDict)).toMatch(/dictionary/);
  });

  it('a header block over the decompressed bound (a zlib bomb), or over the compressed bound', async () => {
    const c = new HeaderEncoder();
    const bomb = await c.block({ streamtype: 'stdin', big: 'a'.repeat(200_000) });
    expect(bomb.length).toBeLessThan(2048);
    const rec = run([['client', synStream(1, bomb)]], whole, { maxHeaderBlockBytes: 64 * 1024 });
    expect(firstViolation(rec)).toMatch(/over 65536 bytes decompressed/);

    const huge = Buffer.alloc(18);
    huge.writeUInt16BE(0x8003, 0);
    huge.writeUInt16BE(1, 2);
    huge.writeUIntBE(0xfffff0, 5, 3);
    const rec2 = run([['client', huge]], bytewise);
    expect(firstViolation(rec2)).toMatch(/compressed header block of \d+ bytes over the bound/);
  });

  it('a malformed name/value block', async () => {
    const c = new HeaderEncoder();
    const bad = await c.block(Buffer.concat([u32(2), u32(3), Buffer.from('abc'), u32(100)]));
    expect(firstViolation(run([['client', synStream(1, bad)]], whole))).toMatch(/name\/value/);
  });

  it('too many streams open at once', async () => {
    const c = new HeaderEncoder();
    const segments: Segment[] = [];
    for (let i = 0; i < 5; i++) segments.push(['client', synStream(2 * i + 1, await c.block({ streamtype: 'stdin' }))]);
    const rec = run(segments, whole, { maxStreams: 4 });
    expect(firstViolation(rec)).toMatch(/more than 4 streams/);
  });

  it('a data frame for a stream never opened, a short RST_STREAM', () => {
    expect(firstViolation(run([['server', data(2, 'x')]], whole))).toMatch(/never opened/);
    expect(firstViolation(run([['server', spdyControl(3, 0, u32(1))]], whole))).toMatch(/control frame type 3/);
  });

  it('fuzz: mutated streams never throw and report at most one violation, last', async () => {
    const { segments } = await execConversation();
    const rng = prng(42);
    const r = () => rng.next();
    for (let round = 0; round < 300; round++) {
      const mutated: Segment[] = segments.map(([from, b]) => {
        const m = Buffer.from(b);
        if (r() < 0.2) m[Math.floor(r() * m.length)] = Math.floor(r() * 256);
        return [from, m];
      });
      const rec = run(mutated, randomCuts(round), { maxHeaderBlockBytes: 4096, maxStreams: 8 });
      const v = rec.events.findIndex((e) => e.t === 'violation');
      expect(v === -1 || v === rec.events.length - 1).toBe(true);
    }
  });

  it('stops after the first violation and ignores what follows', () => {
    const rec = new Recorder();
    const tap = new SpdyTap(rec);
    tap.push('client', Buffer.from('garbage!'));
    tap.push('client', Buffer.from('more garbage'));
    tap.push('server', goaway(0, 0));
    expect(rec.events).toHaveLength(1);
    expect(tap.stopped).toBe(true);
  });
});

describe('SpdyTap against spdy-transport through a TCP relay', () => {
  interface SpdyStream {
    headers: Record<string, string>;
    on(event: 'data', fn: (b: Buffer) => void): void;
    on(event: 'end', fn: () => void): void;
    respond(status: number, headers: Record<string, string>): void;
    write(b: Buffer | string): void;
    end(b?: Buffer | string): void;
    resume(): void;
  }
  interface SpdyConnection {
    on(event: 'stream', fn: (s: SpdyStream) => void): void;
    start(version: number): void;
    request(o: { method: string; path: string; headers: Record<string, string> }): SpdyStream;
    end(): void;
  }
  const transport = require('spdy-transport') as {
    connection: { create(socket: Socket, o: { protocol: 'spdy'; isServer: boolean }): SpdyConnection };
  };

  it('reports exactly what a real SPDY/3.1 client and server sent on each stream', async () => {
    const large = Buffer.alloc(200_000);
    for (let i = 0; i < large.length; i++) large[i] = 0x20 + ((i * 31) % 90);
    const reply = (type: string): string => (type === 'stdout' ? large.toString('latin1') : `server ${type}`);

    const server = createServer((sock) => {
      const conn = transport.connection.create(sock, { protocol: 'spdy', isServer: true });
      conn.on('stream', (stream) => {
        stream.respond(200, {});
        stream.on('data', () => {});
        stream.on('end', () => stream.end(reply(stream.headers.streamtype ?? '')));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');

    let ended!: () => void;
    const finished = new Promise<void>((resolve) => (ended = resolve));
    const rec = new Recorder();
    const sink: TapSink = {
      data: (st, from, b) => rec.data(st, from, b),
      closed: (st, from) => rec.closed(st, from),
      end: (from, reason) => {
        rec.end(from, reason);
        ended();
      },
      violation: (m) => {
        rec.violation(m);
        ended();
      },
    };
    const relay = createServer((down) => {
      const up = connect((server.address() as AddressInfo).port, '127.0.0.1');
      const tap = new SpdyTap(sink);
      const pipe = (src: Socket, dst: Socket, from: Direction): void => {
        src.on('data', (chunk: Buffer) => {
          dst.write(chunk);
          tap.push(from, chunk);
        });
        src.on('end', () => dst.end());
        src.on('error', () => dst.destroy());
      };
      pipe(down, up, 'client');
      pipe(up, down, 'server');
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');

    const sock = connect((relay.address() as AddressInfo).port, '127.0.0.1');
    await once(sock, 'connect');
    const client = transport.connection.create(sock, { protocol: 'spdy', isServer: false });
    client.start(3.1);
    const types = ['error', 'stdin', 'stdout', 'stderr', 'resize'];
    const answered = types.map((streamtype) => {
      const stream = client.request({ method: 'POST', path: '/exec', headers: { streamtype } });
      stream.end(`client ${streamtype}`);
      stream.resume();
      return new Promise<void>((resolve) => stream.on('end', resolve));
    });
    await Promise.all(answered);
    client.end();
    await finished;
    sock.destroy();
    relay.close();
    server.close();

    expect(rec.violations).toEqual([]);
    const texts = new Map<string, string>();
    for (const e of rec.events) if (e.t === 'data') texts.set(`${e.from} ${e.stream}`, (texts.get(`${e.from} ${e.stream}`) ?? '') + e.text);
    const expected = new Map<string, string>();
    for (const t of types) {
      expected.set(`client ${t}`, `client ${t}`);
      expected.set(`server ${t}`, reply(t));
    }
    expect(texts).toEqual(expected);
    const closed = rec.events.flatMap((e) => (e.t === 'closed' ? [`${e.from} ${e.stream}`] : [])).sort();
    expect(closed).toEqual([...expected.keys()].sort());
    expect(rec.events.at(-1)).toEqual({ t: 'end', from: 'client', reason: expect.stringMatching(/^GOAWAY /) });
  });
});
