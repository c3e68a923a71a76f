import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/core/events.js';
import { startSshEnv, type SshEnv } from '../../support/ssh-env.js';

let env: SshEnv;
beforeAll(async () => {
  env = await startSshEnv({
    config: {
      policies: [
        { name: 'no-rm-rf', match: { commands: ['rm -rf', 'rm -fr'] }, action: 'block', reason: 'recursive deletes are not for agents' },
      ],
    },
  });
});
afterAll(async () => env?.dispose());

const events = (records: Array<{ event: AuditEvent }>) => records.map((r) => r.event);

describe('ssh exec through the gateway (OpenSSH on both ends)', () => {
  it('runs a command with the token as the password: output, stderr and exit code pass through and are recorded', async () => {
    const token = await env.token('ci-agent');
    expect(token.length).toBeLessThan(1024); // OpenSSH's askpass reads at most 1023 bytes
    const r = await env.ssh(token, 'web-1', 'echo hello from $(whoami); echo to-stderr >&2; exit 3');
    expect(r.stdout).toBe(`hello from ${env.sshd.user}\n`);
    expect(r.stderr).toContain('to-stderr\n');
    expect(r.code).toBe(3);
    const ev = events(await env.sessionRecords('ci-agent'));
    expect(ev[0]).toMatchObject({ type: 'session.start', protocol: 'ssh', connection: 'web-1', identity: { subject: 'ci-agent', groups: ['ci-agents'], ciJob: '4711' }, authorizedBy: 'ci-agents', upstream: { user: env.sshd.user, hostKey: expect.stringMatching(/^SHA256:/) } });
    const exec = ev.find((e) => e.type === 'ssh.exec');
    expect(exec).toMatchObject({ command: 'echo hello from $(whoami); echo to-stderr >&2; exit 3', pty: false });
    expect(ev.find((e) => e.type === 'ssh.exit')).toMatchObject({ status: 'error', exitCode: 3, stdout: { sample: `hello from ${env.sshd.user}\n`, truncated: false }, stderr: { sample: 'to-stderr\n' } });
    expect(ev.at(-1)).toMatchObject({ type: 'session.end', status: 'ok', statements: 1, errors: 1 });
    // the target's own log saw the command the ledger recorded
    expect(env.sshd.commands()).toContain('echo hello from $(whoami); echo to-stderr >&2; exit 3\n');
    // and it is found by a search over commands, with its outcome
    const { hits } = await env.gateway.ledger.searchCommands({ text: 'whoami', protocol: 'ssh', limit: 10 });
    expect(hits).toEqual([expect.objectContaining({ type: 'ssh.exec', subject: 'ci-agent', connection: 'web-1', status: 'error', tag: 'exit 3', ciJob: '4711' })]);
  });

  it('streams a large output unchanged; the ledger keeps a capped sample and the digest of all of it', async () => {
    const token = await env.token('dba-bob');
    const r = await env.ssh(token, 'web-1', 'seq 1 400000');
    const expected = Array.from({ length: 400000 }, (_, i) => `${i + 1}\n`).join('');
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(expected.length);
    expect(r.stdout === expected).toBe(true);
    const exit = events(await env.sessionRecords('dba-bob')).find((e) => e.type === 'ssh.exit');
    expect(exit).toMatchObject({
      status: 'ok', exitCode: 0,
      stdout: { bytes: expected.length, sha256: createHash('sha256').update(expected).digest('hex'), truncated: true },
    });
    if (exit?.type === 'ssh.exit') expect(exit.stdout.sample.length).toBe(64 * 1024);
  });

  it('passes stdin through', async () => {
    const token = await env.token('dba-alice');
    const r = await env.ssh(token, 'web-1', 'wc -c', { input: 'x'.repeat(100_000) });
    expect(r.stdout.trim()).toBe('100000');
    const exit = events(await env.sessionRecords('dba-alice')).find((e) => e.type === 'ssh.exit');
    expect(exit).toMatchObject({ stdinBytes: 100_000, exitCode: 0 });
  });

  it('blocks a command by policy: a clear message on stderr, exit 126, nothing run, all recorded', async () => {
    const token = await env.token('ci-agent');
    const before = env.sshd.commands();
    const r = await env.ssh(token, 'web-1', 'cd /tmp && rm -fr ./gatehouse-not-there');
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('gatehouse: blocked by policy "no-rm-rf": recursive deletes are not for agents');
    const ev = events(await env.sessionRecords('ci-agent'));
    expect(ev.find((e) => e.type === 'ssh.exec')).toMatchObject({ decision: { action: 'block', policy: 'no-rm-rf' } });
    expect(ev.find((e) => e.type === 'ssh.exit')).toMatchObject({ status: 'blocked', exitCode: null });
    expect(env.sshd.commands().slice(before.length)).toBe('');
  });

  it('records a command killed by a signal', async () => {
    const token = await env.token('dba-bob');
    const r = await env.ssh(token, 'web-1', 'echo before; kill -KILL $$');
    expect(r.stdout).toBe('before\n');
    expect(r.code).not.toBe(0);
    const exit = events(await env.sessionRecords('dba-bob')).find((e) => e.type === 'ssh.exit');
    expect(exit).toMatchObject({ status: 'error', exitCode: null, signal: 'KILL' });
  });

  it('accepts the token through keyboard-interactive too', async () => {
    const token = await env.token('dba-alice');
    const prompts: string[] = [];
    const c = new Client();
    c.on('keyboard-interactive', (_name, _instructions, _lang, ps, finish) => {
      prompts.push(...ps.map((p) => p.prompt));
      finish([token]);
    });
    await new Promise<void>((resolve, reject) => {
      c.once('ready', () => resolve());
      c.once('error', reject);
      c.connect({ host: '127.0.0.1', port: env.port, username: 'web-1', tryKeyboard: true, hostVerifier: () => true, authHandler: ['keyboard-interactive'] });
    });
    const out = await new Promise<string>((resolve, reject) => c.exec('echo kbd-ok', (e, ch) => {
      if (e) return reject(e);
      let text = '';
      ch.on('data', (d: Buffer) => (text += d.toString()));
      ch.on('close', () => resolve(text));
    }));
    c.end();
    expect(prompts).toEqual(['OIDC access token: ']);
    expect(out).toBe('kbd-ok\n');
    expect(events(await env.sessionRecords('dba-alice')).find((e) => e.type === 'ssh.exec')).toMatchObject({ command: 'echo kbd-ok' });
  });

  it('never lets the gateway\'s private key reach a log line or the ledger', async () => {
    const secret = readFileSync(env.sshd.clientKeyFile, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----'));
    const sessions = await env.gateway.ledger.listSessions({ limit: 1000 });
    const ledgerText = JSON.stringify(await Promise.all(sessions.map((x) => env.gateway.ledger.sessionRecords(x.id))));
    expect(sessions.length).toBeGreaterThan(3);
    for (const line of secret) {
      expect(ledgerText).not.toContain(line);
      expect(env.logText()).not.toContain(line);
    }
  });
});
