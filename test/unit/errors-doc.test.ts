import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/core/errors.js';
import { sqlstateFor } from '../../src/protocols/postgres/errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const documented = [...doc.matchAll(/^### (GH_ERR_[A-Z_]+)\s*$/gm)].map((m) => m[1]!);

describe('docs/errors.md', () => {
  it('documents every error code, and only real codes', () => {
    const codes = new Set<string>(ErrorCodes);
    expect(documented.filter((d) => !codes.has(d)), 'documented but not a code').toEqual([]);
    expect(ErrorCodes.filter((c) => !documented.includes(c)), 'codes missing from docs/errors.md').toEqual([]);
    expect(new Set(documented).size).toBe(documented.length);
  });

  it('states the same SQLSTATE the PostgreSQL listener sends', () => {
    for (const c of ErrorCodes) {
      const section = doc.slice(doc.indexOf(`### ${c}\n`)).split('\n### ')[0]!;
      if (/SQLSTATE: —/.test(section)) continue;
      expect(section, c).toContain(sqlstateFor(c));
    }
  });
});
