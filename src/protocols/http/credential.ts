import { readFileSync } from 'node:fs';
import { configPath, type HttpConnectionConfig, type LoadedConfig } from '../../core/config.js';
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
  type: HttpConnectionConfig['credential']['type'];
}

function readSecret(loaded: LoadedConfig, c: HttpConnectionConfig, file: string, what: string): string {
  try {
    return readFileSync(configPath(loaded, file), 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new GatehouseError('GH_ERR_CONFIG_READ', `connections "${c.name}": cannot read the ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function upstreamCredential(loaded: LoadedConfig, c: HttpConnectionConfig): UpstreamCredential {
  const cred = c.credential;
  switch (cred.type) {
    case 'none':
      return { header: null, value: null, secrets: [], type: 'none' };
    case 'bearer': {
      const token = cred.token ?? readSecret(loaded, c, cred.tokenFile!, 'token');
      return { header: 'authorization', value: `Bearer ${token}`, secrets: [token], type: 'bearer' };
    }
    case 'basic': {
      const password = cred.password ?? readSecret(loaded, c, cred.passwordFile!, 'password');
      const encoded = Buffer.from(`${cred.username}:${password}`, 'utf8').toString('base64');
      return { header: 'authorization', value: `Basic ${encoded}`, secrets: [password, encoded], type: 'basic' };
    }
    case 'header': {
      const value = cred.value ?? readSecret(loaded, c, cred.valueFile!, 'header value');
      return { header: cred.name.toLowerCase(), value, secrets: [value], type: 'header' };
    }
  }
}
