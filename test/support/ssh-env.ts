import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadedConfig } from '../../src/core/config.js';
import { startDevIssuer, type DevIssuer } from '../../src/identity/dev-issuer.js';
import type { LedgerRecord } from '../../src/ledger/ledger.js';
import type { Gateway } from '../../src/server.js';
import { AUDIENCE, CLIENTS, runProgram, type RunResult, startConfiguredGateway, endedSessionRecords } from './gateway-fixture.js';
import { keygen, startSshd, type Sshd } from './sshd.js';

/**
 * The SSH test environment: a real sshd as the target, a real OIDC provider, the gateway with only
 * its SSH listener (port 0, SQLite ledger, host key generated on start), and helpers that run the
 * real OpenSSH client through it with the token as the password (SSH_ASKPASS).
 */

export interface SshEnv {
  dir: string;
  sshd: Sshd;
  idp: DevIssuer;
  gateway: Gateway;
  loaded: LoadedConfig;
  configFile: string;
  port: number;
  knownHosts: string;
  logText(): string;
  token(clientId: string): Promise<string>;
  /** OpenSSH client options that reach the gateway as `user` with `token` (no prompts, pinned gateway key) */
  sshArgs(user: string, extra?: string[]): string[];
  sshEnv(token: string): NodeJS.ProcessEnv;
  /** runs the real ssh with a command */
  ssh(token: string, user: string, command: string, opts?: { input?: string; extra?: string[] }): Promise<RunResult>;
  /** records of the latest session of a subject (on a connection) once it has ended */
  sessionRecords(subject: string, connection?: string): Promise<LedgerRecord[]>;
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startSshEnv(opts: { config?: Record<string, unknown> } = {}): Promise<SshEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ssh-'));
  chmodSync(dir, 0o755);
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const sshd = await startSshd(join(dir, 'sshd'));
    cleanups.push(() => sshd.stop());
    const idp = await startDevIssuer({ audience: AUDIENCE, clients: CLIENTS, ciJobClaim: 'ci_job_id' });
    cleanups.push(async () => idp.close());
    const impostor = (await keygen(join(dir, 'impostor'), 'impostor')).split(' ').slice(0, 2).join(' ');
    const target = { type: 'ssh', host: '127.0.0.1', port: sshd.port, user: sshd.user, privateKeyFile: sshd.clientKeyFile };
    const raw = {
      identity: { issuer: idp.issuer, audience: AUDIENCE, ciJobClaim: 'ci_job_id' },
      ledger: { sqlite: './ledger.db' },
      listeners: { ssh: { host: '127.0.0.1', port: 0, hostKeyFile: './gateway_host_key' } },
      connections: [
        { name: 'web-1', ...target, hostKey: sshd.hostPublicKey, groups: ['ci-agents', 'dba'] },
        { name: 'web-1-pinned-wrong', ...target, hostKey: impostor, groups: ['ci-agents'] },
        { name: 'web-1-tunnel', ...target, hostKey: sshd.hostPublicKey, groups: ['dba'], allow: { portForwarding: true, forwardTo: [`127.0.0.1:${sshd.port}`], shell: false } },
      ],
      log: { level: 'debug' },
      ...opts.config,
    };
    const { gateway, loaded, configFile, logText } = await startConfiguredGateway(dir, raw, cleanups);
    const port = gateway.ssh!.address.port;
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${port} ${gateway.ssh!.publicKey}\n`);
    const askpass = join(dir, 'askpass.sh');
    writeFileSync(askpass, '#!/bin/sh\nprintf "%s\\n" "$GH_TEST_TOKEN"\n', { mode: 0o755 });
    const sshArgs = (user: string, extra: string[] = []) => [
      '-p', String(port), '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password', '-o', 'NumberOfPasswordPrompts=1',
      '-o', 'BatchMode=no', '-o', 'ConnectTimeout=20', '-F', '/dev/null', ...extra, `${user}@127.0.0.1`,
    ];
    const sshEnv = (token: string): NodeJS.ProcessEnv => ({ ...process.env, GH_TEST_TOKEN: token, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' });
    const dispose = async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    };
    return {
      dir, sshd, idp, gateway, loaded, configFile, port, knownHosts,
      logText,
      token: (clientId) => idp.token(clientId),
      sshArgs,
      sshEnv,
      ssh: (token, user, command, o = {}) =>
        runProgram('/usr/bin/ssh', [...sshArgs(user, o.extra), command], { env: sshEnv(token), ...(o.input !== undefined ? { input: o.input } : {}) }),
      sessionRecords: (subject, connection) => endedSessionRecords(gateway.ledger, subject, connection),
      dispose,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (e) {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
