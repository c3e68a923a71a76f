import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { GatehouseError } from './errors.js';
import { parseDurationMs } from './clock.js';

/**
 * Gatehouse configuration: YAML, validated with zod (unknown keys are errors, so a typo is caught),
 * `${VAR}` / `${VAR:-default}` replaced from the environment in string values after parsing (never in
 * the raw text, so a variable cannot inject YAML). Relative paths are relative to the config file.
 * docs/configuration.md documents every key.
 */

const MiB = 1024 * 1024;

const duration = z
  .union([z.string(), z.number().int().nonnegative()])
  .transform((v, ctx) => {
    if (typeof v === 'number') return v;
    try {
      return parseDurationMs(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'use letters, digits, "_", "." or "-" (max 63 characters)');

const port = z.number().int().min(0).max(65535);

const listenerTls = z.union([
  z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }),
  z.strictObject({ selfSigned: z.literal(true) }),
]);

const postgresListener = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: port.default(15432),
  tls: listenerTls.optional(),
  /** refuse clients that do not negotiate TLS */
  requireTls: z.boolean().default(false),
});

/** the reviewers' HTTP API (approvals); bearer OIDC tokens, so give it TLS off loopback */
const apiListener = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: port.default(8480),
  tls: listenerTls.optional(),
});

/** the SSH listener: agents log in with their OIDC token as the password; the user name selects the connection */
const sshListener = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: port.default(2222),
  /** the gateway's own host key (OpenSSH PEM); generated (Ed25519) on first start when missing */
  hostKeyFile: z.string().default('./data/ssh_host_ed25519_key'),
  /** how long a client has to authenticate */
  loginTimeout: duration.default(30_000),
});

/** the HTTP API gateway: agents send their OIDC token as `Authorization: Bearer`; HTTPS unless on loopback */
const httpListener = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: port.default(8443),
  tls: listenerTls.optional(),
});

const approvalsSection = z.strictObject({
  /** POST every approval request and decision to this URL */
  webhook: z
    .strictObject({
      url: z.url(),
      /** json: { event, approval }; slack: an incoming-webhook message ({ text, blocks }) */
      format: z.enum(['json', 'slack']).default('json'),
      /** HMAC-SHA256 key: when set, X-Gatehouse-Signature: sha256=<hex> signs the body */
      secret: z.string().min(16, 'use at least 16 characters').optional(),
      timeout: duration.default(5_000),
    })
    .optional(),
  /** public base URL of the reviewers' API, shown in hints and messages (default: from listeners.api) */
  url: z.url().optional(),
});

/** who may use the management API (listeners.api) for the console: groups per role; see docs/security.md */
const consoleSection = z.strictObject({
  roles: z.strictObject({
    /** read: sessions, reports, recordings, integrity */
    auditors: z.array(z.string().min(1)).default([]),
    /** read, and decide approvals (still only those whose rule names one of their groups) */
    reviewers: z.array(z.string().min(1)).default([]),
    /** everything, including the console's own access log */
    admins: z.array(z.string().min(1)).default([]),
  }),
  /** human login to the web console: OIDC authorization code + PKCE against identity.issuer; see docs/security.md */
  login: z
    .strictObject({
      /** the console's client at the IdP (an authorization_code client with the redirect URL below registered) */
      clientId: z.string().min(1),
      /** confidential client: the secret, or a file holding it; neither: a public client (PKCE alone) */
      clientSecret: z.string().min(1).optional(),
      clientSecretFile: z.string().min(1).optional(),
      /** where the IdP sends the browser back; default: <listeners.api URL>/api/auth/callback */
      redirectUrl: z.url().optional(),
      /** scopes asked for; the groups claim (identity.groupsClaim) must come back in the id_token or from userinfo */
      scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'not a scope token')).min(1).default(['openid', 'profile', 'email', 'groups'])
        .refine((s) => s.includes('openid'), 'the scopes must include openid'),
      /** a console session ends this long after login ... */
      sessionTtl: duration.default(8 * 3_600_000),
      /** ... or after this long without a request, whichever comes first */
      idleTimeout: duration.default(3_600_000),
      /** console sessions kept in memory at most; the least recently used goes first */
      maxSessions: z.number().int().min(1).max(100_000).default(1000),
    })
    .refine((l) => !(l.clientSecret !== undefined && l.clientSecretFile !== undefined), { message: 'give either clientSecret or clientSecretFile, not both' })
    .optional(),
});

