import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { AuditEvent, PgResultEvent } from '../../../src/core/events.js';
import { readStatementLog } from '../../../src/dev/statement-log.js';
import { cli, psql, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';
import { CORPUS, CORPUS_POLICIES } from './bypass-corpus.js';

/**
 * Guardrails through real clients against a real PostgreSQL: the bypass corpus over the simple
 * and the extended protocol, transaction semantics after a block, and the ledger's account of
 * every decision. The demo tables must be intact afterwards, and the server's own statement log
 * must show that none of the blocked texts ran.
 */

let env: GatewayEnv;
beforeAll(async () => {
  env = await startEnv({ config: { policies: CORPUS_POLICIES } });
});
afterAll(async () => env?.dispose());

type PgError = Error & { code?: string };

async function client(clientId = 'ci-agent'): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'agent', database: 'orders', password: await env.token(clientId) });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function attempt(run: () => Promise<unknown>): Promise<PgError | null> {
  try {
    await run();
    return null;
  } catch (e) {
    return e as PgError;
  }
}

/** A fingerprint of the demo data, read directly from the cluster (not through the gateway). */
async function tablesDigest(): Promise<string> {
  const r = await env.cluster.query(
    `SELECT (SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o) || (SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM customers c) AS d`,
    [],
    'orders',
  );
  return String((r as Array<{ d: string }>)[0]!.d);
}

async function events(): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const r of env.gateway.ledger.scan()) out.push(JSON.parse(r.payload) as AuditEvent);
  return out;
}

describe('the bypass corpus', () => {
  it(`has at least 60 statements, each meeting its expected decision over both protocols, and the tables stay intact`, async () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(60);
    const before = await tablesDigest();
    const c = await client();
    const wrong: string[] = [];
    let n = 0;
    for (const entry of CORPUS) {
      const paths: Array<[string, () => Promise<unknown>]> = [['simple', () => c.query(entry.sql)]];
      if (entry.extended) paths.push(['extended', () => c.query({ name: `corpus-${n++}`, text: entry.sql })]);
      for (const [path, run] of paths) {
        const err = await attempt(run);
        const blockedBy = err?.code === '42501' ? /^blocked by policy "([^"]+)"/.exec(err.message)?.[1] ?? null : null;
        const got = blockedBy ?? 'allow';
        if (got !== entry.expect) wrong.push(`${path}: ${entry.sql} -> ${got} (${err?.code ?? 'ok'} ${err?.message ?? ''}), expected ${entry.expect}`);
        // a block leaves the session usable
        await c.query('ROLLBACK').catch(() => undefined);
        expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      }
    }
    await c.end();
    expect(wrong).toEqual([]);
    expect(await tablesDigest()).toBe(before);

    // the server never saw the blocked texts as statements: only the gateway's stand-in failed there
    const ran = readStatementLog(env.cluster.logFile).filter((s) => s.user === 'orders_app').map((s) => s.text);
    const blockedTexts = new Set(CORPUS.filter((e) => e.expect !== 'allow').map((e) => e.sql));
    expect(ran.filter((t) => blockedTexts.has(t))).toEqual([]);

    // every block is in the ledger with its rule, and its result says blocked
    const all = await events();
    const decided = all.filter((e) => (e.type === 'pg.query' || e.type === 'pg.prepare') && e.decision?.action === 'block');
    for (const entry of CORPUS.filter((e) => e.expect !== 'allow')) {
      const rec = decided.find((e) => (e as { text: string }).text === entry.sql);
      expect(rec, entry.sql).toBeDefined();
      expect((rec as { decision: { policy: string } }).decision.policy).toBe(entry.expect);
    }
    const blockedResults = all.filter((e): e is PgResultEvent => e.type === 'pg.result' && e.status === 'blocked');
    expect(blockedResults.length).toBeGreaterThanOrEqual(CORPUS.filter((e) => e.expect !== 'allow').length);
    expect(blockedResults.every((r) => r.error?.sqlstate === '42501')).toBe(true);
  });
});

describe('a blocked statement', () => {
  it('reaches psql as ERROR 42501 naming the rule and its reason', async () => {
    const r = await psql(env, await env.token('ci-agent'), ['-c', 'DROP TABLE orders']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ERROR:  blocked by policy "no-ddl": DROP orders is not allowed here');
    expect(r.stderr).toContain('The gateway did not run this statement');
  });

  it('inside a transaction block aborts the transaction exactly as a server error does', async () => {
    const c = await client();
    await c.query('BEGIN');
    await c.query("UPDATE orders SET status = 'held' WHERE id = 1");
    const blocked = await attempt(() => c.query('TRUNCATE orders'));
    expect(blocked).toMatchObject({ code: '42501' });
    // the server's own state: commands are refused until the transaction block ends
    expect(await attempt(() => c.query('SELECT 1'))).toMatchObject({ code: '25P02' });
    // and COMMIT of an aborted transaction rolls back
    const commit = await c.query('COMMIT');
    expect(commit.command).toBe('ROLLBACK');
    const status = await c.query('SELECT status FROM orders WHERE id = 1');
    expect(status.rows[0].status).not.toBe('held');
    await c.end();
  });

  it('over the extended protocol fails at Parse, skips the rest of the batch, and the session goes on', async () => {
    const c = await client();
    await c.query('BEGIN');
    const err = await attempt(() => c.query({ text: 'DELETE FROM orders WHERE $1::int IS NOT NULL', values: [1] }));
    expect(err).toMatchObject({ code: '42501' });
    expect(err!.message).toMatch(/^blocked by policy "no-unbounded-writes"/);
    expect(await attempt(() => c.query({ text: 'SELECT $1::int AS v', values: [1] }))).toMatchObject({ code: '25P02' });
    await c.query('ROLLBACK');
    expect((await c.query({ text: 'SELECT $1::int AS v', values: [7] })).rows).toEqual([{ v: 7 }]);
    await c.end();
    const all = await events();
    const rec = all.find((e) => e.type === 'pg.prepare' && e.text === 'DELETE FROM orders WHERE $1::int IS NOT NULL');
    expect(rec).toMatchObject({ decision: { action: 'block', policy: 'no-unbounded-writes' } });
  });

  it('pipelined after allowed statements: those run, the blocked one fails, the next Query runs', async () => {
    const c = await client();
    const results = await Promise.allSettled([
      c.query('SELECT 1 AS a'),
      c.query('DROP TABLE customers'),
      c.query({ text: 'SELECT $1::text AS b', values: ['x'] }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    await c.end();
  });

  it('`gatehouse search --result blocked` finds blocked statements, over both protocols', async () => {
    const r = await cli(env, ['search', '--result', 'blocked', '--limit', '500', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const hits = (JSON.parse(r.stdout) as { hits: Array<{ text: string; type: string; status: string; sqlstate: string }> }).hits;
    expect(hits.length).toBeGreaterThan(60);
    expect(hits.every((h) => h.status === 'blocked' && h.sqlstate === '42501')).toBe(true);
    expect(hits.some((h) => h.type === 'pg.execute')).toBe(true);
    expect(hits.map((h) => h.text)).toContain('TRUNCATE orders');
    const bad = await cli(env, ['search', '--result', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--result must be one of ok, error, blocked');
  });
});
