import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/core/config.js';
import type { Principal } from '../../../src/identity/principal.js';
import { classify, initClassifier } from '../../../src/policy/classify.js';
import { decide } from '../../../src/policy/decide.js';
import { commandMatches, parseShell } from '../../../src/policy/shell.js';

beforeAll(() => initClassifier());

const programs = (text: string) => parseShell(text).commands.map((c) => [c.program, ...c.args].join(' '));

describe('parseShell', () => {
  it('splits a line into simple commands, quotes removed', () => {
    expect(programs('ls -la /tmp; echo "a b" && rm -f x || true | wc -l')).toEqual(['ls -la /tmp', 'echo a b', 'rm -f x', 'true', 'wc -l']);
    expect(programs("r''m -rf /srv")).toEqual(['rm -rf /srv']);
    expect(programs('/usr/bin/rm -rf /srv')).toEqual(['rm -rf /srv']);
    expect(programs('echo hi > /tmp/out 2>&1')).toEqual(['echo hi']);
    expect(programs('# rm -rf /\nls')).toEqual(['ls']);
  });

  it('opens nested commands: substitutions, sh -c, wrappers, eval', () => {
    expect(programs('echo $(rm -rf /srv)')).toContain('rm -rf /srv');
    expect(programs('echo `shutdown -h now`')).toContain('shutdown -h now');
    expect(programs('echo "x $(systemctl stop nginx) y"')).toContain('systemctl stop nginx');
    expect(programs("bash -c 'rm -rf /srv'")).toContain('rm -rf /srv');
    expect(programs("sh -lc \"sudo rm -rf /srv\"")).toContain('rm -rf /srv');
    expect(programs('sudo -u root FOO=1 nice -n 5 timeout 10 rm -rf /srv')).toEqual(['rm -rf /srv']);
    expect(programs('env -i PATH=/bin rm -rf /srv')).toEqual(['rm -rf /srv']);
    expect(programs("eval 'rm -rf /srv'")).toContain('rm -rf /srv');
    expect(programs("su -c 'shutdown now' root")).toContain('shutdown now');
  });

  it('says when it could not read the line', () => {
    expect(parseShell('echo "unterminated').parsed).toBe(false);
    expect(parseShell("echo 'x").parsed).toBe(false);
    expect(parseShell('echo $(ls').parsed).toBe(false);
    expect(parseShell('ls -la').parsed).toBe(true);
  });
});

describe('commandMatches', () => {
  const m = (pattern: string, text: string) => parseShell(text).commands.some((c) => commandMatches(pattern, c));
  it('matches flag clusters in any order or split', () => {
    for (const t of ['rm -rf /x', 'rm -fr /x', 'rm -r -f /x', 'rm -vfr /x', '/bin/rm -rf /x']) expect(m('rm -rf', t), t).toBe(true);
    for (const t of ['rm -r /x', 'rm -f /x', 'rmdir -rf', 'echo rm -rf']) expect(m('rm -rf', t), t).toBe(false);
  });
  it('matches words and prefixes', () => {
    expect(m('systemctl stop', 'systemctl stop nginx')).toBe(true);
    expect(m('systemctl stop', 'systemctl status nginx')).toBe(false);
    expect(m('shutdown', 'shutdown -h now')).toBe(true);
    expect(m('kubectl delete*', 'kubectl delete-all')).toBe(true);
    expect(m('* --force', 'git push --force')).toBe(true);
  });
});

describe('decide for shell commands', () => {
  const cfg = parseConfig({
    identity: { issuer: 'https://idp.example', audience: 'api://gatehouse' },
    ledger: { sqlite: 'x.db' },
    listeners: {},
    policies: [
      { name: 'no-rm-rf', match: { commands: ['rm -rf', 'rm -fr'] }, action: 'block' },
      { name: 'review-stops', match: { commands: ['systemctl stop', 'shutdown', 'reboot'] }, action: 'review', reviewers: ['ops'] },
      { name: 'no-drop', match: { statement: ['drop'] }, action: 'block' },
      { name: 'no-secrets-text', match: { text: 'secret' }, action: 'block' },
    ],
  });
  const p: Principal = { subject: 'bot', groups: ['ops'], issuer: 'i', clientId: null, tokenId: 't', tokenSha256: 's', ciJob: null, expiresAt: null };
  const sh = (text: string) => {
    const { commands, parsed } = parseShell(text);
    return decide(cfg, p, 'web-1', { text, shell: { commands, parsed } });
  };

  it('applies command rules to shell lines and never SQL rules', () => {
    expect(sh('cd /srv && rm -rf build')).toMatchObject({ action: 'block', policy: 'no-rm-rf', reason: 'rm is not allowed here' });
    expect(sh('sudo systemctl stop nginx')).toMatchObject({ action: 'review', policy: 'review-stops', reviewers: ['ops'] });
    expect(sh('drop')).toMatchObject({ action: 'allow', policy: 'default' });
    expect(sh('cat secret.txt')).toMatchObject({ action: 'block', policy: 'no-secrets-text' });
    expect(sh('echo "unbalanced')).toMatchObject({ action: 'block', policy: 'unparsable-command' });
  });

  it('never applies command rules to SQL', () => {
    const sql = 'SELECT 1 -- rm -rf';
    expect(decide(cfg, p, 'orders', { text: sql, classification: classify(sql) })).toMatchObject({ action: 'allow' });
  });
});

describe('decide for HTTP requests', () => {
  const cfg = parseConfig({
    identity: { issuer: 'https://idp.example', audience: 'api://gatehouse' },
    ledger: { sqlite: 'x.db' },
    listeners: {},
    policies: [
      { name: 'no-admin', match: { paths: ['/admin/**'] }, action: 'block' },
      { name: 'review-deletes', match: { methods: ['delete'], paths: ['/v1/users/*'] }, action: 'review', reviewers: ['ops'] },
      { name: 'no-rm', match: { commands: ['rm -rf'] }, action: 'block' },
    ],
  });
  const p: Principal = { subject: 'bot', groups: ['ops'], issuer: 'i', clientId: null, tokenId: 't', tokenSha256: 's', ciJob: null, expiresAt: null };
  const h = (method: string, path: string) => decide(cfg, p, 'api', { text: `${method} ${path}`, http: { method, path } });

  it('matches methods and path patterns, and never shell or SQL rules', () => {
    expect(h('GET', '/admin')).toMatchObject({ action: 'block', policy: 'no-admin', reason: 'GET /admin is not allowed here' });
    expect(h('POST', '/admin/users/1')).toMatchObject({ action: 'block', policy: 'no-admin' });
    expect(h('GET', '/administrator')).toMatchObject({ action: 'allow' });
    expect(h('DELETE', '/v1/users/42')).toMatchObject({ action: 'review', policy: 'review-deletes' });
    expect(h('DELETE', '/v1/users/42/keys')).toMatchObject({ action: 'allow' });
    expect(h('GET', '/v1/users/42')).toMatchObject({ action: 'allow' });
    expect(h('POST', '/rm -rf')).toMatchObject({ action: 'allow' });
  });

  it('refuses a rule that mixes kinds', () => {
    expect(() => parseConfig({ identity: { issuer: 'https://i', audience: 'a' }, ledger: { sqlite: 'x' }, listeners: {}, policies: [{ name: 'x', match: { paths: ['/a'], statement: ['drop'] }, action: 'block' }] })).toThrow(/one kind of command/);
  });
});
