import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/core/events.js';
import { startSshEnv, type SshEnv } from '../../support/ssh-env.js';
import { settled } from './settled.js';

/**
 * Slow peers on the SSH gateway (issue 8): an agent (OpenSSH ssh) that stops reading a large exec
 * output. The SSH windows carry the backpressure end to end: the agent's window closes, the
 * gateway stops reading the target's channel, the target's window closes, and the remote command
 * blocks in write(). Its progress (a counter it writes to a file after each MiB) stops far short of
 * the end, the gateway's memory does not take the output in, and when the agent reads again the
 * whole output arrives and is recorded.
 */

const MB = 1024 * 1024;
const BLOCKS = 128; // MiB of output

let env: SshEnv;
// a paused reader is a slow one for a few seconds, a stalled one after STALL_MS
const STALL_MS = 8_000;

beforeAll(async () => {
  env = await startSshEnv({ config: { limits: { stalledClientTimeout: STALL_MS } } });
});
afterAll(async () => env?.dispose());


describe('SSH gateway: an agent that stops reading', () => {
  it(`a ${BLOCKS} MiB exec output to an agent that stops reading: the remote command is throttled, memory bounded, all recorded after`, async () => {
    const progress = join(env.dir, 'progress');
    const command = `i=0; while [ $i -lt ${BLOCKS} ]; do head -c ${MB} /dev/zero || exit 3; i=$((i+1)); echo $i > ${progress}; done`;
    const token = await env.token('ci-agent');
    const child = spawn('/usr/bin/ssh', [...env.sshArgs('web-1'), command], { env: env.sshEnv(token), stdio: ['ignore', 'pipe', 'pipe'] });
    let received = 0;
    let stopped = false;
    const hash = createHash('sha256');
    child.stdout.on('data', (d: Buffer) => {
      received += d.length;
      hash.update(d);
      if (received >= 8 * MB && !stopped) {
        stopped = true;
        child.stdout.pause(); // stop reading: ssh's stdout pipe fills, then its window
      }
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const done = () => (existsSync(progress) ? Number(readFileSync(progress, 'utf8').trim() || 0) : 0);

    for (const end = Date.now() + 60_000; received < 8 * MB && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    expect(received, stderr).toBeGreaterThanOrEqual(8 * MB);
    const rss0 = process.memoryUsage().rss;
    const stuck = await settled(done, 2_000, 60_000);
    expect(stuck.quiet, 'the remote command kept writing while nobody read').toBe(true);
    // in flight: the pipe to ssh, ssh's and the gateway's windows and buffers, the kernel's socket buffers
    expect(stuck.value * MB - received).toBeLessThan(48 * MB);
    expect(stuck.value).toBeLessThan(BLOCKS / 2);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(128 * MB);
    console.log(`slow ssh agent: the command stopped at ${stuck.value} MiB written, ${(received / MB).toFixed(1)} MiB read`);

    child.stdout.resume();
    expect(await exited, stderr).toBe(0);
    expect(received).toBe(BLOCKS * MB);
    expect(done()).toBe(BLOCKS);
    const exit = (await env.sessionRecords('ci-agent', 'web-1')).map((r) => r.event).find((e): e is Extract<AuditEvent, { type: 'ssh.exit' }> => e.type === 'ssh.exit');
    expect(exit).toMatchObject({ status: 'ok', exitCode: 0, stdout: { bytes: BLOCKS * MB, sha256: hash.digest('hex'), truncated: true } });
  }, 180_000);

  it('an agent that takes none of the output for limits.stalledClientTimeout: the gateway closes the channel and records why', async () => {
    const command = `i=0; while [ $i -lt ${BLOCKS} ]; do head -c ${MB} /dev/zero || exit 3; i=$((i+1)); done`;
    const token = await env.token('dba-bob');
    const child = spawn('/usr/bin/ssh', [...env.sshArgs('web-1'), command], { env: env.sshEnv(token), stdio: ['ignore', 'pipe', 'pipe'] });
    let received = 0;
    let stopped = false;
    child.stdout.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= 8 * MB && !stopped) {
        stopped = true;
        child.stdout.pause();
      }
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    // nothing else happens: the exit record appears once the gateway has given up on the agent
    const deadline = Date.now() + 90_000;
    let exit: Extract<AuditEvent, { type: 'ssh.exit' }> | undefined;
    while (!exit && Date.now() < deadline) {
      const [s] = await env.gateway.ledger.listSessions({ identity: 'dba-bob', limit: 1 });
      const rs = s ? await env.gateway.ledger.sessionRecords(s.id) : [];
      exit = rs.map((r) => r.event).find((e): e is Extract<AuditEvent, { type: 'ssh.exit' }> => e.type === 'ssh.exit');
      if (!exit) await new Promise((r) => setTimeout(r, 50));
    }
    expect(exit).toMatchObject({
      reason: `GH_ERR_CLIENT_STALLED: the agent took none of the output for ${STALL_MS} ms (limits.stalledClientTimeout); the gateway closed the channel`,
    });
    // the command is stopped: its channel closed, its next write failed (the command's own `|| exit 3`)
    // or it was ended before it could say
    expect(exit!.status === 'interrupted' || exit!.exitCode === 3, JSON.stringify(exit)).toBe(true);
    expect(exit!.stdout.bytes).toBeLessThan(BLOCKS * MB);
    child.stdout.resume();
    expect(await exited).not.toBe(0);
    expect(received).toBeLessThan(BLOCKS * MB);
  }, 180_000);
});
