import * as oidc from 'openid-client';
import { GatehouseError } from '../core/errors.js';
import { loadConfig, out } from './common.js';

/**
 * `gatehouse token`: obtains an access token with the client_credentials grant from the configured
 * issuer and prints it (and nothing else) to stdout, for PGPASSWORD=$(gatehouse token ...).
 * The secret comes from --client-secret, GATEHOUSE_CLIENT_SECRET, or the dev issuer's client list.
 */
export async function token(opts: { config?: string; client: string; clientSecret?: string; resource?: string }): Promise<number> {
  const loaded = loadConfig(opts.config);
  const cfg = loaded.config;
  const secret =
    opts.clientSecret ??
    process.env.GATEHOUSE_CLIENT_SECRET ??
    cfg.dev?.issuer?.clients.find((c) => c.clientId === opts.client)?.clientSecret;
  if (!secret) {
    throw new GatehouseError('GH_ERR_USAGE', `no secret for client "${opts.client}": pass --client-secret or set GATEHOUSE_CLIENT_SECRET`);
  }
  const resource = opts.resource ?? (Array.isArray(cfg.identity.audience) ? cfg.identity.audience[0]! : cfg.identity.audience);
  const issuer = new URL(cfg.identity.issuer);
  const insecure = issuer.protocol === 'http:';
  try {
    const config = await oidc.discovery(issuer, opts.client, secret, undefined, insecure ? { execute: [oidc.allowInsecureRequests] } : undefined);
    const tokens = await oidc.clientCredentialsGrant(config, { resource });
    out(tokens.access_token);
    return 0;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new GatehouseError('GH_ERR_IDP_UNAVAILABLE', `could not obtain a token from ${cfg.identity.issuer}: ${why}`);
  }
}
