import { Readable } from 'node:stream';
import { GatehouseError } from '../../../src/core/errors.js';
import { MAX_CAST_LINE, openCast } from '../../../src/protocols/ssh/asciicast.js';
import { DEFAULT_MAX_PACKET_BYTES, MAX_OPEN_HANDLES, MAX_PENDING_REQUESTS, SftpProtocolError, SftpTracker } from '../../../src/protocols/ssh/sftp-tracker.js';
import { TypedCommands } from '../../../src/protocols/ssh/typed-commands.js';
import { biggestAllocation, chunks, feedScript, mutate, mutateScript, prng, randomBytes, type Rng, type Segment } from './fuzz-core.js';

/**
 * Fuzz targets of the SSH gateway's sans-IO parts, on fuzz-core.ts's helpers: the SFTP v3 tracker
 * (two directions), the typed-command reader (keystrokes and echo) and the asciicast reader. Each
 * `...Case(seed)` throws an Error naming the seed and the broken property.
 */

// ---- SFTP v3: a plausible session, then made hostile ----

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};
export const str = (s: string | Buffer): Buffer => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s);
  return Buffer.concat([u32(b.length), b]);
};
/** uint32 length | byte type | fields */
export const packet = (type: number, ...fields: Buffer[]): Buffer => {
  const body = Buffer.concat([Buffer.from([type]), ...fields]);
  return Buffer.concat([u32(body.length), body]);
};

const PATHS = ['/tmp/a', 'b.txt', '', '/x/../y', 'é/ü', '/' + 'p'.repeat(300), 'with\0nul', 'dir/'];

function sftpScript(r: Rng): Segment[] {
  const seg = (from: 0 | 1, bytes: Buffer): Segment => ({ from, bytes, lengths: [0] });
  const out: Segment[] = [seg(0, packet(1, u32(3))), seg(1, packet(2, u32(r.next() < 0.95 ? 3 : r.pick([4, 6, 0])), str('posix-rename@openssh.com'), str('1')))];
  let id = r.int(4) === 0 ? 0xfffffff0 : 1;
  let nextHandle = 0;
  const issued: Buffer[] = [];
  const due: Array<() => Buffer> = [];
  const handle = () => (issued.length > 0 && r.next() < 0.9 ? r.pick(issued) : Buffer.from(`h${r.int(5)}`));
  const status = (i: number) => () => packet(101, u32(i), u32(r.int(5)), str('msg'), str(''));
  for (let step = 0, n = 2 + r.int(24); step < n; step++) {
    if (due.length > 0 && r.next() < 0.45) {
      out.push(seg(1, due.splice(r.int(due.length), 1)[0]!()));
      continue;
    }
    const i = (id = (id + 1) >>> 0);
    switch (r.int(12)) {
      case 0:
      case 1: // OPEN -> HANDLE (or STATUS)
        out.push(seg(0, packet(3, u32(i), str(r.pick(PATHS)), u32(r.int(64)), u32(0))));
        due.push(r.next() < 0.85 ? () => {
          const h = Buffer.from(`h${nextHandle++}`);
          issued.push(h);
          return packet(102, u32(i), str(h));
        } : status(i));
        break;
      case 2: // WRITE
        out.push(seg(0, packet(6, u32(i), str(handle()), Buffer.alloc(8), str(Buffer.alloc(r.int(600), 0x61)))));
        due.push(status(i));
        break;
      case 3:
      case 4: // READ -> DATA (or EOF)
        out.push(seg(0, packet(5, u32(i), str(handle()), Buffer.alloc(8), u32(4096))));
        due.push(r.next() < 0.8 ? () => packet(103, u32(i), str(Buffer.alloc(r.int(700), 0x62))) : status(i));
        break;
      case 5: // CLOSE
        out.push(seg(0, packet(4, u32(i), str(handle()))));
        due.push(status(i));
        break;
      case 6: // OPENDIR -> HANDLE
        out.push(seg(0, packet(11, u32(i), str(r.pick(PATHS)))));
        due.push(() => {
          const h = Buffer.from(`d${nextHandle++}`);
          issued.push(h);
          return packet(102, u32(i), str(h));
        });
        break;
      case 7: // REMOVE, MKDIR, RMDIR, SETSTAT
        out.push(seg(0, packet(r.pick([13, 14, 15, 9]), u32(i), str(r.pick(PATHS)), u32(0))));
        due.push(status(i));
        break;
      case 8: // RENAME, SYMLINK
        out.push(seg(0, packet(r.pick([18, 20]), u32(i), str(r.pick(PATHS)), str(r.pick(PATHS)))));
        due.push(status(i));
        break;
      case 9: // EXTENDED
        out.push(seg(0, packet(200, u32(i), str(r.pick(['posix-rename@openssh.com', 'hardlink@openssh.com', 'lsetstat@openssh.com', 'statvfs@openssh.com', 'nope'])), str(r.pick(PATHS)), str(r.pick(PATHS)))));
        due.push(status(i));
        break;
      case 10: // FSETSTAT
        out.push(seg(0, packet(10, u32(i), str(handle()), u32(0))));
        due.push(status(i));
        break;
      default: // STAT, REALPATH, READDIR -> ATTRS / NAME
        out.push(seg(0, packet(r.pick([17, 16, 12]), u32(i), str(r.pick(PATHS)))));
        due.push(() => packet(r.pick([104, 105]), u32(i), u32(0)));
    }
  }
  while (due.length > 0 && r.next() < 0.9) out.push(seg(1, due.splice(r.int(due.length), 1)[0]!()));
  return out;
}

