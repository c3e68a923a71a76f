import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/app.js';
import { consoleDepsFrom } from '../../src/api/start.js';
import { ApprovalBroker } from '../../src/approvals/broker.js';
import { parseConfig, type LoadedConfig } from '../../src/core/config.js';
import type { AuditEvent, ConsoleViewEvent, IdentityRecord } from '../../src/core/events.js';
import type { Logger } from '../../src/core/log.js';
import { startDevIssuer, type DevIssuer } from '../../src/identity/dev-issuer.js';
import { TokenVerifier } from '../../src/identity/verifier.js';
import { generateSigningKeys, parsePublicKey } from '../../src/ledger/checkpoint.js';
import { verifyEvidence } from '../../src/ledger/evidence.js';
import { Checkpointer, checkpointOptions } from '../../src/ledger/checkpointer.js';
import type { LedgerRecord } from '../../src/ledger/ledger.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import type { SessionReport } from '../../src/report/session-report.js';
import type { SessionJson } from '../../src/report/sessions-table.js';
import { input } from '../support/approvals.js';
import { AUDIENCE } from '../support/gateway-fixture.js';

/**
 * The console's API through fastify.inject(): real tokens from a real OIDC provider verified by the
 * gateway's TokenVerifier, a real SQLite ledger filled with the events the protocols record, signed
 * checkpoints from the real Checkpointer, a real SSH recording file, and the real approval broker.
 * Roles come from the config (`console.roles`), parsed by the real schema.
 */

const CLIENTS = [
  // the console's people; ann is also in the `dba` reviewer group of the approval rule, but her console role is auditor
  { clientId: 'auditor-ann', clientSecret: 'auditor-ann-secret', groups: ['auditors', 'dba'] },
  { clientId: 'reviewer-rita', clientSecret: 'reviewer-rita-secret', groups: ['reviewers', 'dba'] },
  { clientId: 'reviewer-ray', clientSecret: 'reviewer-ray-secret', groups: ['reviewers', 'dba'] },
  { clientId: 'admin-ada', clientSecret: 'admin-ada-secret', groups: ['platform-admins'] },
  { clientId: 'nobody-ned', clientSecret: 'nobody-ned-secret', groups: ['interns'] },
  // an agent whose sessions are read
  { clientId: 'ci-agent', clientSecret: 'ci-agent-secret', groups: ['ci-agents'], ciJob: '4711' },
];

const T0 = Date.UTC(2026, 10, 2, 9, 0, 0) * 1000; // µs
const HOUR = 3_600_000_000;

let dir: string;
let idp: DevIssuer;
let ledger: SqliteLedger;
let broker: ApprovalBroker;
let checkpointer: Checkpointer;
let publicPem: string;
let app: FastifyInstance;
let verifier: TokenVerifier;
let keyId: string;
const tokens: Record<string, string> = {};

const auth = (client: string) => ({ authorization: `Bearer ${tokens[client]}` });
const get = (url: string, client?: string) => app.inject({ url, ...(client ? { headers: auth(client) } : {}) });
const errorOf = (res: LightMyRequestResponse) => (res.json() as { error: { code?: string; message: string } }).error;

function identity(subject: string, groups: string[], ciJob: string | null = null): IdentityRecord {
  return { subject, groups, issuer: 'https://idp.example', clientId: subject, tokenId: `jti-${subject}`, tokenSha256: 'ab'.repeat(32), ciJob, expiresAt: null };
}

/** Appends one record and returns its seq (records of a session go in one by one, as the protocols append them). */
async function rec(sessionId: string, time: number, event: AuditEvent): Promise<number> {
  const [seq] = await ledger.append([{ sessionId, time, event }]);
  return seq!;
}

async function start(id: string, time: number, protocol: 'postgres' | 'ssh' | 'http', connection: string, who: IdentityRecord, group: string): Promise<void> {
  await rec(id, time, {
    type: 'session.start', protocol, connection, identity: who, authorizedBy: group,
    client: { address: '10.0.0.8', port: 51000, tls: true, user: protocol === 'postgres' ? 'agent' : null, application: protocol === 'postgres' ? 'psql' : null },
    upstream: { host: 'db.internal', port: 5432, database: protocol === 'postgres' ? connection : null, user: 'app', tls: true }, parameters: {},
  });
}

async function end(id: string, time: number, status: 'ok' | 'error', statements: number, errors = 0): Promise<void> {
  await rec(id, time, { type: 'session.end', status, reason: null, statements, errors, durationUs: time - T0 });
}

