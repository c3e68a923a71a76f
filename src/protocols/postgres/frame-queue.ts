import type { Socket } from 'node:net';
import { GatehouseError } from '../../core/errors.js';
import { FrameError, Framer } from './framer.js';

export interface Frame {
  /** message type byte (0 for startup-phase packets) */
  type: number;
  body: Buffer;
}

/**
 * Reads whole, bounded frames from a socket one at a time, for the sequential handshake phases
 * (client startup and authentication, the upstream login). detach() stops reading and returns the
 * raw bytes received but not yet consumed, so the relay continues exactly where the handshake
 * stopped. The relay itself does not use this: it is fed chunks directly (sans-IO).
 */
export class FrameQueue {
  private readonly framer: Framer;
  private readonly frames: Array<{ frame: Frame; raw: Buffer }> = [];
  private partial: Buffer[] = [];
  private waiter: { resolve: (f: Frame) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  private readonly onData = (chunk: Buffer) => this.push(chunk);
  private readonly onEnd = () => this.fail(new GatehouseError('GH_ERR_PROTOCOL', 'the connection closed during the handshake'));
  private readonly onError = (e: Error) => this.fail(new GatehouseError('GH_ERR_PROTOCOL', 'the connection failed during the handshake', { detail: e.message }));

  constructor(
    private readonly socket: Socket,
    options: { startup: boolean; maxBody: number; initial?: Buffer | null },
  ) {
    this.framer = new Framer(
      {
        begin: () => true,
        bytes: (piece) => this.partial.push(Buffer.from(piece)),
        end: (type, body) => {
          const raw = this.partial.length === 1 ? this.partial[0]! : Buffer.concat(this.partial);
          this.partial = [];
          this.frames.push({ frame: { type, body: Buffer.from(body!) }, raw });
        },
      },
      options.maxBody,
      { startup: options.startup },
    );
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
    if (options.initial && options.initial.length > 0) this.push(options.initial);
    // a socket paused by an earlier reader does not restart when a 'data' listener is added
    socket.resume();
  }

  private push(chunk: Buffer): void {
    if (this.failure) return;
    try {
      this.framer.push(chunk);
    } catch (e) {
      if (e instanceof FrameError) {
        // frames completed before the bad one are still delivered, in order
        this.deliver();
        this.fail(new GatehouseError('GH_ERR_FRAME_TOO_LARGE', 'message too large or malformed during the handshake', { detail: e.message }));
        return;
      }
      throw e;
    }
    this.deliver();
  }

  private deliver(): void {
    if (this.waiter && this.frames.length > 0) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve(this.frames.shift()!.frame);
    }
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(e);
    }
  }

  /** The next whole frame. Rejects when the peer closes or sends a bad frame. */
  next(): Promise<Frame> {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(queued.frame);
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiter) throw new TypeError('FrameQueue.next() called twice without waiting');
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  setStartup(startup: boolean): void {
    this.framer.setStartup(startup);
  }

  setMaxBody(max: number): void {
    this.framer.setMaxBody(max);
  }

  /** True when bytes beyond the frames consumed so far have arrived. */
  get hasUnread(): boolean {
    // a failure means bytes arrived that could not even be framed
    return this.frames.length > 0 || this.partial.length > 0 || this.failure !== null;
  }

  /** Stops reading; returns bytes received but not consumed (whole queued frames and a partial one). */
  detach(): Buffer {
    // pause first: with no 'data' listener a flowing socket would drop what arrives next
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    const rest = [...this.frames.map((f) => f.raw), ...this.partial];
    this.frames.length = 0;
    this.partial = [];
    return rest.length === 0 ? Buffer.alloc(0) : Buffer.concat(rest);
  }
}
