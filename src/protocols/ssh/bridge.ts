import type { ClientChannel, ServerChannel } from 'ssh2';
import { newTally, type MaskTally } from '../../masking/session.js';
import { watchStalledWriter } from '../../core/stall.js';
import type { SshSessionContext } from './context.js';
import { LineMasker, StreamTap } from './stream-tap.js';

/**
 * Joins the agent's channel to the target's: stdin one way, stdout and stderr the other, each with
 * backpressure (a source is paused while its chunk waits: for the ledger, or for the other side's
 * window), taps counting, hashing and sampling what passed, masking on the way out when detectors
 * apply. Resolves when both sides are done, with the exit status the target reported (sent on to
 * the agent after the last byte).
 *
 * Why not stream.pipeline: both channels are duplex, and pipeline's clean-up would end or destroy
 * the half still in use (stdin of a command whose stdout ended, or the reverse).
 */

export interface BridgeResult {
  exitCode: number | null;
  signal: string | null;
  stdout: StreamTap;
  stderr: StreamTap;
  stdinBytes: number;
  tally: MaskTally;
  /** output lines masking changed */
  maskedLines: number;
  /** the agent closed the channel before the target said how the command ended */
  interrupted: boolean;
  /** the gateway closed it: the agent took none of the output for limits.stalledClientTimeout */
  stalled: boolean;
}

export interface BridgeOptions {
  /** interactive terminal: partial lines are not held for masking */
  pty: boolean;
  /** every chunk from the agent, before it is forwarded; may hold it (write-ahead of typed commands) or replace it */
  input?: (chunk: Buffer) => Promise<Buffer | void> | Buffer | void;
  /** every chunk to the agent's stdout (as sent, masked) */
  output?: (chunk: Buffer) => void;
}

type Step = (chunk: Buffer) => Promise<void> | void;

/** Whether a channel has already closed (its 'close' event is past). */
export function isClosed(ch: ServerChannel | ClientChannel): boolean {
  const s = ch as unknown as { closed?: boolean; destroyed?: boolean };
  return s.closed === true || s.destroyed === true;
}

/** Reads `from` chunk by chunk through `step`, pausing while a step is pending; resolves at its end. */
export function pump(from: NodeJS.ReadableStream, step: Step): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        resolve();
      }
    };
    from.on('data', (chunk: Buffer) => {
      let r: Promise<void> | void;
      try {
        r = step(chunk);
      } catch {
        r = undefined;
      }
      if (r) {
        from.pause();
        r.then(
          () => from.resume(),
          () => from.resume(),
        );
      }
    });
    from.once('end', finish);
    from.once('close', finish);
  });
}

/**
 * Writes to a channel side, waiting for 'drain' when its window is full, or for `gone` (the
 * channel closed: a drain will never come).
 */
export function writeTo(target: NodeJS.WritableStream, chunk: Buffer, gone?: Promise<void>): Promise<void> | void {
  if (chunk.length === 0 || target.write(chunk)) return;
  const drained = new Promise<void>((resolve) => target.once('drain', () => resolve()));
  return gone ? Promise.race([drained, gone]) : drained;
}

function merge(into: MaskTally, from: MaskTally): void {
  for (const r of from.rules) into.rules.add(r);
  for (const [k, v] of from.columns) into.columns.set(k, (into.columns.get(k) ?? 0) + v);
}

export async function bridge(ctx: SshSessionContext, agent: ServerChannel, target: ClientChannel, o: BridgeOptions): Promise<BridgeResult> {
  const stdout = new StreamTap(ctx.maxStreamBytes);
  const stderr = new StreamTap(ctx.maxStreamBytes);
  const result: BridgeResult = { exitCode: null, signal: null, stdout, stderr, stdinBytes: 0, tally: newTally(), maskedLines: 0, interrupted: false, stalled: false };
  let exited = false;
  target.on('exit', (code: number | null, signal?: string) => {
    exited = true;
    result.exitCode = code;
    // ssh2 names it SIGKILL; SSH's own name (and what is recorded) is KILL
    result.signal = signal ? signal.replace(/^SIG/, '') : null;
  });
  const targetClosed = new Promise<void>((resolve) => target.once('close', () => resolve()));
  let agentClosed = false;
  let agentGone!: () => void;
  const gone = new Promise<void>((resolve) => (agentGone = resolve));
  const onAgentClose = () => {
    agentClosed = true;
    agentGone();
    if (!exited) result.interrupted = true;
    target.close();
  };
  // the agent may have left while the command waited (for the ledger, a reviewer, the target)
  if (isClosed(agent)) onAgentClose();
  else agent.once('close', onAgentClose);
  // an agent that takes none of the output holds the command back (the windows carry the
  // backpressure to the target); past the limit the gateway closes the channel
  const limit = ctx.loaded.config.limits.stalledClientTimeout;
  const stall = () => {
    if (agentClosed) return;
    result.stalled = true;
    ctx.log.warn({ ms: limit }, 'the agent took none of the output it was sent; closing the channel');
    // the agent's own CLOSE may never come (a client flushes its output before it answers): the
    // gateway is done with it now, and stops the command
    onAgentClose();
    agent.close();
  };
  const unwatch = limit > 0 && !isClosed(agent) ? [watchStalledWriter(agent, limit, stall), watchStalledWriter(agent.stderr, limit, stall)] : [];

  // agent -> target; the agent's EOF is passed on
  void pump(agent, async (chunk) => {
    result.stdinBytes += chunk.length;
    const replaced = o.input ? await o.input(chunk) : undefined;
    await writeTo(target, replaced ?? chunk);
  }).then(() => {
    if (!exited) target.end();
  });

  // target -> agent, one path per stream, each in order
  const out = async (from: NodeJS.ReadableStream, tap: StreamTap, to: NodeJS.WritableStream, observe?: (c: Buffer) => void) => {
    const masking = ctx.masker ? new LineMasker(ctx.masker) : null;
    let chain: Promise<void> = Promise.resolve();
    const send = (parts: Buffer[]) => {
      for (const p of parts) {
        tap.add(p);
        observe?.(p);
      }
      if (agentClosed) return;
      chain = chain.then(async () => {
        for (const p of parts) if (!agentClosed) await writeTo(to, p, gone);
      });
      return chain;
    };
    let timer: NodeJS.Immediate | null = null;
    await pump(from, (chunk) => {
      if (!masking) return send([chunk]);
      if (timer) clearImmediate(timer);
      const r = send(masking.feed(chunk));
      if (o.pty && masking.holding) timer = setImmediate(() => void send(masking.partial()));
      return r;
    });
    if (timer) clearImmediate(timer);
    if (masking) {
      send(masking.partial());
      merge(result.tally, masking.tally);
      result.maskedLines += masking.changed;
    }
    await chain;
  };
  await Promise.all([out(target, stdout, agent, o.output), out(target.stderr, stderr, agent.stderr)]);
  // the target's exit status arrives before its channel closes
  await targetClosed;
  for (const u of unwatch) u();
  if (!agentClosed) {
    if (result.exitCode !== null) agent.exit(result.exitCode);
    else if (result.signal !== null) agent.exit(result.signal, false, '');
    agent.end();
  }
  return result;
}
