import { createServer } from 'node:net';

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A free port below Linux's ephemeral range (32768–60999), for a listener whose port must be known
 * long before it listens (an OAuth redirect URL registered with the IdP first). A port from
 * `listen(0)` is ephemeral: in the meantime any outgoing connection of a test running alongside may
 * be given it (seen in CI: EADDRINUSE on the console's API port). Below the range only another
 * listener choosing the same number could take it.
 */
export async function portBelowEphemeralRange(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  throw new Error('no free port between 20000 and 31999 on 127.0.0.1');
}
