import { isoFromUs } from '../core/clock.js';
import type { Approval, ApprovalDecision, Grant } from './broker.js';

/**
 * The JSON face of approvals and grants, shared by the HTTP API, the webhook and the CLI: the
 * broker's view with every µs time kept and an ISO-8601 copy beside it (`...At` → `...AtIso`), so a
 * reader needs no clock arithmetic and nothing loses precision.
 */

export interface ApprovalDecisionJson extends ApprovalDecision {
  decidedAtIso: string;
  /** for a grant: when it ends */
  untilIso: string | null;
}

export interface ApprovalJson extends Omit<Approval, 'decision'> {
  requestedAtIso: string;
  expiresAtIso: string;
  decision: ApprovalDecisionJson | null;
}

export interface GrantJson extends Grant {
  untilIso: string;
}

export function approvalJson(a: Approval): ApprovalJson {
  const d = a.decision;
  return {
    ...a,
    reviewers: [...a.reviewers],
    requestedAtIso: isoFromUs(a.requestedAt),
    expiresAtIso: isoFromUs(a.expiresAt),
    decision: d === null
      ? null
      : { ...d, decidedAtIso: isoFromUs(d.decidedAt), untilIso: d.scope.kind === 'grant' ? isoFromUs(d.scope.until) : null },
  };
}

export function grantJson(g: Grant): GrantJson {
  return { ...g, untilIso: isoFromUs(g.until) };
}

/** "4m 05s", "2h 03m", "12s": a short human duration for tables and messages. */
export function shortDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${String(h % 24).padStart(2, '0')}h`;
}

// C0 controls but tab and newline, DEL, C1 controls, the Unicode line separators, and the bidirectional formatting characters
// ("Trojan Source", CVE-2021-42574) that make text display in another order than it runs.
const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * A statement as a reviewer must see it: the text is the requester's, so terminal escape sequences
 * and bidi overrides could otherwise show the reviewer something other than what would run.
 * Each such character is shown as \xNN or \u{NNNN}; everything else is kept.
 */
export function visibleText(s: string, keepNewlines = true): string {
  const out = s.replace(INVISIBLE, (c) => {
    const n = c.codePointAt(0)!;
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
  });
  return keepNewlines ? out : out.replace(/\n/g, '\\n');
}
