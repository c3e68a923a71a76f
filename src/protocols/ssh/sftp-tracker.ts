/**
 * A passive, sans-IO tracker of one SFTP channel: the gateway feeds it the raw bytes of both
 * directions (it owns no socket) and records the file operations it returns.
 *
 * Protocol: SFTP version 3 (draft-ietf-secsh-filexfer-02), what OpenSSH speaks. Every packet is
 *   uint32 length (of what follows) | byte type | [uint32 request-id, except INIT/VERSION] | payload
 * and a string is uint32 length | bytes. A server answering with any version but 3 is refused:
 * later versions change the layouts (OPEN, RENAME, ATTRS), and a tracker that cannot read what it
 * records must fail closed rather than guess.
 *
 * What is recorded (write-ahead: fromClient() returns the ops before the bytes are forwarded):
 *   OPEN path pflags -> 'open' with flags; the HANDLE reply binds handle -> path
 *   CLOSE of a file handle -> 'close' with bytesRead (the DATA replies to READs on it) and
 *     bytesWritten (the data of WRITEs on it: bytes the client sent, whether or not the server's
 *     write succeeded). If replies to READs on the handle are still due when the client closes it,
 *     the close is returned by fromServer() once the last of them has arrived, so no read bytes go
 *     uncounted; end() returns closes for every handle still open.
 *   OPENDIR -> 'opendir' (its handle's CLOSE records nothing); REMOVE, MKDIR, RMDIR, SETSTAT
 *   FSETSTAT -> 'setstat' with the handle's path; lsetstat@openssh.com -> 'setstat'
 *   RENAME and posix-rename@openssh.com -> 'rename' (path = old, target = new)
 *   SYMLINK -> 'symlink' with path = the link created, target = what it points to. The draft says
 *     (linkpath, targetpath), but OpenSSH's client and server both put targetpath first; every
 *     common server follows OpenSSH, so we read (targetpath, linkpath).
 *   hardlink@openssh.com (oldpath, newpath) -> 'hardlink' with path = the new link, target = the
 *     existing file (a new name for an existing file: not a rename, the old name stays).
 * Not recorded: metadata reads (STAT, LSTAT, FSTAT, REALPATH, READDIR, READLINK: too noisy), and
 * extensions that change nothing or only what is already recorded (fsync, statvfs, fstatvfs,
 * limits, expand-path, home-directory, users-groups-by-id). copy-data (server-side copy between
 * two handles) and unknown extensions are not recorded either, and copy-data bytes are not counted.
 *
 * Bounds: a packet longer than maxPacketBytes is an SftpProtocolError before anything is
 * allocated. At most one packet per direction is held, and only the part a decoder reads: WRITE
 * and DATA keep their headers and only count their data; metadata requests keep their id. At most
 * MAX_PENDING_REQUESTS requests may await a reply and MAX_OPEN_HANDLES handles be open, and the paths
 * they keep (to name what a later READ, WRITE or CLOSE was about) come to MAX_HELD_PATH_BYTES at most:
 * a client that opens more, or longer paths, while the server has not answered is refused. A request
 * naming a handle the server has not issued, while an OPEN/OPENDIR is unanswered, is refused (it
 * could be a guessed handle whose bytes we could not attribute); with none in flight the server
 * refuses it too, so it is ignored. Paths are decoded as UTF-8 (invalid bytes -> U+FFFD).
 * After an SftpProtocolError every further call throws it again; the gateway closes the channel.
 * The call that throws has returned nothing, but the ops of the packets before the bad one (say a
 * close that waited for the READ reply in the same chunk, with its byte counts) are kept: end()
 * returns them first, then the closes of the handles still open. So no op is lost to an error, and
 * what is recorded does not depend on where the chunks were cut. The gateway drops a chunk holding
 * a violation, so what is recorded after an error can include ops and DATA/WRITE bytes of that
 * chunk that were never passed on: the record may say more than passed, never less.
 */
import type { SshSftpEvent } from '../../core/events.js';

export type SftpOp = Omit<SshSftpEvent, 'type' | 'channel'>;

export class SftpProtocolError extends Error {
  override readonly name = 'SftpProtocolError';
}

