import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'ssh2';
import type { AuditEvent } from '../../../src/core/events.js';
import { renderText } from '../../../src/report/render-text.js';
import { buildSessionReport } from '../../../src/report/session-report.js';
import { runProgram } from '../../support/gateway-fixture.js';
import { freePort } from '../../support/sshd.js';
import { startSshEnv, type SshEnv } from '../../support/ssh-env.js';

let env: SshEnv;
beforeAll(async () => {
  env = await startSshEnv();
});
afterAll(async () => env?.dispose());

async function deniedRecords(): Promise<Array<Extract<AuditEvent, { type: 'auth.denied' }>>> {
  const page = await env.gateway.ledger.listSessions({ status: 'denied', limit: 100 });
  const out = [];
  for (const s of page) for (const r of await env.gateway.ledger.sessionRecords(s.id)) if (r.event.type === 'auth.denied') out.push(r.event);
  return out;
}

/** An ssh2 client logged in through the gateway, for scripted checks. */
function ssh2Client(token: string, username = 'web-1', extra: Record<string, unknown> = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({ host: '127.0.0.1', port: env.port, username, password: token, hostVerifier: () => true, readyTimeout: 20_000, ...extra });
  });
}

describe('ssh refusals, each recorded', () => {
  it('refuses a wrong token and records what it claimed', async () => {
    const token = await env.token('ci-agent');
    const forged = `${token.slice(0, -8)}AAAAAAAA`;
    const r = await env.ssh(forged, 'web-1', 'true');
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('Permission denied');
    const denied = await deniedRecords();
    expect(denied.some((d) => d.protocol === 'ssh' && d.code === 'GH_ERR_TOKEN_SIGNATURE' && d.claimed?.subject === 'ci-agent' && d.connection === 'web-1')).toBe(true);
    expect(env.sshd.commands()).not.toContain('true\n');
  });

  it('refuses an identity whose groups are not mapped, and an unknown connection', async () => {
    const intern = await env.token('intern-bot');
    expect((await env.ssh(intern, 'web-1', 'id')).code).toBe(255);
    const agent = await env.token('ci-agent');
    expect((await env.ssh(agent, 'db-9', 'id')).code).toBe(255);
    expect((await env.ssh(agent, 'web-1+nobody', 'id')).code).toBe(255);
    const denied = await deniedRecords();
    expect(denied).toEqual(expect.arrayContaining([
      expect.objectContaining({ code: 'GH_ERR_ACCESS_DENIED', connection: 'web-1', identity: expect.objectContaining({ subject: 'intern-bot' }) }),
      expect.objectContaining({ code: 'GH_ERR_CONNECTION_UNKNOWN', connection: 'db-9' }),
      expect.objectContaining({ code: 'GH_ERR_ACCESS_DENIED', reason: expect.stringContaining('remote user "nobody"') }),
    ]));
    // the token itself is never stored, only its digest
    const all = JSON.stringify(await Promise.all((await env.gateway.ledger.listSessions({ limit: 100 })).map((s) => env.gateway.ledger.sessionRecords(s.id))));
    expect(all).not.toContain(agent);
    expect(all).not.toContain(intern);
    expect(env.logText()).not.toContain(agent);
  });

  it('refuses a target whose host key is not the pinned one, before logging in to it', async () => {
    const token = await env.token('ci-agent');
    const before = env.sshd.log();
    const r = await env.ssh(token, 'web-1-pinned-wrong', 'id');
    expect(r.code).toBe(255);
    expect(r.stderr).toContain("gatehouse: the target's host key does not match the key pinned for connection \"web-1-pinned-wrong\"");
    const [s] = await env.gateway.ledger.listSessions({ connection: 'web-1-pinned-wrong', limit: 1 });
    expect(s).toMatchObject({ status: 'error', reason: expect.stringContaining('GH_ERR_UPSTREAM_HOST_KEY') });
    expect(s!.reason).toMatch(/presented SHA256:.*pinned SHA256:/);
    // the gateway never offered its key to the impostor
    expect(env.sshd.log().slice(before.length)).not.toContain('Accepted publickey');
  });

  it('refuses port forwarding both ways, and agent forwarding, and records each', async () => {
    const token = await env.token('dba-alice');
    // remote forwarding with the real client: it gives up at once when the gateway refuses
    const listen = await freePort();
    const r = await runProgram('/usr/bin/ssh', [...env.sshArgs('web-1', ['-o', 'ExitOnForwardFailure=yes', '-R', `${listen}:127.0.0.1:22`, '-A']), 'echo forwarded'], { env: env.sshEnv(token) });
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('remote port forwarding failed');
    // local forwarding opens a direct-tcpip channel per connection: ssh2 asks for one
    // (an agent path is needed for ssh2 to ask; the gateway refuses before it would be used)
    const c = await ssh2Client(token, 'web-1', { agent: '/nonexistent/agent.sock', agentForward: true });
    const err = await new Promise<Error | undefined>((resolve) => c.forwardOut('127.0.0.1', 5555, '127.0.0.1', env.sshd.port, (e) => resolve(e)));
    expect(err?.message).toMatch(/Channel open failure/);
    // agent forwarding on an exec: refused, so ssh2 gives up on that exec
    const agentErr = await new Promise<Error | undefined>((resolve) => c.exec('echo with-agent', { agentForward: true } as never, (e) => resolve(e)));
    expect(agentErr?.message).toContain('Unable to request agent forwarding');
    c.end();
    // every session of this identity has ended (its records are all in), then read the refusals
    const refused: string[] = [];
    const deadline = Date.now() + 15_000;
    for (;;) {
      const sessions = await env.gateway.ledger.listSessions({ identity: 'dba-alice', limit: 5 });
      if (sessions.length === 2 && sessions.every((x) => x.endedAt !== null)) {
        for (const x of sessions) for (const rec of await env.gateway.ledger.sessionRecords(x.id)) if (rec.event.type === 'ssh.refused') refused.push(rec.event.what);
        break;
      }
      if (Date.now() > deadline) throw new Error(`sessions did not end: ${JSON.stringify(sessions)}`);
      await new Promise((res) => setTimeout(res, 5));
    }
    expect(refused).toEqual(expect.arrayContaining(['remote-forward', 'port-forward', 'agent-forward']));
  });
});

