import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { loadConfigText } from '../../../src/core/config.js';
import type { AuditEvent } from '../../../src/core/events.js';
import type { LedgerRecord } from '../../../src/ledger/ledger.js';
import { startGateway } from '../../../src/server.js';
import { patternChunks, startHttpEnv, type HttpEnv } from '../../support/http-env.js';

let env: HttpEnv;
let agent: string;

beforeAll(async () => {
  env = await startHttpEnv();
  agent = await env.token('ci-agent');
});
afterAll(async () => env?.dispose());

const response = (rs: LedgerRecord[]) => rs.map((r) => r.event).find((e): e is Extract<AuditEvent, { type: 'http.response' }> => e.type === 'http.response')!;

const MB = 1024 * 1024;

describe('HTTP gateway: streaming', () => {
  it('streams a 50 MB chunked upload; the upstream, the ledger and the sender agree on its digest', async () => {
    const sent = createHash('sha256');
    const body = Readable.from((function* () {
      for (const c of patternChunks(50 * MB)) {
        sent.update(c);
        yield c;
      }
    })());
    const r = await request(`${env.url}/c/api/upload`, {
      method: 'PUT', headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/octet-stream' }, body,
    });
    expect(r.statusCode).toBe(200);
    const digest = sent.digest('hex');
    const j = (await r.body.json()) as { bodyBytes: number; bodySha256: string; headers: Record<string, string> };
    expect(j.bodyBytes).toBe(50 * MB);
    expect(j.bodySha256).toBe(digest);
    expect(j.headers['transfer-encoding']).toBe('chunked');
    const rec = response(await env.sessionRecords('ci-agent', 'api'));
    expect(rec.requestBody).toEqual({ bytes: 50 * MB, sha256: digest, sample: '', truncated: true });
  });

  it('streams a 64 MB download to curl; the ledger\'s digest is that of the bytes curl received', async () => {
    const out = join(env.dir, 'download.bin');
    const r = await env.curl(['-o', out, '-w', '%{http_code} %{size_download}', '-H', `Authorization: Bearer ${agent}`, `${env.url}/c/api/download?bytes=${64 * MB}`]);
    expect(r.stdout).toBe(`200 ${64 * MB}`);
    const got = createHash('sha256');
    for await (const c of (await import('node:fs')).createReadStream(out)) got.update(c as Buffer);
    const rec = response(await env.sessionRecords('ci-agent', 'api'));
    expect(rec).toMatchObject({ status: 'ok', statusCode: 200, responseBody: { bytes: 64 * MB, sha256: got.digest('hex'), sample: '' } });
  });

  it('curl -T (Expect: 100-continue) uploads a file through the gateway', async () => {
    const file = join(env.dir, 'upload.bin');
    const { createWriteStream } = await import('node:fs');
    const w = createWriteStream(file);
    const sent = createHash('sha256');
    for (const c of patternChunks(8 * MB)) {
      sent.update(c);
      w.write(c);
    }
    await new Promise<void>((resolve) => w.end(() => resolve()));
    const r = await env.curl(['-T', file, '-H', `Authorization: Bearer ${agent}`, `${env.url}/c/api/files/upload.bin`]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { bodyBytes: number; bodySha256: string; headers: Record<string, string> };
    expect(j).toMatchObject({ bodyBytes: 8 * MB, bodySha256: sent.digest('hex') });
    expect(j.headers.expect).toBeUndefined();
    expect(j.headers['content-length']).toBe(String(8 * MB));
  });

  it('a textual upload keeps a sample capped at recording.maxStreamBytes', async () => {
    const text = 'line of text\n'.repeat(10_000);
    const r2 = await request(`${env.url}/c/api/notes`, { method: 'POST', headers: { authorization: `Bearer ${agent}`, 'content-type': 'text/plain' }, body: text });
    expect(r2.statusCode).toBe(200);
    await r2.body.dump();
    const rec = response(await env.sessionRecords('ci-agent', 'api'));
    const max = env.loaded.config.recording.maxStreamBytes;
    expect(rec.requestBody.bytes).toBe(text.length);
    expect(rec.requestBody.sha256).toBe(createHash('sha256').update(text).digest('hex'));
    expect(rec.requestBody.sample).toBe(text.slice(0, max));
    expect(rec.requestBody.truncated).toBe(true);
  });
});

describe('HTTP gateway: upstream failures', () => {
  it('an upstream that does not answer within the timeout: 504, recorded as an error', async () => {
    const r = await request(`${env.url}/c/slow-api/slow`, { headers: { authorization: `Bearer ${agent}` } });
    expect(r.statusCode).toBe(504);
    expect(await r.body.json()).toMatchObject({ error: { code: 'GH_ERR_UPSTREAM_UNAVAILABLE', message: 'the upstream of connection "slow-api" did not answer within 300 ms' } });
    const rs = await env.sessionRecords('ci-agent', 'slow-api');
    expect(response(rs)).toMatchObject({ status: 'error', statusCode: null, error: expect.stringContaining('UND_ERR_HEADERS_TIMEOUT') });
    expect(rs.at(-1)!.event).toMatchObject({ type: 'session.end', status: 'error' });
  });

  it('an unreachable upstream: 502, recorded; the error names no credential', async () => {
    const r = await request(`${env.url}/c/dead-api/x`, { headers: { authorization: `Bearer ${agent}` } });
    expect(r.statusCode).toBe(502);
    const text = await r.body.text();
    expect(JSON.parse(text)).toMatchObject({ error: { code: 'GH_ERR_UPSTREAM_UNAVAILABLE' } });
    expect(text).not.toContain('127.0.0.1');
    expect(response(await env.sessionRecords('ci-agent', 'dead-api'))).toMatchObject({ status: 'error', statusCode: null, error: expect.stringContaining('ECONNREFUSED') });
  });

  it('an agent that leaves while its request waits for review cancels the approval', async () => {
    const ac = new AbortController();
    const pending = request(`${env.url}/c/api/deploy/canary`, { method: 'POST', headers: { authorization: `Bearer ${agent}` }, body: 'x', signal: ac.signal }).catch((e: unknown) => e);
    let id: string | undefined;
    for (let i = 0; i < 400 && !id; i++) {
      id = env.gateway.approvals.list().find((a) => a.state === 'pending')?.id;
      if (!id) await new Promise((r) => setTimeout(r, 10));
    }
    expect(id).toBeDefined();
    ac.abort();
    await pending;
    const rs = await env.sessionRecords('ci-agent', 'api');
    expect(rs.map((x) => x.event)).toContainEqual(expect.objectContaining({ type: 'approval.decided', approvalId: id, by: 'cancelled', decision: 'denied' }));
    expect(response(rs)).toMatchObject({ status: 'interrupted' });
    expect(env.seen.some((s) => s.url === '/api/deploy/canary')).toBe(false);
  });
});

describe('HTTP listener configuration', () => {
  it('refuses to listen without TLS off loopback', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-http-cfg-'));
    try {
      const loaded = loadConfigText(JSON.stringify({
        identity: { issuer: env.idp.issuer, audience: 'api://gatehouse' }, ledger: { sqlite: join(dir, 'ledger.db') },
        listeners: { http: { host: '0.0.0.0', port: 0 } }, log: { level: 'silent' },
      }), join(dir, 'gatehouse.yaml'), {});
      await expect(startGateway(loaded, pino({ level: 'silent' }))).rejects.toMatchObject({ code: 'GH_ERR_CONFIG_INVALID', message: expect.stringContaining('listeners.http.tls') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves HTTPS with listeners.http.tls (selfSigned)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-http-tls-'));
    const loaded = loadConfigText(JSON.stringify({
      identity: { issuer: env.idp.issuer, audience: 'api://gatehouse' }, ledger: { sqlite: join(dir, 'ledger.db') },
      listeners: { http: { host: '127.0.0.1', port: 0, tls: { selfSigned: true } } },
      connections: [{ name: 'api', type: 'http', url: `http://127.0.0.1:${env.upstreamPort}/api`, groups: ['ci-agents'] }], log: { level: 'silent' },
    }), join(dir, 'gatehouse.yaml'), {});
    const gw = await startGateway(loaded, pino({ level: 'silent' }));
    try {
      expect(gw.http!.tls).toBe(true);
      const r = await env.curl(['-k', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${agent}`, `https://127.0.0.1:${gw.http!.address.port}/c/api/tls-check`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.split('\n').pop()).toBe('200');
    } finally {
      await gw.close(1_000);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
