import { z } from 'zod';
import { duration, MiB } from './primitives.js';

/** The `identity` section: the OIDC issuer whose tokens agents present, and how the tokens are checked. */

export const identitySection = z.strictObject({
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
});
