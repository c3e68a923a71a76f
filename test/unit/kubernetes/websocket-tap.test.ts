/**
 * Tests of the hand-written WebSocket tap (a passive, bounded parser over bytes the gateway relays
 * unchanged in both directions; `ws` terminates connections and cannot observe a relayed stream).
 * Frames are built here byte by byte; the last test checks the tap against real `ws` traffic.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { constants as zc, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { SPDY3_DICTIONARY } from '../../../src/protocols/kubernetes/spdy-tap.js';
import type { Direction, TapSink } from '../../../src/protocols/kubernetes/stream-channels.js';
import { WebSocketTap, type WebSocketTapOptions } from '../../../src/protocols/kubernetes/websocket-tap.js';
import { Recorder, bytewise, feed, randomCuts, whole, type Cut, type Segment, type TapEvent } from './tap-support.js';
import { prng } from '../proof/fuzz-core.js';

// ---- RFC 6455 frames built here ----

const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

interface FrameOptions {
  fin?: boolean;
  rsv?: number;
  /** force the 64-bit length form */
  len64?: boolean;
  /** override: mask a server frame, or leave a client frame unmasked */
  masked?: boolean;
}

let maskSeed = 1;
/** FIN(1) RSV(3) opcode(4) | MASK(1) len(7) [len(16) | len(64)] [mask-key(32)] payload */
function frame(from: Direction, opcode: number, payload: Buffer | string, o: FrameOptions = {}): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const masked = o.masked ?? from === 'client';
  const n = body.length;
  const ext = o.len64 || n > 0xffff ? 8 : n > 125 ? 2 : 0;
  const head = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  head[0] = (o.fin === false ? 0 : 0x80) | ((o.rsv ?? 0) << 4) | opcode;
  head[1] = (masked ? 0x80 : 0) | (ext === 8 ? 127 : ext === 2 ? 126 : n);
  if (ext === 2) head.writeUInt16BE(n, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(n), 2);
  if (!masked) return Buffer.concat([head, body]);
  const key = Buffer.from([maskSeed++ & 0xff, 0x37, 0xfa, 0x21]);
  key.copy(head, 2 + ext);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = body[i]! ^ key[i & 3]!;
  return Buffer.concat([head, out]);
}
const bin = (from: Direction, channel: number, payload: string | Buffer, o: FrameOptions = {}): Buffer =>
  frame(from, OP.BINARY, Buffer.concat([Buffer.from([channel]), Buffer.isBuffer(payload) ? payload : Buffer.from(payload)]), o);
const closeFrame = (from: Direction, code: number, reason = ''): Buffer => {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return frame(from, OP.CLOSE, b);
};

// ---- a recording sink and chunking helpers (the same as in spdy-tap.test.ts) ----


function run(subprotocol: string, segments: readonly Segment[], cut: Cut, options: WebSocketTapOptions = {}): Recorder {
  const rec = new Recorder();
  const tap = new WebSocketTap(subprotocol, rec, options);
  feed((from, chunk) => tap.push(from, chunk), segments, cut);
  return rec;
}

/** The same events whatever the chunking (whole, byte by byte, 20 random splittings). */
function expectAllChunkings(subprotocol: string, segments: readonly Segment[], expected: TapEvent[], options: WebSocketTapOptions = {}): void {
  expect(run(subprotocol, segments, whole, options).events).toEqual(expected);
  expect(run(subprotocol, segments, bytewise, options).events).toEqual(expected);
  for (let seed = 1; seed <= 20; seed++) expect(run(subprotocol, segments, randomCuts(seed), options).events).toEqual(expected);
}

// ---- fixtures ----

const big = Buffer.alloc(70_000, 'x');

