import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { generate } from 'selfsigned';
import { configPath, type LoadedConfig } from '../../core/config.js';
import { GatehouseError } from '../../core/errors.js';
import type { ListenerDeps } from '../deps.js';
import { handleClient } from './connection.js';
import { endWithFatal } from './errors.js';
import { SessionRegistry } from './session-driver.js';

/** The PostgreSQL listener: accepts sockets, enforces maxSessions, hands each to handleClient. */

export interface PgListener {
  address: AddressInfo;
  tls: boolean;
  registry: SessionRegistry;
  /** stop accepting; end idle sessions now, busy ones after their command; force after `graceMs` */
  close(graceMs: number): Promise<void>;
}

export async function listenerTlsContext(loaded: LoadedConfig): Promise<SecureContext | null> {
  const tls = loaded.config.listeners.postgres?.tls;
  if (!tls) return null;
  if ('selfSigned' in tls) {
    // development convenience: a fresh certificate per start; clients cannot verify it (sslmode=require still encrypts)
    const pems = await generate([{ name: 'commonName', value: 'gatehouse-dev' }], { keySize: 2048, algorithm: 'sha256' });
    return createSecureContext({ cert: pems.cert, key: pems.private, minVersion: 'TLSv1.2' });
  }
  try {
    return createSecureContext({
      cert: readFileSync(configPath(loaded, tls.cert)),
      key: readFileSync(configPath(loaded, tls.key)),
      minVersion: 'TLSv1.2',
    });
  } catch (e) {
    throw new GatehouseError('GH_ERR_CONFIG_READ', `listeners.postgres.tls: cannot load certificate or key: ${(e as Error).message}`);
  }
}

export async function startPgListener(deps: ListenerDeps): Promise<PgListener> {
  const cfg = deps.loaded.config;
  const lc = cfg.listeners.postgres;
  if (!lc) throw new TypeError('no postgres listener configured');
  const tls = await listenerTlsContext(deps.loaded);
  const registry = new SessionRegistry();
  const sockets = new Set<Socket>();
  let closing = false;
  const log = deps.log.child({ listener: 'postgres' });
  const server: Server = createServer({ pauseOnConnect: false, noDelay: true }, (socket) => {
    const refuse = (e: GatehouseError) => {
      socket.on('error', () => undefined);
      endWithFatal(socket, e);
    };
    if (closing) {
      refuse(new GatehouseError('GH_ERR_SHUTTING_DOWN', 'the gateway is shutting down'));
      return;
    }
    if (sockets.size >= cfg.limits.maxSessions) {
      log.warn({ limit: cfg.limits.maxSessions }, 'connection refused: maxSessions reached');
      refuse(new GatehouseError('GH_ERR_TOO_MANY_SESSIONS', `the gateway has reached its limit of ${cfg.limits.maxSessions} connections; try again later`));
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    handleClient(socket, { ...deps, log, tls, registry }).catch((e: unknown) => {
      log.error({ err: (e as Error).message }, 'unexpected error in a client connection');
      socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new GatehouseError('GH_ERR_CONFIG_INVALID', `cannot listen on ${lc.host}:${lc.port}: ${e.message}`)));
    server.listen({ host: lc.host, port: lc.port }, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    address,
    tls: tls !== null,
    registry,
    async close(graceMs: number) {
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      const force = setTimeout(() => void registry.drain(true), graceMs);
      await registry.drain(false);
      clearTimeout(force);
      // connections still in their handshake
      for (const s of sockets) s.destroy();
      await stopped;
    },
  };
}
