import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { monoUs, nowUs } from '../../core/clock.js';
import type { WebConnectionConfig } from '../../core/config.js';
import type { Duplex } from 'node:stream';
import { GatehouseError, asGatehouseError } from '../../core/errors.js';
import { commandText, type AuditEvent, type ClientRecord, type HttpRequestEvent, type HttpResponseEvent } from '../../core/events.js';
import type { Logger } from '../../core/log.js';
import { newApprovalId, type ApprovalBroker } from '../../approvals/broker.js';
import { admit, deniedEvent } from '../../identity/admission.js';
import type { Principal } from '../../identity/principal.js';
import { SessionMasker, newTally } from '../../masking/session.js';
import { commandGate, decisionRecord, type GateDecision } from '../../policy/gate.js';
import type { ListenerDeps } from '../deps.js';
import { emptyBody } from './body-tap.js';
import { refuse, sendError, type ErrorFormat } from './errors.js';
import { kubeAttributes, type KubeAttributes } from '../kubernetes/attributes.js';
import { proxyUpgrade, upgradeRefusal } from '../kubernetes/upgrade.js';
import { forward, type ForwardOutcome, type HttpRoute } from './forward.js';
import { PathError, recordedHeaders, recordedQuery, selectConnection, upstreamPath } from './request-parts.js';

/**
 * One HTTP request through the gateway, as one ledger session: the agent's bearer token verified,
 * the connection chosen (Host or /c/<name>/) and admitted, the policy decided, session.start and
 * http.request recorded before any byte goes upstream, then the exchange and its http.response.
 */

export type HttpGatewayDeps = ListenerDeps;

export interface ExchangeContext {
  deps: HttpGatewayDeps;
  routes: ReadonlyMap<string, HttpRoute>;
  connections: readonly WebConnectionConfig[];
  log: Logger;
  /** where Kubernetes exec/attach streams are recorded (asciicast) */
  recordingsDir: string;
}

/** An Upgrade request (Kubernetes exec, attach, port-forward): the agent's socket, and bytes read past the headers. */
export interface UpgradeRequest {
  socket: Duplex;
  head: Buffer;
}

const BEARER = /^Bearer +([^\s]+) *$/i;

function bearerToken(header: string | undefined, maxBytes: number): string {
  const m = header === undefined ? null : BEARER.exec(header);
  if (!m) throw new GatehouseError('GH_ERR_TOKEN_MISSING', 'no token was given; send the OIDC access token as "Authorization: Bearer <token>"');
  if (Buffer.byteLength(m[1]!) > maxBytes) throw new GatehouseError('GH_ERR_TOKEN_TOO_LARGE', `the token is larger than ${maxBytes} bytes`);
  return m[1]!;
}

function clientOf(req: IncomingMessage): ClientRecord {
  const ua = req.headers['user-agent'];
  return {
    address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0, tls: (req.socket as Partial<TLSSocket>).encrypted === true,
    user: null, application: ua === undefined ? null : ua.slice(0, 200),
  };
}

