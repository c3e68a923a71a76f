import { execFile, type ExecFileOptions } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent, IdentityRecord } from '../../src/core/events.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { CastWriter, type CastSummary } from '../../src/protocols/ssh/asciicast.js';
import { play, type ReplayClock } from '../../src/report/replay.js';

/**
 * `gatehouse replay` through the built CLI (dist/, as `npm test` builds it): a SQLite ledger holding
 * SSH sessions whose ssh.recording records point at asciicast files written by CastWriter; the
 * playback is compared byte for byte, and on a real terminal (tmux) with the screen the same bytes
 * make when simply cat-ed.
 */

const CLI = resolve('dist/cli/main.js');
const SHELL_SESSION = 'a3f1c9e2-7b44-4c1e-9d0a-5e6f7a8b9c01';
const EXEC_SESSION = 'b7d20f11-2c3d-4e5f-8a9b-0c1d2e3f4a5b';
const UNFINISHED_SESSION = 'c0ffee00-1111-4222-8333-944455556666';
const T0 = 1_795_000_000_000_000;

/** What the shell printed: a prompt, colours, UTF-8, a cleared screen, cursor moves, a line longer than the terminal. */
const OUTPUT: Array<[ms: number, text: string]> = [
  [10, '\x1b]0;agent@web1: ~\x07\x1b[01;32magent@web1\x1b[00m:\x1b[01;34m~\x1b[00m$ '],
  [400, 'l'],
  [450, 's\r\n'],
  [460, 'caf\u00e9.txt  \x1b[01;34mdocs\x1b[0m  \u65e5\u672c.md  \u{1F600}.log\r\n'],
  [470, '\x1b[01;32magent@web1\x1b[00m:~$ '],
  [3_000, 'clear\r\n\x1b[H\x1b[2J\x1b[3J'],
  [3_010, 'top line\r\nprogress  10%\rprogress 100%\r\n'],
  [3_020, `${'x'.repeat(100)}\r\n`],
  [3_030, 'tab\there\x1b[5Gmoved\r\n\x1b[1;31mred\x1b[0m done\r\n$ '],
];

const identity: IdentityRecord = {
  subject: 'ci-agent', groups: ['ops'], issuer: 'https://idp.example', clientId: 'ci-agent',
  tokenId: 'jti-1', tokenSha256: 'ab'.repeat(32), ciJob: null, expiresAt: null,
};

function sessionStart(): AuditEvent {
  return {
    type: 'session.start', protocol: 'ssh', connection: 'web1', identity, authorizedBy: 'ops',
    client: { address: '127.0.0.1', port: 50000, tls: true, user: 'web1', application: 'OpenSSH_9.2' },
    upstream: { host: '10.0.0.5', port: 22, database: null, user: 'deploy', tls: true, hostKey: 'SHA256:abc' },
    parameters: {},
  };
}

