import { z } from 'zod';
import { port } from './primitives.js';

/** The `dev` section: development-only embedded components (dev OIDC issuer, demo PostgreSQL). */

export const devClient = z.strictObject({
  clientId: z.string().min(1),
  clientSecret: z.string().min(8),
  groups: z.array(z.string()).default([]),
  ciJob: z.string().optional(),
});

/** a person who can log in to the dev issuer's login form (the console's human login) */
export const devUser = z.strictObject({
  username: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$/, 'use letters, digits, "_", ".", "@" or "-"'),
  password: z.string().min(8),
  groups: z.array(z.string()).default([]),
  name: z.string().optional(),
  email: z.string().optional(),
});

export const devSection = z.strictObject({
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

export type DevClient = z.output<typeof devClient>;
export type DevUser = z.output<typeof devUser>;
export type DevLoginClient = NonNullable<z.output<typeof devSection>['issuer']>['loginClients'][number];
