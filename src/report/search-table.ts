import { isoFromUs } from '../core/clock.js';
import type { SearchPage } from '../ledger/search.js';
import { truncate } from './format.js';

/** `gatehouse search` output: one line per matching statement, newest first. */
export function renderSearchTable(page: SearchPage): string {
  if (page.hits.length === 0) return 'no statements match\n';
  const head = ['SEQ', 'TIME (UTC)', 'SESSION', 'SUBJECT', 'CONNECTION', 'RESULT', 'COMMAND'];
  const rows = page.hits.map((h) => [
    String(h.seq),
    isoFromUs(h.time).slice(0, 23).replace('T', ' '),
    h.sessionId,
    h.subject ?? '-',
    h.connection ?? '-',
    h.sqlstate ? `ERROR ${h.sqlstate}` : (h.tag ?? h.status ?? '-'),
    truncate(h.text.replace(/\s+/g, ' '), 80),
  ]);
  const widths = head.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const more = page.next !== null ? `\nmore: add --cursor ${page.next}` : '';
  return `${[line(head), ...rows.map(line)].join('\n')}\n${page.hits.length} statement${page.hits.length === 1 ? '' : 's'}${more}\n`;
}
