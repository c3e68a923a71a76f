import { describe, expect, it } from 'vitest';
import type { AuditEvent, ClientRecord, IdentityRecord, PgResultEvent } from '../../../src/core/events.js';
import type { LedgerRecord, SessionSummary } from '../../../src/ledger/ledger.js';
import { renderHtml } from '../../../src/report/render-html.js';
import { renderText } from '../../../src/report/render-text.js';
import { buildSessionReport } from '../../../src/report/session-report.js';
import { renderSessionsTable, sessionJson } from '../../../src/report/sessions-table.js';

const T0 = 1_795_000_000_123_456; // µs
const hash = (n: number): string => n.toString(16).padStart(64, '0');

function records(sessionId: string, events: AuditEvent[], firstSeq = 10): LedgerRecord[] {
  return events.map((event, i) => ({
    seq: firstSeq + i, time: T0 + i * 1500, sessionId, type: event.type, event, prevHash: hash(firstSeq + i - 1), hash: hash(firstSeq + i),
  }));
}

const identity: IdentityRecord = {
  subject: 'ci-agent', groups: ['ci-agents', 'readers'], issuer: 'https://idp.example', clientId: 'ci-agent',
  tokenId: 'jti-123', tokenSha256: 'ab'.repeat(32), ciJob: '4711', expiresAt: null,
};
const client: ClientRecord = { address: '10.0.0.7', port: 51234, tls: true, user: 'agent', application: 'psql' };

function summary(over: Partial<SessionSummary>): SessionSummary {
  return {
    id: 's-1', protocol: 'postgres', connection: 'orders', status: 'ok', subject: 'ci-agent', groups: ['ci-agents', 'readers'],
    authorizedBy: 'ci-agents', issuer: 'https://idp.example', tokenId: 'jti-123', tokenSha256: 'ab'.repeat(32), ciJob: '4711',
    clientUser: 'agent', clientApplication: 'psql', clientAddress: '10.0.0.7', startedAt: T0, endedAt: T0 + 2_500_000,
    statements: 3, errors: 1, reason: null, ...over,
  };
}

function result(statementSeq: number, over: Partial<PgResultEvent> = {}): PgResultEvent {
  return {
    type: 'pg.result', statementSeq, index: 0, status: 'ok', tag: 'SELECT 1', rows: 1, error: null, durationUs: 1234,
    bytes: 80, sha256: 'cd'.repeat(32), columns: ['n'], sample: [['1']], copy: null, ...over,
  };
}

const XSS = "SELECT '<script>alert(1)</script>' AS x; SELECT 1/0";

const okEvents: AuditEvent[] = [
  {
    type: 'session.start', protocol: 'postgres', connection: 'orders', identity, authorizedBy: 'ci-agents', client,
    upstream: { host: 'db.internal', port: 5432, database: 'orders', user: 'orders_app', tls: true }, parameters: { application_name: 'psql' },
  },
  { type: 'pg.query', text: XSS }, // seq 11
  result(11, { tag: 'SELECT 1', rows: 1, columns: ['x'], sample: [['<script>alert(1)</script>']] }),
  result(11, {
    index: 1, status: 'error', tag: null, rows: null, columns: null, sample: [],
    error: { sqlstate: '22012', severity: 'ERROR', message: 'division by zero' },
  }),
  { type: 'pg.prepare', name: 'q1', text: 'SELECT id, note\n  FROM orders\n WHERE id = $1 OR note = $2', paramTypes: [23, 17] }, // 14
  { type: 'pg.execute', statement: 'q1', portal: '', text: 'SELECT id, note\n  FROM orders\n WHERE id = $1 OR note = $2', params: [null, { hex: 'deadbeef' }], maxRows: 0 }, // 15
  result(15, {
    tag: 'SELECT 7', rows: 7, columns: ['id', 'note'],
    sample: [['1', 'x'.repeat(100)], ['2', null], ['3', { hex: '00ff' }], ['4', 'd'], ['5', 'e'], ['6', 'f'], ['7', 'g']],
  }),
  result(99, { tag: 'SELECT 2', rows: 2 }), // 17: orphan (statement 99 not in the list)
  { type: 'pg.cancel', statementSeq: 15 },
  { type: 'session.end', status: 'ok', reason: 'client terminated', statements: 3, errors: 1, durationUs: 2_500_000 },
];
const okRecords = records('s-1', okEvents);
const okReport = buildSessionReport(summary({ reason: 'client terminated' }), okRecords);

