import type { Approval } from './broker.js';
import { reviewCommands } from './review-commands.js';
import { approvalJson, shortDuration, visibleText } from './view.js';

/**
 * A Slack incoming-webhook message (`{ text, blocks }`) for an approval request or decision.
 * Everything from the request is attacker-controlled (the statement, the reason a rule gives is
 * not, but subjects and connection names come from tokens and config): it is escaped for mrkdwn so
 * a statement cannot ping `<!channel>`, forge a link or break out of its code block.
 */

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

type TextObject = { type: 'mrkdwn' | 'plain_text'; text: string };
export type SlackBlock =
  | { type: 'header'; text: TextObject }
  | { type: 'section'; text?: TextObject; fields?: TextObject[] }
  | { type: 'context'; elements: TextObject[] };

// Slack's limits: header 150 characters, section text 3000, a field 2000
const HEADER_MAX = 150;
const SECTION_MAX = 3000;
const FIELD_MAX = 2000;
const STATEMENT_MAX = 2500;

const truncate = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** mrkdwn control characters (Slack asks for exactly these three), after making invisible characters visible. */
export function slackEscape(s: string): string {
  return visibleText(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A code block that the text cannot close early (``` inside is broken with a zero-width space). */
function codeBlock(text: string): string {
  // escaped first, then cut: the block must stay under Slack's section limit with its fences
  const body = truncate(slackEscape(text).replace(/```/g, '``\u200b`'), STATEMENT_MAX);
  return `\`\`\`${body}\`\`\``;
}

const md = (text: string, max = SECTION_MAX): TextObject => ({ type: 'mrkdwn', text: truncate(text, max) });
const field = (label: string, value: string): TextObject => md(`*${label}*\n${slackEscape(value)}`, FIELD_MAX);
const plain = (text: string): TextObject => ({ type: 'plain_text', text: truncate(text, HEADER_MAX) });

export function slackMessage(kind: 'requested' | 'decided', a: Approval, baseUrl: string | null): SlackMessage {
  const cmd = reviewCommands(a.id, baseUrl);
  const who = a.requester.ciJob === null ? a.requester.subject : `${a.requester.subject} (CI job ${a.requester.ciJob})`;
  const facts = [
    field('Requester', who),
    field('Connection', `${a.connection} (${a.protocol})`),
    field('Policy', a.policy),
    field('Reviewers', a.reviewers.join(', ')),
  ];
  if (kind === 'requested') {
    const expires = approvalJson(a).expiresAtIso;
    return {
      text: slackEscape(`Approval needed: ${a.requester.subject} wants to run a statement on ${a.connection} (policy ${a.policy}) — ${a.id}`),
      blocks: [
        { type: 'header', text: plain(`Approval needed: ${a.id}`) },
        { type: 'section', fields: facts },
        { type: 'section', text: md(`*Reason:* ${slackEscape(a.reason)}`) },
        { type: 'section', text: md(codeBlock(a.text)) },
        {
          type: 'section',
          text: md(`Approve: \`${slackEscape(cmd.approve)}\` (add \`--for 30m\` for a time-bound grant)\nDeny: \`${slackEscape(cmd.deny)}\``),
        },
        { type: 'context', elements: [md(`Denied automatically at ${expires} unless a member of ${slackEscape(a.reviewers.join(', '))} decides.`)] },
      ],
    };
  }
  const d = a.decision;
  const verdict = d === null ? 'decided' : d.decision;
  const by = d === null ? '' : d.reviewer !== null ? ` by ${d.reviewer.subject}` : ` (${d.by})`;
  const scope = d?.scope.kind === 'grant' ? `, as a grant for ${shortDuration((d.scope.until - d.decidedAt) / 1000)} (${d.scope.grantId})` : '';
  const headline = `${a.id} ${verdict}${by}${scope}`;
  const why = d?.reason ? `\n*Why:* ${slackEscape(d.reason)}` : '';
  return {
    text: slackEscape(`Approval ${headline}`),
    blocks: [
      { type: 'section', text: md(`${verdict === 'approved' ? ':white_check_mark:' : ':no_entry:'} *${slackEscape(headline)}*${why}`) },
      { type: 'section', fields: facts },
      { type: 'section', text: md(codeBlock(a.text)) },
    ],
  };
}
