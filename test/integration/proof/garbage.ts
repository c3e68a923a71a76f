import { connect } from 'node:net';

/** Garbage to a listener: what the proof tests send to the real PostgreSQL, SSH and HTTP listeners. */

/** Writes the bytes, half-closes, and resolves when the gateway has closed the connection (or `timeoutMs` passed). */
export function sendGarbage(port: number, bytes: Buffer, timeoutMs: number): Promise<{ closed: boolean; reply: Buffer }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closed: false, reply: Buffer.concat(got) });
    }, timeoutMs);
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, reply: Buffer.concat(got) });
    });
    s.on('connect', () => s.end(bytes));
  });
}