const deniedSummary = summary({
  id: 's-den', status: 'denied', subject: 'mallory', groups: [], authorizedBy: null, issuer: 'https://evil.example', tokenId: null,
  ciJob: null, statements: 0, errors: 0, endedAt: T0, reason: 'GH_ERR_TOKEN_INVALID: signature verification failed',
});
const deniedRecords = records('s-den', [{
  type: 'auth.denied', protocol: 'postgres', connection: 'orders', code: 'GH_ERR_TOKEN_INVALID', reason: 'signature verification failed',
  identity: null, claimed: { subject: 'mallory', issuer: 'https://evil.example', tokenSha256: 'ef'.repeat(32) }, client,
}], 40);
const deniedReport = buildSessionReport(deniedSummary, deniedRecords);

describe('buildSessionReport', () => {
  it('has the documented session, identity and ledger keys', () => {
    expect(okReport.session).toMatchObject({
      id: 's-1', protocol: 'postgres', connection: 'orders', status: 'ok', statements: 3, errors: 1, reason: 'client terminated',
      durationMs: 2500, client: { address: '10.0.0.7', port: 51234, tls: true, user: 'agent', application: 'psql' },
      upstream: { host: 'db.internal', database: 'orders' }, parameters: { application_name: 'psql' },
    });
    expect(okReport.session.startedAt).toBe('2026-11-18T11:06:40.123456Z');
    expect(okReport.identity).toMatchObject({
      subject: 'ci-agent', groups: ['ci-agents', 'readers'], authorizedBy: 'ci-agents', issuer: 'https://idp.example',
      clientId: 'ci-agent', tokenId: 'jti-123', tokenSha256: 'ab'.repeat(32), ciJob: '4711',
    });
    expect(okReport.ledger).toEqual({ firstSeq: 10, lastSeq: 19, lastHash: hash(19) });
  });

  it('folds results into their statements, keeps seq order and lists orphan results', () => {
    expect(okReport.events.map((e) => [e.seq, e.type])).toEqual([
      [10, 'session.start'], [11, 'pg.query'], [14, 'pg.prepare'], [15, 'pg.execute'], [17, 'pg.result'], [18, 'pg.cancel'], [19, 'session.end'],
    ]);
    const q = okReport.events[1]!;
    expect(q).toMatchObject({ seq: 11, time: '2026-11-18T11:06:40.124956Z', type: 'pg.query', command: XSS, result: { tag: 'SELECT 1', rows: 1 } });
    expect(q.results?.map((r) => r.index)).toEqual([0, 1]);
    expect(q.results?.[1]?.error).toEqual({ sqlstate: '22012', severity: 'ERROR', message: 'division by zero' });
    const x = okReport.events[3]!;
    expect(x).toMatchObject({ type: 'pg.execute', statementName: 'q1', portal: '', params: [null, { hex: 'deadbeef' }], result: { tag: 'SELECT 7', rows: 7 } });
    expect(okReport.events[4]).toMatchObject({ type: 'pg.result', statementSeq: 99, command: null, result: { tag: 'SELECT 2' } });
    expect(okReport.events[5]).toMatchObject({ type: 'pg.cancel', statementSeq: 15 });
    expect(okReport.events[6]).toMatchObject({ type: 'session.end', reason: 'client terminated', status: 'ok' });
    expect(okReport.events[2]).toMatchObject({ type: 'pg.prepare', statementName: 'q1', paramTypes: [23, 17] });
  });

  it('orders records by seq even when given out of order', () => {
    const rev = buildSessionReport(summary({}), [...okRecords].reverse());
    expect(rev.events.map((e) => e.seq)).toEqual(okReport.events.map((e) => e.seq));
    expect(rev.events[1]?.results).toHaveLength(2);
  });

  it('reports a denied session from auth.denied alone', () => {
    expect(deniedReport.session).toMatchObject({ id: 's-den', status: 'denied', connection: 'orders', upstream: null, statements: 0 });
    expect(deniedReport.identity).toMatchObject({
      subject: 'mallory', groups: [], authorizedBy: null, tokenId: null, ciJob: null, clientId: null,
      tokenSha256: 'ef'.repeat(32), verified: false,
    });
    expect(deniedReport.events).toEqual([expect.objectContaining({
      seq: 40, type: 'auth.denied', command: null, code: 'GH_ERR_TOKEN_INVALID', reason: 'signature verification failed',
    })]);
  });

  it('marks payloads removed by retention', () => {
    const rec: LedgerRecord = { ...okRecords[1]!, event: { pruned: true } as unknown as AuditEvent };
    const rep = buildSessionReport(summary({}), [rec]);
    expect(rep.events[0]).toMatchObject({ seq: 11, type: 'pg.query', command: null, pruned: true });
    expect(renderText(rep)).toContain('payload removed by retention');
  });
});

