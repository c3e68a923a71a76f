import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { prepared } from '../../src/ledger/sqlite-statements.js';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordHash } from '../../src/ledger/canonical.js';
import type { LedgerCheckpointEvent } from '../../src/core/events.js';
import { cli, endedSession, psql, runProgram, startEnv, type GatewayEnv } from '../support/gateway-fixture.js';

let env: GatewayEnv;
let sessionId = '';
const main = resolve('dist/cli/main.js');

beforeAll(async () => {
  env = await startEnv({ signing: true });
  const r = await psql(env, await env.token('ci-agent'), ['-c', "SELECT id, item FROM orders WHERE status = 'new'", '-c', "UPDATE orders SET status = 'paid' WHERE id = 2"]);
  expect(r.code, r.stderr).toBe(0);
  sessionId = (await endedSession(env, 'ci-agent')).id;
  // wait for a signed checkpoint that covers the session's last record
  const last = (await env.gateway.ledger.sessionRecords(sessionId)).at(-1)!.seq;
  for (;;) {
    const cps = await env.gateway.ledger.checkpoints();
    if (cps.some((c) => (c.event as LedgerCheckpointEvent).treeSize >= last)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
});
afterAll(async () => env?.dispose());

/** A consistent copy of the live ledger and a config that points at it, for tampering. */
function snapshot(name: string): { db: string; config: string } {
  const db = join(env.dir, `${name}.db`);
  const live = new Database(join(env.dir, 'ledger.db'), { readonly: true });
  live.exec(`VACUUM INTO '${db}'`);
  live.close();
  const raw = parse(readFileSync(env.configFile, 'utf8')) as { ledger: { sqlite: string } };
  raw.ledger.sqlite = `./${name}.db`;
  const config = join(env.dir, `${name}.yaml`);
  writeFileSync(config, stringify(raw));
  return { db, config };
}

const gatehouse = (args: string[]) => runProgram(process.execPath, [main, ...args], { env: { ...process.env, NO_COLOR: '1' } });

describe('signed checkpoints and evidence', () => {
  it('verify checks chain, tree, signatures and the witness copy', async () => {
    const r = await cli(env, ['verify', '--public-key', join(env.dir, 'ledger-signing.pub')]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ledger ok: \d+ records/);
    expect(r.stdout).toMatch(/merkle root [0-9a-f]{64}; [1-9]\d* signed checkpoint\(s\) verified with the given public key/);
    expect(r.stdout).toMatch(/witness .*witness\.jsonl: [1-9]\d* checkpoint\(s\) match/);
  });

  it('an evidence bundle verifies offline in another process with only the public key; one altered byte fails it', async () => {
    const bundle = join(env.dir, 'evidence.json');
    const made = await cli(env, ['evidence', sessionId, '--out', bundle]);
    expect(made.code, made.stderr).toBe(0);
    // the auditor's machine: an empty directory with the bundle and the public key, no config, no database
    const auditor = mkdtempSync(join(tmpdir(), 'gatehouse-auditor-'));
    try {
      copyFileSync(bundle, join(auditor, 'evidence.json'));
      copyFileSync(join(env.dir, 'ledger-signing.pub'), join(auditor, 'gatehouse.pub'));
      const ok = await runProgram(process.execPath, [main, 'verify-evidence', 'evidence.json', '--public-key', 'gatehouse.pub'], { cwd: auditor });
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/^evidence ok: \d+ records/);

      const text = readFileSync(bundle, 'utf8');
      const altered = text.replace("UPDATE orders SET status = 'paid' WHERE id = 2", "UPDATE orders SET status = 'paid' WHERE id = 3");
      expect(altered).not.toBe(text);
      writeFileSync(join(auditor, 'evidence.json'), altered);
      const bad = await runProgram(process.execPath, [main, 'verify-evidence', 'evidence.json', '--public-key', 'gatehouse.pub'], { cwd: auditor });
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain('EVIDENCE INVALID');

      const otherKey = await gatehouse(['keys', 'generate', '--out', auditor]);
      expect(otherKey.code, otherKey.stderr).toBe(0);
      writeFileSync(join(auditor, 'evidence.json'), text);
      const wrongKey = await runProgram(process.execPath, [main, 'verify-evidence', 'evidence.json', '--public-key', 'ledger-signing.pub'], { cwd: auditor });
      expect(wrongKey.code).toBe(1);
      expect(wrongKey.stdout).toMatch(/signed with key [0-9a-f]+, the given public key is/);
    } finally {
      rmSync(auditor, { recursive: true, force: true });
    }
  });

  it('names the rewritten records when the chain was re-hashed end to end', async () => {
    const { db, config } = snapshot('rewritten');
    const d = new Database(db);
    d.exec('DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;');
    const rows = prepared(d, 'SELECT seq, time_us, session_id, payload FROM records ORDER BY seq').all() as Array<{ seq: number; time_us: number; session_id: string; payload: string }>;
    const target = rows.find((r) => r.payload.includes("UPDATE orders SET status = 'paid'"))!;
    let prev = '0'.repeat(64);
    const update = prepared(d, 'UPDATE records SET payload = ?, prev_hash = ?, hash = ? WHERE seq = ?');
    for (const r of rows) {
      const payload = r.seq === target.seq ? r.payload.replace("status = 'paid'", "status = 'void'") : r.payload;
      const hash = recordHash({ seq: r.seq, time: r.time_us, sessionId: r.session_id, payload, prevHash: prev });
      update.run(payload, prev, hash, r.seq);
      prev = hash;
    }
    d.close();
    const r = await gatehouse(['verify', '--config', config, '--public-key', join(env.dir, 'ledger-signing.pub')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/LEDGER BROKEN at record seq \d+: records \d+\.\.\d+ differ from what checkpoint record \d+ signed/);
    const bad = Number(/seq (\d+)/.exec(r.stdout)![1]);
    expect(bad).toBeLessThanOrEqual(target.seq);
  });

  it('detects a truncation back to an older, internally consistent state against the witness copy', async () => {
    const older = snapshot('older');
    // more activity: new records and new signed checkpoints reach the witness file
    const r = await psql(env, await env.token('dba-alice'), ['-c', 'DELETE FROM orders WHERE id = 20']);
    expect(r.code, r.stderr).toBe(0);
    const ended = await endedSession(env, 'dba-alice');
    const size = (await env.gateway.ledger.sessionRecords(ended.id)).at(-1)!.seq;
    for (;;) {
      const w = readFileSync(join(env.dir, 'witness.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { treeSize: number });
      if (w.some((c) => c.treeSize >= size)) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    // the older copy verifies on its own (it is consistent) ...
    const alone = await gatehouse(['verify', '--config', older.config, '--witness', '/dev/null']);
    expect(alone.code, alone.stdout).toBe(0);
    // ... but not against the signed checkpoints held outside
    const vs = await gatehouse(['verify', '--config', older.config, '--witness', join(env.dir, 'witness.jsonl'), '--public-key', join(env.dir, 'ledger-signing.pub')]);
    expect(vs.code).toBe(1);
    expect(vs.stdout).toMatch(/the ledger was truncated: a signed witness checkpoint covers \d+ records, the ledger holds \d+/);
  });
});