const execSegments: Segment[] = [
  ['client', bin('client', 0, 'ls -la\n')],
  ['client', bin('client', 4, '{"Width":80,"Height":24}')],
  ['server', bin('server', 1, 'total 0\n')],
  ['server', bin('server', 2, 'warning: ' + 'w'.repeat(300))], // 16-bit length
  ['server', bin('server', 1, big)], // 64-bit length
  ['server', bin('server', 1, 'short', { len64: true })], // 64-bit form of a short length
  // a fragmented stdout message with a ping and a pong between its fragments
  ['server', frame('server', OP.BINARY, Buffer.from([1]), { fin: false })],
  ['server', frame('server', OP.PING, 'are you there')],
  ['server', frame('server', OP.CONT, 'frag-one ', { fin: false })],
  ['client', frame('client', OP.PONG, 'are you there')],
  ['server', frame('server', OP.CONT, '', { fin: false })],
  ['server', frame('server', OP.CONT, 'frag-two')],
  // a fragmented stdin message whose first fragment is empty
  ['client', frame('client', OP.BINARY, '', { fin: false })],
  ['client', frame('client', OP.CONT, Buffer.from([0, 0x65]), { fin: false })],
  ['client', frame('client', OP.CONT, 'xit\n')],
  ['client', bin('client', 7, 'channel seven')],
  ['server', bin('server', 3, '{"metadata":{},"status":"Success"}')],
  ['server', closeFrame('server', 1000, 'done')],
  ['client', closeFrame('client', 1000, 'done')],
];
const execExpected: TapEvent[] = [
  { t: 'data', stream: 'stdin', from: 'client', text: 'ls -la\n' },
  { t: 'data', stream: 'resize', from: 'client', text: '{"Width":80,"Height":24}' },
  { t: 'data', stream: 'stdout', from: 'server', text: 'total 0\n' },
  { t: 'data', stream: 'stderr', from: 'server', text: 'warning: ' + 'w'.repeat(300) },
  { t: 'data', stream: 'stdout', from: 'server', text: big.toString('latin1') + 'short' + 'frag-one frag-two' },
  { t: 'data', stream: 'stdin', from: 'client', text: 'exit\n' },
  { t: 'data', stream: 'unknown', from: 'client', text: 'channel seven' },
  { t: 'data', stream: 'error', from: 'server', text: '{"metadata":{},"status":"Success"}' },
  { t: 'end', from: 'server', reason: '1000 done' },
  { t: 'end', from: 'client', reason: '1000 done' },
];

