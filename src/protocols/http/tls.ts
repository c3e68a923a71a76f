import { readFileSync } from 'node:fs';
import { generate } from 'selfsigned';
import { configPath, type ListenerTlsConfig, type LoadedConfig } from '../../core/config.js';
import { GatehouseError } from '../../core/errors.js';

/** A listener's certificate and key from its `tls` section (the same shape for every listener). */

export interface ListenerCertificate {
  cert: string | Buffer;
  key: string | Buffer;
}

export async function listenerCertificate(loaded: LoadedConfig, tls: ListenerTlsConfig | undefined, section: string): Promise<ListenerCertificate | null> {
  if (!tls) return null;
  if ('selfSigned' in tls) {
    // development convenience: a fresh certificate per start, which clients cannot verify
    const pems = await generate([{ name: 'commonName', value: 'gatehouse-dev' }], { keySize: 2048, algorithm: 'sha256' });
    return { cert: pems.cert, key: pems.private };
  }
  try {
    return { cert: readFileSync(configPath(loaded, tls.cert)), key: readFileSync(configPath(loaded, tls.key)) };
  } catch (e) {
    throw new GatehouseError('GH_ERR_CONFIG_READ', `${section}: cannot load certificate or key: ${(e as Error).message}`);
  }
}

/** True for 127.0.0.0/8, ::1 and localhost: where plain HTTP is accepted. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}
