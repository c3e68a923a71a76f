import { createServer, type AddressInfo, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import { configPath } from '../../core/config.js';
import { GatehouseError } from '../../core/errors.js';
import type { ListenerDeps } from '../deps.js';
import { SshClientConnection } from './connection.js';
import { fingerprint, loadOrCreateHostKey } from './host-key.js';

/** The SSH listener: ssh2's server with the gateway's host key; one SshClientConnection per client. */

export interface SshListener {
  address: AddressInfo;
  /** the gateway's host key fingerprint (what agents pin in known_hosts) */
  hostKey: string;
  /** the public key line, for known_hosts */
  publicKey: string;
  readonly sessions: number;
  /** stop accepting; end every connection; wait for their records up to `graceMs` */
  close(graceMs: number): Promise<void>;
}

export async function startSshListener(deps: ListenerDeps): Promise<SshListener> {
  const cfg = deps.loaded.config;
  const lc = cfg.listeners.ssh;
  if (!lc) throw new TypeError('no ssh listener configured');
  const log = deps.log.child({ listener: 'ssh' });
  const keyFile = configPath(deps.loaded, lc.hostKeyFile);
  const { key, created } = loadOrCreateHostKey(keyFile);
  const parsed = ssh2.utils.parseKey(key);
  if (parsed instanceof Error) throw new GatehouseError('GH_ERR_CONFIG_INVALID', `listeners.ssh.hostKeyFile: ${keyFile} is not a usable SSH private key: ${parsed.message}`);
  const pub = (Array.isArray(parsed) ? parsed[0]! : parsed).getPublicSSH();
  const hostKey = fingerprint(pub);
  const publicKey = `${(Array.isArray(parsed) ? parsed[0]! : parsed).type} ${pub.toString('base64')}`;
  if (created) log.info({ file: keyFile, fingerprint: hostKey }, 'generated the gateway\'s SSH host key');
  const connections = new Set<SshClientConnection>();
  let closing = false;
  // sockets until they authenticate: ssh2 only reports a client once its version line arrived, so
  // the login deadline starts at the TCP accept, here (a silent client is closed too)
  const unauthenticated = new Map<string, Socket>();
  const sockets = new Set<Socket>();
  const ssh = new ssh2.Server({ hostKeys: [key], ident: 'Gatehouse' }, (client, info) => {
    const c = new SshClientConnection(client, info, deps, () => unauthenticated.delete(`${info.ip}:${info.port}`));
    connections.add(c);
    void c.closed.then(() => connections.delete(c));
  });
  ssh.on('error', (e: Error) => log.error({ err: e.message }, 'ssh listener error'));
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    if (closing || sockets.size >= cfg.limits.maxSessions) {
      log.warn({ closing, limit: cfg.limits.maxSessions }, 'ssh connection refused');
      socket.destroy();
      return;
    }
    const id = `${socket.remoteAddress}:${socket.remotePort}`;
    sockets.add(socket);
    unauthenticated.set(id, socket);
    const timer = setTimeout(() => {
      if (unauthenticated.get(id) !== socket) return;
      log.info({ client: id }, 'ssh login timed out');
      socket.destroy();
    }, lc.loginTimeout);
    socket.once('close', () => {
      clearTimeout(timer);
      sockets.delete(socket);
      if (unauthenticated.get(id) === socket) unauthenticated.delete(id);
    });
    ssh.injectSocket(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: Error) => reject(new GatehouseError('GH_ERR_CONFIG_INVALID', `cannot listen on ${lc.host}:${lc.port}: ${e.message}`)));
    server.listen(lc.port, lc.host, () => resolve());
  });
  server.on('error', (e: Error) => log.error({ err: e.message }, 'ssh listener error'));
  const address = server.address() as AddressInfo;
  return {
    address,
    hostKey,
    publicKey,
    get sessions() {
      return connections.size;
    },
    async close(graceMs: number) {
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of connections) c.shutdown();
      for (const s of unauthenticated.values()) s.destroy();
      const all = Promise.all([...connections].map((c) => c.closed));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
      await stopped;
    },
  };
}
