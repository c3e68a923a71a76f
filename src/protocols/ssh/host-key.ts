import { createHash, createHmac } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import ssh2 from 'ssh2';
import { GatehouseError } from '../../core/errors.js';

/**
 * Host keys: the gateway's own (generated on first start, kept 0600), and the pinned keys of the
 * targets (from `hostKey` or a known_hosts file), compared as raw SSH public-key blobs.
 */

/** The gateway's host key (OpenSSH PEM text): read, or generated as Ed25519 when the file is missing. */
export function loadOrCreateHostKey(file: string): { key: string; created: boolean } {
  try {
    return { key: readFileSync(file, 'utf8'), created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new GatehouseError('GH_ERR_CONFIG_READ', `listeners.ssh.hostKeyFile: cannot read ${file}: ${(e as Error).message}`);
    }
  }
  // ssh2 1.17 now and then (about 3 in 1,000) writes an Ed25519 key its own parser rejects
  // ("Malformed OpenSSH private key"): keep the first one that parses
  let pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'gatehouse' });
  for (let i = 0; i < 20 && ssh2.utils.parseKey(pair.private) instanceof Error; i++) pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'gatehouse' });
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, pair.private, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  writeFileSync(`${file}.pub`, `${pair.public}\n`, { mode: 0o644 });
  return { key: pair.private, created: true };
}

export interface PinnedKey {
  type: string;
  blob: Buffer;
}

/** `SHA256:<base64>` as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

const KEY_TYPE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;

/** A key in `type base64 [comment]` form, anywhere in a line (a .pub line or a known_hosts line). */
function keyFromFields(fields: string[]): PinnedKey | null {
  for (let i = 0; i + 1 < fields.length; i++) {
    if (!KEY_TYPE.test(fields[i]!)) continue;
    const blob = Buffer.from(fields[i + 1]!, 'base64');
    // the blob starts with its own type name: a cheap check that this is a key and not noise
    if (blob.length > 4 && blob.subarray(4, 4 + blob.readUInt32BE(0)).toString() === fields[i]) return { type: fields[i]!, blob };
  }
  return null;
}

export function parsePinnedKey(text: string, what: string): PinnedKey {
  const key = keyFromFields(text.trim().split(/\s+/));
  if (!key) throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${what}: not an SSH public key (expected "ssh-ed25519 AAAA..." as ssh-keyscan prints it)`);
  return key;
}

function hostMatches(pattern: string, names: string[]): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return names.some((n) => createHmac('sha1', Buffer.from(salt, 'base64')).update(n).digest('base64') === hash);
  }
  return pattern.split(',').some((p) => !p.startsWith('!') && names.includes(p));
}

/** The keys a known_hosts file holds for host:port (OpenSSH writes `[host]:port` for other ports); @revoked keys are returned apart. */
export function knownHostKeys(text: string, host: string, port: number): { keys: PinnedKey[]; revoked: PinnedKey[] } {
  const names = port === 22 ? [host] : [`[${host}]:${port}`];
  const keys: PinnedKey[] = [];
  const revoked: PinnedKey[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let fields = line.split(/\s+/);
    let marker: string | null = null;
    if (fields[0]!.startsWith('@')) {
      marker = fields[0]!;
      fields = fields.slice(1);
    }
    if (marker === '@cert-authority' || !hostMatches(fields[0] ?? '', names)) continue;
    const key = keyFromFields(fields.slice(1));
    if (key) (marker === '@revoked' ? revoked : keys).push(key);
  }
  return { keys, revoked };
}

/** The host-key algorithms to offer for pinned keys (the server then shows one of those). */
export function hostKeyAlgorithms(keys: PinnedKey[]): string[] {
  const out = new Set<string>();
  for (const k of keys) {
    if (k.type === 'ssh-rsa') ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'].forEach((a) => out.add(a));
    else out.add(k.type);
  }
  return [...out];
}
