import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { GatehouseError } from '../../core/errors.js';
import { authenticationCleartext, negotiateProtocolVersion } from './backend.js';
import { FrameQueue } from './frame-queue.js';
import { MAX_STARTUP_PACKET } from './framer.js';
import { decodePassword, decodeStartup } from './frontend.js';
import { code } from './wire.js';

/**
 * The client side of a PostgreSQL connection up to the password: SSLRequest / GSSENCRequest
 * negotiation, the StartupMessage (or a CancelRequest), protocol-version negotiation, and the
 * cleartext password exchange that carries the OIDC token.
 *
 * Unlike the relay this phase is written as sequential async code over a FrameQueue: it is a short,
 * strictly ordered exchange, and reading it top to bottom is the best review aid. Every read is
 * bounded (startup packets by PostgreSQL's own 10000-byte limit, the password by the token limit).
 */

export interface HandshakeOptions {
  /** the listener's TLS context, when TLS is offered */
  tls: SecureContext | null;
  maxTokenBytes: number;
}

export interface StartupRequest {
  kind: 'startup';
  socket: Socket;
  tls: boolean;
  params: Map<string, string>;
  queue: FrameQueue;
}

export interface CancelRequest {
  kind: 'cancel';
  processId: number;
  secretKey: Buffer;
}

export type HandshakeResult = StartupRequest | CancelRequest;

const SSL_YES = Buffer.from('S');
const SSL_NO = Buffer.from('N');

async function upgradeToTls(socket: Socket, context: SecureContext): Promise<TLSSocket> {
  const tls = new TLSSocket(socket, { isServer: true, secureContext: context });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => {
      tls.destroy();
      reject(new GatehouseError('GH_ERR_PROTOCOL', 'the TLS handshake failed', { detail: e.message }));
    };
    tls.once('secure', () => {
      tls.off('error', onError);
      resolve();
    });
    tls.once('error', onError);
  });
  return tls;
}

/** Reads until a StartupMessage or a CancelRequest, upgrading to TLS on request. */
export async function readStartup(first: Socket, opts: HandshakeOptions): Promise<HandshakeResult> {
  let socket = first;
  let tls = false;
  let queue = new FrameQueue(socket, { startup: true, maxBody: MAX_STARTUP_PACKET });
  let negotiations = 0;
  for (;;) {
    const frame = await queue.next();
    const packet = decodeStartup(frame.body);
    if (packet.kind === 'ssl' || packet.kind === 'gssenc') {
      if (++negotiations > 2) throw new GatehouseError('GH_ERR_PROTOCOL', 'too many encryption requests');
      if (packet.kind === 'gssenc' || tls || !opts.tls) {
        socket.write(SSL_NO);
        continue;
      }
      // bytes sent after SSLRequest but before the TLS handshake would be read as if they came
      // over TLS (CVE-2021-23214): refuse them
      if (queue.hasUnread) throw new GatehouseError('GH_ERR_PROTOCOL', 'unencrypted data after SSLRequest');
      queue.detach();
      socket.write(SSL_YES);
      socket = await upgradeToTls(socket, opts.tls);
      tls = true;
      queue = new FrameQueue(socket, { startup: true, maxBody: MAX_STARTUP_PACKET });
      continue;
    }
    if (packet.kind === 'cancel') {
      queue.detach();
      return { kind: 'cancel', processId: packet.processId, secretKey: packet.secretKey };
    }
    // protocol 3.x beyond 3.0 and _pq_ options: answer with what we speak (3.0, no extensions)
    const unsupported = [...packet.params.keys()].filter((k) => k.startsWith('_pq_.'));
    if (packet.minor > 0 || unsupported.length > 0) {
      socket.write(negotiateProtocolVersion(0, unsupported));
      for (const k of unsupported) packet.params.delete(k);
    }
    queue.setStartup(false);
    return { kind: 'startup', socket, tls, params: packet.params, queue };
  }
}

/** Asks for the cleartext password (the token) and reads it, bounded by the token size limit. */
export async function readToken(req: StartupRequest, opts: HandshakeOptions): Promise<string> {
  // room for the message's own framing on top of the token
  req.queue.setMaxBody(opts.maxTokenBytes + 64);
  req.socket.write(authenticationCleartext());
  let frame;
  try {
    frame = await req.queue.next();
  } catch (e) {
    if (e instanceof GatehouseError && e.code === 'GH_ERR_FRAME_TOO_LARGE') {
      throw new GatehouseError('GH_ERR_TOKEN_TOO_LARGE', `the token is larger than the ${opts.maxTokenBytes} bytes this gateway accepts`);
    }
    throw e;
  }
  if (frame.type !== code('p')) {
    throw new GatehouseError('GH_ERR_PROTOCOL', `expected a password message, got "${String.fromCharCode(frame.type)}"`);
  }
  const token = decodePassword(frame.body).trim();
  if (token.length === 0) throw new GatehouseError('GH_ERR_TOKEN_MISSING', 'no token: send your OIDC access token as the password');
  return token;
}
