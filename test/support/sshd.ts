import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../src/dev/pg-cluster.js';
import { runProgram } from './gateway-fixture.js';

export { freePort };

/**
 * A real OpenSSH sshd for tests: its own config, host key and authorized key on a free loopback
 * port, logging to a file (LogLevel VERBOSE names each session's command, like PostgreSQL's
 * statement log). Missing binaries fail with the install line; the tests are never skipped.
 */

export interface Sshd {
  port: number;
  /** "ssh-ed25519 AAAA..." of the host key */
  hostPublicKey: string;
  /** the private key sshd accepts (the gateway's upstream key) */
  clientKeyFile: string;
  user: string;
  log(): string;
  /** the command lines the target ran (one per line; empty for a shell) */
  commands(): string;
  stop(): Promise<void>;
}

export function requireBinaries(bins: Array<{ path: string; pkg: string }>): void {
  const missing = bins.filter((b) => !existsSync(b.path));
  if (missing.length > 0) {
    throw new Error(`missing ${missing.map((b) => b.path).join(', ')}: apt-get install -y --no-install-recommends ${[...new Set(missing.map((b) => b.pkg))].join(' ')}`);
  }
}

export async function keygen(file: string, comment = 'test'): Promise<string> {
  const r = await runProgram('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

export async function startSshd(dir: string): Promise<Sshd> {
  requireBinaries([
    { path: '/usr/sbin/sshd', pkg: 'openssh-server' },
    { path: '/usr/bin/ssh', pkg: 'openssh-client' },
    { path: '/usr/lib/openssh/sftp-server', pkg: 'openssh-sftp-server' },
  ]);
  mkdirSync(dir, { recursive: true });
  mkdirSync('/run/sshd', { recursive: true });
  const hostKey = join(dir, 'host_ed25519');
  const clientKey = join(dir, 'gateway_client_ed25519');
  const hostPublicKey = (await keygen(hostKey, 'target-host')).split(' ').slice(0, 2).join(' ');
  writeFileSync(join(dir, 'authorized_keys'), `${await keygen(clientKey, 'gatehouse-upstream')}\n`, { mode: 0o600 });
  const port = await freePort();
  const logFile = join(dir, 'sshd.log');
  // the target's own record of what it ran: every session goes through this wrapper first
  const commandLog = join(dir, 'commands.log');
  const wrapper = join(dir, 'log-and-run.sh');
  writeFileSync(wrapper, [
    '#!/bin/sh',
    `printf '%s\\n' "$SSH_ORIGINAL_COMMAND" >> ${commandLog}`,
    'case "$SSH_ORIGINAL_COMMAND" in',
    '  "") exec "${SHELL:-/bin/sh}" -l ;;',
    '  *sftp-server*|sftp|internal-sftp) exec /usr/lib/openssh/sftp-server ;;',
    '  *) exec /bin/sh -c "$SSH_ORIGINAL_COMMAND" ;;',
    'esac',
    '',
  ].join('\n'), { mode: 0o755 });
  writeFileSync(commandLog, '');
  const user = process.env.USER && process.env.USER !== '' ? process.env.USER : 'root';
  writeFileSync(join(dir, 'sshd_config'), [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey}`, `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'StrictModes no', 'UsePAM no', 'PermitRootLogin prohibit-password',
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes', 'Subsystem sftp /usr/lib/openssh/sftp-server',
    `ForceCommand ${wrapper}`,
    'LogLevel VERBOSE', 'AllowTcpForwarding yes', 'X11Forwarding no', 'AcceptEnv LANG LC_*', 'PrintMotd no', 'PrintLastLog no', '',
  ].join('\n'));
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config'), '-E', logFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  // ready when it accepts connections (it logs "Server listening" first)
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited: ${stderr}${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`);
    if (existsSync(logFile) && readFileSync(logFile, 'utf8').includes('Server listening')) break;
    if (Date.now() > deadline) throw new Error(`sshd did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    port, hostPublicKey, clientKeyFile: clientKey, user,
    log: () => readFileSync(logFile, 'utf8'),
    commands: () => readFileSync(commandLog, 'utf8'),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