describe('WebSocketTap: remotecommand channels', () => {
  for (const subprotocol of ['v4.channel.k8s.io', 'channel.k8s.io', 'v5.channel.k8s.io', '']) {
    it(`reports every channel of ${subprotocol || '(no subprotocol)'} in any chunking`, () => {
      expectAllChunkings(subprotocol, execSegments, execExpected);
    });
  }

  it('splits at every offset of the client stream', () => {
    const stream = Buffer.concat(execSegments.filter(([from]) => from === 'client').map(([, b]) => b));
    const reference = run('v4.channel.k8s.io', [['client', stream]], whole).events;
    expect(reference.filter((e) => e.t === 'data')).toHaveLength(4);
    for (let k = 1; k < stream.length; k++) {
      const rec = run('v4.channel.k8s.io', [['client', stream.subarray(0, k)], ['client', stream.subarray(k)]], whole);
      expect(rec.events, `split at ${k}`).toEqual(reference);
    }
  });

  it('v5: the close signal (255, channel) closes a stream; malformed signals are ignored as Kubernetes does', () => {
    const segments: Segment[] = [
      ['client', bin('client', 0, 'data then close')],
      ['client', bin('client', 255, Buffer.from([0]))],
      ['client', frame('client', OP.BINARY, Buffer.from([255]), { fin: false })],
      ['client', frame('client', OP.CONT, Buffer.from([4]))],
      ['client', bin('client', 255, Buffer.from([1, 2]))], // three bytes: ignored
      ['server', bin('server', 255, Buffer.from([1]))],
    ];
    expectAllChunkings('v5.channel.k8s.io', segments, [
      { t: 'data', stream: 'stdin', from: 'client', text: 'data then close' },
      { t: 'closed', stream: 'stdin', from: 'client' },
      { t: 'closed', stream: 'resize', from: 'client' },
      { t: 'closed', stream: 'stdout', from: 'server' },
    ]);
    // before v5, 255 is just an unknown channel
    expect(run('v4.channel.k8s.io', segments.slice(1, 2), whole).events).toEqual([
      { t: 'data', stream: 'unknown', from: 'client', text: '\u0000' },
    ]);
  });

  it('base64: text frames decoded incrementally across fragment boundaries', () => {
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const out = b64('hello, base64 world!'); // 28 characters, padded
    const segments: Segment[] = [
      ['client', frame('client', OP.TEXT, '0' + b64('ls\n'))],
      ['server', frame('server', OP.TEXT, '1' + out.slice(0, 5), { fin: false })],
      ['server', frame('server', OP.PING, '')],
      ['server', frame('server', OP.CONT, out.slice(5, 6), { fin: false })],
      ['server', frame('server', OP.CONT, out.slice(6, 17), { fin: false })],
      ['server', frame('server', OP.CONT, out.slice(17))],
      ['server', frame('server', OP.TEXT, '2' + b64('err'))],
      ['server', frame('server', OP.TEXT, '3' + b64('{"status":"Failure"}'))],
      ['client', frame('client', OP.TEXT, '4' + b64('{"Width":1,"Height":2}'))],
      ['server', frame('server', OP.TEXT, '1')], // channel only: no data
    ];
    const expected: TapEvent[] = [
      { t: 'data', stream: 'stdin', from: 'client', text: 'ls\n' },
      { t: 'data', stream: 'stdout', from: 'server', text: 'hello, base64 world!' },
      { t: 'data', stream: 'stderr', from: 'server', text: 'err' },
      { t: 'data', stream: 'error', from: 'server', text: '{"status":"Failure"}' },
      { t: 'data', stream: 'resize', from: 'client', text: '{"Width":1,"Height":2}' },
    ];
    expectAllChunkings('v4.base64.channel.k8s.io', segments, expected);
    expectAllChunkings('base64.channel.k8s.io', segments, expected);
  });

  it('streams a 50 MiB frame in slices, never holding it', () => {
    const size = 50 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    for (const from of ['server', 'client'] as const) {
      let bytes = 0;
      let slices = 0;
      let maxSlice = 0;
      let views = 0;
      const sink: TapSink = {
        data: (stream, f, b) => {
          expect([stream, f]).toEqual(['stdout', from]);
          bytes += b.length;
          slices++;
          maxSlice = Math.max(maxSlice, b.length);
          if (b.buffer === chunk.buffer) views++;
        },
        closed: () => {},
        end: () => {},
        violation: (m) => {
          throw new Error(m);
        },
      };
      const tap = new WebSocketTap('v4.channel.k8s.io', sink);
      const head = frame(from, OP.BINARY, Buffer.alloc(0), { len64: true });
      head.writeBigUInt64BE(BigInt(size + 1), 2);
      // a client frame is masked with the key in the head; the payload chunks are fed as they are
      tap.push(from, Buffer.concat([head, Buffer.from([1 ^ (from === 'client' ? head[10]! : 0)])]));
      let sent = 0;
      let before = -1;
      while (sent < size) {
        tap.push(from, chunk);
        sent += chunk.length;
        if (sent === 10 * chunk.length) before = bytes;
      }
      expect(before).toBeGreaterThanOrEqual(10 * chunk.length - 1);
      expect(bytes).toBe(size);
      expect(maxSlice).toBeLessThanOrEqual(chunk.length);
      expect(slices).toBeGreaterThanOrEqual(50);
      // server slices are views of the pushed chunk (no copy); client slices are unmasked copies
      expect(views).toBe(from === 'server' ? slices : 0);
    }
  });
});

