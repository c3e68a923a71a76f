import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { runProgram } from '../../support/gateway-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ssh-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts `gatehouse serve`, returns its ready line, then stops it with SIGTERM. */
async function serveOnce(config: string): Promise<string> {
  const child = spawn(process.execPath, ['dist/cli/main.js', 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout! });
  const [ready] = (await once(lines, 'line')) as [string];
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = await exited;
  expect(code).toBe(0);
  return ready;
}

describe('gatehouse serve with an SSH listener', () => {
  it('generates the host key once (0600, .pub beside it), prints its fingerprint, and keeps it across restarts', async () => {
    if (!existsSync('dist/cli/main.js')) throw new Error('build first: npx tsc -p . (npm test does)');
    const config = join(dir, 'gatehouse.yaml');
    writeFileSync(config, [
      'identity: { issuer: "http://127.0.0.1:9", audience: api://gatehouse }',
      'ledger: { sqlite: ./ledger.db }',
      'listeners: { ssh: { host: 127.0.0.1, port: 0, hostKeyFile: ./keys/ssh_host_key } }',
      'log: { level: silent }',
      '',
    ].join('\n'));
    const first = await serveOnce(config);
    expect(first).toMatch(/^gatehouse ready: ssh 127\.0\.0\.1:\d+ \(host key SHA256:[A-Za-z0-9+/]{43}\), ledger /);
    const key = join(dir, 'keys/ssh_host_key');
    expect(statSync(key).mode & 0o777).toBe(0o600);
    // the .pub is what agents pin; ssh-keygen agrees with the printed fingerprint
    const fp = await runProgram('ssh-keygen', ['-l', '-f', `${key}.pub`]);
    expect(first).toContain(fp.stdout.split(' ')[1]!);
    const second = await serveOnce(config);
    expect(second.match(/SHA256:\S+/)![0]).toBe(first.match(/SHA256:\S+/)![0]);
    expect(readFileSync(`${key}.pub`, 'utf8')).toMatch(/^ssh-ed25519 /);
  });
});