async function sql(id: string, time: number, text: string, outcome: { rows: string[][] } | { error: string }): Promise<void> {
  const seq = await rec(id, time, { type: 'pg.query', text });
  const error = 'error' in outcome ? { sqlstate: '23505', severity: 'ERROR', message: outcome.error } : null;
  await rec(id, time + 900, {
    type: 'pg.result', statementSeq: seq, index: 0, status: error ? 'error' : 'ok', tag: error ? null : `SELECT ${'rows' in outcome ? outcome.rows.length : 0}`,
    rows: 'rows' in outcome ? outcome.rows.length : null, error, durationUs: 900, bytes: 120, sha256: 'cd'.repeat(32),
    columns: 'rows' in outcome ? ['id', 'total'] : null, sample: 'rows' in outcome ? outcome.rows : [], copy: null,
  });
}

/** A shell with a real asciicast file in the recordings directory; returns the file. */
async function shell(id: string, time: number, channel: number, output: string): Promise<string> {
  const file = `${id}-${channel}.cast`;
  const text = `${JSON.stringify({ version: 2, width: 80, height: 24, timestamp: Math.floor(time / 1e6) })}\n${JSON.stringify([0.1, 'i', 'uptime\r'])}\n${JSON.stringify([0.2, 'o', output])}\n`;
  writeFileSync(join(dir, 'recordings', file), text);
  const shellSeq = await rec(id, time, { type: 'ssh.shell', channel, pty: { term: 'xterm', cols: 80, rows: 24 }, recording: file });
  await rec(id, time + 1000, { type: 'ssh.command', channel, shellSeq, command: 'uptime', source: 'keystrokes', bestEffort: true });
  await rec(id, time + 5000, {
    type: 'ssh.recording', channel, shellSeq, file, bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex'), events: 2, durationUs: 5000,
  });
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-console-'));
  mkdirSync(join(dir, 'recordings'));
  const k = generateSigningKeys();
  keyId = k.keyId;
  publicPem = k.publicPem;
  writeFileSync(join(dir, 'ledger-signing.key'), k.privatePem, { mode: 0o600 });
  idp = await startDevIssuer({ audience: AUDIENCE, clients: CLIENTS, ciJobClaim: 'ci_job_id' });
  const config = parseConfig({
    identity: { issuer: idp.issuer, audience: AUDIENCE, ciJobClaim: 'ci_job_id' },
    ledger: { sqlite: './ledger.db', checkpoints: { signingKeyFile: './ledger-signing.key', witnessFile: './witness.jsonl', every: '1h' } },
    listeners: { api: { port: 0 } },
    console: { roles: { auditors: ['auditors'], reviewers: ['reviewers'], admins: ['platform-admins'] } },
  });
  const loaded: LoadedConfig = { config, file: null, baseDir: dir };
  const log: Logger = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));
  verifier = new TokenVerifier(config.identity, log);
  ledger = new SqliteLedger(join(dir, 'ledger.db'));
  broker = new ApprovalBroker({ ledger, log });

  // what the protocols would have recorded
  await start('sess-pg-1', T0, 'postgres', 'orders', identity('ci-agent', ['ci-agents'], '4711'), 'ci-agents');
  await sql('sess-pg-1', T0 + 1000, 'SELECT id, total FROM orders WHERE id = 1', { rows: [['1', '99.50']] });
  await sql('sess-pg-1', T0 + 5000, 'DELETE FROM orders WHERE id = 7', { rows: [] });
  await end('sess-pg-1', T0 + 9000, 'ok', 2);

  await start('sess-pg-2', T0 + HOUR, 'postgres', 'billing', identity('etl-bot', ['etl']), 'etl');
  await sql('sess-pg-2', T0 + HOUR + 1000, 'INSERT INTO invoices (id) VALUES (1)', { error: 'duplicate key value violates unique constraint "invoices_pkey"' });
  await end('sess-pg-2', T0 + HOUR + 9000, 'error', 1, 1);

  await start('sess-ssh-1', T0 + 2 * HOUR, 'ssh', 'web-1', identity('ci-agent', ['ci-agents'], '4711'), 'ci-agents');
  const exec = await rec('sess-ssh-1', T0 + 2 * HOUR + 100, { type: 'ssh.exec', channel: 0, command: 'systemctl restart nginx', pty: false, env: {} });
  const stream = (s: string) => ({ bytes: s.length, sha256: createHash('sha256').update(s).digest('hex'), sample: s, truncated: false });
  await rec('sess-ssh-1', T0 + 2 * HOUR + 200, {
    type: 'ssh.exit', channel: 0, commandSeq: exec, status: 'ok', exitCode: 0, signal: null, stdout: stream(''), stderr: stream(''), stdinBytes: 0, durationUs: 100,
  });
  await shell('sess-ssh-1', T0 + 2 * HOUR + 300, 1, ' 09:00:01 up 12 days,  load average: 0.01\r\n');
  await end('sess-ssh-1', T0 + 2 * HOUR + 9000, 'ok', 2);

  await start('sess-http-1', T0 + 3 * HOUR, 'http', 'crm', identity('report-bot', ['reporting']), 'reporting');
  await rec('sess-http-1', T0 + 3 * HOUR + 100, { type: 'http.request', method: 'GET', path: '/v1/customers', query: { page: '2' }, headers: {} });
  await end('sess-http-1', T0 + 3 * HOUR + 900, 'ok', 1);

  await rec('sess-denied-1', T0 + 4 * HOUR, {
    type: 'auth.denied', protocol: 'postgres', connection: 'orders', code: 'GH_ERR_ACCESS_DENIED', reason: 'no group of the token is mapped to orders',
    identity: identity('intern-bot', ['interns']), claimed: null, client: { address: '10.0.0.9', port: 51001, tls: true, user: 'agent', application: null },
  });

  // a shell whose recording file was changed after the session
  await start('sess-ssh-2', T0 + 4 * HOUR + 10, 'ssh', 'web-1', identity('ci-agent', ['ci-agents'], '4711'), 'ci-agents');
  const file = await shell('sess-ssh-2', T0 + 4 * HOUR + 20, 0, 'total 0\r\n');
  await end('sess-ssh-2', T0 + 4 * HOUR + 9000, 'ok', 1);
  writeFileSync(join(dir, 'recordings', file), 'tampered\n');

  // many sessions for paging; pairs share a start time, so the order within a time is by id
  for (let i = 0; i < 24; i++) {
    const id = `sess-bulk-${String(i).padStart(2, '0')}`;
    const t = T0 + 5 * HOUR + Math.floor(i / 2) * 1_000_000;
    await start(id, t, 'postgres', 'orders', identity('load-bot', ['load']), 'load');
    await sql(id, t + 10, `SELECT ${i}`, { rows: [[String(i)]] });
    await end(id, t + 100, 'ok', 1);
  }

  checkpointer = new Checkpointer(ledger, checkpointOptions(loaded)!, log);
  await checkpointer.start();

  app = buildApi({ broker, verifier, log, roles: config.console!.roles, console: consoleDepsFrom(loaded, ledger) });
  await app.ready();
  for (const c of CLIENTS) tokens[c.clientId] = await idp.token(c.clientId);
});

