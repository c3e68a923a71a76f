import type { AcceptConnection, Channel, ClientChannel, RejectConnection, TcpipRequestInfo } from 'ssh2';
import { pump, writeTo } from './bridge.js';
import type { SshSessionContext } from './context.js';

/**
 * Local port forwarding (`ssh -L`), where a connection allows it: the agent's direct-tcpip channel
 * is joined to one the gateway opens from the target to the same destination, so the destination
 * sees the target as its client and the agent never reaches the network itself. Each forward is
 * recorded when it opens (before a byte passes) and when it closes, with byte counts.
 */

/** `host:port` patterns; `*` in the host is a wildcard, a port of `*` is any port. */
export function forwardAllowed(patterns: string[], host: string, port: number): boolean {
  return patterns.some((p) => {
    const i = p.lastIndexOf(':');
    const h = p.slice(0, i);
    const pp = p.slice(i + 1);
    const hostRe = new RegExp(`^${h.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
    return hostRe.test(host) && (pp === '*' || Number(pp) === port);
  });
}

export async function forwardLocal(ctx: SshSessionContext, accept: AcceptConnection<Channel>, reject: RejectConnection, info: TcpipRequestInfo): Promise<void> {
  try {
    await ctx.record([{ type: 'ssh.forward', phase: 'open', host: info.destIP, port: info.destPort }]);
  } catch (e) {
    ctx.log.error({ err: (e as Error).message }, 'ledger append failed; the forward is refused');
    return reject();
  }
  let target: ClientChannel;
  try {
    target = await new Promise<ClientChannel>((resolve, fail) =>
      ctx.upstream.client.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, ch) => (err ? fail(err) : resolve(ch))),
    );
  } catch (e) {
    ctx.log.info({ err: (e as Error).message, host: info.destIP, port: info.destPort }, 'the target could not open the forward');
    ctx.recordBehind([{ type: 'ssh.forward', phase: 'close', host: info.destIP, port: info.destPort, bytesOut: 0, bytesIn: 0 }]);
    return reject();
  }
  const agent = accept();
  let bytesOut = 0;
  let bytesIn = 0;
  const up = pump(agent, (c) => {
    bytesOut += c.length;
    return writeTo(target, c);
  }).then(() => target.end());
  const down = pump(target, (c) => {
    bytesIn += c.length;
    return writeTo(agent, c);
  }).then(() => agent.end());
  agent.once('close', () => target.close());
  target.once('close', () => agent.close());
  await Promise.all([up, down]);
  ctx.recordBehind([{ type: 'ssh.forward', phase: 'close', host: info.destIP, port: info.destPort, bytesOut, bytesIn }]);
}
