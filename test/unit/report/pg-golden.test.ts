import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/core/events.js';
import { renderHtml } from '../../../src/report/render-html.js';
import { renderText } from '../../../src/report/render-text.js';
import { buildSessionReport } from '../../../src/report/session-report.js';
import { client, identity, records, result, summary, T0 } from './helpers.js';

/**
 * PostgreSQL reports, byte for byte: the fixtures were written by the renderers as they were
 * before SSH sessions were reported, and must not change. (GATEHOUSE_WRITE_GOLDEN=1 rewrites them;
 * only ever do that for an intended change of the PostgreSQL report.)
 */

const actor = { subject: 'ci-agent', groups: ['ci-agents'], tokenId: 'jti-123', ciJob: '4711' };
const events: AuditEvent[] = [
  {
    type: 'session.start', protocol: 'postgres', connection: 'orders', identity, authorizedBy: 'ci-agents', client,
    upstream: { host: 'db.internal', port: 5432, database: 'orders', user: 'orders_app', tls: true }, parameters: { application_name: 'psql', DateStyle: 'ISO' },
  },
  { type: 'pg.query', text: "SELECT '<b>&\"x\"</b>' AS x;\r\nSELECT\t1/0" }, // 11
  result(11, { columns: ['x'], sample: [['<b>&"x"</b>']] }),
  result(11, { index: 1, status: 'error', tag: null, rows: null, columns: null, sample: [], error: { sqlstate: '22012', severity: 'ERROR', message: 'division by zero' } }),
  { type: 'pg.query', text: 'DROP TABLE orders', decision: { action: 'block', policy: 'no-drop', reason: 'DDL is not allowed\nhere' } }, // 14
  result(14, { status: 'blocked', tag: null, rows: null, columns: null, sample: [], error: { sqlstate: '42501', severity: 'ERROR', message: 'blocked by policy "no-drop"' } }),
  { type: 'pg.query', text: 'DELETE FROM orders WHERE id = 1', decision: { action: 'review', policy: 'writes', reason: 'writes need a reviewer', approvalId: 'apr-1' } }, // 16
  {
    type: 'approval.requested', approvalId: 'apr-1', statementSeq: 16, protocol: 'postgres', connection: 'orders', requester: actor,
    policy: 'writes', reason: 'writes need a reviewer', text: 'DELETE FROM orders WHERE id = 1', shape: 'DELETE FROM orders WHERE id = ?', reviewers: ['dba'], expiresAt: T0 + 600_000_000,
  },
  { type: 'approval.decided', approvalId: 'apr-1', decision: 'approved', by: 'reviewer', reviewer: { ...actor, subject: 'alice' }, reason: 'ok <fine>', scope: { kind: 'grant', until: T0 + 3_600_000_000, grantId: 'g-1' }, waitedUs: 42_000_000 },
  result(16, { tag: 'DELETE 1', rows: 1, columns: null, sample: [] }),
  { type: 'pg.query', text: 'SELECT email FROM customers' }, // 20
  result(20, { tag: 'SELECT 12', rows: 12, columns: ['email'], sample: [['***'], [null]], masked: { rules: ['email'], columns: { email: 2 } } }),
  { type: 'pg.prepare', name: '', text: 'SELECT $1', paramTypes: [] }, // 22
  { type: 'pg.execute', statement: '', portal: 'p1', text: 'SELECT $1', params: ['a\tb', { truncated: true, prefix: 'abc', bytes: 9000, sha256: 'ff'.repeat(32) }], maxRows: 1 }, // 23
  result(23, { status: 'suspended', tag: null, rows: 1 }),
  { type: 'pg.function_call', functionOid: 1234, args: [null] }, // 25
  { type: 'pg.query', text: 'COPY t FROM STDIN' }, // 26
  result(26, { tag: 'COPY 3', rows: 3, columns: null, sample: [], copy: { direction: 'in', bytes: 30 }, durationUs: 150_000 }),
  { type: 'pg.cancel', statementSeq: null },
  { type: 'approval.decided', approvalId: 'apr-9', decision: 'denied', by: 'timeout', reviewer: null, reason: null, scope: { kind: 'once' }, waitedUs: 600_000_000 },
  { type: 'session.end', status: 'error', reason: 'upstream closed', statements: 7, errors: 2, durationUs: 2_500_000 },
];
const recs = records('s-pg', events);
recs.push({ ...recs[1]!, seq: 9, event: { pruned: true } as unknown as AuditEvent });
const rep = buildSessionReport(summary({ id: 's-pg', status: 'error', reason: 'upstream closed', statements: 7, errors: 2 }), recs);

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe('PostgreSQL report, byte for byte', () => {
  const outputs: Array<[string, string]> = [
    ['pg-report.txt', renderText(rep)],
    ['pg-report.html', renderHtml(rep, { generatedAtUs: T0 })],
  ];
  for (const [name, out] of outputs) {
    it(`${name} is unchanged`, () => {
      if (process.env.GATEHOUSE_WRITE_GOLDEN === '1') writeFileSync(fixture(name), out);
      expect(out).toBe(readFileSync(fixture(name), 'utf8'));
    });
  }
});
