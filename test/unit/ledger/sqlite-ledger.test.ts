import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent, IdentityRecord } from '../../../src/core/events.js';
import { GatehouseError } from '../../../src/core/errors.js';
import type { NewRecord } from '../../../src/ledger/ledger.js';
import { SqliteLedger } from '../../../src/ledger/sqlite.js';
import { verifyChain } from '../../../src/ledger/verify.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-ledger-'));
  file = join(dir, 'ledger.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const identity = (subject: string, ciJob: string | null = null): IdentityRecord => ({
  subject, groups: ['ci-agents'], issuer: 'https://idp.example', clientId: subject, tokenId: `jti-${subject}`,
  tokenSha256: 'a'.repeat(64), ciJob, expiresAt: null,
});
const client = { address: '127.0.0.1', port: 5000, tls: false, user: 'agent', application: 'psql' };

function start(subject: string, ciJob: string | null = null): AuditEvent {
  return {
    type: 'session.start', protocol: 'postgres', connection: 'orders', identity: identity(subject, ciJob), authorizedBy: 'ci-agents', client,
    upstream: { host: 'db', port: 5432, database: 'orders', user: 'orders_app', tls: false }, parameters: {},
  };
}
const query = (text: string): AuditEvent => ({ type: 'pg.query', text });
const result = (statementSeq: number, error = false): AuditEvent => ({
  type: 'pg.result', statementSeq, index: 0, status: error ? 'error' : 'ok', tag: error ? null : 'SELECT 1', rows: error ? null : 1,
  error: error ? { sqlstate: '22012', severity: 'ERROR', message: 'division by zero' } : null, durationUs: 10, bytes: 20,
  sha256: 'b'.repeat(64), columns: ['x'], sample: [['1']], copy: null,
});
const end: AuditEvent = { type: 'session.end', status: 'ok', reason: 'client terminated the session', statements: 2, errors: 1, durationUs: 1000 };
const rec = (sessionId: string, time: number, event: AuditEvent): NewRecord => ({ sessionId, time, event });

describe('SQLite ledger', () => {
  it('appends in order, indexes sessions, and verifies', async () => {
    const l = new SqliteLedger(file);
    const [s1] = await l.append([rec('s1', 1_000, start('alice', '4711'))]);
    const [q1] = await l.append([rec('s1', 2_000, query('SELECT 1'))]);
    const [q2] = await l.append([rec('s1', 3_000, query('SELECT 1/0'))]);
    await l.append([rec('s1', 4_000, result(q1!)), rec('s1', 5_000, result(q2!, true)), rec('s1', 6_000, end)]);
    await l.append([rec('s2', 7_000, { type: 'auth.denied', protocol: 'postgres', connection: 'orders', code: 'GH_ERR_ACCESS_DENIED', reason: 'no', identity: identity('bob'), claimed: null, client })]);
    expect([s1, q1, q2]).toEqual([1, 2, 3]);
    const s = await l.getSession('s1');
    expect(s).toMatchObject({ status: 'ok', subject: 'alice', ciJob: '4711', statements: 2, errors: 1, startedAt: 1_000, endedAt: 6_000 });
    expect((await l.listSessions({})).map((x) => x.id)).toEqual(['s2', 's1']);
    expect((await l.listSessions({ status: 'denied' })).map((x) => x.id)).toEqual(['s2']);
    expect((await l.listSessions({ identity: 'alice' })).map((x) => x.id)).toEqual(['s1']);
    expect((await l.listSessions({ ciJob: '4711' })).map((x) => x.id)).toEqual(['s1']);
    expect((await l.listSessions({ since: 6_500 })).map((x) => x.id)).toEqual(['s2']);
    expect((await l.listSessions({ until: 6_500 })).map((x) => x.id)).toEqual(['s1']);
    expect((await l.sessionRecords('s1')).map((r) => r.type)).toEqual(['session.start', 'pg.query', 'pg.query', 'pg.result', 'pg.result', 'session.end']);
    const v = await verifyChain(l);
    expect(v).toMatchObject({ ok: true, records: 7, headSeq: 7 });
    expect(v.ok && v.headHash).toBe((await l.head()).hash);
    await l.close();
  });

  it('group-commits concurrent appends without losing or reordering any', async () => {
    const l = new SqliteLedger(file);
    const seqs = await Promise.all(Array.from({ length: 50 }, (_, i) => l.append([rec(`s${i % 5}`, i, query(`SELECT ${i}`))])));
    expect(seqs.flat()).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await verifyChain(l)).toMatchObject({ ok: true, records: 50 });
    await l.close();
    const again = new SqliteLedger(file);
    await again.append([rec('s9', 99, query('SELECT after reopen'))]);
    expect(await verifyChain(again)).toMatchObject({ ok: true, records: 51 });
    await again.close();
  });

  it('refuses UPDATE and DELETE of records through SQL', async () => {
    const l = new SqliteLedger(file);
    await l.append([rec('s1', 1, query('SELECT 1'))]);
    await l.close();
    const db = new Database(file);
    expect(() => db.prepare("UPDATE records SET payload = '{}'").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM records').run()).toThrow(/append-only/);
    db.close();
  });

  describe('tampering is found, naming the first bad record', () => {
    async function tamper(sql: string): Promise<Awaited<ReturnType<typeof verifyChain>>> {
      const l = new SqliteLedger(file);
      for (let i = 1; i <= 6; i++) await l.append([rec('s1', i, query(`SELECT ${i}`))]);
      await l.close();
      const db = new Database(file);
      db.exec('DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;');
      db.exec(sql);
      db.close();
      const reader = new SqliteLedger(file, { readonly: true });
      const v = await verifyChain(reader);
      await reader.close();
      return v;
    }

    it('an edited payload', async () => {
      expect(await tamper("UPDATE records SET payload = replace(payload, 'SELECT 3', 'SELECT 33') WHERE seq = 3")).toMatchObject({ ok: false, badSeq: 3 });
    });
    it('a deleted record', async () => {
      expect(await tamper('DELETE FROM records WHERE seq = 4')).toMatchObject({ ok: false, badSeq: 4 });
    });
    it('two records swapped', async () => {
      const v = await tamper(`UPDATE records SET payload = CASE seq WHEN 2 THEN (SELECT payload FROM records WHERE seq = 5)
        ELSE (SELECT payload FROM records WHERE seq = 2) END WHERE seq IN (2, 5)`);
      expect(v).toMatchObject({ ok: false, badSeq: 2 });
    });
  });

  it('a missing ledger gives a clear error to operator commands', () => {
    let err: unknown;
    try {
      new SqliteLedger(join(dir, 'nope.db'), { readonly: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe('GH_ERR_LEDGER_UNAVAILABLE');
    expect((err as GatehouseError).message).toContain('nope.db');
  });
});
