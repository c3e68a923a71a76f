import { join } from 'node:path';
import type { ClientChannel, PseudoTtyOptions, ServerChannel, Session } from 'ssh2';
import { monoUs, nowUs } from '../../core/clock.js';
import { GatehouseError } from '../../core/errors.js';
import { bridge, isClosed, pump, writeTo } from './bridge.js';
import { CastWriter } from './asciicast.js';
import { BLOCKED_EXIT, exitStatus, gateExec, gateTyped, recordExit } from './commands.js';
import { gatewayMessage, type PtyRequest, type SshSessionContext } from './context.js';
import { SftpTracker, type SftpOp } from './sftp-tracker.js';
import { TypedCommands } from './typed-commands.js';

/**
 * One "session" channel of an agent: the requests that set it up (env, pty-req), then exactly one
 * of exec, shell or subsystem, each joined to the same kind of channel on the target. Requests
 * the gateway does not pass on (X11, agent forwarding, other subsystems, env vars not allowed)
 * are refused and recorded.
 */

/** Ctrl-C: what a shell's line editor takes as "abandon this line". */
const CANCEL_LINE = Buffer.from([0x03]);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ENV = 64;

function envAllowed(patterns: string[], name: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : p === name));
}

export interface SessionSource {
  /** the session's context once the target login is done; null when it failed */
  ready: Promise<SshSessionContext | null>;
  /** why, when it failed */
  failure(): string;
  allowEnv: string[];
  allowSftp: boolean;
  allowShell: boolean;
}

/**
 * Listeners are attached at once (ssh2 refuses a request nobody listens to); the work waits for the
 * target login, so a request that arrives during it is not lost.
 */
