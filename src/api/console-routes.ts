import { basename } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { isoFromUs, usFromTimeArg } from '../core/clock.js';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import type { AuditEventType, SessionStatus } from '../core/events.js';
import type { LedgerStore, SessionFilter } from '../ledger/ledger.js';
import { buildEvidence } from '../ledger/evidence.js';
import { renderHtml } from '../report/render-html.js';
import { findRecording, openVerified, rereadVerified } from '../report/replay.js';
import { buildSessionReport } from '../report/session-report.js';
import { sessionJson } from '../report/sessions-table.js';
import { recordConsoleAction } from './console-audit.js';
import { principalOf, requireRole, type ConsoleRoles } from './roles.js';
import { errorResponses, reportSchema, sessionIdSchema, sessionSchema } from './schemas.js';

/**
 * The console's read routes: sessions (filtered, full text, cursor paging), one session's report
 * (JSON model and self-contained HTML), its SSH recordings (each checked against the digest the
 * ledger holds before a byte is sent). Auditors and up; every report read and every download is
 * recorded first (console-audit.ts).
 */

export interface ConsoleRoutesDeps {
  ledger: LedgerStore;
  roles: ConsoleRoles | null;
  /** where SSH terminal recordings are (config recordingsDir()) */
  recordingsDir: string;
}

export const SESSIONS_PAGE_MAX = 200;
const FILTER = { type: 'string', minLength: 1, maxLength: 256 } as const;

const sessionsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    identity: { ...FILTER, description: 'token subject' },
    group: { ...FILTER, description: 'a group the token held' },
    connection: FILTER,
    protocol: { type: 'string', enum: ['postgres', 'ssh', 'http', 'kubernetes'] },
    status: { type: 'string', enum: ['active', 'ok', 'denied', 'error'] },
    ciJob: FILTER,
    token: { ...FILTER, description: 'token id (jti) or the token\'s SHA-256' },
    since: { type: 'string', minLength: 1, maxLength: 64, description: 'sessions started at or after: ISO-8601, or 15m / 2h / 7d ago' },
    until: { type: 'string', minLength: 1, maxLength: 64, description: 'sessions started before: ISO-8601, or 15m / 2h / 7d ago' },
    text: { type: 'string', minLength: 1, maxLength: 512, description: 'full text over the sessions\' commands: words, "phrases", AND, OR, NOT, prefix*' },
    sort: { type: 'string', enum: ['newest', 'oldest'], default: 'newest', description: 'by start time, then id: newest or oldest first (a cursor continues in the order it came from)' },
    cursor: { type: 'string', maxLength: 160, pattern: '^\\d{1,20}:[A-Za-z0-9._:-]{1,128}$', description: '`next` of the previous page' },
    limit: { type: 'integer', minimum: 1, maximum: SESSIONS_PAGE_MAX, default: 50 },
  },
} as const;

interface SessionsQuery {
  identity?: string; group?: string; connection?: string; protocol?: string; status?: SessionStatus; ciJob?: string; token?: string;
  since?: string; until?: string; text?: string; sort: 'newest' | 'oldest'; cursor?: string; limit: number;
}

function timeParam(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  try {
    return usFromTimeArg(v);
  } catch (e) {
    throw new GatehouseError('GH_ERR_USAGE', `query parameter "${name}": ${(e as Error).message}`);
  }
}

/** The ledger's messages name the CLI's flags (`--text "..."`); the API's callers sent query parameters. */
function asQueryError(e: unknown): unknown {
  if (isGatehouseError(e) && e.code === 'GH_ERR_USAGE') return new GatehouseError('GH_ERR_USAGE', e.message.replace(/^--(\w+)/, 'query parameter "$1":'));
  return e;
}

const recordingSchema = {
  type: 'object',
  properties: {
    channel: { type: 'integer' }, shellSeq: { type: 'integer' }, file: { type: 'string' }, bytes: { type: 'integer' }, sha256: { type: 'string' },
    events: { type: 'integer' }, durationUs: { type: 'integer' }, finished: { type: 'boolean' }, url: { type: ['string', 'null'] },
  },
} as const;