afterAll(async () => {
  await app?.close();
  await checkpointer?.close();
  await broker?.close();
  await ledger?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function consoleRecords(): Promise<LedgerRecord[]> {
  return [...(await ledger.recordsOfType('console.view')), ...(await ledger.recordsOfType('console.export'))].sort((a, b) => a.seq - b.seq);
}

async function sessionsOf(query: string, client = 'auditor-ann'): Promise<SessionJson[]> {
  const res = await get(`/api/sessions${query}`, client);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { sessions: SessionJson[] }).sessions;
}

const ids = (list: SessionJson[]) => list.map((s) => s.id);

describe('console API: who may read', () => {
  it('no token: 401 on every route but health and the OpenAPI document, and no data in the answer', async () => {
    const doc = (await get('/api/openapi.json')).json() as { paths: Record<string, Record<string, { 'x-gatehouse-role': string }>> };
    const guarded = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).filter(([, op]) => op['x-gatehouse-role'] !== 'public').map(([m]) => ({ m, path })));
    expect(guarded.length).toBeGreaterThan(10);
    for (const { m, path } of guarded) {
      const url = path.replace('{id}', 'sess-pg-1').replace('{sessionId}', 'sess-ssh-1').replace('{channel}', '1');
      const res = await app.inject({ method: m.toUpperCase() as 'GET', url });
      expect(res.statusCode, `${m} ${url}`).toBe(401);
      expect(Object.keys(res.json() as object)).toEqual(['error']);
      expect(res.body).not.toContain('ci-agent');
    }
    expect((await get('/api/health')).statusCode).toBe(200);
  });

  it('a token whose groups map to no console role: 403 naming the role needed, on reads and approvals alike', async () => {
    const res = await get('/api/sessions', 'nobody-ned');
    expect(res.statusCode).toBe(403);
    expect(errorOf(res)).toMatchObject({ code: 'GH_ERR_ACCESS_DENIED', message: expect.stringContaining('your groups map to no console role') });
    expect(errorOf(res).message).toContain('interns');
    expect(res.body).not.toContain('sess-');
    expect((await get('/api/sessions/sess-pg-1', 'nobody-ned')).statusCode).toBe(403);
    expect((await get('/api/approvals', 'nobody-ned')).statusCode).toBe(403);
    expect((await get('/api/integrity', 'nobody-ned')).statusCode).toBe(403);
    // the agent's own token is no console account either
    expect((await get('/api/sessions/sess-pg-1/report.html', 'ci-agent')).statusCode).toBe(403);
  });

  it('/api/me tells each caller their role', async () => {
    expect((await get('/api/me', 'auditor-ann')).json()).toEqual({ subject: 'auditor-ann', groups: ['auditors', 'dba'], role: 'auditor', may: { read: true, decideApprovals: false, admin: false } });
    expect((await get('/api/me', 'reviewer-rita')).json()).toMatchObject({ role: 'reviewer', may: { decideApprovals: true, admin: false } });
    expect((await get('/api/me', 'admin-ada')).json()).toMatchObject({ role: 'admin', may: { admin: true } });
  });
});

