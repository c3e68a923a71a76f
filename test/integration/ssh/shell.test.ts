import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingsDir } from '../../../src/core/config.js';
import type { AuditEvent } from '../../../src/core/events.js';
import { runProgram } from '../../support/gateway-fixture.js';
import { requireBinaries } from '../../support/sshd.js';
import { startSshEnv, type SshEnv } from '../../support/ssh-env.js';

/**
 * An interactive shell through the gateway, typed into a real terminal: OpenSSH's ssh in a tmux
 * pane (a real PTY), keys sent with send-keys, the screen read with capture-pane. Then the
 * recording is replayed with the real CLI in a pane of the same size: the same screen.
 */

let env: SshEnv;
const socket = `gh-test-${randomBytes(4).toString('hex')}`;
const tmux = (...args: string[]) => runProgram('/usr/bin/tmux', ['-L', socket, '-f', '/dev/null', ...args]);

beforeAll(async () => {
  requireBinaries([{ path: '/usr/bin/tmux', pkg: 'tmux' }]);
  if (!existsSync('dist/cli/main.js')) throw new Error('build first: npx tsc -p . (npm test does)');
  env = await startSshEnv({ config: { policies: [{ name: 'no-rm-rf', match: { commands: ['rm -rf'] }, action: 'block' }] } });
});
afterAll(async () => {
  await tmux('kill-server');
  await env?.dispose();
});

async function screen(target: string): Promise<string[]> {
  const r = await tmux('capture-pane', '-p', '-t', target);
  return r.stdout.split('\n');
}

/** Polls the pane until `done` holds for its screen; fails with the screen after 60 s (a loaded CI machine starts node slowly). */
async function waitScreen(target: string, done: (lines: string[]) => boolean): Promise<string[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const lines = await screen(target);
    if (done(lines)) return lines;
    if (Date.now() > deadline) throw new Error(`pane ${target} never showed what was expected:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('an interactive shell through the gateway', () => {
  it('is recorded (typed commands, asciicast) and replays to the same screen', { timeout: 180_000 }, async () => {
    const token = await env.token('ci-agent');
    const sshEnv = env.sshEnv(token);
    const e = (k: string) => ['-e', `${k}=${sshEnv[k] ?? ''}`];
    await tmux('start-server');
    const started = await tmux('new-session', '-d', '-x', '80', '-y', '24', '-s', 'live', ...e('GH_TEST_TOKEN'), ...e('SSH_ASKPASS'), ...e('SSH_ASKPASS_REQUIRE'), ...e('DISPLAY'),
      '/usr/bin/ssh', '-tt', ...env.sshArgs('web-1').map((a) => (a.includes(' ') ? `'${a}'` : a)));
    expect(started.code, started.stderr).toBe(0);
    // a prompt: the shell is up
    await waitScreen('live', (l) => l.some((x) => /[#$]\s*$/.test(x)));
    // a typed command the policy blocks is cancelled, with the reason on the terminal
    const guarded = join(env.dir, 'guarded');
    mkdirSync(guarded);
    await tmux('send-keys', '-t', 'live', '-l', `rm -rf ${guarded}`);
    await tmux('send-keys', '-t', 'live', 'Enter');
    await waitScreen('live', (l) => l.some((x) => x.includes('gatehouse: blocked by policy "no-rm-rf"')) && /[#$]\s*$/.test(l.filter((x) => x !== '').at(-1) ?? ''));
    expect(existsSync(guarded)).toBe(true);
    await tmux('send-keys', '-t', 'live', '-l', 'echo hello-$((6*7))');
    await tmux('send-keys', '-t', 'live', 'Enter');
    const live = await waitScreen('live', (l) => l.some((x) => x === 'hello-42') && /[#$]\s*$/.test(l.filter((x) => x !== '').at(-1) ?? ''));
    // a typo corrected with backspace, then the real command
    await tmux('send-keys', '-t', 'live', '-l', 'exiq');
    await tmux('send-keys', '-t', 'live', 'BSpace');
    await tmux('send-keys', '-t', 'live', '-l', 't');
    await tmux('send-keys', '-t', 'live', 'Enter');

    const records = await env.sessionRecords('ci-agent');
    const ev = records.map((r) => r.event);
    const shell = records.find((r) => r.event.type === 'ssh.shell')!;
    expect(shell.event).toMatchObject({ type: 'ssh.shell', pty: { cols: 80, rows: 24 } });
    const typed = ev.filter((x): x is Extract<AuditEvent, { type: 'ssh.command' }> => x.type === 'ssh.command');
    expect(typed.map((t) => t.command)).toEqual([`rm -rf ${guarded}`, 'echo hello-$((6*7))', 'exit']);
    expect(typed[0]!.decision).toEqual({ action: 'block', policy: 'no-rm-rf', reason: 'rm is not allowed here' });
    expect(typed[1]!.decision).toBeUndefined();
    expect(env.sshd.commands()).not.toContain('rm -rf');
    expect(typed.every((t) => t.shellSeq === shell.seq && t.bestEffort)).toBe(true);
    expect(ev.find((x) => x.type === 'ssh.exit')).toMatchObject({ status: 'ok', exitCode: 0, commandSeq: shell.seq });
    const rec = ev.find((x): x is Extract<AuditEvent, { type: 'ssh.recording' }> => x.type === 'ssh.recording')!;
    expect(rec).toMatchObject({ shellSeq: shell.seq });
    const file = join(recordingsDir(env.loaded), rec.file);
    const bytes = readFileSync(file);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(rec.sha256);
    expect(bytes.length).toBe(rec.bytes);
    const lines = bytes.toString('utf8').trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ version: 2, width: 80, height: 24 });
    expect(lines.some((l) => JSON.parse(l)[1] === 'i')).toBe(true);

    // replay with the real CLI, in a pane of the same size
    const sessionId = records[0]!.sessionId;
    // the pane stays open after the replay (cat waits on the terminal, printing nothing)
    const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const replayCmd = [process.execPath, join(process.cwd(), 'dist/cli/main.js'), 'replay', sessionId, '--no-wait', '--config', env.configFile].map(q).join(' ');
    await tmux('new-session', '-d', '-x', '80', '-y', '24', '-s', 'replay', `${replayCmd}; exec cat`);
    const upTo = live.indexOf('hello-42');
    const replayed = await waitScreen('replay', (l) => l.includes('hello-42') && l.some((x) => x.includes('logout') || /exit$/.test(x)));
    // the screen as the agent saw it, line for line, up to the output (after it the agent typed exit)
    expect(replayed.slice(0, upTo + 1)).toEqual(live.slice(0, upTo + 1));
  });
});
