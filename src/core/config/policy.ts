import { z } from 'zod';
import { duration, name } from './primitives.js';

/** The `policies` rules (guardrails) and the `policy` section (what happens when none matches or a command cannot be read). */

const statementKind = z.enum([
  'select', 'insert', 'update', 'delete', 'merge', 'truncate', 'drop', 'alter', 'create', 'grant', 'revoke', 'copy', 'do', 'call',
  'set_role', 'set_session_authorization', 'alter_system', 'explain', 'transaction', 'set', 'show', 'vacuum', 'prepare', 'execute', 'other',
]);

export const policyRule = z.strictObject({
  name,
  /** connections the rule applies to (default: all) */
  connections: z.array(z.string().min(1)).optional(),
  /** groups the rule applies to (default: everyone) */
  groups: z.array(z.string().min(1)).optional(),
  /** token subjects the rule applies to (default: everyone) */
  identities: z.array(z.string().min(1)).optional(),
  match: z
    .strictObject({
      statement: z.array(statementKind).min(1).optional(),
      /** schema-qualified or bare table names */
      tables: z.array(z.string().min(1)).optional(),
      /** UPDATE/DELETE without WHERE */
      unbounded: z.boolean().optional(),
      /** COPY TO/FROM PROGRAM */
      program: z.boolean().optional(),
      /** HTTP: request methods (GET, POST, ...) */
      methods: z.array(z.string().regex(/^[A-Za-z]+$/).transform((m) => m.toUpperCase())).min(1).optional(),
      // HTTP: path patterns; a `*` segment is one segment, a `**` segment any rest (docs/configuration.md)
      paths: z.array(z.string().startsWith('/', 'a path pattern starts with /')).min(1).optional(),
      /** Kubernetes: verbs (get, list, watch, create, update, patch, delete, deletecollection) */
      verbs: z.array(z.string().regex(/^[a-z*]+$/, 'a verb is lower case (get, list, watch, create, update, patch, delete, deletecollection) or *')).min(1).optional(),
      /** Kubernetes: resources as `pods`, `pods/exec`, `pods/*`, `deployments.apps`, `*` */
      resources: z.array(z.string().regex(/^[a-z0-9.*-]+(\/[a-z0-9*-]+)?$/, 'use resource[.group][/subresource], e.g. pods, pods/exec, deployments.apps')).min(1).optional(),
      /** Kubernetes: namespaces (`*` at the end for a prefix); a rule with namespaces never matches a cluster-wide request */
      namespaces: z.array(z.string().min(1)).min(1).optional(),
      /** Kubernetes: object names (`*` at the end for a prefix) */
      names: z.array(z.string().min(1)).min(1).optional(),
      /** SSH: shell commands, as `program [args...]` patterns (`rm -rf`, `systemctl stop`, `shutdown`) */
      commands: z.array(z.string().regex(/\S/, 'give a program name')).min(1).optional(),
      /** functions called anywhere in the statement (bare or schema-qualified names) */
      functions: z.array(z.string().min(1)).min(1).optional(),
      /** regular expression on the statement text: a last resort */
      text: z
        .string()
        .min(1)
        .refine((t) => {
          try {
            new RegExp(t, 'i');
            return true;
          } catch {
            return false;
          }
        }, 'not a valid regular expression')
        .optional(),
      /** UTC time window "HH:MM-HH:MM" when the rule applies */
      between: z.string().regex(/^\d\d:\d\d-\d\d:\d\d$/, 'use "HH:MM-HH:MM" (UTC)').optional(),
    })
    .default({}),
  action: z.enum(['allow', 'block', 'review']),
  /** for review: groups whose members may approve */
  reviewers: z.array(z.string().min(1)).min(1).optional(),
  /** for review: no decision in this time = denied */
  timeout: duration.default(600_000),
  /** shown to the client with a block */
  reason: z.string().optional(),
}).refine((r) => r.action !== 'review' || r.reviewers !== undefined, { message: 'a review rule needs reviewers' })
  .refine((r) => {
    const m = r.match;
    const kinds = [
      Boolean(m.statement || m.tables || m.unbounded !== undefined || m.program !== undefined || m.functions),
      Boolean(m.commands),
      Boolean(m.methods || m.paths),
      Boolean(m.verbs || m.resources || m.namespaces || m.names),
    ].filter(Boolean).length;
    return kinds <= 1;
  }, {
    message: 'a rule matches one kind of command: SQL (statement, tables, unbounded, program, functions), shell (commands), HTTP (methods, paths) or Kubernetes (verbs, resources, namespaces, names); write one rule per kind',
  });

export const policySection = z.strictObject({
  /** when no rule matches */
  default: z.enum(['allow', 'block']).default('allow'),
  /** text the PostgreSQL parser (or the shell command reader) cannot parse */
  unparsable: z.enum(['allow', 'block']).default('block'),
});

export type PolicyRule = z.output<typeof policyRule>;