const upstreamTls = z.strictObject({
  mode: z.enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full']).default('prefer'),
  ca: z.string().optional(),
  servername: z.string().optional(),
});

const postgresConnection = z
  .strictObject({
    name,
    type: z.literal('postgres'),
    host: z.string().min(1),
    port: port.default(5432),
    database: z.string().min(1),
    user: z.string().min(1),
    password: z.string().optional(),
    passwordFile: z.string().optional(),
    groups: z.array(z.string().min(1)).min(1, 'map at least one group, or nobody can use this connection'),
    tls: upstreamTls.default({ mode: 'prefer' }),
    connectTimeout: duration.default(10_000),
    /**
     * a statement still running after this long is cancelled by the gateway (0: never); unlike the
     * server's statement_timeout the agent cannot SET it away, and it holds for a server that stops answering
     */
    statementTimeout: duration.default(0),
  })
  .refine((c) => !(c.password !== undefined && c.passwordFile !== undefined), {
    message: 'give either password or passwordFile, not both',
  });

const sshConnection = z
  .strictObject({
    name,
    type: z.literal('ssh'),
    host: z.string().min(1),
    port: port.default(22),
    /** the remote user (default), and others a client may pick with `connection+user@gateway` */
    user: z.string().min(1),
    users: z.array(z.string().min(1)).default([]),
    /** the private key only the gateway holds: a file (OpenSSH or PEM) or the text itself (e.g. ${WEB1_SSH_KEY}) */
    privateKeyFile: z.string().optional(),
    privateKey: z.string().optional(),
    passphrase: z.string().optional(),
    /** the pinned host key of the target: "ssh-ed25519 AAAA..." (a known_hosts or .pub line) ... */
    hostKey: z.string().optional(),
    /** ... or a known_hosts file holding it (host entries as OpenSSH writes them, plain or [host]:port) */
    knownHostsFile: z.string().optional(),
    groups: z.array(z.string().min(1)).min(1, 'map at least one group, or nobody can use this connection'),
    /** what is refused unless allowed here (each refusal is recorded) */
    allow: z
      .strictObject({
        /** local forwarding (`ssh -L`) through the target, to these host:port patterns (`*` wildcards; e.g. "127.0.0.1:5432") */
        portForwarding: z.boolean().default(false),
        forwardTo: z.array(z.string().regex(/^[^:\s]+:(\*|\d{1,5})$/, 'use "host:port" (port may be *)')).default([]),
        agentForwarding: z.boolean().default(false),
        x11: z.boolean().default(false),
        sftp: z.boolean().default(true),
        /** interactive shells (`ssh -t host` without a command); false: exec only, where policies decide every command */
        shell: z.boolean().default(true),
        /** environment variables a client may set (names or `LC_*` patterns) */
        env: z.array(z.string().min(1)).default(['LANG', 'LC_*', 'TERM']),
      })
      .default({ portForwarding: false, forwardTo: [], agentForwarding: false, x11: false, sftp: true, shell: true, env: ['LANG', 'LC_*', 'TERM'] }),
    connectTimeout: duration.default(10_000),
  })
  .refine((c) => (c.privateKey === undefined) !== (c.privateKeyFile === undefined), { message: 'give exactly one of privateKey or privateKeyFile' })
  .refine((c) => (c.hostKey === undefined) !== (c.knownHostsFile === undefined), {
    message: 'pin the target\'s host key: give exactly one of hostKey or knownHostsFile (ssh-keyscan prints it)',
  });

/** what the gateway adds to each upstream request; the agent never sees it */
const httpCredential = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({ type: z.literal('bearer'), token: z.string().min(1).optional(), tokenFile: z.string().optional() })
    .refine((c) => (c.token === undefined) !== (c.tokenFile === undefined), { message: 'give exactly one of token or tokenFile' }),
  z.strictObject({ type: z.literal('basic'), username: z.string().min(1), password: z.string().optional(), passwordFile: z.string().optional() })
    .refine((c) => (c.password === undefined) !== (c.passwordFile === undefined), { message: 'give exactly one of password or passwordFile' }),
  z.strictObject({ type: z.literal('header'), name: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'not a header name'), value: z.string().min(1).optional(), valueFile: z.string().optional() })
    .refine((c) => (c.value === undefined) !== (c.valueFile === undefined), { message: 'give exactly one of value or valueFile' }),
]);

