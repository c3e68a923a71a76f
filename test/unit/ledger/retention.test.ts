import { mkdtempSync, rmSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { prepared } from '../../../src/ledger/sqlite-statements.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/core/log.js';
import { generateSigningKeys, parsePrivateKey } from '../../../src/ledger/checkpoint.js';
import { Checkpointer } from '../../../src/ledger/checkpointer.js';
import { startRetention } from '../../../src/ledger/retention.js';
import { SqliteLedger } from '../../../src/ledger/sqlite.js';
import { verifyChain } from '../../../src/ledger/verify.js';
import { verifyLedger } from '../../../src/ledger/verify-tree.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-retention-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const DAY_US = 86_400_000_000;

describe('retention', () => {
  it('prunes old payloads as a recorded, signed act; the tree and old checkpoints still verify', async () => {
    const file = join(dir, 'ledger.db');
    const ledger = new SqliteLedger(file);
    const keys = generateSigningKeys();
    const key = parsePrivateKey(keys.privatePem);
    const cp = new Checkpointer(ledger, { key, everyRecords: 1_000_000, everyMs: 3_600_000, witnessFile: null, witnessUrl: null }, silentLogger);
    await cp.start();
    const now = Date.now() * 1000;
    // two old sessions' commands (500 days ago) and one recent
    await ledger.append([
      { sessionId: 'old', time: now - 500 * DAY_US, event: { type: 'pg.query', text: 'SELECT secret FROM payroll' } },
      { sessionId: 'old', time: now - 499 * DAY_US, event: { type: 'pg.query', text: 'DELETE FROM payroll' } },
      { sessionId: 'new', time: now - DAY_US, event: { type: 'pg.query', text: 'SELECT 1 FROM payroll' } },
    ]);
    const rootBefore = ledger.treeHead().root;
    await cp.checkpoint();
    const retention = startRetention(ledger, { text: '400d', ms: 400 * 86_400_000 }, cp, silentLogger);
    expect(await retention.runNow()).toBe(2);
    retention.stop();
    expect(await retention.runNow()).toBe(0); // nothing more to prune
    const old = await ledger.sessionRecords('old');
    expect(old.every((r) => JSON.stringify(r.event) === '{"pruned":true}')).toBe(true);
    expect((await ledger.sessionRecords('new'))[0]!.event).toEqual({ type: 'pg.query', text: 'SELECT 1 FROM payroll' });
    // search no longer finds what was pruned
    expect((await ledger.searchCommands({ text: 'payroll' })).hits.map((h) => h.sessionId)).toEqual(['new']);
    const pruned = await ledger.recordsOfType('ledger.pruned');
    expect(pruned).toHaveLength(1);
    expect(pruned[0]!.event).toMatchObject({ count: 2, upToSeq: 2, retention: '400d' });
    // a checkpoint was signed after the pruning, and the records' place in the tree did not change
    const cps = await ledger.checkpoints();
    expect((cps.at(-1)!.event as { treeSize: number }).treeSize).toBeGreaterThan(pruned[0]!.seq - 1);
    const v = await verifyLedger(ledger, { publicKey: createPublicKey(key), witness: [] });
    expect(v).toMatchObject({ ok: true });
    // the checkpoint signed before the pruning is among those that still verify
    expect(cps.some((c) => (c.event as { rootHash: string }).rootHash === rootBefore)).toBe(true);
    await cp.close();
    await ledger.close();
  });

  it('a payload removed without a retention record is reported; other changes stay impossible', async () => {
    const file = join(dir, 'ledger.db');
    const ledger = new SqliteLedger(file);
    await ledger.append([{ sessionId: 's', time: Date.now() * 1000, event: { type: 'pg.query', text: 'DROP TABLE audit' } }]);
    await ledger.close();
    const db = new Database(file);
    expect(() => prepared(db, "UPDATE records SET payload = '{}' WHERE seq = 1").run()).toThrow(/append-only/);
    expect(() => prepared(db, "UPDATE records SET pruned = 1, payload = '{\"pruned\":true}', hash = 'x' WHERE seq = 1").run()).toThrow(/append-only/);
    prepared(db, "UPDATE records SET pruned = 1, payload = '{\"pruned\":true}' WHERE seq = 1").run();
    db.close();
    const reader = new SqliteLedger(file, { readonly: true });
    expect(await verifyChain(reader)).toMatchObject({ ok: false, badSeq: 1, problem: expect.stringContaining('no retention record covers it') });
    await reader.close();
  });
});