describe('console API: sessions', () => {
  it('lists every session newest first, with who, where and what happened', async () => {
    const all = await sessionsOf('?limit=200');
    expect(all).toHaveLength(30);
    expect(all.at(-1)).toMatchObject({
      id: 'sess-pg-1', protocol: 'postgres', connection: 'orders', status: 'ok', subject: 'ci-agent', groups: ['ci-agents'], ciJob: '4711',
      authorizedBy: 'ci-agents', statements: 2, errors: 0, startedAt: '2026-11-02T09:00:00.000000Z',
    });
    const started = all.map((s) => s.startedAtUs);
    expect([...started].sort((a, b) => b - a)).toEqual(started);
  });

  it('filters by identity, group, connection, protocol, status, CI job and time window', async () => {
    expect(ids(await sessionsOf('?identity=etl-bot'))).toEqual(['sess-pg-2']);
    expect(ids(await sessionsOf('?group=reporting'))).toEqual(['sess-http-1']);
    expect(ids(await sessionsOf('?connection=web-1'))).toEqual(['sess-ssh-2', 'sess-ssh-1']);
    expect(ids(await sessionsOf('?protocol=http'))).toEqual(['sess-http-1']);
    expect(ids(await sessionsOf('?status=error'))).toEqual(['sess-pg-2']);
    expect(ids(await sessionsOf('?status=denied'))).toEqual(['sess-denied-1']);
    expect(ids(await sessionsOf('?ciJob=4711'))).toEqual(['sess-ssh-2', 'sess-ssh-1', 'sess-pg-1']);
    // since is inclusive, until exclusive
    expect(ids(await sessionsOf('?since=2026-11-02T10:00:00Z&until=2026-11-02T12:00:00Z'))).toEqual(['sess-ssh-1', 'sess-pg-2']);
    expect(ids(await sessionsOf('?identity=ci-agent&protocol=ssh&since=2026-11-02T12:00:00Z'))).toEqual(['sess-ssh-2']);
  });

  it('full text over the commands finds the sessions that ran them', async () => {
    expect(ids(await sessionsOf('?text=nginx'))).toEqual(['sess-ssh-1']);
    expect(ids(await sessionsOf(`?text=${encodeURIComponent('DELETE AND orders')}`))).toEqual(['sess-pg-1']);
    expect(ids(await sessionsOf('?text=customers'))).toEqual(['sess-http-1']);
    expect(ids(await sessionsOf('?text=invoic*&status=error'))).toEqual(['sess-pg-2']);
    expect(await sessionsOf('?text=nosuchword')).toEqual([]);
  });

  it('pages with a cursor: pages join up to the full list, and a session started meanwhile neither shifts nor repeats a page', async () => {
    const full = ids(await sessionsOf('?limit=200'));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(`/api/sessions?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, 'auditor-ann');
      const body = res.json() as { sessions: SessionJson[]; next: string | null };
      expect(body.sessions.length).toBeLessThanOrEqual(7);
      seen.push(...ids(body.sessions));
      cursor = body.next;
      if (pages++ === 0) {
        // a new session arrives after the first page
        await start('sess-late-1', T0 + 48 * HOUR, 'postgres', 'orders', identity('load-bot', ['load']), 'load');
      }
    } while (cursor !== null);
    expect(pages).toBe(5);
    expect(seen).toEqual(full);
    // the pair sharing a start time keeps its order (by id, descending) across the page boundary
    expect(seen.indexOf('sess-bulk-07')).toBe(seen.indexOf('sess-bulk-06') - 1);
    expect(ids(await sessionsOf('?limit=1'))).toEqual(['sess-late-1']);
  });

  it('pages oldest first through the whole ledger when asked, the exact reverse of newest first', async () => {
    const newest = ids(await sessionsOf('?limit=200'));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(`/api/sessions?sort=oldest&limit=6${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, 'auditor-ann');
      expect(res.statusCode).toBe(200);
      const body = res.json() as { sessions: SessionJson[]; next: string | null };
      seen.push(...ids(body.sessions));
      cursor = body.next;
    } while (cursor !== null);
    expect(seen).toEqual([...newest].reverse());
  });

  it('bad query parameters: 400 naming the parameter, before touching the ledger', async () => {
    const cases: Array<[string, string]> = [
      ['?limit=0', 'query parameter "limit" must be >= 1'],
      ['?limit=5000', 'query parameter "limit" must be <= 200'],
      ['?limit=ten', 'query parameter "limit" must be integer'],
      ['?status=finished', 'query parameter "status" must be one of: active, ok, denied, error'],
      ['?protocol=ftp', 'query parameter "protocol" must be one of'],
      ['?identiy=ci-agent', 'unknown query parameter "identiy"'],
      ['?sort=longest', 'query parameter "sort" must be one of: newest, oldest'],
      ['?since=last-tuesday', 'query parameter "since": not a time: "last-tuesday"'],
      ['?cursor=page-2', 'query parameter "cursor" is not in the expected form'],
      [`?text=${encodeURIComponent('"unbalanced')}`, 'query parameter "text":'],
      [`?identity=${'x'.repeat(300)}`, 'query parameter "identity" must NOT have more than 256 characters'],
    ];
    for (const [query, message] of cases) {
      const res = await get(`/api/sessions${query}`, 'auditor-ann');
      expect(res.statusCode, query).toBe(400);
      expect(errorOf(res).code, query).toBe('GH_ERR_USAGE');
      expect(errorOf(res).message, query).toContain(message);
    }
    const badId = await get('/api/sessions/..%2Fetc', 'auditor-ann');
    expect(badId.statusCode).toBe(400);
    expect(errorOf(badId).message).toContain('path parameter "id"');
    // authentication comes first: without a token a bad query is still a 401
    expect((await get('/api/sessions?limit=0')).statusCode).toBe(401);
  });
});

