import { createServer as createHttpServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { recordingsDir, type WebConnectionConfig } from '../../core/config.js';
import { GatehouseError } from '../../core/errors.js';
import { sendError } from './errors.js';
import { handleExchange, type HttpGatewayDeps, type UpgradeRequest } from './exchange.js';
import { httpRoute, type HttpRoute } from './forward.js';
import { isLoopbackHost, listenerCertificate } from './tls.js';

/**
 * The HTTP API gateway's listener: HTTPS (plain HTTP only on a loopback address), one exchange per
 * request (exchange.ts), one undici pool per connection. Closing stops accepting, lets requests in
 * flight finish for `graceMs`, then cuts them (each still gets its record).
 */

export interface HttpListener {
  address: AddressInfo;
  tls: boolean;
  close(graceMs: number): Promise<void>;
}

export async function startHttpListener(deps: HttpGatewayDeps): Promise<HttpListener> {
  const cfg = deps.loaded.config;
  const lc = cfg.listeners.http;
  if (!lc) throw new TypeError('no http listener configured');
  if (!lc.tls && !isLoopbackHost(lc.host)) {
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `listeners.http: agents send their tokens to ${lc.host}, which is not a loopback address; configure listeners.http.tls (cert and key, or selfSigned: true for development)`);
  }
  const connections = cfg.connections.filter((c): c is WebConnectionConfig => c.type === 'http' || c.type === 'kubernetes');
  const kube = connections.find((c) => c.type === 'kubernetes');
  if (kube && !lc.tls) {
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `connections "${kube.name}": kubectl sends its token only over HTTPS; configure listeners.http.tls (cert and key, or selfSigned: true for development)`);
  }
  const cert = await listenerCertificate(deps.loaded, lc.tls, 'listeners.http.tls');
  const recordings = recordingsDir(deps.loaded);
  const routes = new Map<string, HttpRoute>(connections.map((c) => [c.name, httpRoute(deps.loaded, c)]));
  const log = deps.log.child({ listener: 'http' });
  const inFlight = new Set<Promise<void>>();
  let closing = false;
  const upgraded = new Set<Duplex>();
  const onRequest = (req: IncomingMessage, res: ServerResponse, upgrade?: UpgradeRequest) => {
    if (closing) {
      res.setHeader('connection', 'close');
      sendError(res, 503, 'GH_ERR_SHUTTING_DOWN', 'the gateway is shutting down');
      return;
    }
    if (inFlight.size >= cfg.limits.maxSessions) {
      sendError(res, 503, 'GH_ERR_TOO_MANY_SESSIONS', `the gateway has reached its limit of ${cfg.limits.maxSessions} requests in flight; try again later`);
      return;
    }
    const p: Promise<void> = handleExchange(req, res, { deps, routes, connections, log, recordingsDir: recordings }, upgrade)
      .catch((e: unknown) => {
        log.error({ err: (e as Error).message }, 'unexpected error in an http exchange');
        if (!res.headersSent) sendError(res, 500, 'GH_ERR_PROTOCOL', 'the gateway failed on this request');
        else res.destroy();
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  const server: Server = cert
    ? createHttpsServer({ cert: cert.cert, key: cert.key, minVersion: 'TLSv1.2' }, onRequest)
    : createHttpServer(onRequest);
  // bodies are streamed, so a long upload is not a slow client; headers still have a deadline
  server.requestTimeout = 0;
  server.headersTimeout = cfg.limits.handshakeTimeout;
  // an Upgrade request (Kubernetes exec, attach, port-forward) has no response object: one is bound
  // to its socket, so refusals are written like any other; a 101 is written on the socket itself
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as never);
    res.once('finish', () => socket.end());
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    onRequest(req, res, { socket, head });
  });
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new GatehouseError('GH_ERR_CONFIG_INVALID', `cannot listen on ${lc.host}:${lc.port}: ${e.message}`)));
    server.listen({ host: lc.host, port: lc.port }, () => resolve());
  });
  return {
    address: server.address() as AddressInfo,
    tls: cert !== null,
    async close(graceMs: number) {
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([Promise.all([...inFlight]), grace]);
      clearTimeout(timer);
      server.closeAllConnections();
      for (const s of upgraded) s.destroy();
      await Promise.all([...inFlight]);
      await stopped;
      await Promise.all([...routes.values()].map((r) => r.dispatcher.destroy().catch(() => undefined)));
    },
  };
}