const httpConnection = z.strictObject({
  name,
  type: z.literal('http'),
  /** upstream base URL; the agent's path (after /c/<name>) is appended to its path */
  url: z.url().refine((u) => u.startsWith('https://') || u.startsWith('http://'), 'use an http:// or https:// URL'),
  /** host names (Host header / SNI) that select this connection, besides the /c/<name>/ path prefix */
  hosts: z.array(z.string().min(1)).default([]),
  credential: httpCredential.default({ type: 'none' }),
  /** PEM CA bundle for an https upstream with a private CA */
  ca: z.string().optional(),
  groups: z.array(z.string().min(1)).min(1, 'map at least one group, or nobody can use this connection'),
  /** request and response headers kept in the record (names, case-insensitive); never Authorization or cookies */
  recordHeaders: z.array(z.string().min(1)).default(['content-type', 'content-length', 'user-agent', 'accept', 'location', 'x-request-id']),
  /** upstream response headers deadline and idle body timeout */
  timeout: duration.default(60_000),
});

/** what the gateway presents to the Kubernetes API server; the agent never sees it */
const kubernetesCredential = z.discriminatedUnion('type', [
  /** a service-account (or other bearer) token */
  z.strictObject({ type: z.literal('token'), token: z.string().min(1).optional(), tokenFile: z.string().optional() })
    .refine((c) => (c.token === undefined) !== (c.tokenFile === undefined), { message: 'give exactly one of token or tokenFile' }),
  /** a client certificate and its key: PEM text, or files */
  z.strictObject({ type: z.literal('clientCertificate'), cert: z.string().min(1), key: z.string().min(1) }),
]);

const kubernetesConnection = z.strictObject({
  name,
  type: z.literal('kubernetes'),
  /** the API server's URL (https) */
  server: z.url().refine((u) => u.startsWith('https://'), 'use the API server\'s https:// URL'),
  /** PEM CA bundle of the API server (text or a file) */
  ca: z.string().optional(),
  credential: kubernetesCredential,
  /** host names (Host header / SNI) that select this connection, besides the /c/<name>/ path prefix */
  hosts: z.array(z.string().min(1)).default([]),
  groups: z.array(z.string().min(1)).min(1, 'map at least one group, or nobody can use this connection'),
  /** request and response headers kept in the record (names, case-insensitive); never Authorization or cookies */
  recordHeaders: z.array(z.string().min(1)).default(['content-type', 'content-length', 'user-agent', 'kubectl-command', 'kubectl-session', 'audit-id']),
  /** upstream response headers deadline; also the idle timeout of ordinary response bodies (watches, logs -f and exec are not cut when idle) */
  timeout: duration.default(60_000),
});

const statementKind = z.enum([
  'select', 'insert', 'update', 'delete', 'merge', 'truncate', 'drop', 'alter', 'create', 'grant', 'revoke', 'copy', 'do', 'call',
  'set_role', 'set_session_authorization', 'alter_system', 'explain', 'transaction', 'set', 'show', 'vacuum', 'prepare', 'execute', 'other',
]);

const policyRule = z.strictObject({
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

const maskingStrategy = z.enum(['redact', 'partial', 'pseudonym', 'null']);
const builtinDetector = z.enum(['email', 'card', 'iban', 'ssn', 'phone', 'ipv4', 'ipv6', 'jwt', 'cloud_key', 'private_key']);

const maskingRule = z.strictObject({
  name,
  /** connections the rule applies to (default: all) */
  connections: z.array(z.string().min(1)).optional(),
  /** groups the rule applies to (default: everyone) */
  groups: z.array(z.string().min(1)).optional(),
  /** groups that see clear values (e.g. the data protection officer) */
  exempt: z.array(z.string().min(1)).default([]),
  /** `schema.table.column`, `table.column`, or a column-name pattern with `*` (`*email*`) */
  columns: z.array(z.string().min(1)).default([]),
  /** detectors run over every text value (built-in names or masking.detectors names) */
  detectors: z.array(z.string().min(1)).default([]),
  strategy: maskingStrategy.default('redact'),
}).refine((r) => r.columns.length > 0 || r.detectors.length > 0, { message: 'give columns, detectors, or both' });

const maskingSection = z.strictObject({
  /** HMAC key for the pseudonym strategy (e.g. ${GATEHOUSE_MASKING_KEY}); or keyFile */
  key: z.string().min(16, 'use at least 16 characters').optional(),
  keyFile: z.string().optional(),
  /** custom detectors: a regular expression each */
  detectors: z.array(z.strictObject({ name, pattern: z.string().min(1) })).default([]),
  rules: z.array(maskingRule).default([]),
}).superRefine((m, ctx) => {
  if (m.key !== undefined && m.keyFile !== undefined) ctx.addIssue({ code: 'custom', message: 'give either key or keyFile, not both' });
  const known = new Set<string>([...builtinDetector.options, ...m.detectors.map((d) => d.name)]);
  m.rules.forEach((r, i) => {
    for (const d of r.detectors) {
      if (!known.has(d)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'detectors'], message: `unknown detector "${d}" (built in: ${builtinDetector.options.join(', ')}; or define it under masking.detectors)` });
    }
    if (r.strategy === 'pseudonym' && m.key === undefined && m.keyFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['rules', i, 'strategy'], message: 'the pseudonym strategy needs masking.key or masking.keyFile' });
    }
  });
  m.detectors.forEach((d, i) => {
    try {
      if (new RegExp(d.pattern, 'u').test('')) ctx.addIssue({ code: 'custom', path: ['detectors', i, 'pattern'], message: 'the pattern matches the empty string' });
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: ['detectors', i, 'pattern'], message: `not a valid regular expression: ${(e as Error).message}` });
    }
  });
});