/**
 * One SFTP case: a session (INIT, VERSION, OPEN/READ/WRITE/CLOSE, paths, extensions, replies out
 * of order) made hostile, fed whole and in random chunks. Only SftpProtocolError is thrown, then
 * again on every call; the ops, with end()'s, do not depend on the chunking, also after an error
 * (end() returns the ops a throwing call made before the bad packet); nothing allocated is bigger than
 * maxPacketBytes; the tracker's tables stay under MAX_PENDING_REQUESTS / MAX_OPEN_HANDLES.
 */
export function fuzzSftpCase(seed: number): { ops: number; error: string | null } {
  const r = prng(seed);
  const fail = (what: string): never => {
    throw new Error(`sftp fuzz seed ${seed}: ${what}`);
  };
  const max = r.next() < 0.2 ? r.pick([5, 16, 64, 300, 4096]) : DEFAULT_MAX_PACKET_BYTES;
  const script = mutateScript(r, sftpScript(r));
  const { value, biggest } = biggestAllocation(() =>
    feedScript(
      r,
      script,
      () => new SftpTracker({ maxPacketBytes: max }),
      // not labelled by the call that returned them: after an error, the chunked run returns from
      // earlier calls what the whole run's end() returns
      (t, from, c) => (from === 0 ? t.fromClient(c) : t.fromServer(c)).map((op) => JSON.stringify(op)),
      (e) => e instanceof SftpProtocolError,
      fail,
      (t) => t.end().map((op) => JSON.stringify(op)),
    ),
  );
  if (biggest > Math.max(max, 5)) fail(`allocated ${biggest} bytes with maxPacketBytes ${max}`);
  if (value.error !== null) {
    // after an error the tracker refuses everything with the same error (ended here: TypeError)
    const t = new SftpTracker({ maxPacketBytes: max });
    let first: unknown = null;
    for (const s of script) {
      try {
        if (s.from === 0) t.fromClient(s.bytes);
        else t.fromServer(s.bytes);
      } catch (e) {
        first = e;
        break;
      }
    }
    try {
      t.fromClient(Buffer.from([0]));
      fail('fed after an SftpProtocolError, it did not throw');
    } catch (e) {
      if (e !== first) fail('after an SftpProtocolError, a further call threw something else');
    }
  }
  const inner = value.parser as unknown as { pending: Map<number, unknown>; handles: Map<string, unknown> };
  if (inner.pending.size > MAX_PENDING_REQUESTS || inner.handles.size > MAX_OPEN_HANDLES) fail('tables over their bounds');
  return { ops: value.log.length, error: value.error };
}

