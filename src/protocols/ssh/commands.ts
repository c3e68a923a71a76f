import { monoUs } from '../../core/clock.js';
import type { AuditEvent, DecisionRecord, SshExitEvent } from '../../core/events.js';
import { newApprovalId } from '../../approvals/broker.js';
import { decisionRecord, type GateDecision } from '../../policy/gate.js';
import type { BridgeResult } from './bridge.js';
import { gatewayMessage, type SshSessionContext } from './context.js';
import { StreamTap } from './stream-tap.js';

/**
 * The policy step of an exec request: decide, record write-ahead, and for a review wait for the
 * reviewer (the agent reads why on stderr). Returns whether to run it; when not, the agent has
 * been told and the exit record written.
 */

export interface ExecVerdict {
  run: boolean;
  seq: number;
  startedMono: number;
}

/** Exit status of a command the gateway did not run: 126, "cannot execute", as shells use it. */
export const BLOCKED_EXIT = 126;

/** What a policy decision lets through; the agent has been told when it does not. */
async function enforce(
  ctx: SshSessionContext, d: GateDecision, approvalId: string | undefined, seq: number, text: string, pty: boolean, tell: (msg: Buffer) => void,
): Promise<boolean> {
  if (d.action === 'allow') return true;
  if (d.action === 'block') {
    tell(gatewayMessage(`blocked by policy "${d.policy}": ${d.reason}. The command was not run; this is recorded.`, pty));
    return false;
  }
  const approvals = ctx.approvals;
  if (!approvals) {
    tell(gatewayMessage(`policy "${d.policy}" needs a reviewer's approval, and this gateway has no approvals configured. The command was not run.`, pty));
    return false;
  }
  const pending = await approvals.request({
    id: approvalId!, sessionId: ctx.id, statementSeq: seq, protocol: 'ssh', connection: ctx.connection.name, requester: ctx.principal,
    policy: d.policy, reason: d.reason, text, shape: d.shape ?? text, reviewers: d.reviewers, timeoutMs: d.timeoutMs,
  });
  const minutes = Math.max(1, Math.round(d.timeoutMs / 60_000));
  tell(gatewayMessage(`approval required: policy "${d.policy}" holds this command for review (${d.reason}); approval id ${approvalId}, waiting up to ${minutes} min\n${approvals.hint(approvalId!)}`, pty));
  const outcome = await pending.outcome;
  if (outcome.decision !== 'approved') {
    const why = outcome.by === 'reviewer' ? `denied by ${outcome.reviewer?.subject ?? 'a reviewer'}${outcome.reason ? `: ${outcome.reason}` : ''}` : `not approved (${outcome.by})`;
    tell(gatewayMessage(`approval ${approvalId} ${why}. The command was not run.`, pty));
    return false;
  }
  tell(gatewayMessage(`approval ${approvalId} granted${outcome.reviewer ? ` by ${outcome.reviewer.subject}` : ''}; running the command`, pty));
  return true;
}

const decided = (d: GateDecision): { decision?: DecisionRecord; approvalId?: string } => {
  if (d.action === 'allow' && d.policy === 'default') return {};
  const approvalId = d.action === 'review' ? newApprovalId() : undefined;
  return { decision: decisionRecord(d, approvalId), ...(approvalId ? { approvalId } : {}) };
};

/**
 * Lines typed into a shell (best effort, see typed-commands.ts): recorded before the Enter that
 * runs them is forwarded, and decided like exec commands. Returns false when a line is blocked or
 * denied: the caller then cancels the line instead of forwarding the Enter.
 */
export async function gateTyped(ctx: SshSessionContext, channel: number, shellSeq: number, lines: string[], tell: (msg: Buffer) => void): Promise<boolean> {
  const ds = lines.map((line) => ({ line, d: ctx.gate.shell(line) })).map((x) => ({ ...x, ...decided(x.d) }));
  ctx.counters.commands += lines.length;
  const seqs = await ctx.record(ds.map(({ line, decision }) => ({
    type: 'ssh.command', channel, shellSeq, command: line, source: 'keystrokes', bestEffort: true, ...(decision ? { decision } : {}),
  })));
  for (const [i, x] of ds.entries()) {
    if (!(await enforce(ctx, x.d, x.approvalId, seqs[i]!, x.line, true, tell))) return false;
  }
  return true;
}

export async function gateExec(
  ctx: SshSessionContext,
  channel: number,
  command: string,
  pty: boolean,
  env: Record<string, string>,
  tell: (msg: Buffer) => void,
): Promise<ExecVerdict> {
  const startedMono = monoUs();
  const d: GateDecision = ctx.gate.shell(command);
  const { decision, approvalId } = decided(d);
  const event: AuditEvent = { type: 'ssh.exec', channel, command, pty, env, ...(decision ? { decision } : {}) };
  ctx.counters.commands++;
  const [seq] = await ctx.record([event]);
  if (await enforce(ctx, d, approvalId, seq!, command, pty, tell)) return { run: true, seq: seq!, startedMono };
  recordExit(ctx, channel, seq!, startedMono, 'blocked', null);
  return { run: false, seq: seq!, startedMono };
}

const EMPTY = new StreamTap(0);

/** The ssh.exit record of a channel (recorded behind: the command already ran). */
export function recordExit(ctx: SshSessionContext, channel: number, commandSeq: number, startedMono: number, status: SshExitEvent['status'], r: BridgeResult | null): void {
  const stdout = (r?.stdout ?? EMPTY).record(ctx.masker, r?.tally ?? { rules: new Set(), columns: new Map() });
  const stderr = (r?.stderr ?? EMPTY).record(ctx.masker, r?.tally ?? { rules: new Set(), columns: new Map() });
  const event: SshExitEvent = {
    type: 'ssh.exit', channel, commandSeq, status, exitCode: r?.exitCode ?? null, signal: r?.signal ?? null,
    stdout, stderr, stdinBytes: r?.stdinBytes ?? 0, durationUs: monoUs() - startedMono,
  };
  if (r && r.tally.rules.size > 0) event.masked = { rules: [...r.tally.rules].sort(), lines: r.maskedLines };
  if (r?.stalled) {
    event.reason = `GH_ERR_CLIENT_STALLED: the agent took none of the output for ${ctx.loaded.config.limits.stalledClientTimeout} ms (limits.stalledClientTimeout); the gateway closed the channel`;
  }
  if (status === 'error') ctx.counters.errors++;
  ctx.recordBehind([event]);
}

/** ok / error / interrupted from how the target ended. */
export function exitStatus(r: BridgeResult): SshExitEvent['status'] {
  if (r.exitCode === null && r.signal === null) return 'interrupted';
  return r.exitCode === 0 ? 'ok' : 'error';
}