const devClient = z.strictObject({
  clientId: z.string().min(1),
  clientSecret: z.string().min(8),
  groups: z.array(z.string()).default([]),
  ciJob: z.string().optional(),
});

/** a person who can log in to the dev issuer's login form (the console's human login) */
const devUser = z.strictObject({
  username: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$/, 'use letters, digits, "_", ".", "@" or "-"'),
  password: z.string().min(8),
  groups: z.array(z.string()).default([]),
  name: z.string().optional(),
  email: z.string().optional(),
});

const devSection = z.strictObject({
  issuer: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: port.default(9400),
      clients: z.array(devClient).min(1),
      /** people for the login form (authorization code clients below) */
      users: z.array(devUser).default([]),
      /** authorization code clients (the web console): their redirect URLs */
      loginClients: z.array(z.strictObject({
        clientId: z.string().min(1),
        /** absent: a public client (PKCE only) */
        clientSecret: z.string().min(8).optional(),
        redirectUris: z.array(z.url()).min(1),
      })).default([]),
    })
    .optional(),
  postgres: z
    .strictObject({
      port: port.default(25432),
      dataDir: z.string().default('./data/demo-postgres'),
      /** SQL run once, when the demo cluster is first created */
      seed: z.string().optional(),
    })
    .optional(),
});

