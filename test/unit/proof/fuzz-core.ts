import { serialize } from 'pg-protocol';
import type { AuditEvent } from '../../../src/core/events.js';
import { GatehouseError } from '../../../src/core/errors.js';
import { FrameError, Framer, MAX_STARTUP_PACKET } from '../../../src/protocols/postgres/framer.js';
import { PgRelay } from '../../../src/protocols/postgres/relay.js';
import { errorResponse, readyForQuery } from '../../../src/protocols/postgres/backend.js';
import { MessageWriter } from '../../../src/protocols/postgres/wire.js';
import { allowAll } from '../../../src/policy/gate.js';

/**
 * The fuzzing core shared by the quick run (test/unit/proof/fuzz-framer.test.ts) and the soak run
 * (test/soak/fuzz.soak.ts). Everything random comes from a seeded PRNG, so a failing case is
 * reproduced by its seed alone: `fuzzFramerCase(seed)` / `fuzzRelayCase(seed)` throw an Error
 * naming the seed and the broken property. The other framers and taps (fuzz-ssh.ts, fuzz-kube.ts,
 * fuzz-http.ts) build on the helpers exported here: prng, mutate, chunks, randomBytes, the
 * two-direction scripts (Segment, mutateScript, feedScript) and runCases.
 */

/** sfc32: small, fast, good enough for test inputs; deterministic from a 32-bit seed. */
export function prng(seed: number): Rng {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const next = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
  };
}

export interface Rng {
  next(): number;
  /** 0 <= x < n */
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
}

/** Valid frontend messages to start from (typed phase). */
function frontendMessages(r: Rng): Buffer[] {
  const text = r.pick(['SELECT 1', 'INSERT INTO t VALUES ($1)', "SELECT 'x'", 'BEGIN', 'COMMIT', '']);
  return [
    serialize.query(text),
    serialize.parse({ name: r.pick(['', 's1', 's2']), text, types: r.pick([[], [23], [25, 23]]) }),
    serialize.bind({ portal: r.pick(['', 'p1']), statement: r.pick(['', 's1']), values: r.pick([[], ['42'], ['a', null], [Buffer.from([0, 1, 2])]]) }),
    serialize.describe({ type: r.pick(['S', 'P'] as const), name: r.pick(['', 's1']) }),
    serialize.execute({ portal: r.pick(['', 'p1']), rows: r.pick([0, 1, 100]) }),
    serialize.close({ type: r.pick(['S', 'P'] as const), name: r.pick(['', 's1']) }),
    serialize.sync(),
    serialize.flush(),
    serialize.copyData(Buffer.from('1\tx\n')),
    serialize.copyDone(),
    serialize.copyFail('stop'),
    new MessageWriter().int32(1234).int16(1).int16(0).int16(1).int32(2).raw(Buffer.from('42')).int16(0).finish('F'),
  ];
}

/** Valid backend messages (for the relay's upstream direction). */
function backendMessages(r: Rng): Buffer[] {
  const row = new MessageWriter().int16(2).int32(1).raw(Buffer.from('x')).int32(-1).finish('D');
  const desc = new MessageWriter().int16(1).cstring('a').int32(0).int16(0).int32(25).int16(-1).int32(-1).int16(0).finish('T');
  return [
    new MessageWriter().finish('1'),
    new MessageWriter().finish('2'),
    new MessageWriter().finish('3'),
    new MessageWriter().finish('n'),
    new MessageWriter().int16(1).int32(23).finish('t'),
    desc,
    row,
    new MessageWriter().cstring(r.pick(['SELECT 1', 'INSERT 0 1', 'BEGIN', 'COPY 3'])).finish('C'),
    new MessageWriter().finish('I'),
    new MessageWriter().finish('s'),
    errorResponse({ severity: 'ERROR', code: '42P01', message: 'relation does not exist' }),
    new MessageWriter().byte(0x4e).raw(Buffer.from('SNOTICE\0C00000\0Mhello\0\0')).finish('N'),
    readyForQuery(r.pick(['I', 'T', 'E'] as const)),
    new MessageWriter().byte(0).int16(1).int16(0).finish('G'),
    new MessageWriter().byte(0).int16(1).int16(0).finish('H'),
    serialize.copyData(Buffer.from('1\tx\n')),
    serialize.copyDone(),
    new MessageWriter().int32(2).raw(Buffer.from('42')).finish('V'),
    new MessageWriter().cstring('TimeZone').cstring('UTC').finish('S'),
    new MessageWriter().int32(7).cstring('chan').cstring('payload').finish('A'),
  ];
}

