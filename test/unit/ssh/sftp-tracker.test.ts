import { describe, expect, it } from 'vitest';
import {
  MAX_OPEN_HANDLES,
  MAX_PENDING_REQUESTS,
  SftpProtocolError,
  SftpTracker,
  type SftpOp,
} from '../../../src/protocols/ssh/sftp-tracker.js';

/** A tiny byte builder: fields in SFTP wire order. */
class Bytes {
  private readonly parts: Buffer[] = [];
  u8(v: number): this {
    this.parts.push(Buffer.from([v]));
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    this.parts.push(b);
    return this;
  }
  u64(v: number): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(v));
    this.parts.push(b);
    return this;
  }
  str(s: string | Buffer): this {
    const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    return this.u32(b.length).raw(b);
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A packet: uint32 length, byte type, body. */
function pkt(type: number, body: (b: Bytes) => Bytes): Buffer {
  const inner = body(new Bytes().u8(type)).build();
  return Buffer.concat([new Bytes().u32(inner.length).build(), inner]);
}

const noAttrs = (b: Bytes) => b.u32(0); // ATTRS with flags 0
const init = () => pkt(1, (b) => b.u32(3));
const version = (v = 3) => pkt(2, (b) => b.u32(v).str('posix-rename@openssh.com').str('1'));
const open = (id: number, path: string | Buffer, pflags: number) => pkt(3, (b) => noAttrs(b.u32(id).str(path).u32(pflags)));
const close = (id: number, h: string) => pkt(4, (b) => b.u32(id).str(h));
const read = (id: number, h: string, off: number, len: number) => pkt(5, (b) => b.u32(id).str(h).u64(off).u32(len));
const write = (id: number, h: string, off: number, data: Buffer) => pkt(6, (b) => b.u32(id).str(h).u64(off).str(data));
const pathReq = (type: number, id: number, path: string) => pkt(type, (b) => b.u32(id).str(path));
const setstat = (id: number, path: string) => pkt(9, (b) => noAttrs(b.u32(id).str(path)));
const fsetstat = (id: number, h: string) => pkt(10, (b) => noAttrs(b.u32(id).str(h)));
const opendir = (id: number, path: string) => pathReq(11, id, path);
const mkdir = (id: number, path: string) => pkt(14, (b) => noAttrs(b.u32(id).str(path)));
const twoPaths = (type: number, id: number, a: string, c: string) => pkt(type, (b) => b.u32(id).str(a).str(c));
const extended = (id: number, name: string, ...args: string[]) =>
  pkt(200, (b) => args.reduce((acc, a) => acc.str(a), b.u32(id).str(name)));
const status = (id: number, code = 0) => pkt(101, (b) => b.u32(id).u32(code).str('').str(''));
const handle = (id: number, h: string) => pkt(102, (b) => b.u32(id).str(h));
const data = (id: number, d: Buffer) => pkt(103, (b) => b.u32(id).str(d));
const name = (id: number) => pkt(104, (b) => b.u32(id).u32(1).str('a').str('-rw-r--r-- a').u32(0));
const attrs = (id: number) => pkt(105, (b) => b.u32(id).u32(0));

type Step = { from: 'client' | 'server'; bytes: Buffer };
const c = (...p: Buffer[]): Step => ({ from: 'client', bytes: Buffer.concat(p) });
const s = (...p: Buffer[]): Step => ({ from: 'server', bytes: Buffer.concat(p) });

/** Feeds the steps in order, each cut into pieces by `cut`, and returns every op, then end()'s. */
function run(steps: Step[], cut: (b: Buffer) => Buffer[] = (b) => [b], tracker = new SftpTracker()): SftpOp[] {
  const ops: SftpOp[] = [];
  for (const step of steps) {
    for (const piece of cut(step.bytes)) {
      ops.push(...(step.from === 'client' ? tracker.fromClient(piece) : tracker.fromServer(piece)));
    }
  }
  return [...ops, ...tracker.end()];
}

/** mulberry32: a seeded PRNG so a failing split can be replayed */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const H1 = '\0\0\0\x01';
const H2 = '\0\0\0\x02';
const D1 = '\0\0\0\x03';
const A = Buffer.alloc(1000, 0x61);
const B = Buffer.alloc(234, 0x62);

/** A session exercising every tracked request (and the untracked metadata ones), OpenSSH-like. */
const session: Step[] = [
  c(init()),
  s(version()),
  // put: open write|create|truncate, two writes, close
  c(open(1, '/up.bin', 0x02 | 0x08 | 0x10)),
  s(handle(1, H1)),
  c(write(2, H1, 0, A), write(3, H1, 1000, B)),
  s(status(2), status(3)),
  c(close(4, H1)),
  s(status(4)),
  // get: open read, pipelined reads, data replies, EOF, close
  c(open(5, '/up.bin', 0x01)),
  s(handle(5, H2)),
  c(read(6, H2, 0, 1000), read(7, H2, 1000, 1000), read(8, H2, 2000, 1000)),
  s(data(6, A), data(7, B), status(8, 1)),
  c(close(9, H2)),
  s(status(9)),
  // ls: opendir, readdir, close (nothing recorded at the close)
  c(opendir(10, '/dir'), pathReq(16, 11, '.')),
  s(handle(10, D1), name(11)),
  c(pathReq(12, 12, D1)),
  s(name(12)),
  c(fsetstat(13, D1), close(14, D1)),
  s(status(13), status(14)),
  // metadata reads: STAT, LSTAT, FSTAT, READLINK
  c(pathReq(17, 15, '/up.bin'), pathReq(7, 16, '/up.bin'), pathReq(8, 17, H1), pathReq(19, 18, '/l')),
  s(attrs(15), attrs(16), status(17, 4), name(18)),
  // path operations
  c(pathReq(13, 19, '/gone'), twoPaths(18, 20, '/a', '/b'), mkdir(21, '/d'), pathReq(15, 22, '/d'), setstat(23, '/b')),
  s(status(19), status(20), status(21), status(22), status(23)),
  // OpenSSH's SYMLINK: targetpath first, then linkpath
  c(twoPaths(20, 24, '/target', '/link')),
  s(status(24)),
  // extensions
  c(
    extended(25, 'posix-rename@openssh.com', '/b', '/c'),
    extended(26, 'hardlink@openssh.com', '/c', '/hard'),
    extended(27, 'lsetstat@openssh.com', '/link'),
    pkt(200, (b) => b.u32(28).str('statvfs@openssh.com').str('/')),
    pkt(200, (b) => b.u32(29).str('fsync@openssh.com').str(H1)),
  ),
  s(status(25), status(26), status(27), status(28, 8), status(29, 4)),
  // still open at the end: a file with a write
  c(open(30, '/left-open', 0x02 | 0x04 | 0x08 | 0x20)),
  s(handle(30, H1)),
  c(write(31, H1, 0, B)),
];

const expected: SftpOp[] = [
  { op: 'open', path: '/up.bin', flags: ['write', 'create', 'truncate'] },
  { op: 'close', path: '/up.bin', bytesRead: 0, bytesWritten: 1234 },
  { op: 'open', path: '/up.bin', flags: ['read'] },
  { op: 'close', path: '/up.bin', bytesRead: 1234, bytesWritten: 0 },
  { op: 'opendir', path: '/dir' },
  { op: 'setstat', path: '/dir' },
  { op: 'remove', path: '/gone' },
  { op: 'rename', path: '/a', target: '/b' },
  { op: 'mkdir', path: '/d' },
  { op: 'rmdir', path: '/d' },
  { op: 'setstat', path: '/b' },
  { op: 'symlink', path: '/link', target: '/target' },
  { op: 'rename', path: '/b', target: '/c' },
  { op: 'hardlink', path: '/hard', target: '/c' },
  { op: 'setstat', path: '/link' },
  { op: 'open', path: '/left-open', flags: ['write', 'append', 'create', 'exclusive'] },
  { op: 'close', path: '/left-open', bytesRead: 0, bytesWritten: 234 },
];

describe('SftpTracker', () => {
  it('records every tracked operation, write-ahead, and nothing for metadata reads', () => {
    expect(run(session)).toEqual(expected);
  });

  it('returns each op from the call that completes its request (before it is forwarded)', () => {
    const t = new SftpTracker();
    t.fromClient(init());
    t.fromServer(version());
    const o = open(1, '/x', 1);
    expect(t.fromClient(o.subarray(0, o.length - 1))).toEqual([]);
    expect(t.fromClient(o.subarray(o.length - 1))).toEqual([{ op: 'open', path: '/x', flags: ['read'] }]);
    expect(t.fromServer(handle(1, H1))).toEqual([]);
  });

  it('gives the same ops with every step split at every offset', () => {
    for (let i = 0; i < session.length; i++) {
      const len = session[i]!.bytes.length;
      for (let k = 0; k <= len; k++) {
        const cut = (b: Buffer) => (b === session[i]!.bytes ? [b.subarray(0, k), b.subarray(k)] : [b]);
        expect(run(session, cut), `step ${i} split at ${k}`).toEqual(expected);
      }
    }
  });

  it('gives the same ops fed byte by byte', () => {
    const bytes = (b: Buffer) => [...b].map((x) => Buffer.from([x]));
    expect(run(session, bytes)).toEqual(expected);
  });

  it('gives the same ops in random chunk sizes, and with all of one side in one chunk', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = prng(seed);
      const cut = (b: Buffer) => {
        const out: Buffer[] = [];
        for (let at = 0; at < b.length; ) {
          const n = 1 + Math.floor(rnd() * 40);
          out.push(b.subarray(at, at + n));
          at += n;
        }
        return out;
      };
      expect(run(session, cut), `seed ${seed}`).toEqual(expected);
    }
    // several packets in one chunk: the client's requests that need no reply in between
    const t = new SftpTracker();
    t.fromServer(version());
    expect(t.fromClient(Buffer.concat([pathReq(13, 1, '/a'), mkdir(2, '/b'), pathReq(15, 3, '/c')]))).toEqual([
      { op: 'remove', path: '/a' },
      { op: 'mkdir', path: '/b' },
      { op: 'rmdir', path: '/c' },
    ]);
  });

  it('counts WRITE and DATA bytes of large packets, held only as headers', () => {
    const big = Buffer.alloc(256 * 1024, 7);
    const steps = [
      c(open(1, '/big', 3)),
      s(handle(1, H1)),
      c(write(2, H1, 0, big), write(3, H1, big.length, big), read(4, H1, 0, big.length)),
      s(status(2), status(3), data(4, big)),
      c(close(5, H1)),
    ];
    const cut = (b: Buffer) => Array.from({ length: Math.ceil(b.length / 4096) }, (_, i) => b.subarray(i * 4096, (i + 1) * 4096));
    const want = [
      { op: 'open', path: '/big', flags: ['read', 'write'] },
      { op: 'close', path: '/big', bytesRead: big.length, bytesWritten: 2 * big.length },
    ];
    expect(run(steps)).toEqual(want);
    expect(run(steps, cut)).toEqual(want);
  });

  it('refuses a packet longer than maxPacketBytes as soon as its header is in', () => {
    const t = new SftpTracker();
    const header = new Bytes().u32(256 * 1024 + 1024 + 1).u8(6).build();
    expect(() => t.fromClient(header)).toThrow(SftpProtocolError);
    // fail-closed: every later call throws the same error
    expect(() => t.fromClient(init())).toThrow(/at most/);
    expect(() => t.fromServer(version())).toThrow(SftpProtocolError);

    const small = new SftpTracker({ maxPacketBytes: 100 });
    expect(() => small.fromServer(data(1, Buffer.alloc(100)))).toThrow(SftpProtocolError);
    expect(() => new SftpTracker().fromClient(new Bytes().u32(0).u8(1).build())).toThrow(/length 0/);
    // exactly at the limit passes
    const edge = new SftpTracker({ maxPacketBytes: 50 });
    const p = pathReq(13, 1, 'x'.repeat(50 - 1 - 4 - 4));
    expect(edge.fromClient(p)).toEqual([{ op: 'remove', path: 'x'.repeat(41) }]);
  });

  it('refuses malformed packets: a string past the packet end, a short body, an overlong handle', () => {
    const pastEnd = pkt(13, (b) => b.u32(1).u32(20).raw(Buffer.from('short')));
    expect(() => new SftpTracker().fromClient(pastEnd)).toThrow(SftpProtocolError);
    const writePastEnd = pkt(6, (b) => b.u32(1).str(H1).u64(0).u32(5000).raw(Buffer.alloc(10)));
    expect(() => new SftpTracker().fromClient(writePastEnd)).toThrow(/past the end/);
    const dataPastEnd = pkt(103, (b) => b.u32(1).u32(99).raw(Buffer.alloc(10)));
    expect(() => new SftpTracker().fromServer(dataPastEnd)).toThrow(/past the end/);
    expect(() => new SftpTracker().fromClient(pkt(3, (b) => b.u32(1).str('/x')))).toThrow(SftpProtocolError);
    expect(() => new SftpTracker().fromClient(pkt(17, (b) => b.u8(1)))).toThrow(SftpProtocolError);
    const longHandle = 'h'.repeat(257);
    expect(() => new SftpTracker().fromClient(write(1, longHandle, 0, A))).toThrow(/at most 256/);
    expect(() => new SftpTracker().fromServer(handle(1, longHandle))).toThrow(/at most 256/);
    expect(() => new SftpTracker().fromServer(version(6))).toThrow(/version 6/);
  });

  it('end() closes every handle still open, also after a protocol error', () => {
    const t = new SftpTracker();
    t.fromClient(open(1, '/r', 1));
    t.fromClient(open(2, '/w', 2));
    t.fromServer(Buffer.concat([handle(1, H1), handle(2, H2)]));
    t.fromClient(Buffer.concat([read(3, H1, 0, 10), write(4, H2, 0, A)]));
    t.fromServer(data(3, B.subarray(0, 10)));
    expect(() => t.fromClient(new Bytes().u32(1 << 30).u8(6).build())).toThrow(SftpProtocolError);
    expect(t.end()).toEqual([
      { op: 'close', path: '/r', bytesRead: 10, bytesWritten: 0 },
      { op: 'close', path: '/w', bytesRead: 0, bytesWritten: 1000 },
    ]);
    expect(t.end()).toEqual([]);
    expect(() => t.fromClient(init())).toThrow(TypeError);
  });

  it('waits for replies to outstanding READs before recording a close', () => {
    const t = new SftpTracker();
    t.fromClient(open(1, '/r', 1));
    t.fromServer(handle(1, H1));
    expect(t.fromClient(Buffer.concat([read(2, H1, 0, 1000), read(3, H1, 1000, 1000), close(4, H1)]))).toEqual([]);
    expect(t.fromServer(data(2, A))).toEqual([]);
    expect(t.fromServer(Buffer.concat([data(3, B), status(4)]))).toEqual([
      { op: 'close', path: '/r', bytesRead: 1234, bytesWritten: 0 },
    ]);
    expect(t.end()).toEqual([]);
  });

  it('decodes paths as UTF-8, invalid bytes as U+FFFD', () => {
    const t = new SftpTracker();
    expect(t.fromClient(open(1, Buffer.from([0x2f, 0xc3, 0xa9, 0xff, 0x78]), 1))).toEqual([
      { op: 'open', path: '/é\uFFFDx', flags: ['read'] },
    ]);
  });

  it('refuses a handle used before the server issued it while an open is in flight', () => {
    const t = new SftpTracker();
    t.fromClient(open(1, '/secret', 2));
    expect(() => t.fromClient(write(2, H1, 0, A))).toThrow(/has not issued/);
    // with no open in flight the server refuses an unknown handle itself: nothing is recorded
    const u = new SftpTracker();
    expect(u.fromClient(Buffer.concat([write(1, H1, 0, A), close(2, H1), fsetstat(3, H1)]))).toEqual([]);
  });

  it('bounds the pending requests and refuses a reused outstanding id', () => {
    const t = new SftpTracker();
    const stats = Buffer.concat(Array.from({ length: MAX_PENDING_REQUESTS }, (_, i) => pathReq(17, i, '/x')));
    expect(t.fromClient(stats)).toEqual([]);
    expect(() => t.fromClient(pathReq(17, MAX_PENDING_REQUESTS, '/x'))).toThrow(/outstanding/);
    const u = new SftpTracker();
    u.fromClient(pathReq(17, 7, '/x'));
    expect(() => u.fromClient(pathReq(13, 7, '/y'))).toThrow(/reused/);
    // answered ids may be reused
    const v = new SftpTracker();
    v.fromClient(pathReq(17, 7, '/x'));
    v.fromServer(attrs(7));
    expect(v.fromClient(pathReq(13, 7, '/y'))).toEqual([{ op: 'remove', path: '/y' }]);
  });

  it('bounds the open handles', () => {
    const t = new SftpTracker();
    const h = (i: number) => new Bytes().u32(i).build().toString('latin1');
    for (let i = 0; i < MAX_OPEN_HANDLES; i++) {
      t.fromClient(open(i, `/f${i}`, 1));
      t.fromServer(handle(i, h(i)));
    }
    t.fromClient(open(MAX_OPEN_HANDLES, '/one-too-many', 1));
    expect(() => t.fromServer(handle(MAX_OPEN_HANDLES, h(MAX_OPEN_HANDLES)))).toThrow(/handles open/);
    expect(t.end()).toHaveLength(MAX_OPEN_HANDLES);
  });

  it('refuses a handle the server issues twice', () => {
    const t = new SftpTracker();
    t.fromClient(Buffer.concat([open(1, '/a', 1), open(2, '/b', 1)]));
    t.fromServer(handle(1, H1));
    expect(() => t.fromServer(handle(2, H1))).toThrow(/already open/);
  });
});