interface RecordingJson {
  channel: number; shellSeq: number; file: string; bytes: number; sha256: string; events: number; durationUs: number;
  /** false: the shell never finished its recording, so the ledger holds no digest and the API will not serve it */
  finished: boolean;
  url: string | null;
}

export function consoleRoutes(app: FastifyInstance, deps: ConsoleRoutesDeps): void {
  const { ledger, roles } = deps;
  const auditor = requireRole(roles, 'auditor');

  async function sessionOr404(id: string) {
    const summary = await ledger.getSession(id);
    if (!summary) throw new GatehouseError('GH_ERR_SESSION_NOT_FOUND', `no session ${id} in the ledger`);
    return summary;
  }

  app.get('/api/me', {
    onRequest: auditor,
    schema: {
      summary: 'Who you are to the console: subject, groups, role', role: 'auditor',
      response: {
        200: {
          type: 'object',
          properties: {
            subject: { type: 'string' }, groups: { type: 'array', items: { type: 'string' } }, role: { type: 'string' },
            may: { type: 'object', properties: { read: { type: 'boolean' }, decideApprovals: { type: 'boolean' }, admin: { type: 'boolean' } } },
            via: { type: 'string', enum: ['session'], description: 'present for a console session (cookie); absent for a bearer token' },
            csrfToken: { type: 'string', description: 'console session only: send it as X-CSRF-Token on every POST' },
          },
        },
        ...errorResponses(),
      },
    },
  }, async (req) => {
    const p = principalOf(req);
    const role = req.consoleRole!;
    const session = req.consoleSession;
    return {
      subject: p.subject, groups: p.groups, role, may: { read: true, decideApprovals: role !== 'auditor', admin: role === 'admin' },
      // a console session: how it was authenticated, and the CSRF token its POSTs need (bearer callers need none)
      ...(session ? { via: 'session', csrfToken: session.csrfToken } : {}),
    };
  });

  app.get('/api/sessions', {
    onRequest: auditor,
    schema: {
      summary: 'Sessions, newest (or oldest) first, filtered and paged (what `gatehouse sessions` lists)', role: 'auditor',
      querystring: sessionsQuery,
      response: { 200: { type: 'object', properties: { sessions: { type: 'array', items: sessionSchema }, next: { type: ['string', 'null'] } } }, ...errorResponses() },
    },
  }, async (req) => {
    const q = req.query as SessionsQuery;
    // one more than asked tells whether there is a next page
    const filter: SessionFilter = { limit: q.limit + 1, order: q.sort };
    const keys = ['identity', 'group', 'connection', 'protocol', 'status', 'ciJob', 'token', 'text', 'cursor'] as const;
    for (const k of keys) if (q[k] !== undefined) (filter as Record<string, unknown>)[k] = q[k];
    const since = timeParam('since', q.since);
    const until = timeParam('until', q.until);
    if (since !== undefined) filter.since = since;
    if (until !== undefined) filter.until = until;
    let list;
    try {
      list = await ledger.listSessions(filter);
    } catch (e) {
      throw asQueryError(e);
    }
    const page = list.slice(0, q.limit);
    const last = page.at(-1);
    return { sessions: page.map(sessionJson), next: list.length > q.limit && last ? `${last.startedAt}:${last.id}` : null };
  });

  app.get('/api/sessions/:id', {
    onRequest: auditor,
    schema: {
      summary: 'One session\'s report (the model `gatehouse report --format json` prints); the read is recorded (console.view)', role: 'auditor',
      params: { type: 'object', required: ['id'], properties: { id: sessionIdSchema } },
      response: { 200: reportSchema, ...errorResponses(404) },
    },
  }, async (req) => {
    const { id } = req.params as { id: string };
    const summary = await sessionOr404(id);
    const report = buildSessionReport(summary, await ledger.sessionRecords(id));
    await recordConsoleAction(ledger, req, { type: 'console.view', what: 'session.report', sessionId: id });
    return report;
  });

  app.get('/api/sessions/:id/report.html', {
    onRequest: auditor,
    schema: {
      summary: 'One session\'s report as a self-contained HTML file (download); recorded (console.export)', role: 'auditor',
      params: { type: 'object', required: ['id'], properties: { id: sessionIdSchema } },
      response: { 200: { content: { 'text/html': { schema: { type: 'string' } } } }, ...errorResponses(404) },
    },
  }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const summary = await sessionOr404(id);
    const html = renderHtml(buildSessionReport(summary, await ledger.sessionRecords(id)));
    await recordConsoleAction(ledger, req, { type: 'console.export', what: 'session.report.html', sessionId: id });
    return reply
      .type('text/html; charset=utf-8')
      .header('content-disposition', `attachment; filename="gatehouse-session-${id}.html"`)
      // the report carries recorded, attacker-controlled text: nothing in it may run or load anything
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
      .send(html);
  });

  app.get('/api/sessions/:id/evidence.json', {
    onRequest: auditor,
    schema: {
      summary: 'One session\'s evidence bundle (its records with inclusion proofs against a signed checkpoint; `gatehouse verify-evidence` checks it offline); recorded (console.export)', role: 'auditor',
      params: { type: 'object', required: ['id'], properties: { id: sessionIdSchema } },
      response: { 200: { content: { 'application/json': { schema: { type: 'object' } } } }, ...errorResponses(404, 409) },
    },
  }, async (req, reply) => {
    const { id } = req.params as { id: string };
    await sessionOr404(id);
    const log = await ledger.sessionLog(id);
    if (log === null) throw new GatehouseError('GH_ERR_SESSION_NOT_FOUND', `session ${id} has no records in the ledger`);
    const bundle = await buildEvidence(ledger.forLog(log), id);
    await recordConsoleAction(ledger, req, { type: 'console.export', what: 'session.evidence', sessionId: id, treeSize: bundle.checkpoint.treeSize });
    return reply
      .type('application/json; charset=utf-8')
      .header('content-disposition', `attachment; filename="gatehouse-evidence-${id}.json"`)
      .send(`${JSON.stringify(bundle, null, 2)}\n`);
  });

  app.get('/api/sessions/:id/recordings', {
    onRequest: auditor,
    schema: {
      summary: 'The SSH terminal recordings of a session, with the digests the ledger holds', role: 'auditor',
      params: { type: 'object', required: ['id'], properties: { id: sessionIdSchema } },
      response: { 200: { type: 'object', properties: { sessionId: { type: 'string' }, recordings: { type: 'array', items: recordingSchema } } }, ...errorResponses(404) },
    },
  }, async (req) => {
    const { id } = req.params as { id: string };
    await sessionOr404(id);
    const records = await ledger.sessionRecords(id);
    const recordings: RecordingJson[] = records.flatMap((r) => {
      const e = r.event;
      if (e.type === 'ssh.recording') {
        return [{ channel: e.channel, shellSeq: e.shellSeq, file: e.file, bytes: e.bytes, sha256: e.sha256, events: e.events, durationUs: e.durationUs, finished: true, url: `/api/recordings/${encodeURIComponent(id)}/${e.channel}` }];
      }
      // a kubectl exec/attach stream: one per session, served as channel 0 (as `gatehouse replay` plays it)
      if (e.type === 'kubernetes.stream' && e.recording) {
        const k = e.recording;
        return [{ channel: 0, shellSeq: e.requestSeq, file: k.file, bytes: k.bytes, sha256: k.sha256, events: k.events, durationUs: e.durationUs, finished: true, url: `/api/recordings/${encodeURIComponent(id)}/0` }];
      }
      return [];
    });
    // a shell whose recording was never finished has no digest to check a file against
    for (const r of records) {
      if (r.event.type === 'ssh.shell' && !recordings.some((x) => x.shellSeq === r.seq)) {
        recordings.push({ channel: r.event.channel, shellSeq: r.seq, file: r.event.recording, bytes: 0, sha256: '', events: 0, durationUs: 0, finished: false, url: null });
      }
    }
    return { sessionId: id, recordings };
  });

  app.get('/api/recordings/:sessionId/:channel', {
    onRequest: auditor,
    schema: {
      summary: 'An SSH terminal recording (asciicast v2), sent only when it matches the SHA-256 and size the ledger holds; recorded (console.export)',
      role: 'auditor',
      params: {
        type: 'object',
        required: ['sessionId', 'channel'],
        properties: { sessionId: sessionIdSchema, channel: { type: 'integer', minimum: 0, maximum: 4294967295 } },
      },
      response: { 200: { content: { 'application/x-asciicast': { schema: { type: 'string' } } } }, ...errorResponses(404, 409) },
    },
  }, async (req, reply) => {
    const { sessionId, channel } = req.params as { sessionId: string; channel: number };
    await sessionOr404(sessionId);
    const ref = findRecording(sessionId, await ledger.sessionRecords(sessionId), deps.recordingsDir, channel);
    const fh = await openVerified(ref);
    try {
      await recordConsoleAction(ledger, req, { type: 'console.export', what: 'ssh.recording', sessionId, file: ref.record.file, channel, bytes: ref.record.bytes, sha256: ref.record.sha256 });
    } catch (e) {
      await fh.close();
      throw e;
    }
    const { stream, check } = rereadVerified(fh, ref);
    // hashed again as it is sent; the last chunk is held back until the digest checks out, so a file
    // changed while it was read never arrives whole (the response stops short of its content-length)
    async function* verified(): AsyncGenerator<Buffer> {
      let held: Buffer | null = null;
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          if (held) yield held;
          held = chunk;
        }
        check();
        if (held) yield held;
      } finally {
        await fh.close();
      }
    }
    return reply
      .type('application/x-asciicast')
      .header('content-length', String(ref.record.bytes))
      .header('content-disposition', `attachment; filename="${basename(ref.record.file).replace(/[^A-Za-z0-9._-]/g, '_')}"`)
      .header('x-gatehouse-sha256', ref.record.sha256)
      .send(Readable.from(verified()));
  });

  app.get('/api/console/access', {
    onRequest: requireRole(roles, 'admin'),
    schema: {
      summary: 'The console\'s own access log: who read or downloaded what (console.view / console.export records), and who logged in or out (console.login / console.logout), newest first', role: 'admin',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { sessionId: sessionIdSchema, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
      },
      response: {
        200: {
          type: 'object',
          properties: {
            records: {
              type: 'array',
              items: { type: 'object', properties: { seq: { type: 'integer' }, time: { type: 'string' }, type: { type: 'string' }, event: { type: 'object', additionalProperties: true } } },
            },
          },
        },
        ...errorResponses(),
      },
    },
  }, async (req) => {
    const q = req.query as { sessionId?: string; limit: number };
    const all = [...(await ledger.recordsOfType('console.view')), ...(await ledger.recordsOfType('console.export'))];
    // logins and logouts (console-login-audit.ts) belong to no session: listed when no session is asked for
    if (q.sessionId === undefined) {
      for (const t of ['console.login', 'console.logout']) all.push(...(await ledger.recordsOfType(t as AuditEventType)));
    }
    const records = all
      .filter((r) => q.sessionId === undefined || ((r.event.type === 'console.view' || r.event.type === 'console.export') && r.event.sessionId === q.sessionId))
      .sort((a, b) => b.seq - a.seq)
      .slice(0, q.limit)
      .map((r) => ({ seq: r.seq, time: isoFromUs(r.time), type: r.type, event: r.event }));
    return { records };
  });
}
