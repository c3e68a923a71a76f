import { z } from 'zod';
import { duration, port } from './primitives.js';

/** The `listeners` section: where the gateway accepts agents (PostgreSQL, SSH, HTTP) and reviewers (API). */

export const listenerTls = z.union([
  z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }),
  z.strictObject({ selfSigned: z.literal(true) }),
]);

export const postgresListener = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: port.default(15432),
  tls: listenerTls.optional(),
  /** refuse clients that do not negotiate TLS */
  requireTls: z.boolean().default(false),
});

/** the reviewers' HTTP API (approvals); bearer OIDC tokens, so give it TLS off loopback */
export const apiListener = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: port.default(8480),
  tls: listenerTls.optional(),
});

/** the SSH listener: agents log in with their OIDC token as the password; the user name selects the connection */
export const sshListener = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: port.default(2222),
  /** the gateway's own host key (OpenSSH PEM); generated (Ed25519) on first start when missing */
  hostKeyFile: z.string().default('./data/ssh_host_ed25519_key'),
  /** how long a client has to authenticate */
  loginTimeout: duration.default(30_000),
});

/** the HTTP API gateway: agents send their OIDC token as `Authorization: Bearer`; HTTPS unless on loopback */
export const httpListener = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: port.default(8443),
  tls: listenerTls.optional(),
});

export const listenersSection = z.strictObject({
  postgres: postgresListener.optional(),
  api: apiListener.optional(),
  ssh: sshListener.optional(),
  http: httpListener.optional(),
});

export type SshListenerConfig = z.output<typeof sshListener>;
export type HttpListenerConfig = z.output<typeof httpListener>;
export type ListenerTlsConfig = z.output<typeof listenerTls>;
export type ApiListenerConfig = z.output<typeof apiListener>;
