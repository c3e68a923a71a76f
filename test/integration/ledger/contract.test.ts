import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPgCluster, type PgCluster } from '../../../src/dev/pg-cluster.js';
import type { LedgerStore } from '../../../src/ledger/ledger.js';
import { PostgresLedger } from '../../../src/ledger/postgres.js';
import type { AuditEvent, IdentityRecord } from '../../../src/core/events.js';
import { GatehouseError } from '../../../src/core/errors.js';
import type { NewRecord } from '../../../src/ledger/ledger.js';
import { SqliteLedger } from '../../../src/ledger/sqlite.js';
import { verifyChain } from '../../../src/ledger/verify.js';

/**
 * The ledger contract: one suite, run unchanged against the SQLite store and the PostgreSQL store
 * (a throwaway cluster; a fresh database per test). Only opening a store and reaching under it to
 * tamper with its rows differ per store.
 */
interface StoreHarness {
  open(): Promise<LedgerStore>;
  openReadonly(): Promise<LedgerStore>;
  /** runs SQL directly on the store with the append-only guard removed; `records` names the records table */
  tamper(sql: (records: string) => string): Promise<void>;
  /** SQL that must be refused by the store itself */
  mustRefuse(sql: (records: string) => string): Promise<string>;
  /** the store's schema version, as a newer Gatehouse would have left it */
  setSchemaVersion(v: number): Promise<void>;
}

let dir: string;
let cluster: PgCluster;
let dbCounter = 0;
beforeAll(async () => {
  const base = mkdtempSync(join(tmpdir(), 'gatehouse-contract-'));
  chmodSync(base, 0o755);
  cluster = await startPgCluster({ dir: base, superuserPassword: 'contract-pw', logStatements: false });
});
afterAll(async () => cluster?.stop());
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-ledger-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sqlite = (): StoreHarness => {
  const file = join(dir, 'ledger.db');
  const raw = async (sql: string) => {
    const db = new Database(file);
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
  };
  return {
    open: async () => new SqliteLedger(file),
    openReadonly: async () => new SqliteLedger(file, { readonly: true }),
    tamper: (sql) => raw(`DROP TRIGGER IF EXISTS records_no_update; DROP TRIGGER IF EXISTS records_no_delete; ${sql('records')}`),
    mustRefuse: async (sql) => raw(sql('records')).then(() => 'accepted', (e: Error) => e.message),
    setSchemaVersion: (v) => raw(`UPDATE meta SET value = '${v}' WHERE key = 'schema_version'`),
  };
};

