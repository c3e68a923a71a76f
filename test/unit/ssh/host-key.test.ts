import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import ssh2 from 'ssh2';
import { parseConfig } from '../../../src/core/config.js';
import { fingerprint, hostKeyAlgorithms, knownHostKeys, parsePinnedKey } from '../../../src/protocols/ssh/host-key.js';
import { parseUsername } from '../../../src/protocols/ssh/connection.js';

const pub = (type: 'ed25519' | 'rsa' = 'ed25519') => ssh2.utils.generateKeyPairSync(type, type === 'rsa' ? { bits: 2048 } : {}).public.split(' ').slice(0, 2).join(' ');

describe('pinned host keys', () => {
  it('reads a key from a .pub line or a known_hosts line, and refuses noise', () => {
    const k = pub();
    expect(parsePinnedKey(`${k} root@web-1`, 'x').type).toBe('ssh-ed25519');
    expect(parsePinnedKey(`web-1.internal ${k}`, 'x').blob.equals(Buffer.from(k.split(' ')[1]!, 'base64'))).toBe(true);
    expect(() => parsePinnedKey('ssh-ed25519 bm90IGEga2V5', 'connection web-1: hostKey')).toThrow(/connection web-1: hostKey: not an SSH public key/);
  });

  it('finds a host in known_hosts: plain, [host]:port, hashed; @revoked apart; @cert-authority ignored', () => {
    const [a, b, c, d] = [pub(), pub(), pub(), pub('rsa')];
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[10.0.0.5]:2200').digest('base64')}`;
    const text = [
      '# comment', `web-1,10.0.0.5 ${a}`, `[10.0.0.5]:2200 ${b}`, `${hashed} ${d}`, `@revoked 10.0.0.5 ${c}`, `@cert-authority *.internal ${c}`, `other ${c}`,
    ].join('\n');
    const at22 = knownHostKeys(text, '10.0.0.5', 22);
    expect(at22.keys.map((k) => k.type)).toEqual(['ssh-ed25519']);
    expect(at22.revoked).toHaveLength(1);
    const at2200 = knownHostKeys(text, '10.0.0.5', 2200);
    expect(at2200.keys.map((k) => k.type)).toEqual(['ssh-ed25519', 'ssh-rsa']);
    expect(hostKeyAlgorithms(at2200.keys)).toEqual(['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  });

  it('prints fingerprints as ssh-keygen does', () => {
    expect(fingerprint(Buffer.from('abc'))).toBe('SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0');
  });
});

describe('ssh configuration', () => {
  const base = { identity: { issuer: 'https://idp.example', audience: 'a' }, ledger: { sqlite: 'x.db' }, listeners: { ssh: {} } };
  const conn = { name: 'web-1', type: 'ssh', host: 'web-1', user: 'deploy', groups: ['sre'] };
  const err = (c: Record<string, unknown>) => {
    try {
      parseConfig({ ...base, connections: [c] });
      return '';
    } catch (e) {
      return (e as Error).message;
    }
  };
  it('needs exactly one private key and a pinned host key', () => {
    expect(err({ ...conn, hostKey: pub() })).toContain('give exactly one of privateKey or privateKeyFile');
    expect(err({ ...conn, privateKey: 'k' })).toContain("pin the target's host key");
    expect(err({ ...conn, privateKey: 'k', hostKey: pub(), knownHostsFile: 'kh' })).toContain("pin the target's host key");
    const ok = parseConfig({ ...base, connections: [{ ...conn, privateKey: 'k', hostKey: pub() }] });
    expect(ok.listeners.ssh).toEqual({ host: '127.0.0.1', port: 2222, hostKeyFile: './data/ssh_host_ed25519_key', loginTimeout: 30_000 });
    expect(ok.connections[0]).toMatchObject({ port: 22, users: [], allow: { portForwarding: false, agentForwarding: false, x11: false, sftp: true, env: ['LANG', 'LC_*', 'TERM'] } });
  });
  it('rejects a rule mixing shell commands and SQL criteria', () => {
    expect(() => parseConfig({ ...base, policies: [{ name: 'x', match: { commands: ['rm -rf'], statement: ['drop'] }, action: 'block' }] })).toThrow(/one kind of command/);
  });
  it('reads the connection and remote user from the SSH user name', () => {
    expect(parseUsername('web-1')).toEqual({ connection: 'web-1', user: null });
    expect(parseUsername('web-1+deploy')).toEqual({ connection: 'web-1', user: 'deploy' });
  });
});

describe('the gateway host key', () => {
  it('is generated as a key ssh2 can load, every time', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadOrCreateHostKey } = await import('../../../src/protocols/ssh/host-key.js');
    const dir = mkdtempSync(join(tmpdir(), 'gh-hostkey-'));
    try {
      // ssh2 alone writes an unparsable key about 3 times in 1,000: 1,000 generations find it
      for (let i = 0; i < 1000; i++) {
        const { key, created } = loadOrCreateHostKey(join(dir, `k${i}`));
        expect(created).toBe(true);
        expect(ssh2.utils.parseKey(key)).not.toBeInstanceOf(Error);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
