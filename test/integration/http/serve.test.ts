import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-http-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gatehouse serve with an HTTP listener', () => {
  it('names the listener in the ready line and drains on SIGTERM', async () => {
    if (!existsSync('dist/cli/main.js')) throw new Error('build first: npx tsc -p . (npm test does)');
    const config = join(dir, 'gatehouse.yaml');
    writeFileSync(config, [
      'identity: { issuer: "http://127.0.0.1:9", audience: api://gatehouse }',
      'ledger: { sqlite: ./ledger.db }',
      'listeners: { http: { host: 127.0.0.1, port: 0 } }',
      'connections: [{ name: api, type: http, url: "http://127.0.0.1:9/api", groups: [ci-agents] }]',
      'log: { level: silent }',
      '',
    ].join('\n'));
    const child = spawn(process.execPath, ['dist/cli/main.js', 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    const [ready] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
    expect(ready).toMatch(/^gatehouse ready: http http:\/\/127\.0\.0\.1:\d+, ledger /);
  });
});
