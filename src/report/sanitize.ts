/**
 * Recorded text is attacker-controlled: a command, a path or a program's output may hold terminal
 * escape sequences that would move the cursor, rewrite earlier lines, retitle the window or worse
 * when a reviewer prints a report. Reports therefore never emit control characters other than
 * newline and tab (and CR only as part of CRLF): the rest is shown as a visible escape ("\x1b").
 * Bidirectional-text overrides are escaped too, so text cannot appear in another order than it is.
 */

// C0 except \t \n (\r only when not followed by \n), DEL, C1; bidi marks, embeddings, overrides
// and isolates; line and paragraph separators; a byte-order mark inside text
const CONTROL = /\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]/g;

function visible(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** Control characters (all but \n, \t and the CR of CRLF) as visible escapes: "\x1b[31m" prints as such. */
export function escapeControls(s: string): string {
  return s.replace(CONTROL, visible);
}

// ESC sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS / SOS / PM / APC strings,
// and two- or three-character escapes; the one-byte CSI (0x9b) form
const ANSI = /\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[ -/]*[0-~]?)|\x9b[0-?]*[ -/]*[@-~]?/g;

/**
 * Terminal output as plain text: escape sequences (colours, cursor movement, titles) removed,
 * CRLF and lone CR as newlines. What is left is still passed through escapeControls on output.
 */
export function stripTerminal(s: string): string {
  return s.replace(ANSI, '').replace(/\r\n?/g, '\n');
}

/** Text for HTML: control characters made visible (escapeControls), then &, <, >, " and ' as entities. */
export function escapeHtml(s: string): string {
  return escapeControls(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
