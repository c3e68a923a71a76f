/**
 * What the Kubernetes stream taps report: the named streams of `exec`/`attach` (remotecommand) and
 * `port-forward`, whichever transport carried them (WebSocket channels or SPDY/3.1 streams).
 *
 * Hand-written, with the taps beside it: the gateway relays the upgraded connection's bytes
 * unchanged in both directions and only watches them. The `ws` library terminates a connection (it
 * must own the socket and answer the handshake), so it cannot observe a stream relayed between two
 * other parties, and no maintained SPDY library exposes a passive, bounded parser (spdy-transport is
 * an endpoint too, and keeps no bound on header blocks). So the taps are sans-IO parsers fed the
 * relayed chunks, holding only bounded headers, never a payload.
 */

/** Who sent the bytes: the client (kubectl) or the server (the API server / kubelet). */
export type Direction = 'client' | 'server';

export type StreamName =
  | 'stdin'
  | 'stdout'
  | 'stderr'
  | 'error'
  | 'resize'
  | `port-${number}-data`
  | `port-${number}-error`
  | 'unknown';

/**
 * Receives what flows, in wire order per direction, synchronously from `push()`. `bytes` are payload
 * only (no channel byte, no port prefix, unmasked, base64 decoded). A slice may share memory with the
 * chunk given to `push()`; the sink may keep it but must not change it.
 */
export interface TapSink {
  data(stream: StreamName, from: Direction, bytes: Buffer): void;
  /** `from` closed its side of the stream: a v5 close signal (channel 255), a SPDY FIN or RST_STREAM */
  closed(stream: StreamName, from: Direction): void;
  /** `from` ended the connection: a WebSocket close frame ("1000 reason"), a SPDY GOAWAY */
  end(from: Direction, reason: string): void;
  /**
   * The stream cannot be read any more (malformed, or over a bound). Called once; the tap then
   * ignores everything pushed. Whether the relay goes on or is cut is the caller's decision.
   */
  violation(message: string): void;
}

/** The remotecommand stream of a channel number (WebSocket) — the same order SPDY's streamtype uses. */
export const REMOTECOMMAND_CHANNELS: readonly StreamName[] = ['stdin', 'stdout', 'stderr', 'error', 'resize'];

export function remotecommandStream(channel: number): StreamName {
  return REMOTECOMMAND_CHANNELS[channel] ?? 'unknown';
}

/** The SPDY `streamtype` header of remotecommand (exec, attach). */
export function streamTypeName(streamType: string): StreamName {
  const i = REMOTECOMMAND_CHANNELS.indexOf(streamType as StreamName);
  return i >= 0 ? REMOTECOMMAND_CHANNELS[i]! : 'unknown';
}

export function portStream(port: number, kind: 'data' | 'error'): StreamName {
  return kind === 'data' ? `port-${port}-data` : `port-${port}-error`;
}

/** Thrown inside a tap to stop it; turned into one `violation()` call. */
export class TapViolation extends Error {
  override readonly name = 'TapViolation';
}

/**
 * One `push()` into a tap: `consume` parses the chunk; a TapViolation it throws is handed to `fail`
 * as "<transport> <from>: <message>" (the tap stops there), anything else is a bug and propagates.
 */
export function feedTap(
  transport: 'websocket' | 'spdy',
  from: Direction,
  consume: () => void,
  fail: (message: string) => void,
): void {
  try {
    consume();
  } catch (err) {
    if (!(err instanceof TapViolation)) throw err;
    fail(`${transport} ${from}: ${err.message}`);
  }
}