/** OpenSSH refuses packets over 256 KiB; 1 KiB more of slack. */
export const DEFAULT_MAX_PACKET_BYTES = 256 * 1024 + 1024;
export const MAX_PENDING_REQUESTS = 10_000;
export const MAX_OPEN_HANDLES = 10_000;
/** paths held for unanswered OPEN/OPENDIR requests and open handles, together (UTF-8 bytes) */
export const MAX_HELD_PATH_BYTES = 8 * 1024 * 1024;
/** the draft: handle strings MUST NOT be longer than 256 bytes */
const MAX_HANDLE_BYTES = 256;

const T = {
  INIT: 1, VERSION: 2, OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, SETSTAT: 9, FSETSTAT: 10, OPENDIR: 11,
  REMOVE: 13, MKDIR: 14, RMDIR: 15, RENAME: 18, SYMLINK: 20,
  STATUS: 101, HANDLE: 102, DATA: 103, EXTENDED: 200,
} as const;

const PFLAGS: ReadonlyArray<readonly [number, string]> = [
  [0x01, 'read'], [0x02, 'write'], [0x04, 'append'], [0x08, 'create'], [0x10, 'truncate'], [0x20, 'exclusive'],
];

/** A bounded reader over the kept part of a packet body; `bodyLength` is the whole body's. */
class Reader {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    readonly bodyLength: number,
    private readonly what: string,
  ) {}
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new SftpProtocolError(`SFTP ${this.what}: field past the end of the packet`);
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  bytes(max = Infinity): Buffer {
    const n = this.u32();
    if (n > max) throw new SftpProtocolError(`SFTP ${this.what}: string of ${n} bytes (at most ${max})`);
    this.need(n);
    this.pos += n;
    return this.buf.subarray(this.pos - n, this.pos);
  }
  text(): string {
    return this.bytes().toString('utf8');
  }
  handle(): string {
    return this.bytes(MAX_HANDLE_BYTES).toString('hex');
  }
  /** a string that may lie beyond the kept bytes: its length, checked against the whole packet */
  counted(): number {
    const n = this.u32();
    if (this.pos + n > this.bodyLength) throw new SftpProtocolError(`SFTP ${this.what}: data past the end of the packet`);
    return n;
  }
}

type ClientRequest =
  | { kind: 'init' }
  | { kind: 'open'; id: number; path: string; pflags: number }
  | { kind: 'opendir'; id: number; path: string }
  | { kind: 'close' | 'read' | 'fsetstat'; id: number; handle: string }
  | { kind: 'write'; id: number; handle: string; bytes: number }
  | { kind: 'path'; id: number; op: 'remove' | 'mkdir' | 'rmdir' | 'setstat'; path: string }
  | { kind: 'two-paths'; id: number; op: 'rename' | 'symlink' | 'hardlink'; path: string; target: string }
  | { kind: 'other'; id: number };

type ServerReply =
  | { kind: 'version'; version: number }
  | { kind: 'handle'; id: number; handle: string }
  | { kind: 'data'; id: number; bytes: number }
  | { kind: 'reply'; id: number };

type Decoder<M> = (r: Reader) => M;

const pathOp =
  (op: 'remove' | 'mkdir' | 'rmdir' | 'setstat'): Decoder<ClientRequest> =>
  (r) => ({ kind: 'path', id: r.u32(), op, path: r.text() });
const handleOp =
  (kind: 'close' | 'read' | 'fsetstat'): Decoder<ClientRequest> =>
  (r) => ({ kind, id: r.u32(), handle: r.handle() });

