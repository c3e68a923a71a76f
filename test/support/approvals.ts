import type { ApprovalInput } from '../../src/approvals/broker.js';
import type { Principal } from '../../src/identity/principal.js';

/** Requests for approval tests: a CI agent's DELETE on `orders` that the `dba` group reviews. */

export function principal(subject: string, groups: string[]): Principal {
  return {
    subject, groups, issuer: 'https://idp.example', clientId: subject, tokenId: `jti-${subject}`, tokenSha256: '0'.repeat(64), ciJob: null, expiresAt: null,
  };
}

/** A held request; override any field. */
export function input(over: Partial<ApprovalInput> = {}): ApprovalInput {
  return {
    sessionId: 'sess-1', statementSeq: 7, protocol: 'postgres', connection: 'orders', requester: principal('ci-agent', ['ci-agents']), policy: 'prod-deletes',
    reason: 'deletes on orders need a DBA', text: 'DELETE FROM orders WHERE id = 1', shape: 'fp-delete-orders-by-id', reviewers: ['dba'],
    timeoutMs: 60_000, ...over,
  };
}