export function handleSession(src: SessionSource, session: Session, channel: number, done: (p: Promise<void>) => void): void {
  let ctx!: SshSessionContext;
  const pendingRefusals: Array<() => void> = [];
  void src.ready.then((c) => {
    if (c) ctx = c;
    for (const f of pendingRefusals.splice(0)) f();
  });
  let pty: PtyRequest | null = null;
  const env: Record<string, string> = {};
  let resize: ((cols: number, rows: number, width: number, height: number) => void) | null = null;
  let signal: ((name: string) => void) | null = null;
  const refuse = (what: 'x11' | 'agent-forward' | 'subsystem' | 'env' | 'shell', detail: string) => {
    const rec = () => ctx?.recordBehind([{ type: 'ssh.refused', what, detail }]);
    if (ctx) rec();
    else pendingRefusals.push(rec);
  };
  /** accepts a channel request, then runs `work` once the session is ready (or tells the agent why not) */
  const start = (agent: ServerChannel, work: () => Promise<void>) => {
    done(src.ready.then((c) => {
      if (c) return work();
      agent.stderr.write(gatewayMessage(src.failure(), pty !== null));
      agent.exit(255);
      agent.end();
    }));
  };

  session.on('env', (accept, reject, info) => {
    if (ENV_NAME.test(info.key) && Object.keys(env).length < MAX_ENV && envAllowed(src.allowEnv, info.key) && info.val.length <= 4096) {
      env[info.key] = info.val;
      accept?.();
    } else {
      refuse('env', `environment variable ${info.key.slice(0, 64)} is not in the connection's allow.env`);
      reject?.();
    }
  });
  session.on('pty', (accept, _reject, info) => {
    pty = { term: info.term, cols: info.cols, rows: info.rows, width: info.width, height: info.height, modes: (info.modes ?? {}) as Record<string, number | undefined> };
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    if (pty) Object.assign(pty, { cols: info.cols, rows: info.rows, width: info.width, height: info.height });
    resize?.(info.cols, info.rows, info.width, info.height);
    accept?.();
  });
  session.on('signal', (accept, _reject, info) => {
    signal?.(info.name);
    accept?.();
  });
  session.on('x11', (_accept, reject) => {
    refuse('x11', 'X11 forwarding is not offered through the gateway');
    reject?.();
  });
  session.on('auth-agent', (_accept, reject) => {
    refuse('agent-forward', 'agent forwarding is not offered through the gateway: the target never sees the agent\'s keys');
    reject?.();
  });

  const ptyOptions = (): PseudoTtyOptions | undefined => (pty ? { term: pty.term, cols: pty.cols, rows: pty.rows, width: pty.width, height: pty.height, modes: pty.modes as PseudoTtyOptions['modes'] } : undefined);
  const openTarget = (open: (cb: (err: Error | undefined, ch: ClientChannel) => void) => void) =>
    new Promise<ClientChannel>((resolve, reject) => open((err, ch) => (err ? reject(err) : resolve(ch))));
  const attach = (target: ClientChannel) => {
    resize = (cols, rows, width, height) => target.setWindow(rows, cols, height, width);
    signal = (name) => target.signal(name);
  };

  session.on('exec', (accept, _reject, info) => {
    const agent = accept();
    start(agent, () => runExec(agent, info.command));
  });
  session.on('shell', (accept, reject) => {
    if (!src.allowShell) {
      refuse('shell', 'interactive shells are not allowed on this connection (allow.shell): run commands with ssh HOST COMMAND');
      reject?.();
      return;
    }
    const agent = accept();
    start(agent, () => runShell(agent));
  });
  session.on('subsystem', (accept, reject, info) => {
    if (info.name !== 'sftp' || !src.allowSftp) {
      refuse('subsystem', info.name === 'sftp' ? 'SFTP is not allowed on this connection (allow.sftp)' : `subsystem ${info.name.slice(0, 64)} is not offered through the gateway`);
      reject?.();
      return;
    }
    const agent = accept();
    start(agent, () => runSftp(agent));
  });

  const failChannel = (agent: ServerChannel, e: unknown, isPty: boolean) => {
    const ge = e instanceof GatehouseError ? e : null;
    ctx.log.warn({ err: (e as Error).message }, 'ssh channel failed');
    const text = ge?.code === 'GH_ERR_LEDGER_UNAVAILABLE' || !ge
      ? 'the audit ledger cannot record this command, so it was not run'
      : ge.message;
    if (!agent.destroyed) {
      agent.stderr.write(gatewayMessage(text, isPty));
      agent.exit(BLOCKED_EXIT);
      agent.end();
    }
  };

  async function runExec(agent: ServerChannel, command: string): Promise<void> {
    const isPty = pty !== null;
    let verdict;
    try {
      verdict = await gateExec(ctx, channel, command, isPty, env, (m) => void agent.stderr.write(m));
    } catch (e) {
      failChannel(agent, e, isPty);
      return;
    }
    if (!verdict.run) {
      agent.exit(BLOCKED_EXIT);
      agent.end();
      return;
    }
    if (isClosed(agent)) {
      // the agent left while the command waited: it is not started
      recordExit(ctx, channel, verdict.seq, verdict.startedMono, 'interrupted', null);
      return;
    }
    let target: ClientChannel;
    try {
      const opts = { env, ...(isPty ? { pty: ptyOptions()! } : {}) };
      target = await openTarget((cb) => ctx.upstream.client.exec(command, opts, cb));
    } catch (e) {
      agent.stderr.write(gatewayMessage(`the target refused the command channel: ${(e as Error).message}`, isPty));
      agent.exit(255);
      agent.end();
      recordExit(ctx, channel, verdict.seq, verdict.startedMono, 'error', null);
      return;
    }
    attach(target);
    const r = await bridge(ctx, agent, target, { pty: isPty });
    recordExit(ctx, channel, verdict.seq, verdict.startedMono, exitStatus(r), r);
  }

  async function runShell(agent: ServerChannel): Promise<void> {
    const startedMono = monoUs();
    const isPty = pty !== null;
    const file = `${ctx.id}-${channel}.cast`;
    let shellSeq: number;
    let cast: CastWriter;
    try {
      cast = await CastWriter.create(join(ctx.recordingsDir, file), {
        width: pty?.cols ?? 80, height: pty?.rows ?? 24, term: pty?.term ?? null, timestamp: Math.floor(nowUs() / 1e6),
        title: `${ctx.principal.subject} on ${ctx.connection.name}`,
      }, ctx.masker ? { mask: (t) => ctx.masker!.maskText(t) } : {});
      ctx.counters.commands++;
      [shellSeq] = (await ctx.record([{ type: 'ssh.shell', channel, pty: pty ? { term: pty.term, cols: pty.cols, rows: pty.rows } : null, recording: file }])) as [number];
    } catch (e) {
      failChannel(agent, e, isPty);
      return;
    }
    let target: ClientChannel;
    try {
      target = await openTarget((cb) => (isPty ? ctx.upstream.client.shell(ptyOptions()!, { env }, cb) : ctx.upstream.client.shell(false, { env }, cb)));
    } catch (e) {
      agent.stderr.write(gatewayMessage(`the target refused the shell: ${(e as Error).message}`, isPty));
      agent.exit(255);
      agent.end();
      await finishCast(cast, shellSeq, startedMono);
      recordExit(ctx, channel, shellSeq, startedMono, 'error', null);
      return;
    }
    attach(target);
    const prevResize = resize!;
    resize = (cols, rows, width, height) => {
      cast.resize(cols, rows);
      prevResize(cols, rows, width, height);
    };
    const typed = new TypedCommands();
    const r = await bridge(ctx, agent, target, {
      pty: isPty,
      // a typed command is recorded before the keystroke that runs it is forwarded
      input: async (chunk) => {
        cast.input(chunk);
        const lines = typed.input(chunk);
        if (lines.length === 0) return;
        // on the channel's own stream (a terminal has one), so the message comes before the
        // shell's answer to the Ctrl-C that follows it
        const tell = (m: Buffer) => {
          cast.output(m);
          agent.write(m);
        };
        // a blocked or denied line is cancelled: Ctrl-C instead of the keys that would run it
        if (!(await gateTyped(ctx, channel, shellSeq, lines, (m) => tell(Buffer.concat([Buffer.from('\r\n'), m]))))) return CANCEL_LINE;
      },
      output: (chunk) => {
        cast.output(chunk);
        typed.output(chunk);
      },
    });
    await finishCast(cast, shellSeq, startedMono);
    recordExit(ctx, channel, shellSeq, startedMono, exitStatus(r), r);
  }

  async function finishCast(cast: CastWriter, shellSeq: number, startedMono: number): Promise<void> {
    try {
      const s = await cast.close();
      ctx.recordBehind([{ type: 'ssh.recording', channel, shellSeq, file: `${ctx.id}-${channel}.cast`, bytes: s.bytes, sha256: s.sha256, events: s.events, durationUs: monoUs() - startedMono }]);
    } catch (e) {
      ctx.log.error({ err: (e as Error).message }, 'the terminal recording could not be completed');
    }
  }

  async function runSftp(agent: ServerChannel): Promise<void> {
    const tracker = new SftpTracker();
    let target: ClientChannel;
    try {
      target = await openTarget((cb) => ctx.upstream.client.subsys('sftp', cb));
    } catch (e) {
      ctx.log.warn({ err: (e as Error).message }, 'the target refused the sftp subsystem');
      agent.close();
      return;
    }
    const record = async (ops: SftpOp[]) => {
      if (ops.length === 0) return;
      ctx.counters.commands += ops.filter((o) => o.op !== 'close').length;
      await ctx.record(ops.map((o) => ({ type: 'ssh.sftp', channel, ...o })));
    };
    let broke = false;
    const broken = async (e: unknown) => {
      if (broke) return;
      broke = true;
      // fail closed: an SFTP stream the gateway cannot follow is not passed on (nor is the chunk
      // it broke in, nor anything after it, from either side)
      ctx.log.warn({ err: (e as Error).message }, 'sftp stream cannot be followed; closing the channel');
      ctx.counters.errors++;
      // before the channel closes: the ops of the packets ahead of the bad one in that chunk (a
      // close that waited for its last READ reply) and the closes of the handles still open
      try {
        await record(tracker.end());
      } catch (err) {
        ctx.log.warn({ err: (err as Error).message }, 'recording the last sftp closes failed');
      }
      agent.close();
      target.close();
    };
    const toTarget = pump(agent, async (chunk) => {
      if (broke) return;
      try {
        await record(tracker.fromClient(chunk));
      } catch (e) {
        return broken(e);
      }
      // the other side may have broken the stream while this chunk's ops were being recorded
      if (broke) return;
      await writeTo(target, chunk);
    }).then(() => target.end());
    let exitCode: number | null = null;
    target.on('exit', (code: number | null) => (exitCode = code));
    const targetClosed = new Promise<void>((resolve) => target.once('close', () => resolve()));
    const toAgent = pump(target, async (chunk) => {
      if (broke) return;
      try {
        await record(tracker.fromServer(chunk));
      } catch (e) {
        return broken(e);
      }
      // the other side may have broken the stream while this chunk's ops were being recorded
      if (broke) return;
      await writeTo(agent, chunk);
    });
    agent.once('close', () => target.close());
    // the target's side decides the end: its output, then its exit status (scp waits for it), then close
    await toAgent;
    await targetClosed;
    if (!isClosed(agent)) {
      if (exitCode !== null) agent.exit(exitCode);
      agent.end();
    }
    void toTarget;
    try {
      await record(tracker.end());
    } catch (e) {
      ctx.log.warn({ err: (e as Error).message }, 'recording the last sftp closes failed');
    }
  }
}