const startupPacket = (r: Rng) => serialize.startup({ user: r.pick(['agent', '', 'x'.repeat(300)]), database: r.pick(['orders', 'o']), application_name: 'fuzz' });

const INTERESTING_LENGTHS = [0, 1, 3, 4, 5, 7, 8, 9, MAX_STARTUP_PACKET, MAX_STARTUP_PACKET + 1, 0x7fffffff, -1, -4, -0x80000000, 1 << 20, (1 << 20) + 1, 65_536];

/** Mutates a valid stream: bit flips, byte inserts/deletes/overwrites, corrupt lengths, truncation, splices. */
export function mutate(r: Rng, input: Buffer, lengthOffsets: number[]): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + r.int(6);
  for (let i = 0; i < rounds; i++) {
    if (b.length === 0) b = Buffer.from([r.int(256)]);
    switch (r.int(8)) {
      case 0: { // flip a bit
        const at = r.int(b.length);
        b[at]! ^= 1 << r.int(8);
        break;
      }
      case 1: { // overwrite a byte
        b[r.int(b.length)] = r.int(256);
        break;
      }
      case 2: { // insert bytes
        const at = r.int(b.length + 1);
        const ins = Buffer.alloc(1 + r.int(8));
        for (let k = 0; k < ins.length; k++) ins[k] = r.int(256);
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        break;
      }
      case 3: { // delete bytes
        const at = r.int(b.length);
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + r.int(8)))]);
        break;
      }
      case 4:
      case 5: { // corrupt a length field (huge, negative, off by a little)
        const off = lengthOffsets.length > 0 && r.next() < 0.8 ? r.pick(lengthOffsets) : r.int(Math.max(1, b.length - 3));
        if (off + 4 <= b.length) {
          const cur = b.readInt32BE(off);
          const v = r.next() < 0.5 ? r.pick(INTERESTING_LENGTHS) : cur + r.int(17) - 8;
          b.writeInt32BE(v | 0, off);
        }
        break;
      }
      case 6: { // truncate
        b = b.subarray(0, r.int(b.length + 1));
        break;
      }
      default: { // duplicate a slice somewhere else
        const from = r.int(b.length);
        const slice = b.subarray(from, Math.min(b.length, from + 1 + r.int(32)));
        const at = r.int(b.length + 1);
        b = Buffer.concat([b.subarray(0, at), slice, b.subarray(at)]);
      }
    }
  }
  return b;
}

/** A client stream: (startup packet)? then typed messages, with the offsets of every length field. */
function clientStream(r: Rng, startup: boolean): { bytes: Buffer; lengths: number[] } {
  const parts: Buffer[] = [];
  const lengths: number[] = [];
  let at = 0;
  if (startup) {
    const s = startupPacket(r);
    parts.push(s);
    lengths.push(0);
    at += s.length;
  }
  const pool = frontendMessages(r);
  const n = 1 + r.int(12);
  for (let i = 0; i < n; i++) {
    const m = r.pick(pool);
    parts.push(m);
    lengths.push(at + 1);
    at += m.length;
  }
  return { bytes: Buffer.concat(parts), lengths };
}