const CLIENT: Record<number, Decoder<ClientRequest>> = {
  // INIT: uint32 version, extension pairs
  [T.INIT]: (r) => (r.u32(), { kind: 'init' }),
  // OPEN: uint32 id, string path, uint32 pflags, ATTRS
  [T.OPEN]: (r) => ({ kind: 'open', id: r.u32(), path: r.text(), pflags: r.u32() }),
  // CLOSE: uint32 id, string handle
  [T.CLOSE]: handleOp('close'),
  // READ: uint32 id, string handle, uint64 offset, uint32 len
  [T.READ]: handleOp('read'),
  // WRITE: uint32 id, string handle, uint64 offset, string data (only its length is kept)
  [T.WRITE]: (r) => {
    const id = r.u32();
    const handle = r.handle();
    r.skip(8);
    return { kind: 'write', id, handle, bytes: r.counted() };
  },
  // SETSTAT: uint32 id, string path, ATTRS
  [T.SETSTAT]: pathOp('setstat'),
  // FSETSTAT: uint32 id, string handle, ATTRS
  [T.FSETSTAT]: handleOp('fsetstat'),
  // OPENDIR: uint32 id, string path
  [T.OPENDIR]: (r) => ({ kind: 'opendir', id: r.u32(), path: r.text() }),
  // REMOVE: uint32 id, string filename
  [T.REMOVE]: pathOp('remove'),
  // MKDIR: uint32 id, string path, ATTRS
  [T.MKDIR]: pathOp('mkdir'),
  // RMDIR: uint32 id, string path
  [T.RMDIR]: pathOp('rmdir'),
  // RENAME: uint32 id, string oldpath, string newpath
  [T.RENAME]: (r) => ({ kind: 'two-paths', id: r.u32(), op: 'rename', path: r.text(), target: r.text() }),
  // SYMLINK (OpenSSH order): uint32 id, string targetpath, string linkpath
  [T.SYMLINK]: (r) => {
    const id = r.u32();
    const target = r.text();
    return { kind: 'two-paths', id, op: 'symlink', path: r.text(), target };
  },
  // EXTENDED: uint32 id, string request-name, request-specific data
  [T.EXTENDED]: (r) => {
    const id = r.u32();
    const name = r.text();
    const ext = EXTENSIONS[name];
    return ext ? ext(id, r) : { kind: 'other', id };
  },
};

const EXTENSIONS: Record<string, (id: number, r: Reader) => ClientRequest> = {
  // posix-rename@openssh.com: string oldpath, string newpath
  'posix-rename@openssh.com': (id, r) => ({ kind: 'two-paths', id, op: 'rename', path: r.text(), target: r.text() }),
  // hardlink@openssh.com: string oldpath, string newpath (path = the new link, target = the existing file)
  'hardlink@openssh.com': (id, r) => {
    const target = r.text();
    return { kind: 'two-paths', id, op: 'hardlink', path: r.text(), target };
  },
  // lsetstat@openssh.com: string path, ATTRS
  'lsetstat@openssh.com': (id, r) => ({ kind: 'path', id, op: 'setstat', path: r.text() }),
};

/** Requests that carry no path: only their id is kept (and read). */
const idOnly: Decoder<ClientRequest> = (r) => ({ kind: 'other', id: r.u32() });

const SERVER: Record<number, Decoder<ServerReply>> = {
  // VERSION: uint32 version, extension pairs
  [T.VERSION]: (r) => ({ kind: 'version', version: r.u32() }),
  // HANDLE: uint32 id, string handle
  [T.HANDLE]: (r) => ({ kind: 'handle', id: r.u32(), handle: r.handle() }),
  // DATA: uint32 id, string data (only its length is kept)
  [T.DATA]: (r) => ({ kind: 'data', id: r.u32(), bytes: r.counted() }),
};
// STATUS, NAME, ATTRS, EXTENDED_REPLY and anything else: uint32 id, ...
const replyId: Decoder<ServerReply> = (r) => ({ kind: 'reply', id: r.u32() });

/** How many body bytes a decoder reads (at most): the rest of the packet is counted, never held. */
const WRITE_HEAD = 4 + 4 + MAX_HANDLE_BYTES + 8 + 4;
function clientKeep(type: number, body: number): number {
  if (type === T.WRITE) return Math.min(body, WRITE_HEAD);
  return CLIENT[type] ? body : Math.min(body, 4);
}
function serverKeep(type: number, body: number): number {
  if (type === T.HANDLE) return Math.min(body, 8 + MAX_HANDLE_BYTES);
  return Math.min(body, type === T.DATA ? 8 : 4);
}

/**
 * Bounded framer for one direction: holds the 5 header bytes and the first `keep(type, body)`
 * bytes of the body (a view into the chunk when it lies in one), lets the rest pass uncopied.
 */
class PacketStream {
  private readonly header = Buffer.alloc(5);
  private headerHave = 0;
  private type = 0;
  private body = 0;
  private remaining = 0;
  private head: Buffer | null = null;
  private keep = 0;
  private headHave = 0;