describe('console API: one session', () => {
  it('the report JSON shows the identity and every command with its result, and the read is recorded naming the viewer', async () => {
    const before = (await consoleRecords()).length;
    const res = await get('/api/sessions/sess-pg-1', 'auditor-ann');
    expect(res.statusCode).toBe(200);
    const rep = res.json() as SessionReport;
    expect(rep.identity).toEqual({
      subject: 'ci-agent', groups: ['ci-agents'], authorizedBy: 'ci-agents', issuer: 'https://idp.example', clientId: 'ci-agent', tokenId: 'jti-ci-agent',
      tokenSha256: 'ab'.repeat(32), ciJob: '4711', verified: true,
    });
    expect(rep.session).toMatchObject({ id: 'sess-pg-1', connection: 'orders', status: 'ok', statements: 2, client: { application: 'psql' } });
    const commands = rep.events.filter((e) => e.type === 'pg.query');
    expect(commands.map((e) => e.command)).toEqual(['SELECT id, total FROM orders WHERE id = 1', 'DELETE FROM orders WHERE id = 7']);
    expect(commands[0]).toMatchObject({ time: '2026-11-02T09:00:00.001000Z', result: { status: 'ok', rows: 1, columns: ['id', 'total'], sample: [['1', '99.50']] } });
    expect(rep.ledger.lastSeq).toBeGreaterThan(rep.ledger.firstSeq!);

    const after = await consoleRecords();
    expect(after).toHaveLength(before + 1);
    const last = after.at(-1)!;
    expect(last.sessionId).toBe('');
    expect(last.event).toEqual({
      type: 'console.view', what: 'session.report', sessionId: 'sess-pg-1',
      viewer: {
        subject: 'auditor-ann', groups: ['auditors', 'dba'], role: 'auditor', ciJob: null,
        tokenId: expect.any(String), tokenSha256: createHash('sha256').update(tokens['auditor-ann']!).digest('hex'),
      },
    } satisfies ConsoleViewEvent);
  });

  it('an unknown session is a 404 that says so, and is not recorded as a view', async () => {
    const before = (await consoleRecords()).length;
    const res = await get('/api/sessions/sess-nope', 'auditor-ann');
    expect(res.statusCode).toBe(404);
    expect(errorOf(res)).toEqual({ code: 'GH_ERR_SESSION_NOT_FOUND', message: 'no session sess-nope in the ledger' });
    expect((await get('/api/sessions/sess-nope/report.html', 'auditor-ann')).statusCode).toBe(404);
    expect(await consoleRecords()).toHaveLength(before);
  });

  it('a denied login has a report too: who was refused and why', async () => {
    const rep = (await get('/api/sessions/sess-denied-1', 'reviewer-rita')).json() as SessionReport;
    expect(rep.session.status).toBe('denied');
    expect(rep.identity.subject).toBe('intern-bot');
    expect(rep.events[0]).toMatchObject({ type: 'auth.denied', code: 'GH_ERR_ACCESS_DENIED', reason: 'no group of the token is mapped to orders' });
  });

  it('the HTML report downloads as one self-contained file, and the download is recorded', async () => {
    const res = await get('/api/sessions/sess-pg-2/report.html', 'reviewer-rita');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="gatehouse-session-sess-pg-2.html"');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.body).toMatch(/^<!DOCTYPE html>/i);
    expect(res.body).toContain('etl-bot');
    expect(res.body).toContain('INSERT INTO invoices (id) VALUES (1)');
    expect(res.body).toContain('duplicate key value violates unique constraint &quot;invoices_pkey&quot;');
    expect(res.body).not.toMatch(/<script|https?:\/\/(?!idp\.example)/i);
    expect((await consoleRecords()).at(-1)!.event).toMatchObject({
      type: 'console.export', what: 'session.report.html', sessionId: 'sess-pg-2', viewer: { subject: 'reviewer-rita', role: 'reviewer' },
    });
  });
});

