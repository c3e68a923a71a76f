import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';

let env: GatewayEnv;
beforeAll(async () => {
  env = await startEnv({ config: { limits: { maxSessions: 1, handshakeTimeout: '300ms' } } });
});
afterAll(async () => env?.dispose());

describe('connection limits', () => {
  it('refuses connections beyond maxSessions with 53300, and accepts again once one ends', async () => {
    const first = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: await env.token('ci-agent') });
    await first.connect();
    const second = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: await env.token('ci-agent') });
    await expect(second.connect()).rejects.toMatchObject({ code: '53300' });
    await first.end();
    // the slot frees when the first connection's socket closes
    for (;;) {
      const third = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: await env.token('ci-agent') });
      const err = await third.connect().then(() => null, (e: { code?: string }) => e);
      if (err === null) {
        await third.end();
        break;
      }
      expect(err).toMatchObject({ code: '53300' });
    }
  });

  it('ends a login that does not complete within handshakeTimeout', async () => {
    const sock = connect(env.port, '127.0.0.1');
    const got: Buffer[] = [];
    sock.on('data', (d: Buffer) => got.push(d));
    // say nothing: the gateway must give up on its own and say why
    await new Promise((r) => sock.once('close', r));
    const text = Buffer.concat(got).toString('latin1');
    expect(text).toContain('08P01');
    expect(text).toContain('the login did not complete in time');
  });
});
