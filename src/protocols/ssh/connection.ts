import { randomUUID } from 'node:crypto';
import type { AuthContext, ClientInfo, Connection } from 'ssh2';
import { monoUs, nowUs } from '../../core/clock.js';
import { recordingsDir, type SshConnectionConfig } from '../../core/config.js';
import { GatehouseError, asGatehouseError } from '../../core/errors.js';
import type { AuditEvent, ClientRecord } from '../../core/events.js';
import type { Logger } from '../../core/log.js';
import { admit, deniedEvent } from '../../identity/admission.js';
import type { Principal } from '../../identity/principal.js';
import { SessionMasker } from '../../masking/session.js';
import { commandGate } from '../../policy/gate.js';
import type { ListenerDeps } from '../deps.js';
import type { SshSessionContext } from './context.js';
import { handleSession } from './session-channel.js';
import { forwardAllowed, forwardLocal } from './forward.js';
import { connectSsh, type SshUpstream } from './upstream.js';

/**
 * One agent's SSH connection: authentication with the OIDC token as the password (or the answer to
 * a keyboard-interactive prompt), the user name naming the connection (`web-1`, or `web-1+deploy`
 * for another allowed remote user), then the gateway's own login to the target, the write-ahead
 * session.start record, and each channel. Refusals are auth.denied records; the client sees an SSH
 * authentication failure (SSH has no other place for the reason; the log and the ledger have it).
 */

export type SshGatewayDeps = ListenerDeps;

const MAX_AUTH_ATTEMPTS = 3;

/** `web-1` or `web-1+deploy`. */
export function parseUsername(username: string): { connection: string; user: string | null } {
  const plus = username.indexOf('+');
  return plus < 0 ? { connection: username, user: null } : { connection: username.slice(0, plus), user: username.slice(plus + 1) };
}

export class SshClientConnection {
  readonly id = randomUUID();
  private readonly log: Logger;
  private readonly client: ClientRecord;
  private attempts = 0;
  private upstream: Promise<SshSessionContext | null> | null = null;
  private admitted: SshConnectionConfig | null = null;
  private failure: string | null = null;
  private ctx: SshSessionContext | null = null;
  private readonly channels = new Set<Promise<void>>();
  private started = monoUs();
  private endReason: string | null = null;
  private ended = false;
  private nextChannel = 0;
  readonly closed: Promise<void>;

  /** `authenticated` is told when the client has logged in (the listener's login deadline ends) */
  constructor(private readonly conn: Connection, info: ClientInfo, private readonly deps: SshGatewayDeps, authenticated: () => void) {
    this.log = deps.log.child({ client: `${info.ip}:${info.port}` });
    this.client = { address: info.ip, port: info.port, tls: true, user: null, application: info.header?.versions?.software ?? null };
    conn.on('authentication', (a) => void this.authenticate(a));
    conn.on('ready', () => authenticated());
    conn.on('error', (e) => this.log.debug({ err: e.message }, 'ssh client error'));
    conn.on('session', (accept) => {
      const session = accept();
      const channel = this.nextChannel++;
      const c = this.admitted;
      if (!c) return;
      handleSession(
        { ready: this.whenReady(), failure: () => this.failure ?? 'the session could not be set up', allowEnv: c.allow.env, allowSftp: c.allow.sftp, allowShell: c.allow.shell },
        session, channel, (p) => this.track(p),
      );
    });
    conn.on('tcpip', (accept, reject, info) => {
      void this.whenReady().then(async (ctx) => {
        if (!ctx) return reject();
        const allow = ctx.connection.allow;
        if (!allow.portForwarding || !forwardAllowed(allow.forwardTo, info.destIP, info.destPort)) {
          reject();
          ctx.recordBehind([{ type: 'ssh.refused', what: 'port-forward', detail: `local forwarding to ${info.destIP}:${info.destPort} is not allowed on this connection` }]);
          return;
        }
        this.track(forwardLocal(ctx, accept, reject, info));
      });
    });
    conn.on('request', (_accept, reject, name, info) => {
      reject?.();
      const where = 'bindAddr' in (info as object) ? ` on ${(info as { bindAddr: string; bindPort: number }).bindAddr}:${(info as { bindPort: number }).bindPort}` : '';
      if (name === 'tcpip-forward' || (name as string) === 'streamlocal-forward@openssh.com') {
        void this.whenReady().then((ctx) => ctx?.recordBehind([{ type: 'ssh.refused', what: 'remote-forward', detail: `remote forwarding${where} is not offered through the gateway` }]));
      }
    });
    this.closed = new Promise<void>((resolve) => conn.once('close', () => {
      void this.finish().then(resolve);
    }));
  }