/** Random bytes, sometimes with a plausible header in front. */
export function randomBytes(r: Rng, max = 256): Buffer {
  const b = Buffer.alloc(r.int(max));
  for (let i = 0; i < b.length; i++) b[i] = r.int(256);
  return b;
}

/** Splits a buffer into random chunks (sometimes single bytes). */
export function chunks(r: Rng, b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  const tiny = r.next() < 0.1;
  while (pos < b.length) {
    const n = tiny ? 1 : 1 + r.int(Math.max(1, Math.min(b.length - pos, 64)));
    out.push(b.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

interface Frame {
  type: number;
  body: string | null;
}

/**
 * The framing rules written the plain way (whole input at once), for differential checking:
 * the frames up to the first invalid header, and where framing stopped and why.
 */
function referenceFrames(input: Buffer, startup: boolean, maxBody: number, wants: (t: number) => boolean): { frames: Frame[]; error: 'length' | 'limit' | null; consumed: number } {
  const frames: Frame[] = [];
  let pos = 0;
  let inStartup = startup;
  for (;;) {
    const h = inStartup ? 4 : 5;
    if (input.length - pos < h) return { frames, error: null, consumed: input.length };
    const type = inStartup ? 0 : input[pos]!;
    const len = input.readInt32BE(pos + (inStartup ? 0 : 1));
    if (inStartup ? len < 8 || len > MAX_STARTUP_PACKET : len < 4) return { frames, error: 'length', consumed: pos };
    const want = wants(type);
    if (want && len - 4 > maxBody) return { frames, error: 'limit', consumed: pos };
    const end = pos + h + len - 4;
    if (end > input.length) return { frames, error: null, consumed: input.length };
    frames.push({ type, body: want ? input.subarray(pos + h, end).toString('hex') : null });
    pos = end;
    inStartup = false;
  }
}

/** One framer case: a mutated (or random) stream, fed in random chunks; checked against the reference. */
export function fuzzFramerCase(seed: number): void {
  const r = prng(seed);
  const startup = r.next() < 0.3;
  const maxBody = r.pick([0, 16, 64, 1024, 1 << 20]);
  const wantMask = r.int(4);
  const wants = (t: number) => (wantMask === 0 ? true : wantMask === 1 ? false : (t & 1) === wantMask - 2);
  const source = r.next() < 0.15 ? randomBytes(r) : (() => {
    const s = clientStream(r, startup);
    return r.next() < 0.1 ? s.bytes : mutate(r, s.bytes, s.lengths);
  })();

  const frames: Frame[] = [];
  const seen: Buffer[] = [];
  let begun = 0;
  let bodyBytes = 0;
  const fail = (what: string): never => {
    throw new Error(`framer fuzz seed ${seed}: ${what} (input ${source.length} bytes: ${source.subarray(0, 64).toString('hex')}...)`);
  };
  const framer: Framer = new Framer({
    begin: (type, len) => {
      begun += 1;
      if (len < 0) fail(`begin() with a negative body length ${len}`);
      return wants(type);
    },
    bytes: (p) => {
      bodyBytes += p.length;
      seen.push(Buffer.from(p));
    },
    end: (type, body) => {
      if (body && body.length > maxBody) fail(`a body of ${body.length} bytes passed the limit ${maxBody}`);
      frames.push({ type, body: body ? body.toString('hex') : null });
      if (type === 0 && startup) framer.setStartup(false);
    },
  }, maxBody, { startup });

  // memory: the framer allocates bodies with Buffer.allocUnsafe; none may exceed maxBody
  const realAlloc = Buffer.allocUnsafe;
  let biggest = 0;
  Buffer.allocUnsafe = ((n: number) => {
    biggest = Math.max(biggest, n);
    return realAlloc(n);
  }) as typeof Buffer.allocUnsafe;
  let error: 'length' | 'limit' | null = null;
  let fed = 0;
  try {
    for (const c of chunks(r, source)) {
      try {
        framer.push(c);
        fed += c.length;
      } catch (e) {
        if (!(e instanceof FrameError)) fail(`threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        error = /exceeds the limit/.test((e as FrameError).message) ? 'limit' : 'length';
        const fe = e as FrameError;
        if (fe.offset < 0 || fe.offset > c.length) fail(`FrameError offset ${fe.offset} outside the chunk of ${c.length}`);
        fed += fe.offset;
        break;
      }
    }
  } finally {
    Buffer.allocUnsafe = realAlloc;
  }
  if (biggest > maxBody) fail(`allocated ${biggest} bytes with a limit of ${maxBody}`);

  const ref = referenceFrames(source, startup, maxBody, wants);
  if (error !== ref.error) fail(`error ${String(error)}, the reference says ${String(ref.error)}`);
  if (JSON.stringify(frames) !== JSON.stringify(ref.frames)) fail(`frames differ from the reference (${frames.length} vs ${ref.frames.length})`);
  // every byte handed to the sink is the input, in order, and nothing past a refused frame's header
  const all = Buffer.concat(seen);
  if (!source.subarray(0, all.length).equals(all)) fail('bytes() handed out something that is not the input');
  if (error === null && all.length !== source.length) fail(`bytes() handed out ${all.length} of ${source.length} bytes`);
  if (error !== null && (fed < ref.consumed || fed > ref.consumed + 5)) fail(`the refused frame starts at ${fed}, the reference at ${ref.consumed}`);
  if (begun > source.length / 4 + 1) fail(`${begun} frames from ${source.length} bytes`);
  void bodyBytes;
}

const COMMAND_TYPES = new Set(['pg.query', 'pg.prepare', 'pg.execute', 'pg.function_call']);
const GATED = new Set([0x51, 0x50, 0x45, 0x46]); // Q P E F

const relayLimits = { sampleRows: 2, maxValueBytes: 64, maxParamBytes: 64, maxClientMessageBytes: 4096, maxServerMessageBytes: 4096, maxPreparedStatements: 4 };

/**
 * One relay case: the bare relay (allowAll) fed mutated client and server streams in random
 * chunks, interleaved. It may refuse (fatal: a GatehouseError) but never throw; it forwards the
 * client's bytes unchanged and in order; and no command frame goes upstream in a step whose
 * records do not hold a command for it (write-ahead).
 */
export function fuzzRelayCase(seed: number): { commands: number; fatal: string | null } {
  const r = prng(seed);
  const fail = (what: string): never => {
    throw new Error(`relay fuzz seed ${seed}: ${what}`);
  };
  const relay = new PgRelay(relayLimits, allowAll);
  const client = clientStream(r, false);
  const clientBytes = r.next() < 0.2 ? client.bytes : mutate(r, client.bytes, client.lengths);
  const serverParts: Buffer[] = [];
  const bpool = backendMessages(r);
  for (let i = 0, n = 1 + r.int(16); i < n; i++) serverParts.push(r.pick(bpool));
  const serverBytes = r.next() < 0.3 ? Buffer.concat(serverParts) : mutate(r, Buffer.concat(serverParts), []);
  const c = chunks(r, clientBytes);
  const s = chunks(r, serverBytes);
  const forwarded: Buffer[] = [];
  let commands = 0;
  let fatal: string | null = null;
  let ci = 0;
  let si = 0;
  const upstreamFramer = new Framer({ begin: () => false, end: (type) => { gatedOut.push(type); } }, 0);
  const gatedOut: number[] = [];
  while ((ci < c.length || si < s.length) && fatal === null) {
    if (ci < c.length && (si >= s.length || r.next() < 0.5)) {
      let step: ReturnType<PgRelay['fromClient']>;
      try {
        step = relay.fromClient(c[ci++]!);
      } catch (e) {
        return fail(`fromClient threw ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
      }
      const records = step.records.filter((x) => COMMAND_TYPES.has(x.event.type));
      commands += records.length;
      for (const o of step.out) {
        if (!Buffer.isBuffer(o)) return fail('allowAll held a command for review');
        forwarded.push(o);
        try {
          upstreamFramer.push(o);
        } catch (e) {
          fail(`the relay forwarded a frame the protocol does not allow: ${(e as Error).message}`);
        }
      }
      const gated = gatedOut.splice(0).filter((t) => GATED.has(t));
      // Q and F are one record each; P/E record when they make a statement or run one
      const queries = gated.filter((t) => t === 0x51 || t === 0x46).length;
      const qRecs = records.filter((x) => x.event.type === 'pg.query' || x.event.type === 'pg.function_call').length;
      if (qRecs !== queries) fail(`${queries} Query/FunctionCall frames forwarded, ${qRecs} recorded in the same step`);
      if (gated.length < records.length) fail(`${records.length} commands recorded for ${gated.length} command frames forwarded`);
      const execs = gated.filter((t) => t === 0x45).length;
      if (records.filter((x) => x.event.type === 'pg.execute').length !== execs) fail(`${execs} Execute frames forwarded, a different number recorded`);
      if (step.fatal) {
        if (!(step.fatal instanceof GatehouseError)) fail('fatal is not a GatehouseError');
        fatal = step.fatal.code;
      }
    } else {
      let step: ReturnType<PgRelay['fromUpstream']>;
      try {
        step = relay.fromUpstream(s[si++]!);
      } catch (e) {
        return fail(`fromUpstream threw ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
      }
      for (const x of step.records) if ((x.event as AuditEvent).type === undefined) fail('a record without a type');
      if (step.fatal) {
        if (!(step.fatal instanceof GatehouseError)) fail('fatal is not a GatehouseError');
        fatal = step.fatal.code;
      }
    }
  }
  const sent = Buffer.concat(forwarded);
  if (!clientBytes.subarray(0, sent.length).equals(sent)) fail('the relay forwarded bytes the client did not send (or out of order)');
  return { commands, fatal };
}

// ---- shared by the other targets (fuzz-ssh.ts, fuzz-kube.ts, fuzz-http.ts) ----

/** A case's failure, naming the run's base seed and the case's own (either reproduces it). */
function caseFailure(name: string, base: number, seed: number, e: unknown): Error {
  return new Error(`${name}: run FUZZ_SEED=${base}, case seed ${seed}: ${(e as Error).message}`, { cause: e });
}

/** Runs `n` cases from seed `base`; a failure names the base and the case's own seed. Returns the time taken. */
export function runCases(name: string, base: number, n: number, one: (seed: number) => unknown): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const seed = (base + i) >>> 0;
    try {
      one(seed);
    } catch (e) {
      throw caseFailure(name, base, seed, e);
    }
  }
  return performance.now() - t0;
}

/** The async twin of runCases. */
export async function runCasesAsync(name: string, base: number, n: number, one: (seed: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const seed = (base + i) >>> 0;
    try {
      await one(seed);
    } catch (e) {
      throw caseFailure(name, base, seed, e);
    }
  }
  return performance.now() - t0;
}

/** One piece of a two-party conversation: bytes one side sent (0: client, 1: server). */
export interface Segment {
  from: 0 | 1;
  bytes: Buffer;
  /** offsets of length fields in `bytes` (aimed at by the length mutations) */
  lengths: number[];
}

/**
 * A script made hostile: some segments mutated (or replaced by noise), sometimes a random slice
 * repeated or dropped; neighbouring segments of one side sometimes merged (so frames span them).
 */
export function mutateScript(r: Rng, script: Segment[]): Segment[] {
  const out: Segment[] = [];
  const mode = r.int(10); // 0: untouched, 1: all noise, else: some segments mutated
  for (const s of script) {
    if (mode === 0) out.push(s);
    else if (mode === 1) out.push({ from: s.from, bytes: randomBytes(r, 64), lengths: [] });
    else out.push(r.next() < 0.25 ? { from: s.from, bytes: mutate(r, s.bytes, s.lengths), lengths: [] } : s);
  }
  if (mode > 1 && r.next() < 0.2 && out.length > 1) out.splice(r.int(out.length), 1);
  if (mode > 1 && r.next() < 0.2 && out.length > 0) out.splice(r.int(out.length), 0, out[r.int(out.length)]!);
  const merged: Segment[] = [];
  for (const s of out) {
    const last = merged[merged.length - 1];
    if (last && last.from === s.from && r.next() < 0.3) merged[merged.length - 1] = { from: s.from, bytes: Buffer.concat([last.bytes, s.bytes]), lengths: [] };
    else merged.push(s);
  }
  return merged;
}

/**
 * Feeds a script to a fresh parser twice: each segment whole, then each segment cut into random
 * chunks (sometimes single bytes). `push` returns what the parser reported (as comparable
 * strings) or throws; `allowed` says which throws are documented. Both runs must report the same
 * things and stop at the same documented error: the result does not depend on the chunking.
 */
export function feedScript<P>(
  r: Rng,
  script: Segment[],
  make: () => P,
  push: (p: P, from: 0 | 1, chunk: Buffer) => string[],
  allowed: (e: unknown) => boolean,
  fail: (what: string) => never,
  finish?: (p: P) => string[],
  /** replaces the equality of the two logs: returns what differs, or null (used where a stop mid-chunk may drop that chunk's reports) */
  compare?: (whole: string[], cut: string[]) => string | null,
): { log: string[]; error: string | null; parser: P } {
  const run = (cut: boolean): { log: string[]; error: string | null; parser: P } => {
    const p = make();
    const log: string[] = [];
    let error: string | null = null;
    outer: for (const s of script) {
      for (const c of cut ? chunks(r, s.bytes) : [s.bytes]) {
        try {
          log.push(...push(p, s.from, c));
        } catch (e) {
          if (!allowed(e)) fail(`threw ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
          error = (e as Error).message;
          break outer;
        }
      }
    }
    if (finish) log.push(...finish(p));
    return { log, error, parser: p };
  };
  const whole = run(false);
  const cut = run(true);
  if (whole.error !== cut.error) fail(`fed whole: error ${String(whole.error)}; fed in chunks: error ${String(cut.error)}`);
  if (compare) {
    const diff = compare(whole.log, cut.log);
    if (diff !== null && process.env.FUZZ_DEBUG) console.log(JSON.stringify({ script: script.map((x) => [x.from, x.bytes.toString('hex')]), whole: whole.log, cut: cut.log }, null, 1));
    if (diff !== null) fail(`the chunking changed what was reported: ${diff}`);
    return cut;
  }
  if (whole.log.length !== cut.log.length || whole.log.some((x, i) => x !== cut.log[i])) {
    const i = whole.log.findIndex((x, k) => x !== cut.log[k]);
    fail(`the chunking changed what was reported (first difference at ${i}: ${whole.log[i]} vs ${cut.log[i]})`);
  }
  return cut;
}

/** Records the largest Buffer.allocUnsafe / Buffer.alloc while `f` runs. */
export function biggestAllocation<T>(f: () => T): { value: T; biggest: number } {
  const realUnsafe = Buffer.allocUnsafe;
  const realAlloc = Buffer.alloc;
  let biggest = 0;
  Buffer.allocUnsafe = ((n: number) => {
    biggest = Math.max(biggest, n);
    return realUnsafe(n);
  }) as typeof Buffer.allocUnsafe;
  Buffer.alloc = ((n: number, fill?: string | Uint8Array | number, encoding?: BufferEncoding) => {
    biggest = Math.max(biggest, n);
    return realAlloc(n, fill, encoding);
  }) as typeof Buffer.alloc;
  try {
    return { value: f(), biggest };
  } finally {
    Buffer.allocUnsafe = realUnsafe;
    Buffer.alloc = realAlloc;
  }
}
