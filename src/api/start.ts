import { createPublicKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { baseUrlOf } from '../approvals/review-commands.js';
import { readFileSync } from 'node:fs';
import { configPath, recordingsDir, type LoadedConfig } from '../core/config.js';
import { GatehouseError } from '../core/errors.js';
import { serverTlsOptions } from '../core/tls.js';
import { checkpointOptions } from '../ledger/checkpointer.js';
import type { LedgerStore } from '../ledger/ledger.js';
import { parseWitness } from '../ledger/verify-tree.js';
import { buildApi, type ApiDeps, type ConsoleApiDeps } from './app.js';
import type { LoginDeps } from './auth-routes.js';
import { ConsoleSessions } from './console-sessions.js';
import { OidcLogin } from './oidc-login.js';
import type { ConsoleRoles } from './roles.js';
import { defaultWebDir, loadWebFiles } from './static-web.js';
import type { VerificationKeys } from './integrity-routes.js';

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

/**
 * What verification checks against, from the config as `gatehouse verify` does: the public half of
 * the gateway's signing key, and the witness file when it exists.
 */
export function verificationKeysFrom(loaded: LoadedConfig): () => Promise<VerificationKeys> {
  return async () => {
    const opts = checkpointOptions(loaded);
    const witnessFile = opts?.witnessFile ?? null;
    const witness = witnessFile && existsSync(witnessFile) ? parseWitness(await readFile(witnessFile, 'utf8'), witnessFile) : [];
    return {
      publicKey: opts ? createPublicKey(opts.key) : null,
      keySource: opts ? 'the gateway\'s own signing key' : null,
      witness,
      witnessFile,
    };
  };
}

/** The console's dependencies from the config and the gateway's ledger store. */
export function consoleDepsFrom(loaded: LoadedConfig, ledger: LedgerStore): ConsoleApiDeps {
  return { ledger, recordingsDir: recordingsDir(loaded), verificationKeys: verificationKeysFrom(loaded) };
}

/**
 * The console's human login from `console.login` (null without it, or without a ledger to record
 * logins in). `apiUrl()` is the API's bound base URL, known once it listens: the default redirect URL.
 */
export function loginDepsFrom(loaded: LoadedConfig, ledger: LedgerStore, roles: ConsoleRoles | null, tls: boolean, apiUrl: () => string): LoginDeps | null {
  const login = loaded.config.console?.login;
  if (!login) return null;
  let secret: string | null = login.clientSecret ?? null;
  if (login.clientSecretFile !== undefined) {
    try {
      secret = readFileSync(configPath(loaded, login.clientSecretFile), 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new GatehouseError('GH_ERR_CONFIG_READ', `console.login: cannot read clientSecretFile: ${(e as Error).message}`);
    }
  }
  const id = loaded.config.identity;
  const issuerHost = new URL(id.issuer).hostname;
  const oidc = new OidcLogin({
    issuer: id.issuer, login, clientSecret: secret, groupsClaim: id.groupsClaim, ciJobClaim: id.ciJobClaim ?? null,
    allowHttp: id.issuer.startsWith('http://') && (id.allowInsecureIssuer || LOOPBACK.test(issuerHost.replace(/^\[|\]$/g, ''))),
    redirectUrl: () => login.redirectUrl ?? `${apiUrl()}/api/auth/callback`,
  });
  const sessions = new ConsoleSessions({ ttlMs: login.sessionTtl, idleMs: login.idleTimeout, maxSessions: login.maxSessions, secure: tls });
  return { oidc, sessions, ledger, roles, secure: tls };
}

/**
 * `ledger`: the gateway's own store; with it the console's read routes are served (roles from
 * `console.roles`), without it only the approvals routes.
 */
export async function startApi(deps: ApiDeps & { loaded: LoadedConfig; ledger?: LedgerStore }): Promise<ApiServer> {
  const cfg = deps.loaded.config.listeners.api;
  if (!cfg) throw new TypeError('startApi needs listeners.api in the config');
  const tls = cfg.tls ? await serverTlsOptions(deps.loaded, cfg.tls, 'listeners.api.tls') : null;
  if (!tls && !LOOPBACK.test(cfg.host)) {
    deps.log.warn({ host: cfg.host }, 'the API listens without TLS on a non-loopback address: reviewers\' bearer tokens cross the network in clear (set listeners.api.tls)');
  }
  const roles = deps.roles !== undefined ? deps.roles : deps.loaded.config.console?.roles ?? null;
  const consoleDeps = deps.console ?? (deps.ledger ? consoleDepsFrom(deps.loaded, deps.ledger) : undefined);
  let boundUrl: string | null = null;
  const login = deps.login !== undefined ? deps.login : deps.ledger ? loginDepsFrom(deps.loaded, deps.ledger, roles, tls !== null, () => boundUrl ?? '') : null;
  const web = deps.web !== undefined ? deps.web : loadWebFiles(defaultWebDir());
  if (web && !web.files) deps.log.warn({ dir: web?.dir }, 'the web console is not built: the API serves no console pages (npm ci --prefix web && npm run build --prefix web)');
  const app = buildApi({ ...deps, roles, login, web, ...(consoleDeps ? { console: consoleDeps } : {}) }, { tls });
  try {
    await app.listen({ host: cfg.host, port: cfg.port });
  } catch (e) {
    await app.close();
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `listeners.api: cannot listen on ${cfg.host}:${cfg.port}: ${(e as Error).message}`);
  }
  const address = app.server.address() as AddressInfo;
  const url = baseUrlOf(address.address, address.port, tls !== null);
  boundUrl = url;
  deps.log.info({ url }, 'api listening');
  return { url, address, tls: tls !== null, app, close: () => app.close() };
}
