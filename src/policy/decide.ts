import type { Config, PolicyRule } from '../core/config.js';
import type { Principal } from '../identity/principal.js';
import type { Classification, Operation } from './classify.js';
import type { KubeAttributes } from '../protocols/kubernetes/attributes.js';
import { commandMatches, type ShellParse } from './shell.js';

/**
 * decide(principal, connection, command) -> Decision. Pure: rules in config order, first match
 * wins; text the parser cannot read meets `policy.unparsable` (default block), never a silent allow;
 * no matching rule meets `policy.default`. Shared by every protocol: a protocol supplies the
 * classification of its command: SQL (PostgreSQL) or a shell command line (SSH exec). A rule with
 * SQL criteria never matches a shell command and a rule with `commands` never matches SQL; rules
 * with only `text`, `between` or no criteria match both.
 */

export interface Decision {
  action: 'allow' | 'block' | 'review';
  /** the rule that decided, or the built-in 'default' / 'unparsable-sql' */
  policy: string;
  reason: string;
  reviewers: string[];
  timeoutMs: number;
}

export interface HttpCommand {
  method: string;
  path: string;
}

export type Command =
  | { text: string; classification: Classification; shell?: undefined; http?: undefined; kube?: undefined }
  | { text: string; shell: ShellParse; classification?: undefined; http?: undefined; kube?: undefined }
  | { text: string; http: HttpCommand; kube?: KubeAttributes; classification?: undefined; shell?: undefined };

/** `prod`, `team-*`: exact, or a prefix with a trailing `*`; `*` alone is anything. */
const globMatches = (pattern: string, value: string): boolean =>
  pattern.endsWith('*') ? value.startsWith(pattern.slice(0, -1)) : pattern === value;

/**
 * A Kubernetes resource pattern, RBAC-like: `pods` is the resource itself (not its subresources),
 * `pods/exec` one subresource, `pods/*` any of them, `*` everything, `*` + `/scale` any scale.
 * Without a group (`secrets`) it names the resource in any API group; `deployments.apps` one group.
 */
export function resourceMatches(pattern: string, a: Pick<KubeAttributes, 'apiGroup' | 'resource' | 'subresource'>): boolean {
  const slash = pattern.indexOf('/');
  const res = slash < 0 ? pattern : pattern.slice(0, slash);
  const sub = slash < 0 ? '' : pattern.slice(slash + 1);
  if (sub === '' ? a.subresource !== '' && res !== '*' : sub !== '*' && sub !== a.subresource) return false;
  if (sub === '*' && a.subresource === '') return false;
  if (res === '*') return true;
  const dot = res.indexOf('.');
  if (dot < 0) return res === a.resource;
  return res.slice(0, dot) === a.resource && res.slice(dot + 1) === a.apiGroup;
}

function kubeMatches(m: PolicyRule['match'], a: KubeAttributes): boolean {
  if (!a.resourceRequest) return false;
  if (m.verbs && !m.verbs.some((v) => v === '*' || v === a.verb)) return false;
  if (m.resources && !m.resources.some((r) => resourceMatches(r, a))) return false;
  if (m.namespaces && (a.namespace === '' || !m.namespaces.some((n) => globMatches(n, a.namespace)))) return false;
  if (m.names && (a.name === '' || !m.names.some((n) => globMatches(n, a.name)))) return false;
  return true;
}

/**
 * An HTTP path pattern: segments compared one by one; `*` is any one segment, `**` (last) any rest,
 * a segment ending in `*` a prefix. Paths are compared after percent-decoding and removing dot
 * segments (the caller normalises), so `/admin/../admin` cannot dodge `/admin/**`.
 */
export function pathMatches(pattern: string, path: string): boolean {
  const p = pattern.split('/').filter((x) => x !== '');
  const g = path.split('/').filter((x) => x !== '');
  for (let i = 0; i < p.length; i++) {
    const seg = p[i]!;
    if (seg === '**') return true;
    const got = g[i];
    if (got === undefined) return false;
    if (seg === '*') continue;
    if (seg.endsWith('*') ? !got.startsWith(seg.slice(0, -1)) : seg !== got) return false;
  }
  return p.length === g.length;
}

type PolicyConfig = Pick<Config, 'policies' | 'policy'>;

const sameTable = (want: string, got: string): boolean => {
  const w = want.toLowerCase();
  const g = got.toLowerCase();
  return w === g || (!w.includes('.') && g.endsWith(`.${w}`)) || (!g.includes('.') && w.endsWith(`.${g}`));
};

const regexes = new Map<string, RegExp>();
function regex(source: string): RegExp {
  let r = regexes.get(source);
  if (!r) regexes.set(source, (r = new RegExp(source, 'i')));
  return r;
}

function inWindow(window: string, now: Date): boolean {
  const [from, to] = window.split('-').map((t) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5))) as [number, number];
  const m = now.getUTCHours() * 60 + now.getUTCMinutes();
  return from <= to ? m >= from && m < to : m >= from || m < to;
}

