import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfigText, type PostgresConnectionConfig } from '../../src/core/config.js';
import { GatehouseError } from '../../src/core/errors.js';
import { parsePinnedKey } from '../../src/protocols/ssh/host-key.js';

// the example, exactly as a user would write it
const EXAMPLE = `
identity:
  issuer: https://example.okta.com/oauth2/default
  audience: api://gatehouse
  groupsClaim: groups
  ciJobClaim: ci_job_id
ledger:
  sqlite: ./data/ledger.db
listeners:
  postgres: { host: 127.0.0.1, port: 15432 }
connections:
  - name: orders
    type: postgres
    host: 127.0.0.1
    port: 5432
    database: orders
    user: orders_app
    password: \${ORDERS_PASSWORD}
    groups: [dba, ci-agents]
`;

function error(text: string, env: Record<string, string> = { ORDERS_PASSWORD: 'pw' }): GatehouseError {
  try {
    loadConfigText(text, '/etc/gatehouse/gatehouse.yaml', env);
  } catch (e) {
    if (e instanceof GatehouseError) return e;
    throw e;
  }
  throw new Error('config was accepted');
}

describe('configuration', () => {
  it.each(['examples/gatehouse.yaml', 'examples/dev.yaml'])('accepts the shipped %s', (file) => {
    const text = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
    const { config } = loadConfigText(text, `/etc/gatehouse/${file}`, { ORDERS_PASSWORD: 'pw', APPROVALS_SLACK_WEBHOOK: 'https://hooks.example/x', WEB1_SSH_KEY: 'key' });
    expect(config.policies.map((p) => p.name).slice(0, 2)).toEqual(['no-ddl-for-agents', 'review-unbounded-writes']);
    expect(config.listeners.api).toBeDefined();
    for (const c of config.connections) if (c.type === 'ssh') expect(() => parsePinnedKey(c.hostKey!, c.name)).not.toThrow();
  });

  it('accepts the documented example, taking the secret from the environment', () => {
    const { config, baseDir } = loadConfigText(EXAMPLE, '/etc/gatehouse/gatehouse.yaml', { ORDERS_PASSWORD: 's3cret' });
    expect(config.connections[0]).toMatchObject({ name: 'orders', password: 's3cret', groups: ['dba', 'ci-agents'], port: 5432 });
    expect(config.identity).toMatchObject({ groupsClaim: 'groups', ciJobClaim: 'ci_job_id', clockTolerance: 30_000 });
    expect(config.listeners.postgres).toMatchObject({ host: '127.0.0.1', port: 15432, requireTls: false });
    expect(config.recording.sampleRows).toBe(20);
    expect(baseDir).toBe('/etc/gatehouse');
  });

  it('applies defaults and ${VAR:-default}', () => {
    const text = EXAMPLE.replace('    port: 5432\n', '').replace('${ORDERS_PASSWORD}', '${ORDERS_PASSWORD:-fallback}').replace('  groupsClaim: groups\n', '');
    const { config } = loadConfigText(text, null, {});
    expect((config.connections[0] as PostgresConnectionConfig).port).toBe(5432);
    expect((config.connections[0] as PostgresConnectionConfig).password).toBe('fallback');
    expect(config.identity.groupsClaim).toBe('groups');
  });

  it('names the key whose environment variable is missing', () => {
    const e = error(EXAMPLE, {});
    expect(e.code).toBe('GH_ERR_CONFIG_ENV_MISSING');
    expect(e.message).toContain('connections[0].password');
    expect(e.message).toContain('ORDERS_PASSWORD');
  });

  it.each([
    ['an unknown key (a typo)', EXAMPLE.replace('groupsClaim:', 'groupClaim:'), 'identity: Unrecognized key: "groupClaim"'],
    ['a wrong type', EXAMPLE.replace('port: 15432', 'port: abc'), 'listeners.postgres.port'],
    ['an empty group list', EXAMPLE.replace('groups: [dba, ci-agents]', 'groups: []'), 'connections[0].groups: map at least one group'],
    ['a bad duration', EXAMPLE.replace('  ciJobClaim: ci_job_id', '  clockTolerance: soon'), 'identity.clockTolerance'],
  ])('refuses %s, naming the path and the problem', (_name, text, fragment) => {
    const e = error(text);
    expect(e.code).toBe('GH_ERR_CONFIG_INVALID');
    expect(e.message).toContain('/etc/gatehouse/gatehouse.yaml');
    expect(e.message).toContain(fragment);
  });

  it('refuses a duplicate connection name', () => {
    const dup = EXAMPLE + EXAMPLE.slice(EXAMPLE.indexOf('  - name: orders'));
    const e = error(dup);
    expect(e.message).toContain('connections[1].name: "orders" is used twice');
  });

  it('refuses YAML syntax errors and duplicate keys', () => {
    expect(error('identity: [unclosed').message).toContain('YAML syntax error');
    expect(error(`${EXAMPLE}\nledger:\n  sqlite: other.db\n`).message).toContain('YAML syntax error');
  });

  it('never lets a variable inject YAML', () => {
    const { config } = loadConfigText(EXAMPLE, null, { ORDERS_PASSWORD: 'x\ngroups: [everyone]' });
    expect((config.connections[0] as PostgresConnectionConfig).password).toBe('x\ngroups: [everyone]');
    expect(config.connections[0]!.groups).toEqual(['dba', 'ci-agents']);
  });

  it('refuses masking rules it could not honour, naming the key', () => {
    const withMasking = (m: string) => `${EXAMPLE}\nmasking:\n${m}`;
    expect(error(withMasking('  rules:\n    - { name: r, detectors: [emial] }')).message).toMatch(/masking\.rules\[0\]\.detectors.*unknown detector "emial"/s);
    expect(error(withMasking('  rules:\n    - { name: r, columns: [email], strategy: pseudonym }')).message).toMatch(/pseudonym strategy needs masking\.key/);
    expect(error(withMasking('  detectors:\n    - { name: d, pattern: "(" }\n  rules:\n    - { name: r, detectors: [d] }')).message).toMatch(/masking\.detectors\[0\]\.pattern.*not a valid regular expression/s);
    expect(error(withMasking('  rules:\n    - { name: r }')).message).toMatch(/give columns, detectors, or both/);
  });
});

