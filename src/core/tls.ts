import { readFileSync } from 'node:fs';
import { generate } from 'selfsigned';
import { configPath, type ListenerTlsConfig, type LoadedConfig } from './config.js';
import { GatehouseError } from './errors.js';

/** A listener's certificate and key (PEM), ready for tls.createSecureContext or https.createServer. */
export interface ServerTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  minVersion: 'TLSv1.2';
}

/**
 * The server TLS material of a listener: PEM files from the config, or, for development, a fresh
 * self-signed certificate per start (clients cannot verify it; it still encrypts).
 * `key` names the config key in errors (e.g. `listeners.api.tls`).
 */
export async function serverTlsOptions(loaded: LoadedConfig, tls: ListenerTlsConfig, key: string): Promise<ServerTlsOptions> {
  if ('selfSigned' in tls) {
    const pems = await generate([{ name: 'commonName', value: 'gatehouse-dev' }], { keySize: 2048, algorithm: 'sha256' });
    return { cert: pems.cert, key: pems.private, minVersion: 'TLSv1.2' };
  }
  try {
    return { cert: readFileSync(configPath(loaded, tls.cert)), key: readFileSync(configPath(loaded, tls.key)), minVersion: 'TLSv1.2' };
  } catch (e) {
    throw new GatehouseError('GH_ERR_CONFIG_READ', `${key}: cannot load certificate or key: ${(e as Error).message}`);
  }
}