  private track(p: Promise<void>): void {
    const q = p.catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'ssh channel failed')).finally(() => this.channels.delete(q));
    this.channels.add(q);
  }

  private whenReady(): Promise<SshSessionContext | null> {
    return this.upstream ?? Promise.resolve(null);
  }

  /** Ends the connection; the session ends when its channels have. */
  shutdown(): void {
    this.endReason ??= 'the gateway shut down';
    this.conn.end();
  }

  private async authenticate(a: AuthContext): Promise<void> {
    const { connection: name, user } = parseUsername(a.username);
    this.client.user = a.username;
    if (a.method !== 'password' && a.method !== 'keyboard-interactive') {
      a.reject(['password', 'keyboard-interactive']);
      return;
    }
    if (++this.attempts > MAX_AUTH_ATTEMPTS) {
      a.reject();
      this.conn.end();
      return;
    }
    let token: string;
    if (a.method === 'password') token = a.password;
    else {
      token = await new Promise<string>((resolve) =>
        a.prompt([{ prompt: 'OIDC access token: ', echo: false }], 'Gatehouse', 'Paste the access token from your identity provider.', (answers) => resolve(answers[0] ?? '')),
      );
    }
    token = token.trim();
    const cfg = this.deps.loaded.config;
    let principal: Principal | null = null;
    try {
      if (token.length === 0) throw new GatehouseError('GH_ERR_TOKEN_MISSING', 'no token was given; send the OIDC access token as the SSH password');
      if (Buffer.byteLength(token) > cfg.identity.maxTokenBytes) throw new GatehouseError('GH_ERR_TOKEN_TOO_LARGE', `the token is larger than ${cfg.identity.maxTokenBytes} bytes`);
      principal = await this.deps.verifier.verify(token);
      const admission = admit(principal, name, cfg.connections, 'ssh');
      const remoteUser = user ?? admission.connection.user;
      if (remoteUser !== admission.connection.user && !admission.connection.users.includes(remoteUser)) {
        throw new GatehouseError('GH_ERR_ACCESS_DENIED', `connection "${name}" does not allow the remote user "${remoteUser}" (allowed: ${[admission.connection.user, ...admission.connection.users].join(', ')})`);
      }
      this.admitted = admission.connection;
      a.accept();
      this.upstream = this.open(principal, admission.connection, admission.authorizedBy, remoteUser);
    } catch (e) {
      const err = asGatehouseError(e, 'GH_ERR_TOKEN_MALFORMED', 'the token could not be verified');
      this.log.info({ session: this.id, code: err.code, connection: name, subject: principal?.subject, err: err.detail ?? err.message }, 'ssh access refused');
      try {
        await this.deps.ledger.append([{ sessionId: randomUUID(), time: nowUs(), event: deniedEvent('ssh', err, name, { ...this.client }, principal, token.length > 0 ? token : null) }]);
      } catch (le) {
        this.log.error({ err: (le as Error).message }, 'ledger append failed while recording a refusal');
      }
      a.reject(['password', 'keyboard-interactive']);
    }
  }

  /** The gateway's login to the target; on failure every channel is told why and the connection ends. */
  private async open(principal: Principal, c: SshConnectionConfig, authorizedBy: string, user: string): Promise<SshSessionContext | null> {
    const deps = this.deps;
    const cfg = deps.loaded.config;
    this.started = monoUs();
    const startEvent = (up: SshUpstream | null): AuditEvent => ({
      type: 'session.start', protocol: 'ssh', connection: c.name, identity: principal, authorizedBy, client: { ...this.client },
      upstream: { host: c.host, port: c.port, database: null, user, tls: true, ...(up ? { hostKey: up.hostKey } : {}) }, parameters: {},
    });
    let up: SshUpstream;
    try {
      up = await connectSsh(deps.loaded, c, user);
    } catch (e) {
      const err = asGatehouseError(e, 'GH_ERR_UPSTREAM_UNAVAILABLE', 'the gateway cannot reach the target right now');
      this.log.warn({ session: this.id, connection: c.name, code: err.code, err: err.detail }, 'ssh upstream login failed');
      this.ended = true;
      await deps.ledger.append([
        { sessionId: this.id, time: nowUs(), event: startEvent(null) },
        { sessionId: this.id, time: nowUs(), event: { type: 'session.end', status: 'error', reason: `${err.code}: ${err.message}${err.detail ? ` (${err.detail})` : ''}`, statements: 0, errors: 0, durationUs: monoUs() - this.started } },
      ]).catch((le: unknown) => this.log.error({ err: (le as Error).message }, 'ledger append failed while recording an upstream failure'));
      this.failure = err.message;
      return null;
    }
    try {
      await deps.ledger.append([{ sessionId: this.id, time: nowUs(), event: startEvent(up) }]);
    } catch (e) {
      this.ended = true;
      up.client.end();
      this.log.error({ session: this.id, err: (e as Error).message }, 'ledger append failed; refusing the session');
      this.failure = 'the audit ledger cannot record this session, so the gateway refuses it';
      return null;
    }
    up.client.on('close', () => {
      this.endReason ??= 'the target closed the connection';
      this.conn.end();
    });
    up.client.on('error', (e) => this.log.warn({ session: this.id, err: e.message }, 'ssh upstream error'));
    const masker = deps.masking ? new SessionMasker(deps.masking, principal, c.name) : null;
    const log = this.log.child({ session: this.id });
    log.info({ connection: c.name, subject: principal.subject, authorizedBy, user }, 'ssh session started');
    this.ctx = {
      id: this.id, loaded: deps.loaded, connection: c, principal, upstream: up, log,
      gate: commandGate(cfg, principal, c.name), approvals: deps.approvals,
      masker: masker?.hasDetectors ? masker : null,
      recordingsDir: recordingsDir(deps.loaded), maxStreamBytes: cfg.recording.maxStreamBytes,
      record: (events) => deps.ledger.append(events.map((event) => ({ sessionId: this.id, time: nowUs(), event }))),
      recordBehind: (events) => {
        void deps.ledger.append(events.map((event) => ({ sessionId: this.id, time: nowUs(), event })), { behind: true })
          .catch((e: unknown) => log.error({ err: (e as Error).message }, 'ledger append failed for a record of what already happened'));
      },
      counters: { commands: 0, errors: 0 },
    };
    return this.ctx;
  }

  private async finish(): Promise<void> {
    // a client that leaves during the target login: its session is recorded, then ended
    await this.upstream;
    await Promise.all([...this.channels]);
    const ctx = this.ctx;
    if (!ctx || this.ended) return;
    this.ended = true;
    ctx.upstream.client.end();
    const status = this.endReason === 'the gateway shut down' ? 'error' : 'ok';
    try {
      await this.deps.ledger.append([{ sessionId: this.id, time: nowUs(), event: {
        type: 'session.end', status, reason: this.endReason ?? 'client closed the connection', statements: ctx.counters.commands, errors: ctx.counters.errors, durationUs: monoUs() - this.started,
      } }]);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'ledger append of session.end failed');
    }
    ctx.log.info({ commands: ctx.counters.commands }, 'ssh session ended');
  }
}