  constructor(
    private readonly maxPacket: number,
    private readonly keepOf: (type: number, body: number) => number,
    private readonly onPacket: (type: number, head: Buffer, body: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.headerHave < 5) {
        const n = Math.min(5 - this.headerHave, chunk.length - off);
        chunk.copy(this.header, this.headerHave, off, off + n);
        this.headerHave += n;
        off += n;
        if (this.headerHave < 5) continue;
        const length = this.header.readUInt32BE(0);
        if (length === 0) throw new SftpProtocolError('SFTP packet of length 0');
        if (length > this.maxPacket) {
          throw new SftpProtocolError(`SFTP packet of ${length} bytes (at most ${this.maxPacket})`);
        }
        this.type = this.header[4] ?? 0;
        this.body = this.remaining = length - 1;
        this.keep = this.keepOf(this.type, this.body);
        this.head = null;
        this.headHave = 0;
      } else {
        const n = Math.min(this.remaining, chunk.length - off);
        const take = Math.min(this.keep - this.headHave, n);
        if (take > 0) {
          if (this.headHave === 0 && take === this.keep) this.head = chunk.subarray(off, off + take);
          else {
            this.head ??= Buffer.allocUnsafe(this.keep);
            chunk.copy(this.head, this.headHave, off, off + take);
          }
          this.headHave += take;
        }
        this.remaining -= n;
        off += n;
      }
      if (this.remaining === 0) {
        const head = this.head ?? Buffer.alloc(0);
        this.head = null;
        this.headerHave = 0;
        this.onPacket(this.type, head, this.body);
      }
    }
  }
}

interface FileHandle {
  kind: 'file';
  path: string;
  bytesRead: number;
  bytesWritten: number;
  /** READs on this handle still awaiting their reply */
  reads: number;
}
type OpenHandle = FileHandle | { kind: 'dir'; path: string };

type Pending =
  | { kind: 'open'; path: string }
  | { kind: 'opendir'; path: string }
  | { kind: 'read'; file: FileHandle }
  | { kind: 'other' };

const OTHER: Pending = { kind: 'other' };

function closeOp(f: FileHandle): SftpOp {
  return { op: 'close', path: f.path, bytesRead: f.bytesRead, bytesWritten: f.bytesWritten };
}

export class SftpTracker {
  private readonly client: PacketStream;
  private readonly server: PacketStream;
  private readonly pending = new Map<number, Pending>();
  /** OPEN/OPENDIR requests awaiting their reply */
  private opens = 0;
  /** by handle (hex) */
  private readonly handles = new Map<string, OpenHandle>();
  /** closed by the client while replies to READs on them were still due */
  private readonly closing = new Set<FileHandle>();
  private out: SftpOp[] = [];
  /** UTF-8 bytes of the paths pending opens and open handles keep */
  private heldPathBytes = 0;
  private failed: SftpProtocolError | null = null;
  private ended = false;

  constructor(opts: { maxPacketBytes?: number } = {}) {
    const max = opts.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
    if (!Number.isInteger(max) || max < 5) throw new TypeError('maxPacketBytes must be an integer >= 5');
    this.client = new PacketStream(max, clientKeep, (type, head, body) =>
      this.request((CLIENT[type] ?? idOnly)(new Reader(head, body, `request type ${type}`))),
    );
    this.server = new PacketStream(max, serverKeep, (type, head, body) =>
      this.reply((SERVER[type] ?? replyId)(new Reader(head, body, `reply type ${type}`))),
    );
  }

  /** Bytes the client sent: returns the operations to record BEFORE these bytes are forwarded. */
  fromClient(chunk: Buffer): SftpOp[] {
    return this.feed(this.client, chunk);
  }

  /** Bytes the server sent: updates handles and byte counts; returns closes that waited for READ replies. */
  fromServer(chunk: Buffer): SftpOp[] {
    return this.feed(this.server, chunk);
  }

  /**
   * At channel end (also after an error): the ops a throwing call made before the violation, then
   * closes for the handles still open, so no byte count is lost.
   */
  end(): SftpOp[] {
    if (this.ended) return [];
    this.ended = true;
    const out = this.out;
    this.out = [];
    for (const f of this.closing) out.push(closeOp(f));
    for (const h of this.handles.values()) if (h.kind === 'file') out.push(closeOp(h));
    this.closing.clear();
    this.handles.clear();
    this.pending.clear();
    this.heldPathBytes = 0;
    return out;
  }

  private hold(path: string): void {
    const n = Buffer.byteLength(path);
    if (this.heldPathBytes + n > MAX_HELD_PATH_BYTES) {
      throw new SftpProtocolError(`the SFTP client keeps more than ${MAX_HELD_PATH_BYTES} bytes of paths open or waiting for replies`);
    }
    this.heldPathBytes += n;
  }

