import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SearchPage } from '../../src/ledger/search.js';
import { canonicalJson, recordHash } from '../../src/ledger/canonical.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, endedSession, psql, startEnv, type GatewayEnv } from '../support/gateway-fixture.js';

let env: GatewayEnv;
let aliceSession = '';
beforeAll(async () => {
  env = await startEnv();
  const ci = await psql(env, await env.token('ci-agent'), ['-c', 'SELECT * FROM orders ORDER BY id', '-c', 'DELETE FROM orders WHERE id = 19']);
  expect(ci.code, ci.stderr).toBe(0);
  await endedSession(env, 'ci-agent');
  const alice = await psql(env, await env.token('dba-alice'), ['-c', "UPDATE customers SET email = 'ada@example.org' WHERE id = 1", '-c', 'SELECT missing_column FROM customers']);
  expect(alice.code).not.toBe(0);
  aliceSession = (await endedSession(env, 'dba-alice')).id;
});
afterAll(async () => env?.dispose());

async function search(args: string[]): Promise<SearchPage> {
  const r = await cli(env, ['search', ...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as SearchPage;
}

describe('search over recorded statements', () => {
  it('finds statements by text, with their session, identity and result', async () => {
    const page = await search(['--text', 'orders AND delete']);
    expect(page.hits).toHaveLength(1);
    expect(page.hits[0]).toMatchObject({ text: 'DELETE FROM orders WHERE id = 19', subject: 'ci-agent', connection: 'orders', tag: 'DELETE 1', rows: 1, ciJob: '4711' });
    const errors = await search(['--text', 'missing_column']);
    expect(errors.hits[0]).toMatchObject({ sessionId: aliceSession, sqlstate: '42703', status: 'error' });
  });

  it('filters by identity, group, CI job and token, newest first', async () => {
    const alice = await search(['--identity', 'dba-alice']);
    expect(alice.hits.map((h) => h.subject)).toEqual(['dba-alice', 'dba-alice']);
    expect(alice.hits[0]!.seq).toBeGreaterThan(alice.hits[1]!.seq);
    expect((await search(['--group', 'staff'])).hits.every((h) => h.subject === 'dba-alice')).toBe(true);
    expect((await search(['--ci-job', '4711'])).hits.map((h) => h.text)).toEqual(['DELETE FROM orders WHERE id = 19', 'SELECT * FROM orders ORDER BY id']);
    const [s] = await env.gateway.ledger.listSessions({ identity: 'ci-agent', limit: 1 });
    expect((await search(['--token', s!.tokenId!])).hits).toHaveLength(2);
    expect((await search(['--token', s!.tokenSha256!])).hits).toHaveLength(2);
    expect((await search(['--identity', 'nobody'])).hits).toEqual([]);
  });

  it('pages with a cursor', async () => {
    const first = await search(['--limit', '3']);
    expect(first.hits).toHaveLength(3);
    expect(first.next).toBe(first.hits[2]!.seq);
    const second = await search(['--limit', '3', '--cursor', String(first.next)]);
    expect(second.hits.length).toBeGreaterThan(0);
    expect(second.hits[0]!.seq).toBeLessThan(first.hits[2]!.seq);
  });

  it('sessions --text finds sessions by what they ran; a bad query is a clear usage error', async () => {
    const r = await cli(env, ['sessions', '--text', 'customers AND email', '--json']);
    expect(JSON.parse(r.stdout).map((s: { id: string }) => s.id)).toEqual([aliceSession]);
    const bad = await cli(env, ['search', '--text', 'orders AND']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a valid search');
    const table = await cli(env, ['search', '--text', 'delete']);
    expect(table.stdout).toMatch(/DELETE 1\s+DELETE FROM orders WHERE id = 19/);
  });
});

describe('export for a SIEM', () => {
  it('streams every record as a JSON line that re-checks against its hash', async () => {
    const r = await cli(env, ['export']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as {
      seq: number; type: string; hash: string; prevHash: string; time: string; timeUs: number; sessionId: string; event: unknown;
    });
    for (const l of lines) {
      expect(recordHash({ seq: l.seq, time: l.timeUs, sessionId: l.sessionId, payload: canonicalJson(l.event), prevHash: l.prevHash })).toBe(l.hash);
    }
    expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: lines.length }, (_, i) => i + 1));
    expect(lines.length).toBe((await env.gateway.ledger.head()).seq);
    expect(lines[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    const future = await cli(env, ['export', '--since', '2999-01-01T00:00:00Z']);
    expect(future.stdout).toBe('');
  });

  it('--follow streams new records until stopped', async () => {
    const file = join(env.dir, 'siem.jsonl');
    const child = spawn(process.execPath, ['dist/cli/main.js', 'export', '--follow', '--poll-ms', '50', '--out', file, '--config', env.configFile], { stdio: 'ignore' });
    const r = await psql(env, await env.token('ci-agent'), ['-c', "SELECT 'followed' AS marker"]);
    expect(r.code, r.stderr).toBe(0);
    const deadline = Date.now() + 15_000;
    while (!(existsSync(file) && readFileSync(file, 'utf8').includes('followed'))) {
      if (Date.now() > deadline) throw new Error('the followed record never reached the export file');
      await new Promise((res) => setTimeout(res, 20));
    }
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
  });
});