// ---- typed commands: keystrokes and echo ----

const KEYS = [
  'ls -la', 'echo héllo', 'rm -rf /tmp/x', '\r', '\n', '\x7f', '\b', '\x03', '\x04', '\x15', '\x0b', '\x17', '\x01', '\x05', '\x02', '\x06',
  '\x0c', '\t', '\x12', '\x10', '\x0e', '\x19', '\x1b[A', '\x1b[B', '\x1b[C', '\x1b[D', '\x1bOH', '\x1bOF', '\x1b[3~', '\x1b[1;5D', '\x1b[200~',
  '\x1b[201~', '\x1bb', '\x1b', '\x1b[', '\x1b[99999999999999999999999999~', '字', '😀', '\xff\xfe', ' ', 'x'.repeat(200),
];
const ECHO = [
  '$ ', 'user@host:~$ ', 'ls -la', '\r\n', '\r', '\x1b[K', '\x1b[2K', '\x1b[1J', '\x1b[C', '\x1b[5D', '\x1b[10G', '\x1b[3P', '\x1b[4@', '\x1b[2X',
  '\x1b[H', '\x1b[3;7H', '\x1b[A', '\x1b[?2004h', '\x1b]0;title\x07', '\x1b]0;t\x1b\\', '\x1bPdcs\x1b\\', '\x1b(B', '\x1bc', '\b', '\t', '\x07',
  '(reverse-i-search)`ls\': ls -la', 'output line\n', '\x1b[31mred\x1b[0m\n', '\x1b[999999999C', '\x1b[99999@', '字😀', '\xff',
];

function typedScript(r: Rng): Segment[] {
  const out: Segment[] = [];
  for (let i = 0, n = 1 + r.int(30); i < n; i++) {
    const from = r.next() < 0.55 ? 0 : 1;
    const parts: string[] = [];
    for (let k = 0, m = 1 + r.int(4); k < m; k++) parts.push(r.pick(from === 0 ? KEYS : ECHO));
    // UTF-8, or raw bytes now and then (invalid UTF-8)
    out.push({ from, bytes: Buffer.from(parts.join(''), r.next() < 0.1 ? 'latin1' : 'utf8'), lengths: [] });
  }
  return out;
}

/**
 * One typed-commands case: keystrokes and echo (editing keys, escape sequences, bracketed paste,
 * UTF-8 split anywhere, noise) fed whole and in chunks: never throws; the lines do not depend on
 * the chunking; each line is at most maxLineBytes; the line and the echo's cells stay bounded.
 */
export function fuzzTypedCase(seed: number): number {
  const r = prng(seed);
  const fail = (what: string): never => {
    throw new Error(`typed-commands fuzz seed ${seed}: ${what}`);
  };
  const max = r.pick([1, 8, 64, 4096]);
  const base = typedScript(r);
  const script = r.next() < 0.3 ? mutateScript(r, base) : base;
  const { log, parser } = feedScript(
    r,
    script,
    () => new TypedCommands({ maxLineBytes: max }),
    (t, from, c) => {
      if (from === 1) {
        t.output(c);
        return [];
      }
      return t.input(c).map((l) => {
        if (Buffer.byteLength(l) > max) fail(`a line of ${Buffer.byteLength(l)} bytes with maxLineBytes ${max}`);
        return `line:${l}`;
      });
    },
    () => false,
    fail,
  );
  const inner = parser as unknown as { lineBytes: number; params: string; echo: { cells: string[]; cursor: number; params: string } };
  if (inner.lineBytes > max) fail(`the line holds ${inner.lineBytes} bytes`);
  if (inner.echo.cells.length > max + 1024 || inner.echo.cursor > max + 1024) fail(`the echo holds ${inner.echo.cells.length} cells`);
  if (inner.params.length > 16 || inner.echo.params.length > 32) fail('escape parameters unbounded');
  return log.length;
}

// ---- asciicast reader ----

