import { z } from 'zod';
import { duration, name, port } from './primitives.js';

/** The `connections` section: the upstream targets and the credentials only the gateway holds. */

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

export const connection = z.discriminatedUnion('type', [postgresConnection, sshConnection, httpConnection, kubernetesConnection]);
