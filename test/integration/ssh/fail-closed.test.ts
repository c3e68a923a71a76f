import Database from 'better-sqlite3';
import { connect } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshEnv, type SshEnv } from '../../support/ssh-env.js';

let env: SshEnv;
beforeAll(async () => {
  env = await startSshEnv({ config: { listeners: { ssh: { host: '127.0.0.1', port: 0, hostKeyFile: './gateway_host_key', loginTimeout: '500ms' } } } });
});
afterAll(async () => env?.dispose());

describe('ssh fail-closed and bounded', () => {
  it('refuses a command the ledger cannot record: the agent is told, the target never runs it', async () => {
    const token = await env.token('ci-agent');
    expect((await env.ssh(token, 'web-1', 'echo recorded')).stdout).toBe('recorded\n');
    // a real fault in the real store: it cannot append a record holding this command
    const db = new Database(`${env.dir}/ledger.db`);
    db.exec(`CREATE TRIGGER fault BEFORE INSERT ON records WHEN NEW.payload LIKE '%touch /tmp/gatehouse-never%'
             BEGIN SELECT RAISE(ABORT, 'disk full (injected)'); END`);
    db.close();
    const before = env.sshd.commands();
    const r = await env.ssh(token, 'web-1', 'touch /tmp/gatehouse-never');
    expect(r.code).toBe(126);
    expect(r.stderr).toContain('gatehouse: the audit ledger cannot record this command, so it was not run');
    expect(env.sshd.commands().slice(before.length)).toBe('');
  });

  it('closes a connection that does not authenticate within listeners.ssh.loginTimeout', async () => {
    const socket = connect(env.port, '127.0.0.1');
    const [banner] = (await once(socket, 'data')) as [Buffer];
    expect(banner.toString()).toMatch(/^SSH-2\.0-Gatehouse/);
    // nothing more is sent: the gateway ends the connection on its own
    await once(socket, 'close');
    expect(socket.destroyed).toBe(true);
  });
});