const postgres = (): StoreHarness => {
  const db = `ledger_${process.pid}_${++dbCounter}`;
  const url = `postgres://postgres:contract-pw@127.0.0.1:${cluster.port}/${db}`;
  let created: Promise<unknown> | null = null;
  const ensure = () => (created ??= cluster.query(`CREATE DATABASE ${db}`));
  const raw = async (sql: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  return {
    open: async () => {
      await ensure();
      return PostgresLedger.open(url);
    },
    openReadonly: async () => {
      await ensure();
      return PostgresLedger.open(url, { readonly: true });
    },
    tamper: (sql) => raw(`ALTER TABLE gatehouse.all_records DISABLE TRIGGER all_records_append_only; ${sql('gatehouse.all_records')}`),
    mustRefuse: async (sql) => raw(sql('gatehouse.all_records')).then(() => 'accepted', (e: Error) => e.message),
    setSchemaVersion: (v) => raw(`UPDATE gatehouse.meta SET value = '${v}' WHERE key = 'schema_version'`),
  };
};

describe.each([
  ['SQLite', sqlite],
  ['PostgreSQL', postgres],
])('ledger contract: %s', (_name, harness) => {
  let store: StoreHarness;
  beforeEach(() => {
    store = harness();
  });
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

  it('appends in order, indexes sessions, and verifies', async () => {
    const l = await store.open();
    const [s1] = await l.append([rec('s1', 1_000, start('alice', '4711'))]);
    const [q1] = await l.append([rec('s1', 2_000, query('SELECT 1'))]);
    const [q2] = await l.append([rec('s1', 3_000, query('SELECT 1/0'))]);
    await l.append([rec('s1', 4_000, result(q1!)), rec('s1', 5_000, result(q2!, true)), rec('s1', 6_000, end)]);
    await l.append([rec('s2', 7_000, { type: 'auth.denied', protocol: 'postgres', connection: 'orders', code: 'GH_ERR_ACCESS_DENIED', reason: 'no', identity: identity('bob'), claimed: null, client })]);
    expect([s1, q1, q2]).toEqual([1, 2, 3]);
    const s = await l.getSession('s1');
    expect(s).toMatchObject({ status: 'ok', subject: 'alice', ciJob: '4711', statements: 2, errors: 1, startedAt: 1_000, endedAt: 6_000 });
    expect((await l.listSessions({})).map((x) => x.id)).toEqual(['s2', 's1']);
    expect((await l.listSessions({ order: 'oldest' })).map((x) => x.id)).toEqual(['s1', 's2']);
    expect((await l.listSessions({ order: 'oldest', limit: 1 })).map((x) => x.id)).toEqual(['s1']);
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
    const l = await store.open();
    const seqs = await Promise.all(Array.from({ length: 50 }, (_, i) => l.append([rec(`s${i % 5}`, i, query(`SELECT ${i}`))])));
    expect(seqs.flat()).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await verifyChain(l)).toMatchObject({ ok: true, records: 50 });
    await l.close();
    // reopening continues (SQLite: the same log; PostgreSQL: a new log per gateway start) and loses nothing
    const again = await store.open();
    await again.append([rec('s9', 99, query('SELECT after reopen'))]);
    let total = 0;
    for (const id of await again.logs()) {
      const v = await verifyChain(again.forLog(id));
      expect(v.ok).toBe(true);
      total += v.records;
    }
    expect(total).toBe(51);
    await again.close();
  });

  it('refuses UPDATE and DELETE of records through SQL', async () => {
    const l = await store.open();
    await l.append([rec('s1', 1, query('SELECT 1'))]);
    await l.close();
    expect(await store.mustRefuse((t) => `UPDATE ${t} SET payload = '{}'`)).toMatch(/append-only/);
    expect(await store.mustRefuse((t) => `DELETE FROM ${t}`)).toMatch(/append-only/);
  });

  describe('tampering is found, naming the first bad record', () => {
    async function tamper(sql: (records: string) => string): Promise<Awaited<ReturnType<typeof verifyChain>>> {
      const l = await store.open();
      for (let i = 1; i <= 6; i++) await l.append([rec('s1', i, query(`SELECT ${i}`))]);
      await l.close();
      await store.tamper(sql);
      const reader = await store.openReadonly();
      const v = await verifyChain(reader);
      await reader.close();
      return v;
    }

    it('an edited payload', async () => {
      expect(await tamper((t) => `UPDATE ${t} SET payload = replace(payload, 'SELECT 3', 'SELECT 33') WHERE seq = 3`)).toMatchObject({ ok: false, badSeq: 3 });
    });
    it('a deleted record', async () => {
      expect(await tamper((t) => `DELETE FROM ${t} WHERE seq = 4`)).toMatchObject({ ok: false, badSeq: 4 });
    });
    it('a record inserted in the middle', async () => {
      // shift records 4.. up by one and put a forged record at 4 (without re-hashing the rest)
      const v = await tamper(
        (t) => `UPDATE ${t} SET seq = seq + 1000 WHERE seq >= 4; UPDATE ${t} SET seq = seq - 999 WHERE seq >= 1004;
          INSERT INTO ${t} (${t.includes('.') ? 'log_id, ' : ''}seq, time_us, session_id, type, payload, prev_hash, hash)
          SELECT ${t.includes('.') ? 'log_id, ' : ''}4, time_us, session_id, type, '{"text":"SELECT forged","type":"pg.query"}', hash, hash FROM ${t} WHERE seq = 3`,
      );
      expect(v).toMatchObject({ ok: false, badSeq: 4 });
    });
    it('two records swapped', async () => {
      const v = await tamper((t) => `UPDATE ${t} SET payload = CASE seq WHEN 2 THEN (SELECT payload FROM ${t} WHERE seq = 5)
        ELSE (SELECT payload FROM ${t} WHERE seq = 2) END WHERE seq IN (2, 5)`);
      expect(v).toMatchObject({ ok: false, badSeq: 2 });
    });
  });

  it('a store written by a newer Gatehouse is refused, clearly', async () => {
    const l = await store.open();
    await l.append([rec('s1', 1, query('SELECT 1'))]);
    await l.close();
    await store.setSchemaVersion(99);
    const err = await store.open().then(
      async (x) => {
        await x.close();
        return null;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe('GH_ERR_LEDGER_SCHEMA');
    expect((err as GatehouseError).message).toMatch(/schema version 99.*upgrade Gatehouse/);
  });

  it('search finds commands by text and filters, and pages', async () => {
    const l = await store.open();
    await l.append([rec('s1', 1_000, start('alice', '4711'))]);
    const [a] = await l.append([rec('s1', 2_000, query('DELETE FROM orders WHERE id = 7'))]);
    await l.append([rec('s1', 3_000, result(a!))]);
    await l.append([rec('s1', 4_000, query('SELECT * FROM customers'))]);
    const hit = await l.searchCommands({ text: 'orders AND delete' });
    expect(hit.hits.map((x) => x.text)).toEqual(['DELETE FROM orders WHERE id = 7']);
    expect(hit.hits[0]).toMatchObject({ subject: 'alice', tag: 'SELECT 1', ciJob: '4711' });
    expect((await l.searchCommands({ text: 'custom*' })).hits).toHaveLength(1);
    expect((await l.searchCommands({ identity: 'alice' })).hits).toHaveLength(2);
    const page = await l.searchCommands({ limit: 1 });
    expect(page.hits).toHaveLength(1);
    expect(page.next).not.toBeNull();
    expect((await l.listSessions({ text: 'customers' })).map((x) => x.id)).toEqual(['s1']);
    await l.close();
  });
});

describe('opening a ledger that is not there', () => {
  it('SQLite: a clear error naming the file', () => {
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

  it('PostgreSQL: a clear error without the password', async () => {
    const err = await PostgresLedger.open(`postgres://postgres:contract-pw@127.0.0.1:${cluster.port}/no_such_db`, { readonly: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe('GH_ERR_LEDGER_UNAVAILABLE');
    expect((err as GatehouseError).message).toContain('no_such_db');
    expect((err as GatehouseError).message).not.toContain('contract-pw');
  });
});
