import { describe, expect, it } from 'vitest';
import { atLeast, roleOf } from '../../../src/api/roles.js';
import { schemaErrorFormatter } from '../../../src/api/schemas.js';
import { parseConfig } from '../../../src/core/config.js';
import { principal } from '../../support/approvals.js';

const base = { identity: { issuer: 'https://idp.example', audience: 'api://gatehouse' }, ledger: { sqlite: './l.db' }, listeners: {} };
const roles = { auditors: ['audit'], reviewers: ['dba'], admins: ['platform'] };

describe('console roles', () => {
  it('map groups to the highest role they reach; no group, no role; no roles configured, no role', () => {
    expect(roleOf(principal('a', ['audit']), roles)).toBe('auditor');
    expect(roleOf(principal('b', ['audit', 'dba']), roles)).toBe('reviewer');
    expect(roleOf(principal('c', ['dba', 'platform']), roles)).toBe('admin');
    expect(roleOf(principal('d', ['interns']), roles)).toBeNull();
    expect(roleOf(principal('e', ['platform']), null)).toBeNull();
    expect(atLeast('admin', 'reviewer')).toBe(true);
    expect(atLeast('auditor', 'reviewer')).toBe(false);
    expect(atLeast(null, 'auditor')).toBe(false);
  });

  it('the config section is optional, defaults missing roles to no groups, and refuses unknown keys', () => {
    expect(parseConfig(base).console).toBeUndefined();
    expect(parseConfig({ ...base, console: { roles: { auditors: ['audit'] } } }).console).toEqual({ roles: { auditors: ['audit'], reviewers: [], admins: [] } });
    expect(() => parseConfig({ ...base, console: { roles: { auditor: ['audit'] } } })).toThrow(/console\.roles: Unrecognized key: "auditor"/);
    expect(() => parseConfig({ ...base, console: { roles: { admins: [''] } } })).toThrow(/console\.roles\.admins\[0\]/);
  });
});

describe('schemaErrorFormatter', () => {
  it('names the parameter and what was wrong with it', () => {
    const one = (keyword: string, instancePath: string, params: Record<string, unknown>, message?: string) =>
      schemaErrorFormatter([{ keyword, instancePath, schemaPath: '', params, ...(message ? { message } : {}) }], 'querystring').message;
    expect(one('additionalProperties', '', { additionalProperty: 'identiy' })).toBe('unknown query parameter "identiy"');
    expect(one('enum', '/status', { allowedValues: ['ok', 'error'] })).toBe('query parameter "status" must be one of: ok, error');
    expect(one('maximum', '/limit', { limit: 200 }, 'must be <= 200')).toBe('query parameter "limit" must be <= 200');
    expect(schemaErrorFormatter([{ keyword: 'required', instancePath: '', schemaPath: '', params: { missingProperty: 'id' } }], 'params').message).toBe('missing path parameter "id"');
  });
});