function opMatches(m: PolicyRule['match'], op: Operation): boolean {
  if (m.statement && !m.statement.includes(op.kind)) return false;
  if (m.tables && !m.tables.some((t) => op.tables.some((g) => sameTable(t, g)))) return false;
  if (m.unbounded !== undefined && op.unbounded !== m.unbounded) return false;
  if (m.program !== undefined && op.program !== m.program) return false;
  return true;
}

function ruleApplies(r: PolicyRule, principal: Principal, connection: string, cmd: Command, now: Date): boolean {
  if (r.connections && !r.connections.includes(connection)) return false;
  if (r.groups && !r.groups.some((g) => principal.groups.includes(g))) return false;
  if (r.identities && !r.identities.includes(principal.subject)) return false;
  const m = r.match;
  if (m.between && !inWindow(m.between, now)) return false;
  if (m.text && !regex(m.text).test(cmd.text)) return false;
  const sql = cmd.classification;
  if (m.verbs || m.resources || m.namespaces || m.names) return cmd.kube !== undefined && kubeMatches(m, cmd.kube);
  if (m.methods || m.paths) {
    if (!cmd.http) return false;
    if (m.methods && !m.methods.includes(cmd.http.method.toUpperCase())) return false;
    return !m.paths || m.paths.some((p) => pathMatches(p, cmd.http!.path));
  }
  if (m.commands) return cmd.shell !== undefined && cmd.shell.commands.some((c) => m.commands!.some((p) => commandMatches(p, c)));
  const opCriteria = m.statement || m.tables || m.unbounded !== undefined || m.program !== undefined;
  if (!sql) return !opCriteria && !m.functions;
  if (m.functions && !m.functions.some((f) => sql.functions.some((g) => sameTable(f, g)))) return false;
  return !opCriteria || sql.operations.some((op) => opMatches(m, op));
}

function describe(r: PolicyRule, cmd: Command): string {
  if (r.reason) return r.reason;
  if (cmd.kube) {
    const k = cmd.kube;
    const what = k.resourceRequest ? `${k.verb} ${k.subresource ? `${k.resource}/${k.subresource}` : k.resource}${k.namespace ? ` in namespace ${k.namespace}` : ''}` : `${k.verb} ${k.path}`;
    return r.action === 'review' ? `${what} needs a reviewer's approval` : `${what} is not allowed here`;
  }
  if (cmd.http) return r.action === 'review' ? `${cmd.http.method} ${cmd.http.path} needs a reviewer's approval` : `${cmd.http.method} ${cmd.http.path} is not allowed here`;
  if (cmd.shell) {
    const hit = cmd.shell.commands.filter((c) => !r.match.commands || r.match.commands.some((p) => commandMatches(p, c)));
    const what = hit.map((c) => c.program).filter((p, i, a) => a.indexOf(p) === i).join(', ') || 'this command';
    return r.action === 'review' ? `${what} needs a reviewer's approval` : `${what} is not allowed here`;
  }
  const ops = (cmd.classification?.operations ?? []).map((o) => `${o.kind.toUpperCase()}${o.tables.length ? ` ${o.tables.join(', ')}` : ''}${o.unbounded ? ' without WHERE' : ''}`);
  const what = ops.join('; ') || 'this statement';
  return r.action === 'review' ? `${what} needs a reviewer's approval` : `${what} is not allowed here`;
}

export function decide(cfg: PolicyConfig, principal: Principal, connection: string, cmd: Command, now = new Date()): Decision {
  if (cmd.shell && !cmd.shell.parsed) {
    return {
      action: cfg.policy.unparsable === 'allow' ? 'allow' : 'block',
      policy: 'unparsable-command',
      reason: 'the gateway cannot read this command line (unbalanced quotes or nesting too deep), so it cannot check it',
      reviewers: [],
      timeoutMs: 0,
    };
  }
  if (cmd.classification && !cmd.classification.parsed) {
    return {
      action: cfg.policy.unparsable === 'allow' ? 'allow' : 'block',
      policy: 'unparsable-sql',
      reason: `the gateway cannot parse this statement, so it cannot check it (${cmd.classification.error ?? 'parse error'})`,
      reviewers: [],
      timeoutMs: 0,
    };
  }
  for (const r of cfg.policies) {
    if (!ruleApplies(r, principal, connection, cmd, now)) continue;
    return { action: r.action, policy: r.name, reason: r.action === 'allow' ? 'allowed by policy' : describe(r, cmd), reviewers: r.reviewers ?? [], timeoutMs: r.timeout };
  }
  return { action: cfg.policy.default, policy: 'default', reason: cfg.policy.default === 'allow' ? 'no rule matched' : 'no rule allows this', reviewers: [], timeoutMs: 0 };
}
