import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/core/events.js';
import type { NewRecord } from '../../../src/ledger/ledger.js';
import { AheadLog, aheadFile, aheadFiles } from '../../../src/ledger/sqlite-ahead.js';
import { SqliteLedger } from '../../../src/ledger/sqlite.js';
import { verifyChain } from '../../../src/ledger/verify.js';
import { openRaw, rows } from '../../support/sqlite-raw.js';

/**
 * ledger.durability process with SQLite: a statement waits only for its record's bytes to be
 * written to the ahead log (`<ledger>.ahead`); SQLite gets them behind. What a user relies on:
 * every append that resolved is in the ledger after the gateway is killed and started again, the
 * chain verifies, and a broken tail of the ahead log (a host crash mid-write) is not taken in.
 */
let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-ahead-'));
  file = join(dir, 'ledger.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const query = (text: string): AuditEvent => ({ type: 'pg.query', text });
const records = (n: number, from = 0): NewRecord[] =>
  Array.from({ length: n }, (_, i) => ({ sessionId: 's1', time: 1_000 + from + i, event: query(`SELECT ${from + i}`) }));

/** SQLite's own rows, read past the gateway's code */
function sqliteSeqs(): number[] {
  const db = openRaw(file, { readonly: true });
  try {
    return rows<Array<{ seq: number }>>(db, 'SELECT seq FROM records ORDER BY seq').map((r) => r.seq);
  } finally {
    db.close();
  }
}

/** Removes records from SQLite behind the gateway's back (as if it had been killed before inserting them). */
function dropFromSqlite(fromSeq: number): void {
  const db = openRaw(file);
  try {
    db.exec(`DROP TRIGGER records_no_delete; DELETE FROM records WHERE seq >= ${fromSeq}`);
  } finally {
    db.close();
  }
}

async function texts(l: SqliteLedger): Promise<string[]> {
  return (await l.sessionRecords('s1')).map((r) => (r.event as { text: string }).text);
}

describe('SQLite ledger, durability process: records written ahead of SQLite', () => {
  it('a writer killed right after its appends resolved loses none of them', async () => {
    const module = pathToFileURL(resolve('dist/ledger/sqlite.js')).href;
    writeFileSync(join(dir, 'writer.mjs'), `
      const { SqliteLedger } = await import(${JSON.stringify(module)});
      const l = new SqliteLedger(${JSON.stringify(file)}, { durability: 'process' });
      const all = ${JSON.stringify(records(200))};
      // 200 appends at once (group-committed), then killed the moment the last one resolved
      await Promise.all(all.map((r) => l.append([r])));
      process.kill(process.pid, 'SIGKILL');
    `);
    const signal = await new Promise<string | null>((done) => execFile(process.execPath, [join(dir, 'writer.mjs')], (err) => done(err?.signal ?? null)));
    expect(signal).toBe('SIGKILL');
    expect(readFileSync(aheadFile(file), 'utf8').split('\n').filter(Boolean)).toHaveLength(200);

    const l = new SqliteLedger(file, { durability: 'process' });
    expect(await verifyChain(l)).toMatchObject({ ok: true, records: 200 });
    expect(await texts(l)).toEqual(records(200).map((r) => (r.event as { text: string }).text));
    expect(await l.getSession('s1')).toBeNull(); // no session.start in this test: none to project
    expect((await l.searchCommands({ text: '199' })).hits).toHaveLength(1);
    await l.close();
    // taken in at the start: the ahead log is empty again
    expect(statSync(aheadFile(file)).size).toBe(0);
  });

  it('records SQLite did not get are inserted from the ahead log at the next start, in either mode', async () => {
    const l = new SqliteLedger(file, { durability: 'process' });
    await l.append(records(5));
    await l.close();
    expect(sqliteSeqs()).toEqual([1, 2, 3, 4, 5]);
    dropFromSqlite(3);
    expect(sqliteSeqs()).toEqual([1, 2]);

    const strict = new SqliteLedger(file); // the operator switched to strict: still taken in
    expect(await verifyChain(strict)).toMatchObject({ ok: true, records: 5 });
    expect(await texts(strict)).toEqual(['SELECT 0', 'SELECT 1', 'SELECT 2', 'SELECT 3', 'SELECT 4']);
    await strict.append(records(1, 5));
    await strict.close();
    expect(sqliteSeqs()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a torn last line, or a line that does not continue the chain, is not taken in, nor anything after it', async () => {
    const l = new SqliteLedger(file, { durability: 'process' });
    await l.append(records(4));
    await l.close();
    dropFromSqlite(2);
    // seq 3's line altered (its hash no longer matches its content); seq 4 after it chains to the original
    const lines = readFileSync(aheadFile(file), 'utf8').split('\n').filter(Boolean);
    lines[2] = lines[2]!.replace('SELECT 2', 'SELECT 9');
    writeFileSync(aheadFile(file), `${lines.join('\n')}\n`);
    appendFileSync(aheadFile(file), '5\t1005\t"s1"\tpg.query\tabc'); // cut short
    const again = new SqliteLedger(file, { durability: 'process' });
    expect(await texts(again)).toEqual(['SELECT 0', 'SELECT 1']);
    expect(await verifyChain(again)).toMatchObject({ ok: true, records: 2 });
    // and the log goes on from there
    expect(await again.append(records(1, 10))).toEqual([3]);
    await again.close();
    // emptied at the start (the broken tail dropped), then the new record written
    expect(readFileSync(aheadFile(file), 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')[0])).toEqual(['3']);
  });

  it('fail closed: once SQLite refuses a batch, the next append is refused until SQLite takes the queue again', async () => {
    const l = new SqliteLedger(file, { durability: 'process' });
    await l.append(records(1));
    const fault = (sql: string) => {
      const db = openRaw(file);
      db.exec(sql);
      db.close();
    };
    fault("CREATE TRIGGER fault BEFORE INSERT ON records BEGIN SELECT RAISE(ABORT, 'disk full (injected)'); END");
    // written ahead, so it counts as written (the OS has it); SQLite refuses it behind
    expect(await l.append(records(1, 1))).toEqual([2]);
    await l.head(); // a reader waits for the insert behind: here, until it failed
    // the next one waits for the queue, which SQLite still refuses: nothing written, refused
    await expect(l.append(records(1, 2))).rejects.toMatchObject({ code: 'GH_ERR_LEDGER_UNAVAILABLE' });
    fault('DROP TRIGGER fault');
    // the store is back: the queue goes in first, then the new record (seq 3: the refused one has none)
    expect(await l.append(records(1, 3))).toEqual([3]);
    expect(await texts(l)).toEqual(['SELECT 0', 'SELECT 1', 'SELECT 3']);
    expect(await verifyChain(l)).toMatchObject({ ok: true, records: 3 });
    await l.close();
  });

  it('under steady load the ahead log stays small: two files used in turn, each emptied once SQLite has its last record', () => {
    // SQLite always 5 batches behind, never seen to hold everything written (as under steady load)
    const log = new AheadLog(file, 4096);
    const [a, b] = aheadFiles(file);
    const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
    let largest = 0;
    let written = 0;
    for (let seq = 1; seq <= 3000; seq++) {
      const payload = JSON.stringify({ text: `SELECT ${seq}`, type: 'pg.query' });
      log.write([{ seq, time: seq, sessionId: 's1', event: query(''), payload, prevHash: 'p'.repeat(64), hash: 'h'.repeat(64) }]);
      written += 160 + payload.length;
      if (seq > 5) log.inserted(seq - 5, false);
      largest = Math.max(largest, size(a) + size(b));
    }
    log.close();
    expect(written).toBeGreaterThan(100 * 4096);
    // at most one full file waiting for SQLite, the one written to, and the lag
    expect(largest).toBeLessThan(3 * 4096);
  });

  it('a ledger under load: records go through both files, and once SQLite has them all the log is small', async () => {
    const l = new SqliteLedger(file, { durability: 'process', aheadRotateBytes: 4096 });
    const [a, b] = aheadFiles(file);
    const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);
    let usedSecond = false;
    // about 10,000 records a second (a busy gateway), each append waiting only for the ahead log
    for (let i = 0; i < 3000; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => l.append(records(1, i + j))));
      await new Promise((r) => setTimeout(r, 1));
      usedSecond ||= size(b) > 0;
      // whole lines only: a write after emptying a file must land at its start, not past a hole
      for (const f of [a, b]) if (existsSync(f)) expect(readFileSync(f).includes(0)).toBe(false);
    }
    expect(usedSecond).toBe(true);
    await l.head(); // waits until SQLite has every record
    expect(size(a) + size(b)).toBeLessThan(4096);
    await l.close();
    const again = new SqliteLedger(file, { durability: 'process' });
    expect(await verifyChain(again)).toMatchObject({ ok: true, records: 3000 });
    await again.close();
  });

  it('a writer killed while its ahead log spans both files loses nothing', async () => {
    const module = pathToFileURL(resolve('dist/ledger/sqlite.js')).href;
    writeFileSync(join(dir, 'writer.mjs'), `
      const { SqliteLedger } = await import(${JSON.stringify(module)});
      const l = new SqliteLedger(${JSON.stringify(file)}, { durability: 'process', aheadRotateBytes: 2048 });
      const all = ${JSON.stringify(records(400))};
      for (let i = 0; i < all.length; i += 40) await Promise.all(all.slice(i, i + 40).map((r) => l.append([r])));
      process.kill(process.pid, 'SIGKILL');
    `);
    const signal = await new Promise<string | null>((done) => execFile(process.execPath, [join(dir, 'writer.mjs')], (err) => done(err?.signal ?? null)));
    expect(signal).toBe('SIGKILL');
    const l = new SqliteLedger(file, { durability: 'process' });
    expect(await verifyChain(l)).toMatchObject({ ok: true, records: 400 });
    expect((await texts(l)).at(-1)).toBe('SELECT 399');
    await l.close();
  });

  it('retention prunes in one SQLite commit with the record that says so, not through the ahead log', async () => {
    const l = new SqliteLedger(file, { durability: 'process' });
    await l.append(records(3));
    expect(await l.prune(1_002, '1d')).toBe(2); // the records at 1,000 and 1,001 µs
    // as soon as prune() resolved, SQLite itself holds the pruning and its record
    const db = openRaw(file, { readonly: true });
    const stored = rows<unknown[]>(db, 'SELECT seq, type, pruned FROM records ORDER BY seq');
    db.close();
    expect(stored).toEqual([
      { seq: 1, type: 'pg.query', pruned: 1 }, { seq: 2, type: 'pg.query', pruned: 1 },
      { seq: 3, type: 'pg.query', pruned: 0 }, { seq: 4, type: 'ledger.pruned', pruned: 0 },
    ]);
    expect(readFileSync(aheadFile(file), 'utf8')).not.toContain('ledger.pruned');
    expect(await verifyChain(l)).toMatchObject({ ok: true, records: 4 });
    await l.close();
  });

  it('strict mode writes no ahead log', async () => {
    const l = new SqliteLedger(file);
    await l.append(records(3));
    await l.close();
    expect(existsSync(aheadFile(file))).toBe(false);
  });
});
