import type { Config } from '../core/config.js';
import type { DecisionRecord } from '../core/events.js';
import type { Principal } from '../identity/principal.js';
import { classify, statementShape, type Classification } from './classify.js';
import { decide, type Decision } from './decide.js';
import { parseShell } from './shell.js';
import { describeKube, type KubeAttributes } from '../protocols/kubernetes/attributes.js';

/**
 * A session's policy, bound once to its principal and connection: what a protocol asks for each
 * command. Still pure (time is read per call, for rules with a time window).
 */

export interface GateDecision extends Decision {
  /** the command's shape, for review decisions (what a grant covers) */
  shape: string | null;
}

export interface CommandGate {
  /** a SQL text (a simple Query, or the statement behind a Parse / Execute) */
  sql(text: string): GateDecision;
  /** a fast-path FunctionCall: opaque, classified as CALL */
  functionCall(oid: number): GateDecision;
  /** an SSH exec command line */
  shell(text: string): GateDecision;
  /** an HTTP request (path normalised, without the query) */
  http(method: string, path: string): GateDecision;
  /** a Kubernetes API request: its attributes, and the HTTP method and normalised path */
  kube(method: string, path: string, attributes: KubeAttributes): GateDecision;
}

const callOf = (oid: number): Classification => ({
  parsed: true, error: null, operations: [{ kind: 'call', tables: [], unbounded: false, program: false }], functions: [`oid:${oid}`],
});

export function commandGate(cfg: Pick<Config, 'policies' | 'policy'>, principal: Principal, connection: string): CommandGate {
  const withShape = (d: Decision, text: string): GateDecision => ({ ...d, shape: d.action === 'review' ? statementShape(text) : null });
  return {
    sql: (text) => withShape(decide(cfg, principal, connection, { text, classification: classify(text) }), text),
    functionCall: (oid) => {
      const text = `<function call oid ${oid}>`;
      return { ...decide(cfg, principal, connection, { text, classification: callOf(oid) }), shape: `fn:${oid}` };
    },
    // a grant covers the exact command line
    shell: (text) => ({ ...decide(cfg, principal, connection, { text, shell: parseShell(text) }), shape: `sh:${text}` }),
    // a grant covers the method and path
    http: (method, path) => ({ ...decide(cfg, principal, connection, { text: `${method} ${path}`, http: { method, path } }), shape: `http:${method} ${path}` }),
    // a grant covers the request in Kubernetes terms (verb, resource, namespace, name)
    kube: (method, path, attributes) => {
      const text = describeKube(attributes);
      return { ...decide(cfg, principal, connection, { text, http: { method, path }, kube: attributes }), shape: `k8s:${text}` };
    },
  };
}

/** A gate with no rules: everything is allowed (tests of the bare relay). */
export const allowAll: CommandGate = {
  sql: () => ({ action: 'allow', policy: 'default', reason: 'no rule matched', reviewers: [], timeoutMs: 0, shape: null }),
  functionCall: () => ({ action: 'allow', policy: 'default', reason: 'no rule matched', reviewers: [], timeoutMs: 0, shape: null }),
  shell: () => ({ action: 'allow', policy: 'default', reason: 'no rule matched', reviewers: [], timeoutMs: 0, shape: null }),
  http: () => ({ action: 'allow', policy: 'default', reason: 'no rule matched', reviewers: [], timeoutMs: 0, shape: null }),
  kube: () => ({ action: 'allow', policy: 'default', reason: 'no rule matched', reviewers: [], timeoutMs: 0, shape: null }),
};

/** The decision as recorded on the command. */
export function decisionRecord(d: Decision, approvalId?: string): DecisionRecord {
  const r: DecisionRecord = { action: d.action, policy: d.policy };
  if (d.action !== 'allow') r.reason = d.reason;
  if (approvalId) r.approvalId = approvalId;
  return r;
}