describe('WebSocketTap: port-forward', () => {
  const port = (p: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(p, 0);
    return b;
  };

  it('learns each channel pair port from the server prefix', () => {
    const segments: Segment[] = [
      ['server', bin('server', 0, port(8080))],
      ['server', bin('server', 1, port(8080))],
      ['server', bin('server', 2, Buffer.concat([port(5432), Buffer.from('prefix and data in one message')]))],
      ['server', bin('server', 3, port(5432))],
      ['client', bin('client', 0, 'GET / HTTP/1.1\r\n\r\n')],
      ['server', bin('server', 0, 'HTTP/1.1 200 OK\r\n\r\n')],
      ['server', bin('server', 1, 'connection refused')],
      ['client', bin('client', 2, 'Q')],
      ['client', bin('client', 4, 'no such pair')],
      ['server', closeFrame('server', 1000)],
    ];
    expectAllChunkings('portforward.k8s.io', segments, [
      { t: 'data', stream: 'port-5432-data', from: 'server', text: 'prefix and data in one message' },
      { t: 'data', stream: 'port-8080-data', from: 'client', text: 'GET / HTTP/1.1\r\n\r\n' },
      { t: 'data', stream: 'port-8080-data', from: 'server', text: 'HTTP/1.1 200 OK\r\n\r\n' },
      { t: 'data', stream: 'port-8080-error', from: 'server', text: 'connection refused' },
      { t: 'data', stream: 'port-5432-data', from: 'client', text: 'Q' },
      { t: 'data', stream: 'unknown', from: 'client', text: 'no such pair' },
      { t: 'end', from: 'server', reason: '1000' },
    ]);
    expect(run('v4.channel.k8s.io', segments, whole, { portForward: true }).events[0]).toEqual({
      t: 'data', stream: 'port-5432-data', from: 'server', text: 'prefix and data in one message',
    });
  });

  it('base64 port-forward: the prefix is inside the decoded bytes; ports may be given up front', () => {
    const segments: Segment[] = [
      ['client', frame('client', OP.TEXT, '0' + Buffer.from('early').toString('base64'))],
      ['server', frame('server', OP.TEXT, '0' + Buffer.concat([port(443), Buffer.from('hi')]).toString('base64'))],
    ];
    expectAllChunkings('v4.base64.channel.k8s.io', segments, [
      { t: 'data', stream: 'port-443-data', from: 'client', text: 'early' },
      { t: 'data', stream: 'port-443-data', from: 'server', text: 'hi' },
    ], { portForward: true, ports: [443] });
  });

  it('SPDY/3.1 tunneled in binary messages (portforward.k8s.io v4 tunneling) goes through the SPDY tap', () => {
    const block = (h: Record<string, string>): Buffer => {
      const parts: Buffer[] = [];
      const u32 = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
      parts.push(u32(Object.keys(h).length));
      for (const [k, v] of Object.entries(h)) parts.push(u32(k.length), Buffer.from(k), u32(v.length), Buffer.from(v));
      // the first (only) block of the direction: zlib header, SPDY dictionary, sync flush
      return deflateSync(Buffer.concat(parts), { dictionary: SPDY3_DICTIONARY, finishFlush: zc.Z_SYNC_FLUSH });
    };
    const syn = block({ streamtype: 'data', port: '6379' });
    const synFrame = Buffer.concat([Buffer.from([0x80, 3, 0, 1, 0, 0, 0, syn.length + 10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), syn]);
    const dataFrame = (text: string, fin = false): Buffer =>
      Buffer.concat([Buffer.from([0, 0, 0, 1, fin ? 1 : 0, 0, 0, text.length]), Buffer.from(text)]);
    const spdyClient = Buffer.concat([synFrame, dataFrame('PING\r\n')]);
    const segments: Segment[] = [
      // SPDY frames cut across WebSocket messages at arbitrary points
      ['client', frame('client', OP.BINARY, spdyClient.subarray(0, 11))],
      ['client', frame('client', OP.BINARY, spdyClient.subarray(11, 30), { fin: false })],
      ['client', frame('client', OP.CONT, spdyClient.subarray(30))],
      ['server', frame('server', OP.BINARY, dataFrame('+PONG\r\n', true))],
    ];
    expectAllChunkings('SPDY/3.1+portforward.k8s.io', segments, [
      { t: 'data', stream: 'port-6379-data', from: 'client', text: 'PING\r\n' },
      { t: 'data', stream: 'port-6379-data', from: 'server', text: '+PONG\r\n' },
      { t: 'closed', stream: 'port-6379-data', from: 'server' },
    ]);
    const bad = run('SPDY/3.1+portforward.k8s.io', [['client', frame('client', OP.BINARY, 'GET / HTTP/1.1')]], whole);
    expect(bad.violations).toEqual([expect.stringMatching(/^tunneled spdy client: /)]);
  });
});

describe('WebSocketTap violations', () => {
  /** The one violation, whole and byte by byte (the data reported before it may differ: it streams). */
  const violation = (subprotocol: string, segments: Segment[], options: WebSocketTapOptions = {}): string => {
    const recs = [whole, bytewise].map((cut) => run(subprotocol, segments, cut, options));
    for (const r of recs) expect(r.violations).toHaveLength(1);
    expect(recs[1]!.violations[0]!.replace(/:.*/, '')).toBe(recs[0]!.violations[0]!.replace(/:.*/, ''));
    return recs[0]!.violations[0]!;
  };
  const v4 = 'v4.channel.k8s.io';

  it('a masked server frame, an unmasked client frame', () => {
    expect(violation(v4, [['server', bin('server', 1, 'x', { masked: true })]])).toMatch(/masked frame from the server/);
    expect(violation(v4, [['client', bin('client', 0, 'x', { masked: false })]])).toMatch(/unmasked frame from the client/);
  });

  it('RSV bits set (no extension negotiated)', () => {
    expect(violation(v4, [['server', bin('server', 1, 'x', { rsv: 4 })]])).toMatch(/RSV/);
  });

  it('an oversize frame, an oversize message across fragments, a length over 2^53', () => {
    expect(violation(v4, [['server', bin('server', 1, 'x'.repeat(2000))]], { maxMessageBytes: 1024 })).toMatch(/over 1024/);
    expect(
      violation(v4, [
        ['server', frame('server', OP.BINARY, Buffer.alloc(600, 1), { fin: false })],
        ['server', frame('server', OP.CONT, Buffer.alloc(600, 1))],
      ], { maxMessageBytes: 1024 }),
    ).toMatch(/over 1024/);
    const head = Buffer.from([0x82, 127, 0, 0x20, 0, 0, 0, 0, 0, 0]);
    expect(violation(v4, [['server', head]])).toMatch(/over 2\^53/);
  });

  it('control frames fragmented or over 125 bytes, reserved opcodes, stray continuations, interleaved messages', () => {
    expect(violation(v4, [['server', frame('server', OP.PING, 'x'.repeat(126))]])).toMatch(/control frame/);
    expect(violation(v4, [['server', frame('server', OP.PING, 'x', { fin: false })]])).toMatch(/control frame/);
    expect(violation(v4, [['server', frame('server', 3, 'x')]])).toMatch(/reserved opcode/);
    expect(violation(v4, [['server', frame('server', 11, 'x')]])).toMatch(/reserved opcode/);
    expect(violation(v4, [['server', frame('server', OP.CONT, 'x')]])).toMatch(/continuation/);
    expect(
      violation(v4, [
        ['server', frame('server', OP.BINARY, Buffer.from([1]), { fin: false })],
        ['server', frame('server', OP.BINARY, Buffer.from([1]))],
      ]),
    ).toMatch(/inside a fragmented message/);
  });

  it('garbage: an HTTP request where frames were expected; bytes after the close frame; a 1-byte close', () => {
    expect(violation(v4, [['client', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]])).toMatch(/RSV|masked/);
    const after = run(v4, [['server', Buffer.concat([closeFrame('server', 1001), bin('server', 1, 'more')])]], whole);
    expect(after.events).toEqual([
      { t: 'end', from: 'server', reason: '1001' },
      { t: 'violation', message: 'websocket server: bytes after the close frame' },
    ]);
    expect(violation(v4, [['server', frame('server', OP.CLOSE, Buffer.from([3]))]])).toMatch(/close frame of 1 byte/);
  });

  it('invalid base64: bad characters, data after padding, a length not a multiple of 4', () => {
    const b64 = 'v4.base64.channel.k8s.io';
    expect(violation(b64, [['server', frame('server', OP.TEXT, '1ab!d')]])).toMatch(/invalid base64/);
    expect(violation(b64, [['server', frame('server', OP.TEXT, '1YQ==YWJj')]])).toMatch(/invalid base64|after padding/);
    expect(
      violation(b64, [
        ['server', frame('server', OP.TEXT, '1YQ==', { fin: false })],
        ['server', frame('server', OP.CONT, 'YWJj')],
      ]),
    ).toMatch(/after padding/);
    expect(violation(b64, [['server', frame('server', OP.TEXT, '1YWJjZ')]])).toMatch(/multiple of 4/);
  });

  it('a short port prefix', () => {
    expect(violation('portforward.k8s.io', [['server', bin('server', 0, Buffer.from([0x50]))]])).toMatch(/short port prefix/);
  });

  it('rejects an unknown subprotocol at construction', () => {
    expect(() => new WebSocketTap('chat', new Recorder())).toThrow(TypeError);
  });

  it('fuzz: mutated streams never throw and report at most one violation, last', () => {
    const base = execSegments.filter(([, b]) => b.length < 1000);
    const rng = prng(99);
    const r = () => rng.next();
    for (let round = 0; round < 300; round++) {
      const segments: Segment[] = base.map(([from, b]) => {
        const m = Buffer.from(b);
        if (r() < 0.3) m[Math.floor(r() * m.length)] = Math.floor(r() * 256);
        return [from, m];
      });
      const rec = run(r() < 0.5 ? v4 : 'v4.base64.channel.k8s.io', segments, randomCuts(round), { maxMessageBytes: 4096 });
      const v = rec.events.findIndex((e) => e.t === 'violation');
      expect(v === -1 || v === rec.events.length - 1).toBe(true);
    }
  });

  it('stops after the first violation', () => {
    const rec = new Recorder();
    const tap = new WebSocketTap(v4, rec);
    tap.push('server', bin('server', 1, 'x', { rsv: 1 }));
    tap.push('server', bin('server', 1, 'ignored'));
    tap.push('client', bin('client', 0, 'ignored'));
    expect(rec.events).toHaveLength(1);
    expect(tap.stopped).toBe(true);
  });
});

describe('WebSocketTap against ws through a TCP relay', () => {
  it('reports exactly what a ws client and a ws server sent on v4.channel.k8s.io', async () => {
    const subprotocol = 'v4.channel.k8s.io';
    const wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has(subprotocol) ? subprotocol : false),
    });
    await once(wss, 'listening');

    let ends = 0;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const rec = new Recorder((e) => {
      if (e.t === 'end' && ++ends === 2) done();
      if (e.t === 'violation') done();
    });

    // The relay: bytes pass unchanged; after each direction's HTTP head, they also go to the tap.
    const relay = createServer((down) => {
      const up = connect((wss.address() as AddressInfo).port, '127.0.0.1');
      const tap = new WebSocketTap(subprotocol, rec);
      const pipe = (src: Socket, dst: Socket, from: Direction): void => {
        let head: Buffer | null = Buffer.alloc(0);
        src.on('data', (chunk: Buffer) => {
          dst.write(chunk);
          if (head === null) return tap.push(from, chunk);
          head = Buffer.concat([head, chunk]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          const rest = head.subarray(end + 4);
          head = null;
          if (rest.length > 0) tap.push(from, rest);
        });
        src.on('end', () => dst.end());
        src.on('error', () => dst.destroy());
      };
      pipe(down, up, 'client');
      pipe(up, down, 'server');
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');

    const serverGot: Buffer[] = [];
    const clientGot: Buffer[] = [];
    const large = Buffer.alloc(300_000);
    for (let i = 0; i < large.length; i++) large[i] = (i * 7919) & 0xff;

    wss.on('connection', (ws) => {
      ws.on('message', (data: Buffer) => {
        serverGot.push(data);
        if (serverGot.length !== 2) return;
        ws.send(Buffer.from('\x01total 0\n'));
        ws.send(Buffer.from('\x02warning\n'));
        ws.send(Buffer.concat([Buffer.from([1]), large]));
        ws.send(Buffer.from('\x01frag-one '), { fin: false });
        ws.ping('between fragments');
        ws.send(Buffer.from('frag-two'), { fin: true });
        ws.send(Buffer.from('\x03{"metadata":{},"status":"Success"}'));
        ws.close(1000, 'done');
      });
    });

    const client = new WebSocket(`ws://127.0.0.1:${(relay.address() as AddressInfo).port}/exec`, [subprotocol], {
      perMessageDeflate: false,
    });
    client.on('message', (data: Buffer) => clientGot.push(data));
    await once(client, 'open');
    expect(client.protocol).toBe(subprotocol);
    client.send(Buffer.from('\x00echo hello\n'));
    client.send(Buffer.from('\x04{"Width":80,"Height":24}'));
    await finished;
    await once(client, 'close');
    relay.close();
    wss.close();

    expect(rec.violations).toEqual([]);
    const names = ['stdin', 'stdout', 'stderr', 'error', 'resize'] as const;
    const expectedFrom = (from: Direction, messages: Buffer[]): TapEvent[] => {
      const out: TapEvent[] = [];
      for (const m of messages) {
        const stream = names[m[0]!]!;
        const text = m.subarray(1).toString('latin1');
        const last = out.at(-1);
        if (last?.t === 'data' && last.stream === stream) last.text += text;
        else out.push({ t: 'data', stream, from, text });
      }
      return out;
    };
    const ofSide = (from: Direction): TapEvent[] => rec.events.filter((e) => e.t !== 'violation' && e.from === from);
    expect(clientGot).toHaveLength(5);
    expect(ofSide('client')).toEqual([...expectedFrom('client', serverGot), { t: 'end', from: 'client', reason: '1000 done' }]);
    expect(ofSide('server')).toEqual([...expectedFrom('server', clientGot), { t: 'end', from: 'server', reason: '1000 done' }]);
  });
});
