import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { runProgram, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';

/**
 * The whole approval loop through the gateway's own wiring: a held statement announces itself on
 * the configured webhook, a reviewer approves it with the real CLI through the gateway's HTTP API,
 * the statement runs, and the webhook hears the decision with the reviewer's identity.
 */

interface Hook {
  event: string;
  approval: { id: string; state: string; requester: { subject: string }; decision: { reviewer: { subject: string } | null } | null };
}

let env: GatewayEnv;
let hookServer: Server;
const hooks: Hook[] = [];
const waiting: Array<{ event: string; resolve: (h: Hook) => void }> = [];

const nextHook = (event: string) => new Promise<Hook>((resolve) => {
  const seen = hooks.find((h) => h.event === event);
  if (seen) {
    hooks.splice(hooks.indexOf(seen), 1);
    resolve(seen);
  } else waiting.push({ event, resolve });
});

beforeAll(async () => {
  hookServer = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      res.end('ok');
      const hook = JSON.parse(body) as Hook;
      const w = waiting.findIndex((x) => x.event === hook.event);
      if (w >= 0) waiting.splice(w, 1)[0]!.resolve(hook);
      else hooks.push(hook);
    });
  });
  await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', () => resolve()));
  const port = (hookServer.address() as { port: number }).port;
  env = await startEnv({
    config: {
      listeners: { postgres: { host: '127.0.0.1', port: 0 }, api: { host: '127.0.0.1', port: 0 } },
      approvals: { webhook: { url: `http://127.0.0.1:${port}/hook`, format: 'json' } },
      policies: [{ name: 'review-customer-writes', match: { tables: ['customers'], statement: ['update'] }, action: 'review', reviewers: ['dba'], timeout: '1m' }],
    },
  });
});
afterAll(async () => {
  await env?.dispose();
  hookServer?.close();
});

describe('approvals through the gateway\'s API and webhook', () => {
  it('webhook announces the request, the CLI approves it through the API, the statement runs, the webhook hears the decision', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: await env.token('ci-agent') });
    c.on('error', () => undefined);
    await c.connect();
    const result = c.query('UPDATE customers SET name = name WHERE id = 1');
    const requested = await nextHook('approval.requested');
    expect(requested.approval).toMatchObject({ state: 'pending', requester: { subject: 'ci-agent' } });

    const api = env.gateway.api!.url;
    const cli = (args: string[], client: string) => env.token(client).then((token) =>
      runProgram(process.execPath, ['dist/cli/main.js', 'approvals', ...args, '--url', api], { env: { ...process.env, GATEHOUSE_TOKEN: token, NO_COLOR: '1' } }));
    const list = await cli(['list'], 'dba-alice');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(requested.approval.id);
    // the requester cannot approve its own statement through the API either
    const self = await cli(['approve', requested.approval.id], 'ci-agent');
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('GH_ERR_APPROVAL_FORBIDDEN');
    const ok = await cli(['approve', requested.approval.id, '--reason', 'looks fine'], 'dba-alice');
    expect(ok.code, ok.stderr).toBe(0);

    expect((await result).rowCount).toBe(1);
    await c.end();
    const decided = await nextHook('approval.decided');
    expect(decided.approval).toMatchObject({ id: requested.approval.id, state: 'approved', decision: { reviewer: { subject: 'dba-alice' } } });
  });
});
