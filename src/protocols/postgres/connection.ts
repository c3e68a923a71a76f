import { randomBytes, randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { monoUs, nowUs } from '../../core/clock.js';
import type { Config, LoadedConfig } from '../../core/config.js';
import { GatehouseError, asGatehouseError } from '../../core/errors.js';
import type { AuditEvent, ClientRecord, IdentityRecord } from '../../core/events.js';
import type { Logger } from '../../core/log.js';
import type { Principal } from '../../identity/principal.js';
import type { LedgerWriter } from '../../ledger/ledger.js';
import type { ApprovalBroker } from '../../approvals/broker.js';
import { commandGate } from '../../policy/gate.js';
import { ruleTables, SessionMasker, type MaskingSetup } from '../../masking/session.js';
import { loadCatalog } from './catalog.js';
import { authenticationOk, backendKeyData, readyForQuery } from './backend.js';
import { endWithFatal, fatalResponse } from './errors.js';
import { readStartup, readToken, type StartupRequest } from './handshake.js';
import { admit, deniedEvent } from '../../identity/admission.js';
import { forwardedParameters, requestedConnection, upstreamTarget } from './login.js';
import { PgRelay } from './relay.js';
import { PgSession, type SessionRegistry } from './session-driver.js';
import { connectUpstream, type UpstreamSession } from './upstream.js';

/**
 * One client connection, from the first byte to the relay: handshake, token verification,
 * authorization, the write-ahead session.start record, the upstream login with the gateway's own
 * credentials, and the hand-over to a PgSession. Every refusal is recorded (auth.denied) and
 * answered with a FATAL ErrorResponse carrying a real SQLSTATE.
 */

export type { TokenVerifierLike } from '../deps.js';
import type { TokenVerifierLike } from '../deps.js';

export interface PgGatewayDeps {
  loaded: LoadedConfig;
  verifier: TokenVerifierLike;
  ledger: LedgerWriter;
  log: Logger;
  tls: SecureContext | null;
  registry: SessionRegistry;
  approvals: ApprovalBroker | null;
  masking: MaskingSetup | null;
}

function config(deps: PgGatewayDeps): Config {
  return deps.loaded.config;
}

class Refusal extends Error {
  constructor(
    readonly error: GatehouseError,
    readonly identity: IdentityRecord | null,
    readonly token: string | null,
  ) {
    super(error.message);
  }
}

export async function handleClient(raw: Socket, deps: PgGatewayDeps): Promise<void> {
  const cfg = config(deps);
  const log = deps.log.child({ client: `${raw.remoteAddress}:${raw.remotePort}` });
  raw.setNoDelay(true);
  raw.on('error', (e) => log.debug({ err: e.message }, 'client socket error'));
  let socket: Socket = raw;
  const timeout = setTimeout(() => {
    const e = new GatehouseError('GH_ERR_HANDSHAKE_TIMEOUT', 'the login did not complete in time');
    socket.end(fatalResponse(e));
    socket.destroy();
  }, cfg.limits.handshakeTimeout);
  try {
    const hs = await readStartup(raw, { tls: deps.tls, maxTokenBytes: cfg.identity.maxTokenBytes });
    if (hs.kind === 'cancel') {
      clearTimeout(timeout);
      raw.destroy();
      await deps.registry.cancel(hs.processId, hs.secretKey);
      return;
    }
    socket = hs.socket;
    if (socket !== raw) socket.on('error', (e) => log.debug({ err: e.message }, 'client TLS socket error'));
    await login(hs, deps, log, () => clearTimeout(timeout));
  } catch (e) {
    clearTimeout(timeout);
    const err = asGatehouseError(e, 'GH_ERR_PROTOCOL', 'the connection could not be set up');
    log.info({ code: err.code, err: err.detail ?? err.message }, 'connection refused before startup');
    endWithFatal(socket, err);
  }
}

async function login(req: StartupRequest, deps: PgGatewayDeps, log: Logger, handshakeDone: () => void): Promise<void> {
  const cfg = config(deps);
  const listener = cfg.listeners.postgres;
  const { socket, params } = req;
  const client: ClientRecord = {
    address: socket.remoteAddress ?? '',
    port: socket.remotePort ?? 0,
    tls: req.tls,
    user: params.get('user') ?? null,
    application: params.get('application_name') ?? null,
  };
  const name = requestedConnection(params);
  const sessionId = randomUUID();
  let upstream: UpstreamSession | null = null;
  let admission;
  let principal: Principal;
  try {
    if (params.has('replication') && params.get('replication') !== 'false') {
      throw new Refusal(new GatehouseError('GH_ERR_UNSUPPORTED', 'replication connections are not supported through the gateway'), null, null);
    }
    if (listener?.requireTls && !req.tls) {
      throw new Refusal(new GatehouseError('GH_ERR_TLS_REQUIRED', 'this gateway requires TLS; connect with sslmode=require'), null, null);
    }
    let token: string;
    try {
      token = await readToken(req, { tls: deps.tls, maxTokenBytes: cfg.identity.maxTokenBytes });
    } catch (e) {
      // a token refused before it could be read (too large, empty) is a refusal like any other: recorded
      if (e instanceof GatehouseError && e.code.startsWith('GH_ERR_TOKEN_')) throw new Refusal(e, null, null);
      throw e;
    }
    try {
      principal = await deps.verifier.verify(token);
    } catch (e) {
      throw new Refusal(asGatehouseError(e, 'GH_ERR_TOKEN_MALFORMED', 'the token could not be verified'), null, token);
    }
    try {
      admission = admit(principal, name, cfg.connections, 'postgres');
    } catch (e) {
      throw new Refusal(asGatehouseError(e, 'GH_ERR_ACCESS_DENIED', 'access denied'), principal, token);
    }
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    handshakeDone();
    await refuse(deps, log, socket, sessionId, e, name, client);
    return;
  }
  const forwarded = forwardedParameters(params);
  const target = upstreamTarget(deps.loaded, admission.connection, forwarded, cfg.limits.maxServerMessageBytes);
  const startEvent = (tls: boolean): AuditEvent => ({
    type: 'session.start',
    protocol: 'postgres',
    connection: admission.connection.name,
    identity: principal,
    authorizedBy: admission.authorizedBy,
    client,
    upstream: { host: target.host, port: target.port, database: target.database, user: target.user, tls },
    parameters: forwarded,
  });
  const started = monoUs();
  try {
    upstream = await connectUpstream(target);
  } catch (e) {
    handshakeDone();
    const err = asGatehouseError(e, 'GH_ERR_UPSTREAM_UNAVAILABLE', 'the gateway cannot reach the target database right now');
    log.warn({ session: sessionId, connection: target.host, code: err.code, err: err.detail }, 'upstream login failed');
    await deps.ledger
      .append([
        { sessionId, time: nowUs(), event: startEvent(false) },
        { sessionId, time: nowUs(), event: { type: 'session.end', status: 'error', reason: `${err.code}: ${err.detail ?? err.message}`, statements: 0, errors: 0, durationUs: monoUs() - started } },
      ])
      .catch((le: unknown) => log.error({ err: (le as Error).message }, 'ledger append failed while recording an upstream failure'));
    endWithFatal(socket, err);
    return;
  }
  // write-ahead: the session exists in the ledger before the client may send anything through it
  try {
    await deps.ledger.append([{ sessionId, time: nowUs(), event: startEvent(upstream.tls) }]);
  } catch (e) {
    handshakeDone();
    upstream.socket.destroy();
    const err = asGatehouseError(e, 'GH_ERR_LEDGER_UNAVAILABLE', 'the audit ledger is unavailable');
    log.error({ session: sessionId, err: err.detail ?? err.message }, 'ledger append failed; refusing the session');
    endWithFatal(socket, new GatehouseError('GH_ERR_LEDGER_UNAVAILABLE', 'the audit ledger cannot record this session, so the gateway refuses it'));
    return;
  }
  // masking rules that name tables need the target's catalog (OIDs of those tables' columns)
  let masker: SessionMasker | null = null;
  if (deps.masking) {
    masker = new SessionMasker(deps.masking, principal, admission.connection.name);
    if (masker.active && masker.hasColumnRules) {
      const tables = ruleTables(deps.masking.config);
      try {
        masker.useCatalog(await loadCatalog(admission.connection.name, target, tables));
      } catch (e) {
        // fail closed: without the catalog, table-qualified rules cannot be told apart, so the session is refused
        handshakeDone();
        upstream.socket.destroy();
        log.error({ session: sessionId, err: (e as Error).message }, 'reading the target catalog for masking failed; refusing the session');
        await deps.ledger.append([{ sessionId, time: nowUs(), event: { type: 'session.end', status: 'error', reason: `GH_ERR_UPSTREAM_UNAVAILABLE: masking catalog: ${(e as Error).message}`, statements: 0, errors: 0, durationUs: monoUs() - started } }]).catch(() => undefined);
        endWithFatal(socket, new GatehouseError('GH_ERR_UPSTREAM_UNAVAILABLE', 'the gateway cannot prepare data masking for this connection right now; try again shortly'));
        return;
      }
    }
  }
  handshakeDone();
  const clientLeftover = req.queue.detach();
  const key = { processId: randomBytes(4).readInt32BE(0) & 0x7fffffff, secretKey: randomBytes(4) };
  socket.write(Buffer.concat([authenticationOk(), ...upstream.parameterFrames, backendKeyData(key.processId, key.secretKey.readInt32BE(0)), readyForQuery(upstream.txStatus)]));
  log.info({ session: sessionId, connection: admission.connection.name, subject: principal.subject, authorizedBy: admission.authorizedBy }, 'session started');
  const relay = new PgRelay({
    sampleRows: cfg.recording.sampleRows,
    maxValueBytes: cfg.recording.maxValueBytes,
    maxParamBytes: cfg.recording.maxParamBytes,
    maxClientMessageBytes: cfg.limits.maxClientMessageBytes,
    maxServerMessageBytes: cfg.limits.maxServerMessageBytes,
    maxPreparedStatements: 10_000,
  }, commandGate(cfg, principal, admission.connection.name), masker?.active ? masker : null);
  const session = new PgSession({
    id: sessionId, client: socket, upstream, relay, ledger: deps.ledger, log: log.child({ session: sessionId }),
    target, key, registry: deps.registry, startedMono: started,
    principal, connection: admission.connection.name, approvals: deps.approvals, stalledClientTimeout: cfg.limits.stalledClientTimeout,
    statementTimeout: admission.connection.statementTimeout,
  });
  session.start(clientLeftover);
}

async function refuse(
  deps: PgGatewayDeps, log: Logger, socket: Socket, sessionId: string, r: Refusal, name: string | null, client: ClientRecord,
): Promise<void> {
  const err = r.error;
  log.info({ session: sessionId, code: err.code, connection: name, subject: r.identity?.subject, err: err.detail ?? err.message }, 'access refused');
  try {
    await deps.ledger.append([{ sessionId, time: nowUs(), event: deniedEvent('postgres', err, name, client, r.identity, r.token) }]);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'ledger append failed while recording a refusal');
  }
  // the refusal goes to the client whatever happened to its record
  endWithFatal(socket, err);
}
