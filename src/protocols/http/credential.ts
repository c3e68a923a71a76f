import { readFileSync } from 'node:fs';
import { configPath, type HttpConnectionConfig, type KubernetesConnectionConfig, type LoadedConfig, type WebConnectionConfig } from '../../core/config.js';
import { GatehouseError } from '../../core/errors.js';

/**
 * The header the gateway adds to each upstream request of a connection: its own credential,
 * which the agent never sees. Files are read when the listener starts (a missing file is a
 * configuration error then, not a 502 later); values are trimmed of a trailing newline.
 */

export interface UpstreamCredential {
  /** lower-case header name, or null for `type: none` */
  header: string | null;
  value: string | null;
  /** the secret strings in it, scrubbed from recorded samples should the upstream echo them */
  secrets: string[];
  type: HttpConnectionConfig['credential']['type'] | KubernetesConnectionConfig['credential']['type'];
  /** a client certificate presented in the upstream TLS handshake instead of a header (Kubernetes) */
  tls: { cert: string; key: string } | null;
}

function readSecret(loaded: LoadedConfig, c: WebConnectionConfig, file: string, what: string): string {
  try {
    return readFileSync(configPath(loaded, file), 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new GatehouseError('GH_ERR_CONFIG_READ', `connections "${c.name}": cannot read the ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** PEM given inline, or the file it is in. */
export function pemOrFile(loaded: LoadedConfig, c: WebConnectionConfig, value: string, what: string): string {
  return value.includes('-----BEGIN') ? value : readSecret(loaded, c, value, what);
}

export function upstreamCredential(loaded: LoadedConfig, c: WebConnectionConfig): UpstreamCredential {
  if (c.type === 'kubernetes') {
    const cred = c.credential;
    if (cred.type === 'token') {
      const token = cred.token ?? readSecret(loaded, c, cred.tokenFile!, 'token');
      return { header: 'authorization', value: `Bearer ${token}`, secrets: [token], type: 'token', tls: null };
    }
    const key = pemOrFile(loaded, c, cred.key, 'client key');
    return { header: null, value: null, secrets: [key], type: 'clientCertificate', tls: { cert: pemOrFile(loaded, c, cred.cert, 'client certificate'), key } };
  }
  const cred = c.credential;
  switch (cred.type) {
    case 'none':
      return { header: null, value: null, secrets: [], type: 'none', tls: null };
    case 'bearer': {
      const token = cred.token ?? readSecret(loaded, c, cred.tokenFile!, 'token');
      return { header: 'authorization', value: `Bearer ${token}`, secrets: [token], type: 'bearer', tls: null };
    }
    case 'basic': {
      const password = cred.password ?? readSecret(loaded, c, cred.passwordFile!, 'password');
      const encoded = Buffer.from(`${cred.username}:${password}`, 'utf8').toString('base64');
      return { header: 'authorization', value: `Basic ${encoded}`, secrets: [password, encoded], type: 'basic', tls: null };
    }
    case 'header': {
      const value = cred.value ?? readSecret(loaded, c, cred.valueFile!, 'header value');
      return { header: cred.name.toLowerCase(), value, secrets: [value], type: 'header', tls: null };
    }
  }
}