  private release(path: string): void {
    this.heldPathBytes -= Buffer.byteLength(path);
  }

  private feed(stream: PacketStream, chunk: Buffer): SftpOp[] {
    if (this.ended) throw new TypeError('SftpTracker fed after end()');
    if (this.failed) throw this.failed;
    try {
      stream.push(chunk);
    } catch (err) {
      // this.out is kept: the ops of the packets before the bad one are end()'s to return
      if (err instanceof SftpProtocolError) this.failed = err;
      throw err;
    }
    const out = this.out;
    this.out = [];
    return out;
  }

  private request(m: ClientRequest): void {
    if (m.kind === 'init') return;
    if (this.pending.has(m.id)) throw new SftpProtocolError(`SFTP request id ${m.id} reused while still outstanding`);
    if (this.pending.size >= MAX_PENDING_REQUESTS) {
      throw new SftpProtocolError(`more than ${MAX_PENDING_REQUESTS} SFTP requests outstanding`);
    }
    let pending: Pending = OTHER;
    switch (m.kind) {
      case 'open': {
        const flags = PFLAGS.filter(([bit]) => (m.pflags & bit) !== 0).map(([, name]) => name);
        this.hold(m.path);
        this.out.push({ op: 'open', path: m.path, flags });
        pending = { kind: 'open', path: m.path };
        this.opens += 1;
        break;
      }
      case 'opendir':
        this.hold(m.path);
        this.out.push({ op: 'opendir', path: m.path });
        pending = { kind: 'opendir', path: m.path };
        this.opens += 1;
        break;
      case 'path':
        this.out.push({ op: m.op, path: m.path });
        break;
      case 'two-paths':
        this.out.push({ op: m.op, path: m.path, target: m.target });
        break;
      case 'fsetstat': {
        const h = this.lookup(m.handle);
        if (h) this.out.push({ op: 'setstat', path: h.path });
        break;
      }
      case 'read': {
        const h = this.lookup(m.handle);
        if (h?.kind === 'file') {
          h.reads += 1;
          pending = { kind: 'read', file: h };
        }
        break;
      }
      case 'write': {
        const h = this.lookup(m.handle);
        if (h?.kind === 'file') h.bytesWritten += m.bytes;
        break;
      }
      case 'close': {
        const h = this.lookup(m.handle);
        if (!h) break;
        this.handles.delete(m.handle);
        if (h.kind === 'dir') {
          this.release(h.path);
          break;
        }
        if (h.reads > 0) this.closing.add(h);
        else {
          this.release(h.path);
          this.out.push(closeOp(h));
        }
        break;
      }
      case 'other':
        break;
    }
    this.pending.set(m.id, pending);
  }

  /** The handle's entry; a handle the server has not issued while an open is in flight is refused. */
  private lookup(handle: string): OpenHandle | undefined {
    const h = this.handles.get(handle);
    if (h === undefined && this.opens > 0) {
      throw new SftpProtocolError('SFTP request names a handle the server has not issued while an open is in flight');
    }
    return h;
  }

  private reply(m: ServerReply): void {
    if (m.kind === 'version') {
      if (m.version !== 3) throw new SftpProtocolError(`SFTP version ${m.version} is not supported (only 3)`);
      return;
    }
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    switch (p.kind) {
      case 'open':
      case 'opendir':
        this.opens -= 1;
        if (m.kind !== 'handle') {
          this.release(p.path);
          return;
        }
        if (this.handles.has(m.handle)) throw new SftpProtocolError('SFTP server issued a handle that is already open');
        if (this.handles.size >= MAX_OPEN_HANDLES) throw new SftpProtocolError(`more than ${MAX_OPEN_HANDLES} SFTP handles open`);
        this.handles.set(
          m.handle,
          p.kind === 'open' ? { kind: 'file', path: p.path, bytesRead: 0, bytesWritten: 0, reads: 0 } : { kind: 'dir', path: p.path },
        );
        return;
      case 'read':
        if (m.kind === 'data') p.file.bytesRead += m.bytes;
        p.file.reads -= 1;
        if (p.file.reads === 0 && this.closing.delete(p.file)) {
          this.release(p.file.path);
          this.out.push(closeOp(p.file));
        }
        return;
      case 'other':
        return;
    }
  }
}
