import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { serialize } from 'pg-protocol';
import { GatehouseError } from '../../core/errors.js';
import {
  decodeAuthentication, decodeBackendKeyData, decodeErrorFields, decodeParameterStatus, decodeReadyForQuery, type TxStatus,
} from './backend.js';
import { FrameQueue } from './frame-queue.js';
import { md5PasswordResponse, ScramClient } from './scram.js';
import { code } from './wire.js';

/** Where and how the gateway logs in upstream. The password never leaves this module's scope. */
export interface UpstreamTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | null;
  tls: { mode: 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full'; ca?: string | undefined; servername?: string | undefined };
  connectTimeoutMs: number;
  /** run-time parameters forwarded from the client's startup packet */
  params: Record<string, string>;
  /** largest upstream message read during the login */
  maxMessageBytes: number;
}

export interface UpstreamSession {
  socket: Socket;
  tls: boolean;
  /** raw ParameterStatus frames, to relay to the client as they are */
  parameterFrames: Buffer[];
  parameters: Map<string, string>;
  processId: number;
  secretKey: Buffer;
  txStatus: TxStatus;
  /** bytes received after ReadyForQuery (normally none) */
  leftover: Buffer;
}

const SSL_REQUEST = serialize.requestSsl();
const ignoreError = (): void => undefined;

function upstreamError(codeName: 'GH_ERR_UPSTREAM_UNAVAILABLE' | 'GH_ERR_UPSTREAM_AUTH' | 'GH_ERR_UPSTREAM_TLS' | 'GH_ERR_UPSTREAM_PROTOCOL', detail: string): GatehouseError {
  const messages = {
    GH_ERR_UPSTREAM_UNAVAILABLE: 'the gateway cannot reach the target database right now',
    GH_ERR_UPSTREAM_AUTH: 'the target database refused the gateway (its stored credentials); tell the Gatehouse operator',
    GH_ERR_UPSTREAM_TLS: 'the gateway cannot establish TLS with the target database',
    GH_ERR_UPSTREAM_PROTOCOL: 'the target database answered unexpectedly',
  } as const;
  return new GatehouseError(codeName, messages[codeName], { detail });
}

function tcp(target: UpstreamTarget, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: target.host, port: target.port });
    s.setNoDelay(true);
    const onAbort = () => {
      s.destroy();
      reject(upstreamError('GH_ERR_UPSTREAM_UNAVAILABLE', `connect to ${target.host}:${target.port} timed out`));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    s.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      s.removeAllListeners('error');
      // from here on errors surface as 'close' to whoever owns the socket; an unhandled 'error'
      // event would take the whole gateway down
      s.on('error', ignoreError);
      resolve(s);
    });
    s.once('error', (e) => {
      signal.removeEventListener('abort', onAbort);
      reject(upstreamError('GH_ERR_UPSTREAM_UNAVAILABLE', `connect to ${target.host}:${target.port}: ${e.message}`));
    });
  });
}

function readOneByte(s: Socket): Promise<{ byte: number; extra: boolean }> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      cleanup();
      resolve({ byte: chunk[0]!, extra: chunk.length > 1 });
    };
    const onClose = () => {
      cleanup();
      reject(upstreamError('GH_ERR_UPSTREAM_PROTOCOL', 'connection closed during TLS negotiation'));
    };
    const cleanup = () => {
      s.off('data', onData);
      s.off('close', onClose);
      s.off('error', onClose);
      s.pause();
    };
    s.on('data', onData);
    s.once('close', onClose);
    s.once('error', onClose);
  });
}

async function negotiateTls(s: Socket, target: UpstreamTarget): Promise<{ socket: Socket; tls: boolean }> {
  const mode = target.tls.mode;
  if (mode === 'disable') return { socket: s, tls: false };
  s.write(SSL_REQUEST);
  const { byte, extra } = await readOneByte(s);
  // bytes after the answer and before the handshake could be injected by a man in the middle (CVE-2021-23222)
  if (extra) throw upstreamError('GH_ERR_UPSTREAM_PROTOCOL', 'unexpected data after the TLS answer');
  if (byte === code('N')) {
    if (mode === 'prefer') return { socket: s, tls: false };
    throw upstreamError('GH_ERR_UPSTREAM_TLS', `the server does not offer TLS but the connection requires it (mode ${mode})`);
  }
  if (byte !== code('S')) throw upstreamError('GH_ERR_UPSTREAM_PROTOCOL', `unexpected answer ${byte} to SSLRequest`);
  const verify = mode === 'verify-ca' || mode === 'verify-full';
  const ca = target.tls.ca ? readFileSync(target.tls.ca) : undefined;
  const t: TLSSocket = tlsConnect({
    socket: s,
    servername: target.tls.servername ?? (/^[\d.:]+$/.test(target.host) ? undefined : target.host),
    ca,
    rejectUnauthorized: verify,
    checkServerIdentity: mode === 'verify-full' ? undefined : () => undefined,
  });
  await new Promise<void>((resolve, reject) => {
    t.once('secureConnect', resolve);
    t.once('error', (e) => reject(upstreamError('GH_ERR_UPSTREAM_TLS', e.message)));
  });
  t.removeAllListeners('error');
  t.on('error', ignoreError);
  return { socket: t, tls: true };
}

/**
 * Opens a session on the upstream server as the connection's configured role: TCP, TLS per the
 * connection's mode, StartupMessage, then cleartext / md5 / SCRAM-SHA-256 / trust authentication,
 * and reads ParameterStatus and BackendKeyData up to the first ReadyForQuery.
 */