describe('renderText', () => {
  const text = renderText(okReport);
  it('has the header and identity block', () => {
    for (const s of ['Session s-1', 'orders', 'ci-agent', 'ci-agents, readers', 'jti-123', '4711', 'https://idp.example', '10.0.0.7:51234', 'psql', '2500 ms']) {
      expect(text).toContain(s);
    }
  });
  it('lists statements with results, errors, params and samples', () => {
    expect(text).toContain(`#11  2026-11-18T11:06:40.124956Z  ${XSS}`);
    expect(text).toContain('→ [0] SELECT 1, 1 row, 1.2 ms');
    expect(text).toContain('→ [1] ERROR 22012: division by zero');
    expect(text).toContain('#15  2026-11-18T11:06:40.130956Z  SELECT id, note');
    expect(text).toMatch(/\n {8}\s*FROM orders\n/);
    expect(text).toContain("$1=NULL, $2=\\xdeadbeef");
    expect(text).toContain('→ SELECT 7, 7 rows, 1.2 ms');
    expect(text).toMatch(/id \| note/);
    expect(text).toContain(`${'x'.repeat(39)}…`);
    expect(text).not.toContain('x'.repeat(41));
    expect(text).toContain('(5 of 7 rows shown)');
    expect(text).not.toMatch(/\| g\b/); // row 7 not shown
    expect(text).toContain('Ended: ok — client terminated');
    expect(text).not.toMatch(/\x1b\[/);
  });
  it('renders a denied session', () => {
    const t = renderText(deniedReport);
    expect(t).toContain('NOT verified');
    expect(t).toContain('mallory');
    expect(t).toContain('GH_ERR_TOKEN_INVALID: signature verification failed');
    expect(t).toContain('Ended: denied');
  });
});

describe('renderHtml', () => {
  const html = renderHtml(okReport, { generatedAtUs: T0 });
  it('is one self-contained, escaped document', () => {
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`);
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toMatch(/src=/i);
    expect(html).not.toMatch(/href=["']?http/i);
    expect(html).not.toMatch(/@import|url\(/i);
  });
  it('has summary, identity, statements, highlighted errors and a footer', () => {
    for (const s of ['s-1', 'ci-agent', 'ci-agents, readers', 'jti-123', '4711', 'division by zero', 'SELECT 7, 7 rows', '\\xdeadbeef', 'client terminated']) {
      expect(html).toContain(s);
    }
    expect(html).toContain('<tr class="err"><td>11</td>');
    expect(html).toContain('<pre>SELECT id, note\n  FROM orders');
    expect(html).toContain('<table class="sample">');
    expect(html).toContain(`Ledger records 10 to 19, last record hash <span class="hash">${hash(19)}</span>`);
    expect(html).toContain('generated by gatehouse report at 2026-11-18T11:06:40.123456Z');
  });
  it('escapes identity fields too', () => {
    const rep = buildSessionReport(summary({ subject: '<img src=x onerror=alert(1)>' }), deniedRecords.map((r) => ({
      ...r, event: { ...(r.event as Extract<AuditEvent, { type: 'auth.denied' }>), claimed: null },
    })));
    const h = renderHtml(rep);
    expect(h).not.toContain('<img');
    expect(h).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe('sessions table', () => {
  it('prints aligned columns and a count', () => {
    const out = renderSessionsTable([summary({ reason: `closed ${'r'.repeat(100)}` }), deniedSummary]);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STARTED\s+STATUS\s+CONNECTION\s+SUBJECT\s+AUTHORIZED BY\s+CI JOB\s+STMTS\s+ERRS\s+REASON$/);
    expect(lines[1]).toContain('2026-11-18T11:06:40Z');
    expect(lines[1]!.indexOf('ok')).toBe(lines[0]!.indexOf('STATUS'));
    expect(lines[2]!.indexOf('denied')).toBe(lines[0]!.indexOf('STATUS'));
    expect(lines[2]).toContain('mallory');
    expect(lines[1]!.length).toBeLessThan(lines[0]!.length + 120);
    expect(lines.at(-1)).toBe('2 sessions');
    expect(renderSessionsTable([deniedSummary]).trimEnd().split('\n').at(-1)).toBe('1 session');
  });
  it('says so when nothing matches', () => {
    expect(renderSessionsTable([])).toBe('no sessions match\n');
  });
  it('gives JSON with ISO times and the raw fields', () => {
    expect(sessionJson(summary({}))).toMatchObject({
      id: 's-1', startedAt: '2026-11-18T11:06:40.123456Z', endedAt: '2026-11-18T11:06:42.623456Z', startedAtUs: T0,
      subject: 'ci-agent', groups: ['ci-agents', 'readers'], statements: 3, errors: 1, durationMs: 2500,
    });
  });
});