describe('console API: SSH recordings', () => {
  it('lists a session\'s recordings with the digests the ledger holds', async () => {
    const res = await get('/api/sessions/sess-ssh-1/recordings', 'auditor-ann');
    expect(res.json()).toEqual({
      sessionId: 'sess-ssh-1',
      recordings: [{ channel: 1, shellSeq: expect.any(Number), file: 'sess-ssh-1-1.cast', bytes: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/), events: 2, durationUs: 5000, finished: true, url: '/api/recordings/sess-ssh-1/1' }],
    });
    expect((await get('/api/sessions/sess-pg-1/recordings', 'auditor-ann')).json()).toEqual({ sessionId: 'sess-pg-1', recordings: [] });
  });

  it('serves a recording that matches its digest, and records the export with that digest', async () => {
    const listed = ((await get('/api/sessions/sess-ssh-1/recordings', 'auditor-ann')).json() as { recordings: Array<{ sha256: string; bytes: number }> }).recordings[0]!;
    const res = await get('/api/recordings/sess-ssh-1/1', 'auditor-ann');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-asciicast');
    expect(res.headers['x-gatehouse-sha256']).toBe(listed.sha256);
    expect(res.rawPayload.length).toBe(listed.bytes);
    expect(createHash('sha256').update(res.rawPayload).digest('hex')).toBe(listed.sha256);
    expect(res.body.split('\n')[0]).toContain('"version":2');
    expect(res.body).toContain('load average');
    expect((await consoleRecords()).at(-1)!.event).toMatchObject({
      type: 'console.export', what: 'ssh.recording', sessionId: 'sess-ssh-1', channel: 1, file: 'sess-ssh-1-1.cast', sha256: listed.sha256, viewer: { subject: 'auditor-ann' },
    });
  });

  it('refuses a recording changed since the session, saying so, and sends none of it', async () => {
    const before = (await consoleRecords()).length;
    const res = await get('/api/recordings/sess-ssh-2/0', 'auditor-ann');
    expect(res.statusCode).toBe(409);
    expect(errorOf(res)).toMatchObject({ code: 'GH_ERR_RECORDING_MISMATCH', message: expect.stringContaining('does not match the ledger') });
    expect(res.body).not.toContain('tampered');
    expect(await consoleRecords()).toHaveLength(before);
  });

  it('a channel without a recording, or a session without any, is a 404 that says what the session did', async () => {
    const res = await get('/api/recordings/sess-ssh-1/7', 'auditor-ann');
    expect(res.statusCode).toBe(404);
    expect(errorOf(res)).toMatchObject({ code: 'GH_ERR_RECORDING_NOT_FOUND', message: expect.stringContaining('no recording on channel 7') });
    const pg = await get('/api/recordings/sess-pg-1/0', 'auditor-ann');
    expect(errorOf(pg).message).toContain('it ran 2 SQL statements');
  });
});

