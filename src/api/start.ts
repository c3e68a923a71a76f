import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { baseUrlOf } from '../approvals/review-commands.js';
import type { LoadedConfig } from '../core/config.js';
import { GatehouseError } from '../core/errors.js';
import { serverTlsOptions } from '../core/tls.js';
import { buildApi, type ApiDeps } from './app.js';

/** Starts the HTTP API on `listeners.api` (host, port, TLS). The server wiring calls it. */

export interface ApiServer {
  /** the bound base URL, e.g. http://127.0.0.1:8480 (port 0 resolved) */
  url: string;
  address: AddressInfo;
  tls: boolean;
  app: FastifyInstance;
  /** stop accepting and close open connections */
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.|::1$|localhost$)/;

export async function startApi(deps: ApiDeps & { loaded: LoadedConfig }): Promise<ApiServer> {
  const cfg = deps.loaded.config.listeners.api;
  if (!cfg) throw new TypeError('startApi needs listeners.api in the config');
  const tls = cfg.tls ? await serverTlsOptions(deps.loaded, cfg.tls, 'listeners.api.tls') : null;
  if (!tls && !LOOPBACK.test(cfg.host)) {
    deps.log.warn({ host: cfg.host }, 'the API listens without TLS on a non-loopback address: reviewers\' bearer tokens cross the network in clear (set listeners.api.tls)');
  }
  const app = buildApi(deps, { tls });
  try {
    await app.listen({ host: cfg.host, port: cfg.port });
  } catch (e) {
    await app.close();
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `listeners.api: cannot listen on ${cfg.host}:${cfg.port}: ${(e as Error).message}`);
  }
  const address = app.server.address() as AddressInfo;
  const url = baseUrlOf(address.address, address.port, tls !== null);
  deps.log.info({ url }, 'api listening');
  return { url, address, tls: tls !== null, app, close: () => app.close() };
}
