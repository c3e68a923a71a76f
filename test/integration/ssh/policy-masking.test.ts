import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/core/events.js';
import { principal } from '../../support/approvals.js';
import { startSshEnv, type SshEnv } from '../../support/ssh-env.js';

let env: SshEnv;
beforeAll(async () => {
  env = await startSshEnv({
    config: {
      policies: [
        { name: 'review-service-stops', match: { commands: ['systemctl stop', 'shutdown'] }, action: 'review', reviewers: ['dba'], timeout: '2m' },
      ],
      masking: {
        rules: [{ name: 'pii-in-output', groups: ['ci-agents'], detectors: ['email', 'card'], strategy: 'redact' }],
      },
    },
  });
});
afterAll(async () => env?.dispose());

const events = async (subject: string) => (await env.sessionRecords(subject)).map((r) => r.event);

async function pendingApproval(): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const [a] = env.gateway.approvals.list();
    if (a) return a.id;
    if (Date.now() > deadline) throw new Error('no approval request arrived');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('ssh exec under review', () => {
  it('holds a command until a reviewer approves; the agent reads why on stderr, then the command runs', async () => {
    const token = await env.token('dba-bob');
    const run = env.ssh(token, 'web-1', "echo 'systemctl stop' is only text here; sh -c 'systemctl stop --dry-run nginx 2>/dev/null; echo ran'");
    const id = await pendingApproval();
    await env.gateway.approvals.decide(id, principal('dba-alice', ['dba']), { approve: true, reason: 'planned maintenance' });
    const r = await run;
    expect(r.stderr).toContain(`gatehouse: approval required: policy "review-service-stops" holds this command for review`);
    expect(r.stderr).toContain(`approval ${id} granted by dba-alice`);
    expect(r.stdout).toContain('ran\n');
    const ev = await events('dba-bob');
    expect(ev.find((e) => e.type === 'ssh.exec')).toMatchObject({ decision: { action: 'review', policy: 'review-service-stops', approvalId: id } });
    expect(ev.find((e) => e.type === 'approval.decided')).toMatchObject({ decision: 'approved', by: 'reviewer', reviewer: { subject: 'dba-alice' } });
    expect(ev.find((e) => e.type === 'ssh.exit')).toMatchObject({ status: 'ok', exitCode: 0 });
  });

  it('a denial: the command never runs, exit 126', async () => {
    const token = await env.token('dba-bob');
    const before = env.sshd.commands();
    const run = env.ssh(token, 'web-1', 'shutdown -h now');
    const id = await pendingApproval();
    await env.gateway.approvals.decide(id, principal('dba-alice', ['dba']), { approve: false, reason: 'not during business hours' });
    const r = await run;
    expect(r.code).toBe(126);
    expect(r.stderr).toContain(`gatehouse: approval ${id} denied by dba-alice: not during business hours. The command was not run.`);
    expect(env.sshd.commands().slice(before.length)).toBe('');
    expect((await events('dba-bob')).find((e) => e.type === 'ssh.exit')).toMatchObject({ status: 'blocked' });
  });
});

describe('masking of command output', () => {
  // the personal data is made by the command, so it is in its output only (\\100 is '@')
  const script = "printf 'order 1 for ana.silva\\100example.com paid with 4111 %s %s %s\\nno personal data here\\n' 1111 1111 1111; printf 'err: bob\\100example.org\\n' >&2";

  it('masks detector hits in stdout and stderr before they reach the agent and the ledger', async () => {
    const token = await env.token('ci-agent');
    const r = await env.ssh(token, 'web-1', script);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('order 1 for **** paid with ****\nno personal data here\n');
    expect(r.stderr).toBe('err: ****\n');
    const ev = await events('ci-agent');
    const exit = ev.find((e): e is Extract<AuditEvent, { type: 'ssh.exit' }> => e.type === 'ssh.exit')!;
    expect(exit.stdout.sample).toBe(r.stdout);
    expect(exit.stderr.sample).toBe('err: ****\n');
    expect(exit.masked).toEqual({ rules: ['pii-in-output'], lines: 2 });
    expect(JSON.stringify(ev)).not.toMatch(/ana\.silva@|4111 1111|bob@example/);
  });

  it('leaves the output of groups the rule does not cover byte for byte', async () => {
    const token = await env.token('dba-alice');
    const r = await env.ssh(token, 'web-1', script);
    expect(r.stdout).toBe('order 1 for ana.silva@example.com paid with 4111 1111 1111 1111\nno personal data here\n');
  });
});
