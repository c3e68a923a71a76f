import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import type { SessionStartEvent } from '../../../src/core/events.js';
import { psql, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';

let env: GatewayEnv;
beforeAll(async () => {
  env = await startEnv({ config: { listeners: { postgres: { host: '127.0.0.1', port: 0, tls: { selfSigned: true }, requireTls: true } } } });
});
afterAll(async () => env?.dispose());

describe('listener TLS', () => {
  it('psql with sslmode=require gets TLS and the session records it', async () => {
    const r = await psql(env, await env.token('ci-agent'), ['-At', '-c', 'SELECT 42'], { sslmode: 'require' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('42');
    const [s] = await env.gateway.ledger.listSessions({ identity: 'ci-agent', limit: 1 });
    const start = (await env.gateway.ledger.sessionRecords(s!.id))[0]!.event as SessionStartEvent;
    expect(start.client.tls).toBe(true);
  });

  it('refuses a plaintext client when requireTls is set, with 28000, and records it', async () => {
    const r = await psql(env, await env.token('ci-agent'), ['-c', 'SELECT 1'], { sslmode: 'disable' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('requires TLS');
    const [s] = await env.gateway.ledger.listSessions({ status: 'denied', limit: 1 });
    expect(s!.reason).toContain('GH_ERR_TLS_REQUIRED');
  });

  it('answers GSSENCRequest with N and goes on', async () => {
    const sock = connect(env.port, '127.0.0.1');
    const answer = await new Promise<Buffer>((resolve, reject) => {
      sock.once('data', resolve);
      sock.once('error', reject);
      const req = Buffer.alloc(8);
      req.writeInt32BE(8, 0);
      req.writeInt32BE(80877104, 4);
      sock.write(req);
    });
    sock.destroy();
    expect(answer.toString()).toBe('N');
  });

  it('refuses plaintext bytes smuggled after SSLRequest (CVE-2021-23214)', async () => {
    const sock = connect(env.port, '127.0.0.1');
    const req = Buffer.alloc(8);
    req.writeInt32BE(8, 0);
    req.writeInt32BE(80877103, 4);
    const smuggled = Buffer.from('Q\0\0\0\x0dSELECT 1\0');
    const got: Buffer[] = [];
    sock.on('data', (d: Buffer) => got.push(d));
    sock.write(Buffer.concat([req, smuggled]));
    await new Promise((r) => sock.once('close', r));
    const all = Buffer.concat(got).toString('latin1');
    expect(all.startsWith('S')).toBe(false);
    expect(all).toContain('unencrypted data after SSLRequest');
  });
});
