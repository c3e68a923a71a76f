import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/core/events.js';
import { runProgram } from '../../support/gateway-fixture.js';
import { startSshEnv, type SshEnv } from '../../support/ssh-env.js';

let env: SshEnv;
let work: string;
beforeAll(async () => {
  env = await startSshEnv();
  work = join(env.dir, 'files');
  mkdirSync(work, { recursive: true });
});
afterAll(async () => env?.dispose());

const sftpEvents = (records: Array<{ event: AuditEvent }>) =>
  records.map((r) => r.event).filter((e): e is Extract<AuditEvent, { type: 'ssh.sftp' }> => e.type === 'ssh.sftp').map(({ type: _t, channel: _c, ...rest }) => rest);

describe('file transfer through the gateway', () => {
  it('records every sftp operation with paths and byte counts (the real sftp client)', async () => {
    const token = await env.token('ci-agent');
    const data = randomBytes(1024 * 1024 + 17);
    writeFileSync(join(work, 'local.bin'), data);
    const remote = join(env.dir, 'remote');
    const batch = join(work, 'batch');
    writeFileSync(batch, [
      `mkdir ${remote}`, `put ${join(work, 'local.bin')} ${remote}/up.bin`, `get ${remote}/up.bin ${join(work, 'back.bin')}`,
      `rename ${remote}/up.bin ${remote}/moved.bin`, `rm ${remote}/moved.bin`, `rmdir ${remote}`, '',
    ].join('\n'));
    // commands on stdin, not -b: -b turns on BatchMode, which forbids the password (the token)
    const r = await runProgram('/usr/bin/sftp', env.sshArgs('web-1').map((a) => (a === '-p' ? '-P' : a)), { env: env.sshEnv(token), input: readFileSync(batch, 'utf8') });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(work, 'back.bin')).equals(data)).toBe(true);
    expect(existsSync(remote)).toBe(false);
    const ops = sftpEvents(await env.sessionRecords('ci-agent'));
    expect(ops).toEqual([
      { op: 'mkdir', path: remote },
      { op: 'open', path: `${remote}/up.bin`, flags: ['write', 'create', 'truncate'] },
      { op: 'close', path: `${remote}/up.bin`, bytesRead: 0, bytesWritten: data.length },
      { op: 'open', path: `${remote}/up.bin`, flags: ['read'] },
      { op: 'close', path: `${remote}/up.bin`, bytesRead: data.length, bytesWritten: 0 },
      { op: 'rename', path: `${remote}/up.bin`, target: `${remote}/moved.bin` },
      { op: 'remove', path: `${remote}/moved.bin` },
      { op: 'rmdir', path: remote },
    ]);
  });

  it('records scp (SFTP underneath), and legacy scp -O as the command it runs', async () => {
    const token = await env.token('dba-bob');
    const data = randomBytes(300_000);
    writeFileSync(join(work, 'scp.bin'), data);
    const scpArgs = (legacy: boolean, to: string) => [
      ...(legacy ? ['-O'] : []), ...env.sshArgs('web-1').slice(0, -1).map((a) => (a === '-p' ? '-P' : a)), join(work, 'scp.bin'), `web-1@127.0.0.1:${to}`,
    ];
    const modern = await runProgram('/usr/bin/scp', scpArgs(false, join(env.dir, 'scp-modern.bin')), { env: env.sshEnv(token) });
    expect(modern.code, modern.stderr + modern.stdout).toBe(0);
    expect(readFileSync(join(env.dir, 'scp-modern.bin')).equals(data)).toBe(true);
    expect(sftpEvents(await env.sessionRecords('dba-bob'))).toEqual(expect.arrayContaining([
      { op: 'close', path: join(env.dir, 'scp-modern.bin'), bytesRead: 0, bytesWritten: data.length },
    ]));
    const legacy = await runProgram('/usr/bin/scp', scpArgs(true, join(env.dir, 'scp-legacy.bin')), { env: env.sshEnv(token) });
    expect(legacy.code, legacy.stderr + legacy.stdout).toBe(0);
    expect(readFileSync(join(env.dir, 'scp-legacy.bin')).equals(data)).toBe(true);
    const ev = (await env.sessionRecords('dba-bob')).map((x) => x.event);
    expect(ev.find((e) => e.type === 'ssh.exec')).toMatchObject({ command: `scp -t ${join(env.dir, 'scp-legacy.bin')}` });
    expect(ev.find((e) => e.type === 'ssh.exit')).toMatchObject({ status: 'ok', stdinBytes: expect.any(Number) });
  });

  it('refuses subsystems other than sftp, and records it', async () => {
    const token = await env.token('dba-alice');
    const r = await runProgram('/usr/bin/ssh', [...env.sshArgs('web-1', ['-s']), 'netconf'], { env: env.sshEnv(token) });
    expect(r.code).not.toBe(0);
    const ev = (await env.sessionRecords('dba-alice')).map((x) => x.event);
    expect(ev).toContainEqual({ type: 'ssh.refused', what: 'subsystem', detail: 'subsystem netconf is not offered through the gateway' });
  });
});