export const ConfigSchema = z.strictObject({
  identity: z.strictObject({
    issuer: z.url(),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    groupsClaim: z.string().min(1).default('groups'),
    ciJobClaim: z.string().min(1).optional(),
    /** asymmetric JWS algorithms accepted; `none` and HMAC are never accepted */
    algorithms: z
      .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
      .min(1)
      .default(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']),
    clockTolerance: duration.default(30_000),
    maxTokenBytes: z.number().int().min(256).max(1 * MiB).default(16 * 1024),
    /** skip discovery and use this JWKS URL */
    jwksUri: z.url().optional(),
    /** allow an http:// issuer that is not on a loopback address (never in production) */
    allowInsecureIssuer: z.boolean().default(false),
  }),
  ledger: z.strictObject({
    /** SQLite file (embedded default) ... */
    sqlite: z.string().min(1).optional(),
    /** ... or a PostgreSQL URL (several gateways can share it); exactly one of the two */
    postgres: z.string().regex(/^postgres(ql)?:\/\//, 'use a postgres:// or postgresql:// URL').optional(),
    /**
     * strict: every commit reaches the disk (fsync) before the command it records is forwarded:
     * survives a power loss. process: every commit reaches the operating system before the command
     * is forwarded, the disk soon after: survives the gateway being killed, not a crash of the host.
     */
    durability: z.enum(['strict', 'process']).default('strict'),
    /** prune payloads of records older than this (hashes stay, so the tree and checkpoints still verify) */
    retention: z.string().optional().transform((v, ctx) => {
      if (v === undefined) return undefined;
      try {
        const ms = parseDurationMs(v);
        if (ms < 86_400_000) throw new Error('retention must be at least 1d');
        return { text: v, ms };
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    }),
    /** signed Merkle checkpoints (Ed25519); without a key the ledger is hash-chained but not signed */
    checkpoints: z
      .strictObject({
        /** PEM file of the Ed25519 private key (`gatehouse keys generate`) */
        signingKeyFile: z.string().optional(),
        /** the PEM text itself, typically `${GATEHOUSE_SIGNING_KEY}` */
        signingKey: z.string().optional(),
        /** sign after this many new records ... */
        everyRecords: z.number().int().min(1).default(1000),
        /** ... or this long after the last checkpoint, whichever comes first */
        every: duration.default(10_000),
        /** append each signed checkpoint as a JSON line to this file (keep it off the gateway host) */
        witnessFile: z.string().optional(),
        /** POST each signed checkpoint as JSON to this URL */
        witnessUrl: z.url().optional(),
      })
      .refine((c) => (c.signingKeyFile === undefined) !== (c.signingKey === undefined), {
        message: 'give exactly one of signingKeyFile or signingKey',
      })
      .optional(),
  }).refine((l) => (l.sqlite === undefined) !== (l.postgres === undefined), { message: 'give exactly one of ledger.sqlite or ledger.postgres' }),
  listeners: z.strictObject({
    postgres: postgresListener.optional(),
    api: apiListener.optional(),
    ssh: sshListener.optional(),
    http: httpListener.optional(),
  }),
  connections: z.array(z.discriminatedUnion('type', [postgresConnection, sshConnection, httpConnection, kubernetesConnection])).default([]),
  /** guardrails, evaluated in order; the first matching rule decides */
  policies: z.array(policyRule).default([]),
  policy: z
    .strictObject({
      /** when no rule matches */
      default: z.enum(['allow', 'block']).default('allow'),
      /** text the PostgreSQL parser (or the shell command reader) cannot parse */
      unparsable: z.enum(['allow', 'block']).default('block'),
    })
    .default({ default: 'allow', unparsable: 'block' }),
  recording: z
    .strictObject({
      /** result rows kept per statement as a sample */
      sampleRows: z.number().int().min(0).max(1000).default(20),
      /** longest value kept in samples; longer ones keep a prefix and a digest */
      maxValueBytes: z.number().int().min(16).max(1 * MiB).default(1024),
      /** longest bound parameter kept in full */
      maxParamBytes: z.number().int().min(16).max(16 * MiB).default(64 * 1024),
      /** SSH: bytes of each stdout/stderr stream kept in the ledger (the digest covers all of it) */
      maxStreamBytes: z.number().int().min(0).max(16 * MiB).default(64 * 1024),
      /** SSH terminal recordings (asciicast v2); default: a "recordings" directory beside the SQLite ledger, or ./data/recordings */
      dir: z.string().optional(),
    })
    .default({ sampleRows: 20, maxValueBytes: 1024, maxParamBytes: 64 * 1024, maxStreamBytes: 64 * 1024 }),
  limits: z
    .strictObject({
      /** largest client message the gateway reads whole (queries, Parse, Bind); bigger ones are refused */
      maxClientMessageBytes: z.number().int().min(1024).max(1024 * MiB).default(16 * MiB),
      /** largest server message the gateway decodes (RowDescription, errors, sampled rows) */
      maxServerMessageBytes: z.number().int().min(1024).max(1024 * MiB).default(64 * MiB),
      handshakeTimeout: duration.default(15_000),
      maxSessions: z.number().int().min(1).default(10_000),
      /** a client that has data waiting and takes none of it this long is cut (PostgreSQL results, HTTP and Kubernetes responses) */
      stalledClientTimeout: duration.default(300_000),
    })
    .default({ maxClientMessageBytes: 16 * MiB, maxServerMessageBytes: 64 * MiB, handshakeTimeout: 15_000, maxSessions: 10_000, stalledClientTimeout: 300_000 }),
  approvals: approvalsSection.default({}),
  /** roles of the management API's console routes (absent: nobody may read sessions through the API) */
  console: consoleSection.optional(),
  /** masking of sensitive values in results and in the ledger */
  masking: maskingSection.default({ detectors: [], rules: [] }),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).default({ level: 'info' }),
  /** development-only embedded components (dev OIDC issuer, demo PostgreSQL); never use in production */
  dev: devSection.optional(),
});

export type Config = z.output<typeof ConfigSchema>;
export type ConnectionConfig = Config['connections'][number];
export type PostgresConnectionConfig = Extract<ConnectionConfig, { type: 'postgres' }>;
export type SshConnectionConfig = Extract<ConnectionConfig, { type: 'ssh' }>;
export type SshListenerConfig = z.output<typeof sshListener>;
export type HttpConnectionConfig = Extract<ConnectionConfig, { type: 'http' }>;
export type HttpListenerConfig = z.output<typeof httpListener>;
export type KubernetesConnectionConfig = Extract<ConnectionConfig, { type: 'kubernetes' }>;
/** the connections served by the HTTP listener */
export type WebConnectionConfig = HttpConnectionConfig | KubernetesConnectionConfig;
export type DevClient = z.output<typeof devClient>;
export type DevUser = z.output<typeof devUser>;
export type DevLoginClient = NonNullable<z.output<typeof devSection>['issuer']>['loginClients'][number];
export type PolicyRule = z.output<typeof policyRule>;
export type MaskingConfig = z.output<typeof maskingSection>;
export type MaskingRule = z.output<typeof maskingRule>;
export type ListenerTlsConfig = z.output<typeof listenerTls>;
export type ApiListenerConfig = z.output<typeof apiListener>;
export type ApprovalsConfig = z.output<typeof approvalsSection>;
export type ConsoleConfig = z.output<typeof consoleSection>;
export type ConsoleLoginConfig = NonNullable<ConsoleConfig['login']>;

export interface LoadedConfig {
  config: Config;
  /** absolute path of the file, or null when built in memory */
  file: string | null;
  /** directory relative paths in the file are resolved against */
  baseDir: string;
}

type Env = Record<string, string | undefined>;

const VAR = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(top level)';
}

/** Replaces ${VAR} in every string value; throws naming the first path whose variable is unset. */
export function substituteEnv(value: unknown, env: Env, path: PropertyKey[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(VAR, (whole, varName: string | undefined, fallback: string | undefined) => {
      if (whole === '$$') return '$';
      const v = env[varName as string];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      throw new GatehouseError(
        'GH_ERR_CONFIG_ENV_MISSING',
        `${formatPath(path)}: environment variable ${varName} is not set`,
      );
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, [...path, i]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, [...path, k]);
    return out;
  }
  return value;
}

/** Validates an already-parsed object (after env substitution). */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${formatPath(i.path)}: ${i.message}`);
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${source} is not valid:\n${lines.join('\n')}`);
  }
  const config = result.data;
  const seen = new Set<string>();
  for (const [i, c] of config.connections.entries()) {
    if (seen.has(c.name)) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${source} is not valid:\n  connections[${i}].name: "${c.name}" is used twice`);
    }
    seen.add(c.name);
  }
  return config;
}

export function loadConfigText(text: string, file: string | null, env: Env = process.env): LoadedConfig {
  const source = file ?? 'config';
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${source}: YAML syntax error: ${first.message}`);
  }
  const substituted = substituteEnv(doc.toJS(), env);
  const config = parseConfig(substituted, source);
  const baseDir = file ? dirname(resolve(file)) : process.cwd();
  return { config, file: file ? resolve(file) : null, baseDir };
}