export async function connectUpstream(target: UpstreamTarget): Promise<UpstreamSession> {
  const signal = AbortSignal.timeout(target.connectTimeoutMs);
  const raw = await tcp(target, signal);
  let socket: Socket = raw;
  const timer = () => socket.destroy(upstreamError('GH_ERR_UPSTREAM_UNAVAILABLE', 'login timed out'));
  signal.addEventListener('abort', timer, { once: true });
  try {
    const negotiated = await negotiateTls(raw, target);
    socket = negotiated.socket;
    const q = new FrameQueue(socket, { startup: false, maxBody: target.maxMessageBytes });
    socket.write(serialize.startup({ ...target.params, user: target.user, database: target.database }));
    const password = () => {
      if (target.password === null) throw upstreamError('GH_ERR_UPSTREAM_AUTH', 'the server asks for a password and the connection has none');
      return target.password;
    };
    let scram: ScramClient | null = null;
    const parameterFrames: Buffer[] = [];
    const parameters = new Map<string, string>();
    let key: { processId: number; secretKey: Buffer } | null = null;
    for (;;) {
      const f = await q.next();
      switch (f.type) {
        case code('R'): {
          const a = decodeAuthentication(f.body);
          if (a.kind === 'ok') break;
          if (a.kind === 'cleartext') socket.write(serialize.password(password()));
          else if (a.kind === 'md5') socket.write(serialize.password(md5PasswordResponse(target.user, password(), a.salt)));
          else if (a.kind === 'sasl') {
            if (!a.mechanisms.includes('SCRAM-SHA-256')) throw upstreamError('GH_ERR_UPSTREAM_AUTH', `no supported SASL mechanism in ${a.mechanisms.join(', ')}`);
            scram = new ScramClient(password());
            socket.write(serialize.sendSASLInitialResponseMessage(scram.mechanism, scram.clientFirst()));
          } else if (a.kind === 'sasl-continue') {
            if (!scram) throw upstreamError('GH_ERR_UPSTREAM_PROTOCOL', 'SASL continue without SASL start');
            socket.write(serialize.sendSCRAMClientFinalMessage(await scram.clientFinal(a.data.toString('utf8'))));
          } else if (a.kind === 'sasl-final') {
            if (!scram) throw upstreamError('GH_ERR_UPSTREAM_PROTOCOL', 'SASL final without SASL start');
            scram.verifyServerFinal(a.data.toString('utf8'));
          } else throw upstreamError('GH_ERR_UPSTREAM_AUTH', `unsupported authentication request ${a.code}`);
          break;
        }
        case code('S'): {
          const p = decodeParameterStatus(f.body);
          parameters.set(p.name, p.value);
          const frame = Buffer.allocUnsafe(5 + f.body.length);
          frame[0] = f.type;
          frame.writeInt32BE(f.body.length + 4, 1);
          f.body.copy(frame, 5);
          parameterFrames.push(frame);
          break;
        }
        case code('K'):
          key = decodeBackendKeyData(f.body);
          break;
        case code('N'):
          break;
        case code('E'): {
          const e = decodeErrorFields(f.body);
          const auth = e.code.startsWith('28') || e.code === '3D000';
          throw upstreamError(auth ? 'GH_ERR_UPSTREAM_AUTH' : 'GH_ERR_UPSTREAM_UNAVAILABLE', `${e.code} ${e.message}`);
        }
        case code('Z'): {
          const txStatus = decodeReadyForQuery(f.body);
          if (!key) throw upstreamError('GH_ERR_UPSTREAM_PROTOCOL', 'no BackendKeyData before ReadyForQuery');
          const leftover = q.detach();
          signal.removeEventListener('abort', timer);
          return {
            socket, tls: negotiated.tls, parameterFrames, parameters, processId: key.processId, secretKey: key.secretKey, txStatus, leftover,
          };
        }
        default:
          throw upstreamError('GH_ERR_UPSTREAM_PROTOCOL', `unexpected message ${String.fromCharCode(f.type)} during login`);
      }
    }
  } catch (e) {
    signal.removeEventListener('abort', timer);
    socket.destroy();
    if (signal.aborted) throw upstreamError('GH_ERR_UPSTREAM_UNAVAILABLE', `login to ${target.host}:${target.port} timed out`);
    if (e instanceof GatehouseError) {
      // the frame reader speaks of "the handshake" in client terms; here it is the upstream's fault
      if (e.code === 'GH_ERR_PROTOCOL' || e.code === 'GH_ERR_FRAME_TOO_LARGE') throw upstreamError('GH_ERR_UPSTREAM_PROTOCOL', `${e.message}${e.detail ? `: ${e.detail}` : ''}`);
      throw e;
    }
    throw upstreamError('GH_ERR_UPSTREAM_UNAVAILABLE', (e as Error).message);
  }
}

/** Sends a CancelRequest for an upstream backend, over a new connection using the same TLS mode. */
export async function cancelUpstream(target: UpstreamTarget, processId: number, secretKey: Buffer): Promise<void> {
  const signal = AbortSignal.timeout(target.connectTimeoutMs);
  const raw = await tcp(target, signal);
  try {
    const { socket } = await negotiateTls(raw, target);
    const body = Buffer.allocUnsafe(12 + secretKey.length);
    body.writeInt32BE(body.length, 0);
    body.writeInt32BE(80877102, 4);
    body.writeInt32BE(processId, 8);
    secretKey.copy(body, 12);
    await new Promise<void>((resolve) => socket.end(body, () => resolve()));
    socket.destroy();
  } catch (e) {
    raw.destroy();
    throw e;
  }
}