const CAST_LINES = [
  '[0.1,"o","hello\\r\\n"]', '[0.2,"i","ls\\r"]', '[0.3,"r","80x24"]', '[0.4,"m","marker"]', '[1e308,"o",""]', '[-1,"o","x"]', '[0.1,"x","y"]',
  '[0.1,"r","80 x 24"]', '[0.1,"o"]', '[0.1,"o",1]', '{}', '', '   ', 'not json', '[0.1,"o","\\ud800"]', '[' .repeat(5000), '[0.1,"o","é"]\r',
  '[NaN,"o","x"]', '["0.1","o","x"]', 'null', '[0.1,"o","x",4]',
];
const HEADERS = [
  '{"version":2,"width":80,"height":24,"timestamp":1,"env":{"TERM":"xterm"}}', '{"version":2,"width":80,"height":24}', '{"version":1}',
  '{"version":2,"width":-1,"height":2}', '{"version":2,"width":1.5,"height":2}', '{"version":2,"width":1,"height":1,"title":7}', '[]', 'null', '',
  '{"version":2,"width":1,"height":1,"__proto__":{"x":1},"constructor":1}', '\ufeff{"version":2,"width":1,"height":1}',
];

/**
 * One asciicast case: a file of random and mutated lines (headers valid and not, events valid and
 * not, noise, split UTF-8, CRLF), streamed in random chunks: readCast's stream resolves or rejects
 * with GH_ERR_RECORDING_INVALID naming a line (nothing else), and the events do not depend on the
 * chunking. `fromFile` reads through readCast-on-a-path (openCast with a file stream).
 */
export async function fuzzCastCase(seed: number): Promise<string> {
  const r = prng(seed);
  const fail = (what: string): never => {
    throw new Error(`asciicast fuzz seed ${seed}: ${what}`);
  };
  const lines = [r.next() < 0.8 ? HEADERS[0]! : r.pick(HEADERS)];
  for (let i = 0, n = r.int(20); i < n; i++) lines.push(r.pick(CAST_LINES));
  let bytes: Buffer = Buffer.from(lines.join(r.next() < 0.2 ? '\r\n' : '\n') + (r.next() < 0.5 ? '\n' : ''));
  if (r.next() < 0.4) bytes = mutate(r, bytes, []);
  if (r.next() < 0.05) bytes = randomBytes(r, 512);
  const read = async (parts: Buffer[]): Promise<string> => {
    try {
      const { header, events } = await openCast('fuzz.cast', Readable.from(parts));
      const all: unknown[] = [];
      for await (const e of events) all.push(e);
      return JSON.stringify([header.width, header.height, header.term, all]);
    } catch (e) {
      if (!(e instanceof GatehouseError) || e.code !== 'GH_ERR_RECORDING_INVALID') {
        fail(`threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
      if (!/^fuzz\.cast line \d+: /.test((e as Error).message)) fail(`error without a line number: ${(e as Error).message}`);
      return `error:${(e as Error).message}`;
    }
  };
  const whole = await read([bytes]);
  const cut = await read(chunks(r, bytes));
  if (whole !== cut) fail(`chunking changed the result: ${whole.slice(0, 200)} vs ${cut.slice(0, 200)}`);
  return whole;
}

/** The line bound: a line longer than MAX_CAST_LINE is refused once it is past the bound, never buffered whole. */
export async function castLineBound(): Promise<{ error: string; heldMax: number }> {
  const block = Buffer.alloc(1024 * 1024, 0x61);
  let sent = 0;
  let heldMax = 0;
  const start = process.memoryUsage().heapUsed;
  async function* feed(): AsyncGenerator<Buffer> {
    yield Buffer.from('{"version":2,"width":1,"height":1}\n[0,"o","');
    // at most 64 MiB: 4x the bound; the reader must stop long before
    while (sent < 4 * MAX_CAST_LINE) {
      heldMax = Math.max(heldMax, process.memoryUsage().heapUsed - start);
      sent += block.length;
      yield block;
    }
  }
  try {
    const { events } = await openCast('big.cast', Readable.from(feed()));
    for await (const _ of events) void _;
    return { error: `no error after ${sent} bytes`, heldMax };
  } catch (e) {
    return { error: `${(e as Error).message} after ${sent} bytes`, heldMax };
  }
}