export function loadConfigFile(file: string, env: Env = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new GatehouseError('GH_ERR_CONFIG_READ', `cannot read config ${file}: ${reason}`);
  }
  return loadConfigText(text, file, env);
}

/** Resolves a path from the config against the config file's directory. */
export function configPath(loaded: LoadedConfig, p: string): string {
  return resolve(loaded.baseDir, p);
}

/** Where SSH terminal recordings are kept: recording.dir, else beside the SQLite ledger, else ./data/recordings. */
export function recordingsDir(loaded: LoadedConfig): string {
  const c = loaded.config;
  if (c.recording.dir !== undefined) return configPath(loaded, c.recording.dir);
  if (c.ledger.sqlite !== undefined) return resolve(dirname(configPath(loaded, c.ledger.sqlite)), 'recordings');
  return configPath(loaded, './data/recordings');
}

/** The upstream password of a connection, read from the config or its passwordFile. */
export function connectionPassword(loaded: LoadedConfig, c: PostgresConnectionConfig): string | null {
  if (c.password !== undefined) return c.password;
  if (c.passwordFile !== undefined) {
    try {
      return readFileSync(configPath(loaded, c.passwordFile), 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new GatehouseError('GH_ERR_CONFIG_READ', `connection ${c.name}: cannot read passwordFile: ${(e as Error).message}`);
    }
  }
  return null;
}
