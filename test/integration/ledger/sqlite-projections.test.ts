import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/core/events.js';
import type { NewRecord } from '../../../src/ledger/ledger.js';
import { SqliteLedger } from '../../../src/ledger/sqlite.js';
import { verifyChain } from '../../../src/ledger/verify.js';
import { openRaw, rows } from '../../support/sqlite-raw.js';

/**
 * The SQLite store writes the sessions, commands and full-text projections behind the records
 * (src/ledger/sqlite-projector.ts). What a user relies on: nothing committed is missing from
 * search and session lists in the gateway's own process, and a gateway killed before its
 * projections were written has them filled from the records at its next start.
 */
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-projections-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const start: AuditEvent = {
  type: 'session.start', protocol: 'postgres', connection: 'orders',
  identity: { subject: 'alice', groups: ['ci-agents'], issuer: 'https://idp.example', clientId: 'alice', tokenId: 'jti-1', tokenSha256: 'a'.repeat(64), ciJob: '4711', expiresAt: null },
  authorizedBy: 'ci-agents', client: { address: '127.0.0.1', port: 5000, tls: false, user: 'agent', application: 'psql' },
  upstream: { host: 'db', port: 5432, database: 'orders', user: 'orders_app', tls: false }, parameters: {},
};
const query = (text: string): AuditEvent => ({ type: 'pg.query', text });
const session: NewRecord[] = [
  { sessionId: 's1', time: 1_000, event: start },
  { sessionId: 's1', time: 2_000, event: query('SELECT * FROM invoices') },
  { sessionId: 's1', time: 3_000, event: query('DELETE FROM refunds WHERE id = 7') },
];

function writeScript(file: string, text: string): string {
  writeFileSync(file, text);
  return file;
}
function raw<T>(file: string, f: (db: Database.Database) => T): T {
  const db = openRaw(file, { readonly: true });
  try {
    return f(db);
  } finally {
    db.close();
  }
}
const projectedSeq = (file: string) => raw(file, (db) => Number(rows<Array<{ value: string }>>(db, "SELECT value FROM meta WHERE key = 'projected_seq'")[0]!.value));
const recordCount = (file: string) => raw(file, (db) => rows<Array<{ n: number }>>(db, 'SELECT count(*) AS n FROM records')[0]!.n);

describe('SQLite ledger: projections behind the records', () => {
  it('a reader in the same process sees every record committed before it asked, without waiting for the delay', async () => {
    const file = join(dir, 'ledger.db');
    const l = new SqliteLedger(file);
    await l.append(session);
    // asked at once (the projections are written up to 25 ms later when nobody asks)
    expect(await l.getSession('s1')).toMatchObject({ subject: 'alice', statements: 2 });
    expect((await l.searchCommands({ text: 'refunds' })).hits.map((h) => h.seq)).toEqual([3]);
    await l.close();
    expect(projectedSeq(file)).toBe(3);
  });

  it('a writer killed before its projections were written: the records are there, and the next start projects them', async () => {
    const file = join(dir, 'ledger.db');
    // another process appends one commit and is killed (SIGKILL) as soon as it is durable, before
    // its projections are written
    const module = pathToFileURL(resolve('dist/ledger/sqlite.js')).href;
    const script = `
      const { SqliteLedger } = await import(${JSON.stringify(module)});
      const l = new SqliteLedger(${JSON.stringify(file)});
      await l.append(${JSON.stringify(session)});
      process.kill(process.pid, 'SIGKILL');
    `;
    const child = await new Promise<{ signal: string | null; stderr: string }>((done) => {
      execFile(process.execPath, [writeScript(join(dir, 'writer.mjs'), script)], (err, _stdout, stderr) => done({ signal: err?.signal ?? null, stderr }));
    });
    expect(child.signal, child.stderr).toBe('SIGKILL');
    expect(recordCount(file)).toBe(3);
    expect(projectedSeq(file)).toBe(0);

    // the records verify as they are; a reader in another process sees the projections as the
    // killed writer left them
    const reader = new SqliteLedger(file, { readonly: true });
    expect(await verifyChain(reader)).toMatchObject({ ok: true, records: 3 });
    expect(await reader.getSession('s1')).toBeNull();
    await reader.close();

    // the next start (a writer opening the store) fills them from the records
    const l = new SqliteLedger(file);
    expect(await l.getSession('s1')).toMatchObject({ subject: 'alice', ciJob: '4711', statements: 2 });
    expect((await l.searchCommands({ text: 'invoices' })).hits.map((h) => h.text)).toEqual(['SELECT * FROM invoices']);
    await l.append([{ sessionId: 's1', time: 4_000, event: query('SELECT 1') }]);
    await l.close();
    expect(projectedSeq(file)).toBe(4);
    const again = new SqliteLedger(file, { readonly: true });
    expect(await again.getSession('s1')).toMatchObject({ statements: 3 });
    await again.close();
  });

  it('a store of the previous schema keeps its projections (nothing projected twice)', async () => {
    const file = join(dir, 'ledger.db');
    const l = new SqliteLedger(file);
    await l.append(session);
    await l.close();
    // as schema version 4 left it: every record projected, no projected_seq
    const db = openRaw(file);
    db.exec("DELETE FROM meta WHERE key = 'projected_seq'; UPDATE meta SET value = '4' WHERE key = 'schema_version'");
    db.close();
    const upgraded = new SqliteLedger(file);
    expect(await upgraded.getSession('s1')).toMatchObject({ statements: 2 });
    expect((await upgraded.searchCommands({})).hits).toHaveLength(2);
    await upgraded.close();
    expect(projectedSeq(file)).toBe(3);
  });
});
