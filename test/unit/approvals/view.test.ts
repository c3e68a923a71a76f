import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApprovalBroker } from '../../../src/approvals/broker.js';
import { approvalJson, shortDuration, visibleText } from '../../../src/approvals/view.js';
import { silentLogger } from '../../../src/core/log.js';
import { SqliteLedger } from '../../../src/ledger/sqlite.js';
import { renderApproval, renderApprovalsTable } from '../../../src/report/approvals-table.js';
import { input } from '../../support/approvals.js';

/** What a reviewer sees must be what would run: the requester's text cannot hide or reorder itself. */

describe('approval views', () => {
  it('shows terminal controls and bidi overrides instead of obeying them', () => {
    expect(visibleText('DROP TABLE t \u001b[2K\rSELECT 1')).toBe('DROP TABLE t \\x1b[2K\\x0dSELECT 1');
    expect(visibleText('a\u202eb\u2066c\u0085d\u2028e')).toBe('a\\u{202e}b\\u{2066}c\\x85d\\u{2028}e');
    expect(visibleText('keep\ttabs\nand lines, ünïcödé, 日本')).toBe('keep\ttabs\nand lines, ünïcödé, 日本');
    expect(visibleText('a\nb', false)).toBe('a\\nb');
  });

  it('the table and the detail view never print a raw control character', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-view-'));
    const ledger = new SqliteLedger(join(dir, 'ledger.db'));
    const broker = new ApprovalBroker({ ledger, log: silentLogger });
    const { approval } = await broker.request(input({ text: "DELETE FROM t -- \u001b]0;pwned\u0007\u202e'", requester: { ...input().requester, subject: 'evil\u001b[31m' } }));
    const json = approvalJson(approval);
    for (const text of [renderApprovalsTable([json]), renderApproval(json, null)]) {
      expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
      expect(text).toContain('\\x1b]0;pwned\\x07\\u{202e}');
      expect(text).toContain('evil\\x1b[31m');
    }
    await broker.close();
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('short durations', () => {
    expect([0, 59_400, 61_000, 3_600_000 * 2 + 60_000 * 3, 86_400_000 * 3].map(shortDuration)).toEqual(['0s', '59s', '1m 01s', '2h 03m', '3d 00h']);
  });
});
