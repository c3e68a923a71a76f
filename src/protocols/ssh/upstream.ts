import { readFileSync } from 'node:fs';
import { Client, type ConnectConfig } from 'ssh2';
import { configPath, type LoadedConfig, type SshConnectionConfig } from '../../core/config.js';
import { GatehouseError } from '../../core/errors.js';
import { fingerprint, hostKeyAlgorithms, knownHostKeys, parsePinnedKey, type PinnedKey } from './host-key.js';

/**
 * The gateway's SSH client to a target: its own private key, the remote user the agent selected,
 * and the target's host key pinned. A key that is not the pinned one ends the connection before
 * the gateway authenticates (so its key is never offered to an impostor).
 */

export interface SshUpstream {
  client: Client;
  host: string;
  port: number;
  user: string;
  /** fingerprint of the key the target presented (the pinned one) */
  hostKey: string;
}

function readConfigFile(loaded: LoadedConfig, file: string, what: string): string {
  try {
    return readFileSync(configPath(loaded, file), 'utf8');
  } catch (e) {
    throw new GatehouseError('GH_ERR_CONFIG_READ', `${what}: cannot read ${file}: ${(e as Error).message}`);
  }
}

/** The keys the target may present; read per connection attempt, so an updated known_hosts applies at once. */
export function pinnedKeys(loaded: LoadedConfig, c: SshConnectionConfig): PinnedKey[] {
  if (c.hostKey !== undefined) return [parsePinnedKey(c.hostKey, `connection ${c.name}: hostKey`)];
  const { keys } = knownHostKeys(readConfigFile(loaded, c.knownHostsFile!, `connection ${c.name}: knownHostsFile`), c.host, c.port);
  if (keys.length === 0) {
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `connection ${c.name}: ${c.knownHostsFile} has no key for ${c.port === 22 ? c.host : `[${c.host}]:${c.port}`}`);
  }
  return keys;
}

export function privateKey(loaded: LoadedConfig, c: SshConnectionConfig): string {
  return c.privateKey ?? readConfigFile(loaded, c.privateKeyFile!, `connection ${c.name}: privateKeyFile`);
}

export async function connectSsh(loaded: LoadedConfig, c: SshConnectionConfig, user: string): Promise<SshUpstream> {
  const pins = pinnedKeys(loaded, c);
  const key = privateKey(loaded, c);
  const client = new Client();
  let presented: string | null = null;
  let mismatch = false;
  const cfg: ConnectConfig = {
    host: c.host,
    port: c.port,
    username: user,
    privateKey: key,
    readyTimeout: c.connectTimeout,
    keepaliveInterval: 15_000,
    algorithms: { serverHostKey: hostKeyAlgorithms(pins) as NonNullable<ConnectConfig['algorithms']>['serverHostKey'] },
    hostVerifier: (blob: Buffer) => {
      presented = fingerprint(blob);
      mismatch = !pins.some((p) => p.blob.equals(blob));
      return !mismatch;
    },
  };
  if (c.passphrase !== undefined) cfg.passphrase = c.passphrase;
  return new Promise<SshUpstream>((resolve, reject) => {
    const fail = (e: Error) => {
      client.removeAllListeners('ready');
      client.end();
      if (mismatch) {
        reject(new GatehouseError('GH_ERR_UPSTREAM_HOST_KEY', `the target's host key does not match the key pinned for connection "${c.name}"; the gateway refused to log in`,
          { detail: `presented ${presented ?? '?'}, pinned ${pins.map((p) => fingerprint(p.blob)).join(', ')}` }));
      } else if (/authentication methods failed/i.test(e.message)) {
        reject(new GatehouseError('GH_ERR_UPSTREAM_AUTH', `the target refused the gateway's key for connection "${c.name}"`, { detail: `${user}@${c.host}:${c.port}: ${e.message}` }));
      } else {
        reject(new GatehouseError('GH_ERR_UPSTREAM_UNAVAILABLE', `the gateway cannot reach the target of connection "${c.name}" right now`, { detail: `${c.host}:${c.port}: ${e.message}` }));
      }
    };
    client.once('error', fail);
    client.once('ready', () => {
      client.removeListener('error', fail);
      resolve({ client, host: c.host, port: c.port, user, hostKey: presented ?? '' });
    });
    try {
      client.connect(cfg);
    } catch (e) {
      fail(e as Error);
    }
  });
}