const stream = { bytes: 0, sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', sample: '', truncated: false };

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function node(args: string[], options: ExecFileOptions = {}): Promise<RunResult> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      done({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function run(file: string, args: string[]): Promise<RunResult> {
  return new Promise((done) => {
    execFile(file, args, { encoding: 'utf8' }, (err, stdout, stderr) => done({ code: err === null ? 0 : 1, stdout, stderr }));
  });
}

let dir: string;
let config: string;
let castPath: string;
let summary: CastSummary;
const expected = OUTPUT.map(([, text]) => text).join('');

beforeAll(async () => {
  if (!existsSync(join(CLI, '..', 'replay.js'))) throw new Error('dist/cli/replay.js is missing: build first with `npx tsc -p .` (npm test does)');
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-replay-'));
  config = join(dir, 'gatehouse.yaml');
  writeFileSync(config, 'identity:\n  issuer: https://idp.example\n  audience: gatehouse\nledger:\n  sqlite: ./ledger.db\nlisteners: {}\n');
  const file = `${SHELL_SESSION}-0.cast`;
  castPath = join(dir, 'recordings', file);
  let now = 0;
  const w = await CastWriter.create(castPath, { width: 80, height: 24, term: 'xterm-256color', timestamp: T0 / 1e6 }, { now: () => now });
  for (const [ms, text] of OUTPUT) {
    now = ms * 1000;
    // split inside multi-byte characters: the writer keeps them whole
    const bytes = Buffer.from(text, 'utf8');
    w.output(bytes.subarray(0, 3));
    w.output(bytes.subarray(3));
    if (text === 'l' || text === 's\r\n') w.input(Buffer.from(text.replace('\r\n', '\r')));
    if (ms === 3_000) w.resize(80, 24);
  }
  summary = await w.close();

  const ledger = new SqliteLedger(join(dir, 'ledger.db'));
  const add = async (sessionId: string, events: AuditEvent[]) => {
    let i = 0;
    for (const event of events) await ledger.append([{ sessionId, time: T0 + i++ * 1000, event }]);
  };
  await add(SHELL_SESSION, [
    sessionStart(),
    { type: 'ssh.shell', channel: 0, pty: { term: 'xterm-256color', cols: 80, rows: 24 }, recording: file },
    { type: 'ssh.command', channel: 0, shellSeq: 2, command: 'ls', source: 'keystrokes', bestEffort: true },
    { type: 'ssh.exit', channel: 0, commandSeq: 2, status: 'ok', exitCode: 0, signal: null, stdout: stream, stderr: stream, stdinBytes: 3, durationUs: 3_030_000 },
    { type: 'ssh.recording', channel: 0, shellSeq: 2, file, bytes: summary.bytes, sha256: summary.sha256, events: summary.events, durationUs: summary.durationUs },
    { type: 'session.end', status: 'ok', reason: null, statements: 1, errors: 0, durationUs: 3_100_000 },
  ]);
  await add(EXEC_SESSION, [
    sessionStart(),
    { type: 'ssh.exec', channel: 0, command: 'uptime', pty: false, env: {} },
    { type: 'ssh.exec', channel: 1, command: 'df -h', pty: false, env: {} },
    { type: 'session.end', status: 'ok', reason: null, statements: 2, errors: 0, durationUs: 50_000 },
  ]);
  await add(UNFINISHED_SESSION, [
    sessionStart(),
    { type: 'ssh.shell', channel: 2, pty: null, recording: `${UNFINISHED_SESSION}-2.cast` },
  ]);
  await ledger.close();
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse replay', () => {
  it('plays the recording of a session (by id prefix) with --no-wait: exactly the output events', async () => {
    const r = await node(['replay', SHELL_SESSION.slice(0, 8), '--no-wait', '--config', config]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(expected);
  });

  it('--verify-only checks the file against the ledger and plays nothing', async () => {
    const r = await node(['replay', SHELL_SESSION, '--verify-only', '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`matches the ledger: session ${SHELL_SESSION}, channel 0, ${summary.bytes} bytes, sha256 ${summary.sha256}`);
  });

  it('refuses a recording changed by one byte: the tamper evidence', async () => {
    const original = readFileSync(castPath);
    const changed = Buffer.from(original);
    const at = original.indexOf('docs');
    changed[at] = 'D'.charCodeAt(0);
    writeFileSync(castPath, changed);
    try {
      const r = await node(['replay', SHELL_SESSION, '--no-wait', '--config', config]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`recording ${castPath} does not match the ledger (sha256 `);
      expect(r.stderr).toContain(`the ledger has ${summary.sha256}`);
      expect(r.stderr).toContain('it was changed after the session [GH_ERR_RECORDING_MISMATCH]');
      const verify = await node(['replay', SHELL_SESSION, '--verify-only', '--config', config]);
      expect(verify.code).toBe(1);
      writeFileSync(castPath, original.subarray(0, original.length - 1));
      const shorter = await node(['replay', SHELL_SESSION, '--no-wait', '--config', config]);
      expect(shorter.stderr).toContain(`${summary.bytes - 1} bytes, the ledger has ${summary.bytes}`);
    } finally {
      writeFileSync(castPath, original);
    }
  });

  it('clear errors: unknown session, a session without a shell, a channel without a recording, bad flags', async () => {
    const unknown = await node(['replay', 'no-such-session', '--config', config]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no session with id no-such-session');
    const exec = await node(['replay', EXEC_SESSION, '--config', config]);
    expect(exec.code).toBe(1);
    expect(exec.stderr).toContain(`session ${EXEC_SESSION} has no terminal recording (it ran 2 exec commands; see gatehouse report ${EXEC_SESSION})`);
    const unfinished = await node(['replay', UNFINISHED_SESSION, '--config', config]);
    expect(unfinished.code).toBe(1);
    expect(unfinished.stderr).toContain(`the recording of its shell on channel 2 (${UNFINISHED_SESSION}-2.cast) was never finished`);
    expect(unfinished.stderr).toContain('play it unverified with --file');
    const channel = await node(['replay', SHELL_SESSION, '--channel', '3', '--config', config]);
    expect(channel.stderr).toContain('has no recording on channel 3 (recorded channels: 0)');
    const speed = await node(['replay', SHELL_SESSION, '--speed', '0', '--config', config]);
    expect(speed.code).toBe(2);
    expect(speed.stderr).toContain('--speed must be a positive number');
    const neither = await node(['replay', '--config', config]);
    expect(neither.code).toBe(2);
    const bad = join(dir, 'bad.cast');
    writeFileSync(bad, '{"version":2,"width":80,"height":24}\n[0.1,"o",oops]\n');
    const invalid = await node(['replay', '--file', bad, '--no-wait']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain(`${bad} line 2: not JSON`);
  });

  it('on a real terminal the replay leaves the same screen as the output bytes cat-ed (tmux)', async () => {
    const raw = join(dir, 'output.raw');
    writeFileSync(raw, expected);
    const conf = join(dir, 'tmux.conf');
    writeFileSync(conf, 'set -g status off\n');
    const socket = `gatehouse-replay-${process.pid}`;
    const tmux = (...args: string[]) => run('/usr/bin/tmux', ['-L', socket, '-f', conf, ...args]);
    const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
    try {
      // `exec cat` keeps each pane open (reading the terminal, printing nothing) once the output is done
      const replay = await tmux('new-session', '-d', '-x', '80', '-y', '24', '-s', 'replay',
        `${q(process.execPath)} ${q(CLI)} replay --file ${q(castPath)} --idle-limit 0.05; exec cat`);
      expect(replay.code, replay.stderr).toBe(0);
      const cat = await tmux('new-session', '-d', '-x', '80', '-y', '24', '-s', 'cat', `cat ${q(raw)}; exec cat`);
      expect(cat.code, cat.stderr).toBe(0);
      const screens = async () => Promise.all(['replay', 'cat'].map(async (s) => (await tmux('capture-pane', '-p', '-e', '-t', s)).stdout));
      let last = '';
      let stable = 0;
      const deadline = Date.now() + 20_000;
      for (;;) {
        const [a, b] = await screens();
        const now = JSON.stringify([a, b]);
        stable = now === last ? stable + 1 : 0;
        last = now;
        if ((a === b && a!.includes('red') && stable >= 3) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const [a, b] = JSON.parse(last) as [string, string];
      expect(a).toBe(b);
      const text = (await tmux('capture-pane', '-p', '-t', 'replay')).stdout;
      expect(text).toContain('top line');
      expect(text).toContain('progress 100%');
      expect(text).toContain('tab moved');
      expect(text).not.toContain('agent@web1'); // cleared by `clear`
    } finally {
      await tmux('kill-server');
    }
  });

  it('Ctrl-C during a pause stops at once and puts the terminal back (alternate screen left, cursor shown)', async () => {
    const long = join(dir, 'long.cast');
    writeFileSync(long, '{"version":2,"width":80,"height":24}\n[0.1,"o","before\\r\\n\\u001b[?1049h\\u001b[?25lin the alternate screen"]\n[600,"o","never"]\n');
    const conf = join(dir, 'tmux.conf');
    writeFileSync(conf, 'set -g status off\n');
    const tmux = (...args: string[]) => run('/usr/bin/tmux', ['-L', `gatehouse-replay-int-${process.pid}`, '-f', conf, ...args]);
    const until = async (what: string, ok: (screen: string) => boolean): Promise<string> => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const screen = (await tmux('capture-pane', '-p', '-t', 'r')).stdout;
        if (ok(screen)) return screen;
        if (Date.now() > deadline) throw new Error(`${what}: the screen is\n${screen}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await tmux('new-session', '-d', '-x', '80', '-y', '24', '-s', 'r', `'${process.execPath}' '${CLI}' replay --file '${long}' --idle-limit 1000; echo EXIT=$?; exec cat`);
      await until('the first output', (s) => s.includes('in the alternate screen'));
      expect((await tmux('display', '-p', '-t', 'r', '#{alternate_on} #{cursor_flag}')).stdout.trim()).toBe('1 0');
      const sent = Date.now();
      await tmux('send-keys', '-t', 'r', 'C-c');
      const screen = await until('exit after Ctrl-C', (s) => s.includes('EXIT='));
      expect(Date.now() - sent).toBeLessThan(5_000);
      expect(screen).toMatch(/^before\nEXIT=130\n/);
      expect(screen).not.toContain('never');
      expect((await tmux('display', '-p', '-t', 'r', '#{alternate_on} #{cursor_flag}')).stdout.trim()).toBe('0 1');
    } finally {
      await tmux('kill-server');
    }
  });
});

describe('play: timing through an injected clock', () => {
  function fakeClock(): ReplayClock & { sleeps: number[]; advance(ms: number): void } {
    let t = 1000;
    const sleeps: number[] = [];
    return {
      sleeps,
      advance: (ms) => void (t += ms),
      now: () => t,
      sleep: async (ms) => {
        sleeps.push(Math.round(ms));
        t += ms;
      },
    };
  }
  async function* events(): AsyncGenerator<[number, 'o' | 'i' | 'r' | 'm', string]> {
    yield [0.5, 'o', 'a'];
    yield [1.0, 'i', 'typed'];
    yield [1.2, 'o', 'b'];
    yield [10, 'm', 'marker'];
    yield [10, 'o', 'c'];
    yield [10, 'r', '100x30'];
    yield [10.5, 'o', 'd'];
  }

  it('scales pauses by 1/speed and caps each at the idle limit; input and markers are not written', async () => {
    const clock = fakeClock();
    const written: string[] = [];
    const sizes: string[] = [];
    const r = await play(events(), { write: (t) => void written.push(t), speed: 2, idleLimit: 2, wait: true, clock, onResize: (c, rows) => sizes.push(`${c}x${rows}`) });
    expect(written).toEqual(['a', 'b', 'c', 'd']);
    expect(clock.sleeps).toEqual([250, 350, 1000, 250]);
    expect(sizes).toEqual(['100x30']);
    expect(r).toEqual({ output: 4, interrupted: false, altScreen: false });
  });

  it('time spent writing is not added to the pauses; --no-wait never sleeps', async () => {
    const clock = fakeClock();
    await play(events(), { write: () => clock.advance(100), speed: 1, idleLimit: 2, wait: true, clock });
    expect(clock.sleeps).toEqual([500, 600, 1900, 400]);
    const none = fakeClock();
    await play(events(), { write: () => undefined, speed: 1, idleLimit: 2, wait: false, clock: none });
    expect(none.sleeps).toEqual([]);
  });

  it('stops at once when aborted during a pause, and says whether the alternate screen was left on', async () => {
    const stop = new AbortController();
    const clock: ReplayClock = {
      now: () => 0,
      sleep: (_ms, signal) => new Promise((_, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted')))),
    };
    const written: string[] = [];
    async function* vim(): AsyncGenerator<[number, 'o', string]> {
      yield [0, 'o', '\x1b[?1049hvim'];
      yield [5, 'o', 'never'];
    }
    const playing = play(vim(), { write: (t) => void written.push(t), speed: 1, idleLimit: 2, wait: true, clock, signal: stop.signal });
    setImmediate(() => stop.abort());
    expect(await playing).toEqual({ output: 1, interrupted: true, altScreen: true });
    expect(written).toEqual(['\x1b[?1049hvim']);
  });
});
