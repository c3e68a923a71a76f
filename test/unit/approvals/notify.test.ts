import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApprovalBroker } from '../../../src/approvals/broker.js';
import { WebhookNotifier, type ApprovalWebhookBody } from '../../../src/approvals/notify.js';
import type { SlackMessage } from '../../../src/approvals/slack-message.js';
import type { Logger } from '../../../src/core/log.js';
import { SqliteLedger } from '../../../src/ledger/sqlite.js';
import { input, principal } from '../../support/approvals.js';

/** The webhook against a real local HTTP receiver, fed by a real broker over a real ledger. */

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

const SECRET = 'webhook-secret-0123456789';
const alice = principal('dba-alice', ['dba']);

let dir: string;
let ledger: SqliteLedger;
let server: Server;
let url: string;
let received: Received[];
/** how the receiver answers each POST, in turn (then 200) */
let answers: Array<number | 'hang'>;
let logLines: string[];
let log: Logger;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-webhook-'));
  ledger = new SqliteLedger(join(dir, 'ledger.db'));
  received = [];
  answers = [];
  logLines = [];
  log = pino({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, cb) => (logLines.push(c.toString()), cb()) }));
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const answer = answers.shift() ?? 200;
      if (answer === 'hang') return; // never answers: the sender's timeout must end it
      res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/T000/B000/secretpart`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('WebhookNotifier', () => {
  it('json: requested then decided, in order, signed with HMAC-SHA256 of the exact body', async () => {
    const hook = new WebhookNotifier({ url, format: 'json', secret: SECRET, timeoutMs: 2_000, log, apiUrl: 'https://gh.example:8480' });
    const broker = new ApprovalBroker({ ledger, log, notifier: hook });
    const { approval } = await broker.request(input());
    await broker.decide(approval.id, alice, { approve: true, reason: 'ticket OPS-12', grantMs: 1_800_000 });
    await hook.flush();

    expect(received).toHaveLength(2);
    for (const r of received) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-gatehouse-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`);
    }
    const [req, dec] = received.map((r) => JSON.parse(r.body) as ApprovalWebhookBody);
    expect(req).toMatchObject({
      event: 'approval.requested',
      approval: { id: approval.id, state: 'pending', decision: null, connection: 'orders', policy: 'prod-deletes', text: 'DELETE FROM orders WHERE id = 1', requester: { subject: 'ci-agent' } },
    });
    expect(req!.approval.requestedAtIso).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(Date.parse(req!.approval.expiresAtIso)).toBe(Math.floor(req!.approval.expiresAt / 1000));
    expect(dec).toMatchObject({
      event: 'approval.decided',
      approval: { id: approval.id, state: 'approved', decision: { decision: 'approved', by: 'reviewer', reviewer: { subject: 'dba-alice' }, reason: 'ticket OPS-12', scope: { kind: 'grant' } } },
    });
    expect(dec!.approval.decision!.untilIso).toMatch(/Z$/);
    // tokens never travel: only the token id (jti) and a digest are in the view
    expect(received.map((r) => r.body).join('')).not.toMatch(/eyJ/);
    await broker.close();
  });

  it('slack: a readable message with the statement in a code block and the exact commands; attacker text is escaped', async () => {
    const hook = new WebhookNotifier({ url, format: 'slack', timeoutMs: 2_000, log, apiUrl: 'https://gh.example:8480' });
    const broker = new ApprovalBroker({ ledger, log, notifier: hook });
    const text = "DELETE FROM orders WHERE note = '<!channel> ``` <https://evil.example|click>' \u202e--";
    const { approval } = await broker.request(input({ text }));
    await broker.decide(approval.id, alice, { approve: false, reason: 'no ticket' });
    await hook.flush();

    expect(received).toHaveLength(2);
    expect(received[0]!.headers['x-gatehouse-signature']).toBeUndefined();
    const [req, dec] = received.map((r) => JSON.parse(r.body) as SlackMessage);
    expect(req!.text).toBe(`Approval needed: ci-agent wants to run a statement on orders (policy prod-deletes) — ${approval.id}`);
    const all = JSON.stringify(req!.blocks);
    expect(all).toContain('*Requester*\\nci-agent');
    expect(all).toContain('*Connection*\\norders (postgres)');
    expect(all).toContain('*Policy*\\nprod-deletes');
    expect(all).toContain('deletes on orders need a DBA');
    expect(all).toContain(`gatehouse approvals approve ${approval.id} --url https://gh.example:8480`);
    expect(all).toContain(`gatehouse approvals deny ${approval.id} --url https://gh.example:8480`);
    const code = req!.blocks.map((b) => ('text' in b ? b.text?.text ?? '' : '')).find((t) => t.startsWith('```'))!;
    expect(code).toBe("```DELETE FROM orders WHERE note = '&lt;!channel&gt; ``\u200b` &lt;https://evil.example|click&gt;' \\u{202e}--```");
    expect(all).not.toContain('<!channel>');

    expect(dec!.text).toBe(`Approval ${approval.id} denied by dba-alice`);
    expect(JSON.stringify(dec!.blocks)).toContain('*Why:* no ticket');
    await broker.close();
  });

  it('retries once after a 5xx, not after a 4xx, and gives up on a receiver that does not answer', async () => {
    const hook = new WebhookNotifier({ url, format: 'json', timeoutMs: 300, log, retryDelayMs: 10 });
    const broker = new ApprovalBroker({ ledger, log, notifier: hook });
    answers = [503];
    await broker.request(input());
    await hook.flush();
    expect(received).toHaveLength(2);
    expect(received[0]!.body).toBe(received[1]!.body);

    received = [];
    answers = [400];
    await broker.request(input());
    await hook.flush();
    expect(received).toHaveLength(1);
    expect(logLines.join('')).toContain('HTTP 400');

    received = [];
    answers = ['hang', 'hang'];
    await broker.request(input());
    await hook.flush();
    expect(received).toHaveLength(2);
    const warnings = logLines.filter((l) => l.includes('approval webhook not delivered'));
    expect(warnings).toHaveLength(2);
    // the receiver's path (Slack keeps its secret there) is not logged
    expect(logLines.join('')).not.toContain('secretpart');
    await broker.close();
    await hook.flush();
  });

  it('an unreachable receiver is logged and never reaches the broker', async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    server = createServer().listen(0, '127.0.0.1'); // afterEach closes this one
    const hook = new WebhookNotifier({ url, format: 'json', timeoutMs: 500, log, retryDelayMs: 10 });
    const broker = new ApprovalBroker({ ledger, log, notifier: hook });
    const { approval, outcome } = await broker.request(input());
    await broker.decide(approval.id, alice, { approve: true });
    expect(await outcome).toMatchObject({ decision: 'approved' });
    await hook.flush();
    expect(logLines.filter((l) => l.includes('approval webhook not delivered') && l.includes('ECONNREFUSED'))).toHaveLength(2);
  });
});
