import type { FastifyReply, FastifyRequest } from 'fastify';
import { isGatehouseError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Principal } from '../identity/principal.js';
import { claimedIdentity } from '../identity/verifier.js';
import { errorBody } from './http-errors.js';

/**
 * Bearer authentication of the API: the caller's own OIDC access token, verified exactly like an
 * agent's (issuer, audience, signature, expiry). The principal it yields is who reviews; there is
 * no other account. A refusal says why (the token error's public message and code) and is logged
 * with what the token claimed, never with the token.
 */

export interface BearerVerifier {
  verify(token: string): Promise<Principal>;
}

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/** RFC 6750: a 401 names the scheme; `invalid_token` when a token was sent but refused. */
function challenge(reply: FastifyReply, sent: boolean): void {
  reply.header('www-authenticate', sent ? 'Bearer realm="gatehouse", error="invalid_token"' : 'Bearer realm="gatehouse"');
}

/** An onRequest hook: sets request.principal, or answers 401 (503 when the IdP cannot be reached). */
export function bearerAuth(verifier: BearerVerifier, log: Logger) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = req.headers.authorization;
    const m = header === undefined ? null : BEARER.exec(header);
    if (!m) {
      challenge(reply, false);
      const message = header === undefined ? 'send your OIDC access token as "Authorization: Bearer <token>"' : 'the Authorization header must be "Bearer <token>"';
      await reply.code(401).send(errorBody('GH_ERR_UNAUTHENTICATED', message, 'GH_ERR_TOKEN_MISSING'));
      return;
    }
    const token = m[1]!;
    try {
      req.principal = await verifier.verify(token);
    } catch (e) {
      if (!isGatehouseError(e)) throw e;
      const claimed = claimedIdentity(token);
      log.info({ code: e.code, detail: e.detail, claimedSubject: claimed.subject, tokenSha256: claimed.tokenSha256, route: req.url }, 'api: token refused');
      if (e.code === 'GH_ERR_IDP_UNAVAILABLE') {
        await reply.code(503).send(errorBody(e.code, e.message));
        return;
      }
      challenge(reply, true);
      await reply.code(401).send(errorBody('GH_ERR_UNAUTHENTICATED', e.message, e.code));
    }
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** the verified caller; set by bearerAuth on every authenticated route */
    principal: Principal | null;
  }
}