export async function handleExchange(req: IncomingMessage, res: ServerResponse, ctx: ExchangeContext, upgrade?: UpgradeRequest): Promise<void> {
  const started = monoUs();
  const { deps } = ctx;
  const cfg = deps.loaded.config;
  const client = clientOf(req);
  const method = (req.method ?? 'GET').toUpperCase();
  const url = req.url ?? '/';
  if (!url.startsWith('/')) {
    sendError(res, 400, 'GH_ERR_PROTOCOL', 'use a path as the request target (/c/CONNECTION/...); the gateway is not a forward proxy');
    return;
  }
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const search = q < 0 ? '' : url.slice(q);
  const sel = selectConnection(ctx.connections, req.headers.host, path);
  const kind = ctx.connections.find((c) => c.name === sel.name)?.type === 'kubernetes' ? 'kubernetes' : 'http';
  const format: ErrorFormat = kind === 'kubernetes' ? 'kubernetes' : 'json';

  let token: string | null = null;
  let principal: Principal | null = null;
  let route: HttpRoute;
  let authorizedBy: string;
  try {
    token = bearerToken(req.headers.authorization, cfg.identity.maxTokenBytes);
    principal = await deps.verifier.verify(token);
    const admission = admit(principal, sel.name, cfg.connections, kind);
    route = ctx.routes.get(admission.connection.name)!;
    authorizedBy = admission.authorizedBy;
  } catch (e) {
    const err = asGatehouseError(e, 'GH_ERR_TOKEN_MALFORMED', 'the token could not be verified');
    ctx.log.info({ code: err.code, connection: sel.name, subject: principal?.subject, err: err.detail ?? err.message, client: `${client.address}:${client.port}` }, 'http access refused');
    try {
      await deps.ledger.append([{ sessionId: randomUUID(), time: nowUs(), event: deniedEvent(kind, err, sel.name, client, principal, token) }]);
    } catch (le) {
      ctx.log.error({ err: (le as Error).message }, 'ledger append failed while recording a refusal');
    }
    await refuse(req, res, err, undefined, format);
    return;
  }

  const c = route.connection;
  const sessionId = randomUUID();
  const log = ctx.log.child({ session: sessionId });
  const record = (events: AuditEvent[]) => deps.ledger.append(events.map((event) => ({ sessionId, time: nowUs(), event })));
  const start: AuditEvent = {
    type: 'session.start', protocol: kind, connection: c.name, identity: principal, authorizedBy, client,
    upstream: { host: route.host, port: route.port, database: null, user: route.credential.type, tls: route.tls }, parameters: {},
  };
  const end = (status: 'ok' | 'error', reason: string): AuditEvent => ({
    type: 'session.end', status, reason, statements: 1, errors: status === 'error' ? 1 : 0, durationUs: monoUs() - started,
  });

  let up;
  try {
    up = upstreamPath(route.basePath, sel.rest);
  } catch (e) {
    if (!(e instanceof PathError)) throw e;
    const err = new GatehouseError('GH_ERR_PROTOCOL', `the request path is refused: ${e.message}`);
    await record([start, end('error', `${err.code}: ${err.message}`)]).catch((le: unknown) => log.error({ err: (le as Error).message }, 'ledger append failed for a refused path'));
    await refuse(req, res, err, 400, format);
    return;
  }

  const attrs: KubeAttributes | null = kind === 'kubernetes' ? kubeAttributes(method, up.decoded, search) : null;
  const gate = commandGate(cfg, principal, c.name);
  const d: GateDecision = attrs ? gate.kube(method, up.decoded, attrs) : gate.http(method, up.decoded);
  const approvalId = d.action === 'review' ? newApprovalId() : undefined;
  const request: HttpRequestEvent = {
    type: 'http.request', method, path: up.raw, query: recordedQuery(search), headers: recordedHeaders(req.headers, c.recordHeaders, route.credential.header),
    ...(attrs ? { kubernetes: kubeRecord(attrs) } : {}),
    ...(d.action === 'allow' && d.policy === 'default' ? {} : { decision: decisionRecord(d, approvalId) }),
  };
  let requestSeq: number;
  try {
    [, requestSeq] = (await record([start, request])) as [number, number];
  } catch (e) {
    log.error({ err: (e as Error).message }, 'ledger append failed; refusing the request');
    await refuse(req, res, new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', 'the audit ledger cannot record this request, so the gateway refuses it'), 503, format);
    return;
  }
  log.info({ connection: c.name, subject: principal.subject, method, path: up.raw, action: d.action }, 'http request');

  const masker = deps.masking ? new SessionMasker(deps.masking, principal, c.name) : null;
  const finish = async (o: Pick<ForwardOutcome, 'status' | 'statusCode' | 'responseHeaders' | 'requestTap' | 'responseTap' | 'error'>, after: AuditEvent[] = []): Promise<void> => {
    const tally = newTally();
    const m = masker?.hasDetectors ? masker : null;
    const response: HttpResponseEvent = {
      type: 'http.response', requestSeq, status: o.status, statusCode: o.statusCode, headers: recordedHeaders(o.responseHeaders, c.recordHeaders, null),
      requestBody: o.requestTap?.record(m, tally, route.credential.secrets) ?? emptyBody(), responseBody: o.responseTap?.record(m, tally, route.credential.secrets) ?? emptyBody(),
      durationUs: monoUs() - started, error: o.error ? `${o.error.code}: ${o.error.message}${o.error.detail ? ` (${o.error.detail})` : ''}` : null,
    };
    if (tally.rules.size > 0) response.masked = { rules: [...tally.rules].sort() };
    const failed = o.status === 'error';
    try {
      await record([response, ...after, end(failed ? 'error' : 'ok', o.error ? `${o.error.code}: ${o.error.message}` : o.status === 'blocked' ? 'not forwarded' : 'request completed')]);
    } catch (e) {
      log.error({ err: (e as Error).message }, 'ledger append failed for a response already passed on');
    }
  };
  const refused = { statusCode: null, responseHeaders: {}, requestTap: null, responseTap: null };

  if (d.action === 'block') {
    const err = new GatehouseError('GH_ERR_POLICY_BLOCKED', `blocked by policy "${d.policy}": ${d.reason}`);
    await refuse(req, res, err, undefined, format);
    await finish({ ...refused, status: 'blocked', error: err });
    return;
  }
  if (d.action === 'review') {
    const held = await hold(req, res, deps.approvals, d, approvalId!, { sessionId, requestSeq, connection: c.name, principal, text: commandText(request) ?? `${method} ${up.raw}`, log, format, protocol: kind });
    if (held !== 'approved') {
      await finish({ ...refused, status: held.status, error: held.error });
      return;
    }
  }

  if (upgrade) {
    const refusal = upgradeRefusal(attrs);
    if (refusal) {
      await refuse(req, res, refusal, 400, format);
      await finish({ ...refused, status: 'blocked', error: refusal });
      return;
    }
    const u = await proxyUpgrade(req, res, upgrade, route, up.raw + search, {
      sessionId, requestSeq, recordingsDir: ctx.recordingsDir, masker, maxStreamBytes: cfg.recording.maxStreamBytes, log,
    });
    if (u.gatewayStatus !== null && u.error) await refuse(req, res, u.error, u.gatewayStatus, format);
    if (u.error) log.warn({ code: u.error.code, err: u.error.detail ?? u.error.message, status: u.status }, 'upgraded request failed');
    await finish(u, u.stream ? [u.stream] : []);
    return;
  }

  // watches and followed logs may stay quiet for long: only ordinary bodies have an idle timeout
  const streaming = attrs !== null && (attrs.verb === 'watch' || (attrs.subresource === 'log' && /(^|[?&])follow=(true|1)(&|$)/.test(search)));
  const outcome = await forward(req, res, route, up.raw + search, client.address, cfg.recording.maxStreamBytes, streaming ? 0 : c.timeout, cfg.limits.stalledClientTimeout);
  if (outcome.gatewayStatus !== null && outcome.error) await refuse(req, res, outcome.error, outcome.gatewayStatus, format);
  if (outcome.error) log.warn({ code: outcome.error.code, err: outcome.error.detail ?? outcome.error.message, status: outcome.status }, 'http request failed');
  await finish(outcome);
}

/** The attributes as recorded (the path is on the request record already). */
function kubeRecord(a: KubeAttributes): NonNullable<HttpRequestEvent['kubernetes']> {
  return {
    verb: a.verb, resourceRequest: a.resourceRequest, apiGroup: a.apiGroup, apiVersion: a.apiVersion, resource: a.resource,
    subresource: a.subresource, namespace: a.namespace, name: a.name,
  };
}

type Held = 'approved' | { status: 'blocked' | 'interrupted'; error: GatehouseError };

/** Holds a request (its body unread) until a reviewer decides; the agent that leaves cancels it. */
async function hold(
  req: IncomingMessage, res: ServerResponse, approvals: ApprovalBroker | null, d: GateDecision, approvalId: string,
  r: { sessionId: string; requestSeq: number; connection: string; principal: Principal; text: string; log: Logger; format: ErrorFormat; protocol: 'http' | 'kubernetes' },
): Promise<Held> {
  if (!approvals) {
    const err = new GatehouseError('GH_ERR_APPROVAL_DENIED', `policy "${d.policy}" needs a reviewer's approval, and this gateway has no approvals configured. The request was not forwarded.`);
    await refuse(req, res, err, undefined, r.format);
    return { status: 'blocked', error: err };
  }
  let outcome;
  try {
    const pending = await approvals.request({
      id: approvalId, sessionId: r.sessionId, statementSeq: r.requestSeq, protocol: r.protocol, connection: r.connection, requester: r.principal,
      policy: d.policy, reason: d.reason, text: r.text, shape: d.shape ?? r.text, reviewers: d.reviewers, timeoutMs: d.timeoutMs,
    });
    r.log.info({ approval: approvalId, policy: d.policy, hint: approvals.hint(approvalId) }, 'http request held for review');
    let gone = false;
    const onClose = () => {
      if (res.writableFinished) return;
      gone = true;
      approvals.cancel(approvalId, 'the agent disconnected while the request waited for approval');
    };
    res.on('close', onClose);
    try {
      outcome = await pending.outcome;
    } finally {
      res.off('close', onClose);
    }
    if (gone || res.destroyed) return { status: 'interrupted', error: new GatehouseError('GH_ERR_APPROVAL_CANCELLED', 'the agent disconnected while the request waited for approval') };
  } catch (e) {
    const err = asGatehouseError(e, 'GH_ERR_LEDGER_UNAVAILABLE', 'the approval request could not be recorded; the request was not forwarded');
    await refuse(req, res, err, 503, r.format);
    return { status: 'blocked', error: err };
  }
  if (outcome.decision !== 'approved') {
    const why = outcome.by === 'reviewer' ? `denied by ${outcome.reviewer?.subject ?? 'a reviewer'}${outcome.reason ? `: ${outcome.reason}` : ''}` : `not approved (${outcome.by})`;
    const err = new GatehouseError('GH_ERR_APPROVAL_DENIED', `approval ${approvalId} ${why}. The request was not forwarded.`);
    await refuse(req, res, err, undefined, r.format);
    return { status: 'blocked', error: err };
  }
  return 'approved';
}