describe('console API: approvals with roles', () => {
  it('an auditor reads approvals but cannot decide them, even as a member of the rule\'s reviewer group', async () => {
    const requester = await verifier.verify(tokens['ci-agent']!);
    const { approval } = await broker.request(input({ requester }));
    const list = await get('/api/approvals', 'auditor-ann');
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain(approval.id);
    for (const action of ['approve', 'deny']) {
      const res = await app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/${action}`, headers: auth('auditor-ann'), payload: {} });
      expect(res.statusCode).toBe(403);
      expect(errorOf(res)).toMatchObject({ code: 'GH_ERR_APPROVAL_FORBIDDEN', message: expect.stringContaining('your console role is auditor; this needs reviewers or admins') });
    }
    expect(broker.get(approval.id)?.state).toBe('pending');

    // a reviewer decides it, and the decision is in the ledger naming them
    const ok = await app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/approve`, headers: auth('reviewer-ray'), payload: { reason: 'ticket OPS-9' } });
    expect(ok.statusCode).toBe(200);
    const decided = (await ledger.recordsOfType('approval.decided')).map((r) => r.event).find((e) => e.type === 'approval.decided' && e.approvalId === approval.id);
    expect(decided).toMatchObject({ decision: 'approved', by: 'reviewer', reason: 'ticket OPS-9', reviewer: { subject: 'reviewer-ray', groups: ['reviewers', 'dba'] } });
  });

  it('a reviewer cannot approve their own request (another reviewer can deny it)', async () => {
    const rita = await verifier.verify(tokens['reviewer-rita']!);
    const { approval, outcome } = await broker.request(input({ requester: rita }));
    const self = await app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/approve`, headers: auth('reviewer-rita'), payload: {} });
    expect(self.statusCode).toBe(403);
    expect(errorOf(self)).toMatchObject({ code: 'GH_ERR_APPROVAL_FORBIDDEN', message: 'you may not approve your own request' });
    expect((await app.inject({ method: 'POST', url: `/api/approvals/${approval.id}/deny`, headers: auth('reviewer-ray'), payload: { reason: 'not during the freeze' } })).statusCode).toBe(200);
    expect(await outcome).toMatchObject({ decision: 'denied', reviewer: { subject: 'reviewer-ray' } });
  });
});

describe('console API: integrity', () => {
  it('downloads a session\'s evidence bundle that verifies offline, and records the download', async () => {
    await checkpointer.checkpoint();
    const res = await get('/api/sessions/sess-pg-2/evidence.json', 'auditor-ann');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-disposition']).toBe('attachment; filename="gatehouse-evidence-sess-pg-2.json"');
    const bundle = JSON.parse(res.body) as { sessionId: string; records: unknown[]; checkpoint: { treeSize: number } };
    expect(bundle.sessionId).toBe('sess-pg-2');
    expect(verifyEvidence(bundle, parsePublicKey(publicPem))).toMatchObject({ ok: true, records: bundle.records.length, keyId });
    expect((await consoleRecords()).at(-1)!.event).toMatchObject({
      type: 'console.export', what: 'session.evidence', sessionId: 'sess-pg-2', treeSize: bundle.checkpoint.treeSize, viewer: { subject: 'auditor-ann' },
    });
    expect((await get('/api/sessions/sess-nope/evidence.json', 'auditor-ann')).statusCode).toBe(404);
    expect((await get('/api/sessions/sess-pg-2/evidence.json', 'ci-agent')).statusCode).toBe(403);
  });

  it('shows the ledger head and the latest signed checkpoints', async () => {
    await checkpointer.checkpoint();
    const res = await get('/api/integrity?checkpoints=2', 'auditor-ann');
    expect(res.statusCode).toBe(200);
    const body = res.json() as { logId: string; head: { seq: number; hash: string }; tree: { size: number }; checkpoints: { count: number; latest: Array<{ seq: number; treeSize: number; keyId: string }> } };
    const head = await ledger.head();
    expect(body.logId).toBe(await ledger.logId());
    expect(body.head).toEqual(head);
    expect(body.tree.size).toBe(head.seq);
    expect(body.checkpoints.count).toBeGreaterThanOrEqual(2);
    expect(body.checkpoints.latest).toHaveLength(2);
    expect(body.checkpoints.latest[0]).toMatchObject({ seq: head.seq, treeSize: head.seq - 1, keyId });
    expect(body.checkpoints.latest[0]!.seq).toBeGreaterThan(body.checkpoints.latest[1]!.seq);
  });

  it('runs verification: wait=0 answers 202 with progress, a wait gets the result, and the latest run is shown', async () => {
    const started = await app.inject({ method: 'POST', url: '/api/integrity/verify?wait=0', headers: auth('auditor-ann') });
    expect(started.statusCode).toBe(202);
    expect(started.headers.location).toBe('/api/integrity/verify');
    expect(started.json()).toMatchObject({ verification: { state: 'running', startedBy: 'auditor-ann', finishedAt: null } });

    const done = await app.inject({ method: 'POST', url: '/api/integrity/verify', headers: auth('reviewer-rita') });
    expect(done.statusCode).toBe(200);
    const v = (done.json() as { verification: { state: string; checked: number; keyId: string; logs: Array<{ ok: boolean; records: number; checkpoints: number; witnessed: number }> } }).verification;
    expect(v).toMatchObject({ state: 'ok', keyId, keySource: "the gateway's own signing key" });
    expect(v.logs).toHaveLength(1);
    expect(v.logs[0]).toMatchObject({ ok: true, checkpoints: expect.any(Number), witnessed: expect.any(Number) });
    expect(v.logs[0]!.witnessed).toBeGreaterThanOrEqual(1);
    expect(v.checked).toBe(v.logs[0]!.records);
    expect((await get('/api/integrity/verify', 'auditor-ann')).json()).toMatchObject({ verification: { state: 'ok' } });
    expect((await app.inject({ method: 'POST', url: '/api/integrity/verify?wait=31', headers: auth('auditor-ann') })).statusCode).toBe(400);
  });
});

describe('console API: the console\'s own access log and the OpenAPI document', () => {
  it('admins read who viewed and downloaded what; auditors may not', async () => {
    expect((await get('/api/console/access', 'auditor-ann')).statusCode).toBe(403);
    const res = await get('/api/console/access?sessionId=sess-pg-1', 'admin-ada');
    expect(res.statusCode).toBe(200);
    const records = (res.json() as { records: Array<{ type: string; event: ConsoleViewEvent }> }).records;
    expect(records.length).toBeGreaterThanOrEqual(1);
    expect(records.every((r) => r.event.sessionId === 'sess-pg-1')).toBe(true);
    expect(records.at(-1)).toMatchObject({ type: 'console.view', event: { viewer: { subject: 'auditor-ann' } } });
  });

  it('openapi.json lists every route with its parameters, responses and role', async () => {
    const res = await get('/api/openapi.json');
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, { parameters: Array<{ name: string; in: string }>; responses: Record<string, unknown>; 'x-gatehouse-role': string }>> };
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.entries(doc.paths).flatMap(([p, o]) => Object.keys(o).map((m) => `${m.toUpperCase()} ${p}`)).sort();
    expect(ops).toEqual([
      'GET /api/approvals', 'GET /api/approvals/{id}', 'GET /api/console/access', 'GET /api/grants', 'GET /api/health', 'GET /api/integrity',
      'GET /api/integrity/verify', 'GET /api/me', 'GET /api/openapi.json', 'GET /api/recordings/{sessionId}/{channel}', 'GET /api/sessions',
      'GET /api/sessions/{id}', 'GET /api/sessions/{id}/evidence.json', 'GET /api/sessions/{id}/recordings', 'GET /api/sessions/{id}/report.html', 'POST /api/approvals/{id}/approve',
      'POST /api/approvals/{id}/deny', 'POST /api/integrity/verify',
    ].sort());
    const list = doc.paths['/api/sessions']!.get!;
    expect(list['x-gatehouse-role']).toBe('auditor');
    expect(list.parameters.map((p) => p.name)).toEqual(['identity', 'group', 'connection', 'protocol', 'status', 'ciJob', 'token', 'since', 'until', 'text', 'sort', 'cursor', 'limit']);
    expect(Object.keys(list.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403']));
    expect(doc.paths['/api/approvals/{id}/approve']!.post!['x-gatehouse-role']).toBe('reviewer');
    expect(doc.paths['/api/approvals/{id}/approve']!.post).toMatchObject({ requestBody: { content: { 'application/json': { schema: { properties: { reason: { type: 'string' }, grant: { type: 'string' } } } } } } });
    expect(doc.paths['/api/sessions/{id}/report.html']!.get!.responses['200']).toMatchObject({ content: { 'text/html': { schema: { type: 'string' } } } });
  });
});

describe('console API without console.roles', () => {
  it('nobody may read sessions, and the approvals routes keep their original rules', async () => {
    const bare = buildApi({ broker, verifier, log: pino({ level: 'silent' }), console: consoleDepsFrom({ config: parseConfig({ identity: { issuer: idp.issuer, audience: AUDIENCE }, ledger: { sqlite: './ledger.db' }, listeners: {} }), file: null, baseDir: dir }, ledger) });
    try {
      const res = await bare.inject({ url: '/api/sessions', headers: auth('admin-ada') });
      expect(res.statusCode).toBe(403);
      expect(errorOf(res).message).toContain('console roles are not configured');
      // any authenticated principal lists approvals, as before roles existed
      expect((await bare.inject({ url: '/api/approvals', headers: auth('nobody-ned') })).statusCode).toBe(200);
    } finally {
      await bare.close();
    }
  });
});

describe('console API: verification finds a tampered ledger', () => {
  it('a record altered in the store: the run is broken and names the record', async () => {
    const db = new Database(join(dir, 'ledger.db'));
    try {
      db.exec('DROP TRIGGER records_no_update');
      const row = db.prepare("SELECT seq, payload FROM records WHERE session_id = 'sess-pg-1' AND type = 'pg.query' ORDER BY seq LIMIT 1").get() as { seq: number; payload: string };
      db.prepare('UPDATE records SET payload = ? WHERE seq = ?').run(row.payload.replace('id = 1', 'id = 2'), row.seq);
      const res = await app.inject({ method: 'POST', url: '/api/integrity/verify', headers: auth('auditor-ann') });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ verification: { state: 'broken', logs: [{ ok: false, badSeq: row.seq, problem: `record ${row.seq} was altered (its content no longer matches its hash)` }] } });
    } finally {
      db.close();
    }
  });
});
