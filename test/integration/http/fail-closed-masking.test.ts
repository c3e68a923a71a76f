import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { AuditEvent } from '../../../src/core/events.js';
import { startHttpEnv, type HttpEnv } from '../../support/http-env.js';

let env: HttpEnv;
let agent: string;

beforeAll(async () => {
  env = await startHttpEnv({ config: { masking: { rules: [{ name: 'emails', detectors: ['email'] }] } } });
  agent = await env.token('ci-agent');
});
afterAll(async () => env?.dispose());

describe('HTTP gateway: fail-closed ledger and masked samples', () => {
  it('a request the ledger cannot record: 503, and nothing reaches the upstream', async () => {
    // a real fault in the real store: it cannot append a record holding this path
    const db = new Database(`${env.dir}/ledger.db`);
    db.exec(`CREATE TRIGGER fault BEFORE INSERT ON records WHEN NEW.payload LIKE '%never-recorded%'
             BEGIN SELECT RAISE(ABORT, 'disk full (injected)'); END`);
    db.close();
    const before = env.seen.length;
    const r = await request(`${env.url}/c/api/never-recorded`, { method: 'POST', headers: { authorization: `Bearer ${agent}` }, body: 'payload' });
    expect(r.statusCode).toBe(503);
    expect(await r.body.json()).toMatchObject({ error: { code: 'GH_ERR_LEDGER_UNAVAILABLE' } });
    expect(env.seen.length).toBe(before);
  });

  it('textual samples are masked by detectors (the bytes passed on are not), and the record names the rule', async () => {
    const body = JSON.stringify({ contact: 'jane.doe@example.com' });
    const r = await request(`${env.url}/c/api/contacts`, { method: 'POST', headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' }, body });
    expect(r.statusCode).toBe(200);
    const echoed = await r.body.text();
    expect(env.seen.at(-1)!.bodyBytes).toBe(body.length);
    const rs = await env.sessionRecords('ci-agent', 'api');
    const res = rs.map((x) => x.event).find((e): e is Extract<AuditEvent, { type: 'http.response' }> => e.type === 'http.response')!;
    expect(res.requestBody.sample).not.toContain('jane.doe@example.com');
    expect(res.requestBody.bytes).toBe(body.length);
    expect(res.masked).toEqual({ rules: ['emails'] });
    expect(echoed.length).toBeGreaterThan(0);
  });
});
