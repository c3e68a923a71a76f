import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/core/events.js';
import { endedSession, psql, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';

/**
 * A connection's statementTimeout: the gateway cancels a statement that runs too long, records the
 * cancel first, and the agent gets the server's own 57014; turning the server's statement_timeout
 * off does not help the agent, and short statements are untouched.
 */

let env: GatewayEnv;
beforeAll(async () => {
  env = await startEnv({ connection: { statementTimeout: '1s' } });
});
afterAll(async () => env?.dispose());

describe('statementTimeout on a connection', () => {
  it('cancels a statement that runs too long, even with the server\'s statement_timeout turned off, and records why', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: await env.token('dba-alice') });
    await client.connect();
    try {
      await client.query('SET statement_timeout = 0');
      expect((await client.query('SELECT 1 AS quick')).rows).toEqual([{ quick: 1 }]);
      const err = await client.query('SELECT pg_sleep(30)').then(() => null, (e: { code?: string; message: string }) => e);
      expect(err).toMatchObject({ code: '57014', message: 'canceling statement due to user request' });
      // the session goes on
      expect((await client.query('SELECT 2 AS after')).rows).toEqual([{ after: 2 }]);
    } finally {
      await client.end();
    }
    const s = await endedSession(env, 'dba-alice');
    const events = (await env.gateway.ledger.sessionRecords(s.id)).map((r) => r.event as AuditEvent);
    const sleep = (await env.gateway.ledger.sessionRecords(s.id)).find((r) => r.event.type === 'pg.query' && r.event.text === 'SELECT pg_sleep(30)')!;
    expect(events.find((e) => e.type === 'pg.cancel')).toEqual({
      type: 'pg.cancel', statementSeq: sleep.seq, reason: "statement timeout: ran longer than 1000 ms (the connection's statementTimeout)",
    });
    expect(events.filter((e) => e.type === 'pg.cancel')).toHaveLength(1);
    expect(s.errors).toBe(1);
  });

  it('leaves statements shorter than the limit alone (psql)', async () => {
    const r = await psql(env, await env.token('ci-agent'), ['-At', '-c', 'SELECT pg_sleep(0.2)', '-c', 'SELECT 42']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('42');
  });
});
