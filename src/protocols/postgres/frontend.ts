import { BodyReader, MessageWriter } from './wire.js';

/**
 * Decoders for frontend (client -> server) messages, one small pure function per message, each
 * with its wire layout above it. Bodies come from the bounded framer; every read is bounds-checked.
 */

export const STARTUP_CODES = {
  protocol3: 196608, // 3.0
  ssl: 80877103,
  gssenc: 80877104,
  cancel: 80877102,
} as const;

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; processId: number; secretKey: Buffer }
  | { kind: 'startup'; major: number; minor: number; params: Map<string, string> };

// Int32 code | for cancel: Int32 pid, key bytes (4 bytes in 3.0, up to 256 in 3.2)
// | for startup: (String name, String value)* Byte1('\0')
export function decodeStartup(body: Buffer): StartupPacket {
  const r = new BodyReader(body, 'startup');
  const c = r.int32();
  if (c === STARTUP_CODES.ssl) return { kind: 'ssl' };
  if (c === STARTUP_CODES.gssenc) return { kind: 'gssenc' };
  if (c === STARTUP_CODES.cancel) {
    const processId = r.int32();
    const secretKey = Buffer.from(r.rest());
    if (secretKey.length < 4 || secretKey.length > 256) r.bad('bad cancel key length');
    return { kind: 'cancel', processId, secretKey };
  }
  const major = c >>> 16;
  const minor = c & 0xffff;
  if (major !== 3) r.bad(`unsupported protocol version ${major}.${minor}`);
  const params = new Map<string, string>();
  for (;;) {
    if (r.done) r.bad('missing terminator');
    if (body[r.pos] === 0) {
      r.pos += 1;
      break;
    }
    const name = r.cstring();
    const value = r.cstring();
    params.set(name, value);
  }
  return { kind: 'startup', major, minor, params };
}

// 'p' PasswordMessage: String password
export function decodePassword(body: Buffer): string {
  const r = new BodyReader(body, 'password');
  return r.cstring();
}

// 'Q' Query: String query
export function decodeQuery(body: Buffer): string {
  return new BodyReader(body, 'Query').cstring();
}

export interface ParseMessage {
  name: string;
  text: string;
  paramTypes: number[];
}

// 'P' Parse: String name | String query | Int16 n | Int32 typeOid * n
export function decodeParse(body: Buffer): ParseMessage {
  const r = new BodyReader(body, 'Parse');
  const name = r.cstring();
  const text = r.cstring();
  const n = r.count16(4);
  const paramTypes = new Array<number>(n);
  for (let i = 0; i < n; i++) paramTypes[i] = r.int32() >>> 0;
  return { name, text, paramTypes };
}

export interface BindMessage {
  portal: string;
  statement: string;
  paramFormats: number[];
  /** raw parameter values; null is SQL NULL */
  params: Array<Buffer | null>;
  resultFormats: number[];
}

// 'B' Bind: String portal | String statement | Int16 nf | Int16 format * nf
//           | Int16 np | (Int32 len (-1 = NULL) | Byte * len) * np | Int16 nr | Int16 format * nr
export function decodeBind(body: Buffer): BindMessage {
  const r = new BodyReader(body, 'Bind');
  const portal = r.cstring();
  const statement = r.cstring();
  const nf = r.count16(2);
  const paramFormats = new Array<number>(nf);
  for (let i = 0; i < nf; i++) paramFormats[i] = r.int16();
  const np = r.count16(4);
  const params = new Array<Buffer | null>(np);
  for (let i = 0; i < np; i++) {
    const len = r.int32();
    if (len < -1) r.bad(`bad parameter length ${len}`);
    params[i] = len === -1 ? null : r.bytes(len);
  }
  const nr = r.count16(2);
  const resultFormats = new Array<number>(nr);
  for (let i = 0; i < nr; i++) resultFormats[i] = r.int16();
  return { portal, statement, paramFormats, params, resultFormats };
}

// 'E' Execute: String portal | Int32 maxRows (0 = all)
export function decodeExecute(body: Buffer): { portal: string; maxRows: number } {
  const r = new BodyReader(body, 'Execute');
  return { portal: r.cstring(), maxRows: r.int32() };
}

// 'D' Describe / 'C' Close: Byte1 'S' (statement) or 'P' (portal) | String name
export function decodeTarget(body: Buffer, what: string): { target: 'S' | 'P'; name: string } {
  const r = new BodyReader(body, what);
  const t = r.byte();
  if (t !== 0x53 && t !== 0x50) r.bad(`bad target ${t}`);
  return { target: t === 0x53 ? 'S' : 'P', name: r.cstring() };
}

export interface FunctionCallMessage {
  oid: number;
  argFormats: number[];
  args: Array<Buffer | null>;
  resultFormat: number;
}

// 'F' FunctionCall: Int32 oid | Int16 nf | Int16 format * nf | Int16 na | (Int32 len | Byte * len) * na | Int16 resultFormat
export function decodeFunctionCall(body: Buffer): FunctionCallMessage {
  const r = new BodyReader(body, 'FunctionCall');
  const oid = r.int32() >>> 0;
  const nf = r.count16(2);
  const argFormats = new Array<number>(nf);
  for (let i = 0; i < nf; i++) argFormats[i] = r.int16();
  const na = r.count16(4);
  const args = new Array<Buffer | null>(na);
  for (let i = 0; i < na; i++) {
    const len = r.int32();
    if (len < -1) r.bad(`bad argument length ${len}`);
    args[i] = len === -1 ? null : r.bytes(len);
  }
  const resultFormat = r.int16();
  return { oid, argFormats, args, resultFormat };
}

// ---- encoders for the stand-ins the gateway sends upstream in place of a blocked command ----
//
// A blocked or denied command is not dropped: it is replaced by a message of the same kind that the
// server rejects before running anything (a syntax error, an unknown portal, an unknown function).
// The server then does exactly what it does after any error: it skips to Sync, aborts an open
// transaction block and reports its real status in ReadyForQuery. The relay swaps the server's
// error for the gateway's own (42501 with the rule and reason). See docs/architecture.md.

/** Text that fails in the raw parser, so nothing of it is planned or run. */
export const BLOCKED_SQL = '/* gatehouse: blocked by policy, not run */ gatehouse_blocked';
/** A portal name no client creates (clients cannot know it; it starts with a control character). */
export const BLOCKED_PORTAL = '\u0001gatehouse-blocked';

// 'Q' Query: String query
export const queryMessage = (text: string): Buffer => new MessageWriter().cstring(text).finish('Q');

// 'P' Parse: String name | String query | Int16 0
export const parseMessage = (name: string, text: string): Buffer => new MessageWriter().cstring(name).cstring(text).int16(0).finish('P');

// 'E' Execute: String portal | Int32 maxRows
export const executeMessage = (portal: string, maxRows: number): Buffer => new MessageWriter().cstring(portal).int32(maxRows).finish('E');

// 'F' FunctionCall: Int32 oid (0: no such function) | Int16 0 | Int16 0 | Int16 0
export const functionCallMessage = (oid: number): Buffer => new MessageWriter().int32(oid).int16(0).int16(0).int16(0).finish('F');
