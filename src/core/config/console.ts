import { z } from 'zod';
import { duration } from './primitives.js';

/** who may use the management API (listeners.api) for the console: groups per role; see docs/security.md */
export const consoleSection = z.strictObject({
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

export type ConsoleConfig = z.output<typeof consoleSection>;
export type ConsoleLoginConfig = NonNullable<ConsoleConfig['login']>;