describe('allowed local forwarding', () => {
  it('tunnels to an allowed destination through the target, recorded with byte counts; others refused', async () => {
    const token = await env.token('dba-bob');
    const c = await ssh2Client(token, 'web-1-tunnel');
    // the destination is the target's own sshd: its banner comes back through the tunnel
    const banner = await new Promise<string>((resolve, reject) => c.forwardOut('127.0.0.1', 6000, '127.0.0.1', env.sshd.port, (e, ch) => {
      if (e) return reject(e);
      ch.once('data', (d: Buffer) => {
        resolve(d.toString());
        ch.end('SSH-2.0-probe\r\n');
      });
    }));
    expect(banner).toMatch(/^SSH-2\.0-OpenSSH/);
    const refused = await new Promise<Error | undefined>((resolve) => c.forwardOut('127.0.0.1', 6001, '127.0.0.1', 5432, (e) => resolve(e)));
    expect(refused?.message).toMatch(/Channel open failure/);
    c.end();
    const records = await env.sessionRecords('dba-bob');
    const ev = records.map((r) => r.event);
    const [summary] = await env.gateway.ledger.listSessions({ identity: 'dba-bob', limit: 1 });
    const report = renderText(buildSessionReport(summary!, records));
    expect(report).toContain(`forward to 127.0.0.1:${env.sshd.port} opened`);
    expect(report).toContain(`forward to 127.0.0.1:${env.sshd.port} closed: 15 bytes out`);
    expect(report).toContain('refused: port-forward');
    expect(ev).toContainEqual({ type: 'ssh.forward', phase: 'open', host: '127.0.0.1', port: env.sshd.port });
    expect(ev).toContainEqual(expect.objectContaining({ type: 'ssh.forward', phase: 'close', host: '127.0.0.1', port: env.sshd.port, bytesIn: expect.any(Number), bytesOut: 15 }));
    expect(ev).toContainEqual(expect.objectContaining({ type: 'ssh.refused', what: 'port-forward', detail: 'local forwarding to 127.0.0.1:5432 is not allowed on this connection' }));
  });
});

describe('exec-only connections', () => {
  it('refuses an interactive shell where allow.shell is false, and records it', async () => {
    const token = await env.token('dba-alice');
    const r = await runProgram('/usr/bin/ssh', ['-tt', ...env.sshArgs('web-1-tunnel')], { env: env.sshEnv(token), input: 'id\n' });
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('shell request failed');
    // (the refusal can come before the target login is done: the session on this connection is the one)
    const ev = (await env.sessionRecords('dba-alice', 'web-1-tunnel')).map((x) => x.event);
    expect(ev).toContainEqual({ type: 'ssh.refused', what: 'shell', detail: expect.stringContaining('allow.shell') });
    expect(ev.some((e) => e.type === 'ssh.shell')).toBe(false);
  });
});
