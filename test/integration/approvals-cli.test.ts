import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startApi, type ApiServer } from '../../src/api/start.js';
import { ApprovalBroker } from '../../src/approvals/broker.js';
import { loadConfigText, type LoadedConfig } from '../../src/core/config.js';
import { silentLogger } from '../../src/core/log.js';
import { startDevIssuer, type DevIssuer } from '../../src/identity/dev-issuer.js';
import { TokenVerifier } from '../../src/identity/verifier.js';
import { SqliteLedger } from '../../src/ledger/sqlite.js';
import { input } from '../support/approvals.js';
import { runProgram, type RunResult } from '../support/gateway-fixture.js';
import { AUDIENCE, CLIENTS } from '../support/gateway-fixture.js';

/**
 * `gatehouse approvals ...`: the built CLI (dist/, `npm test` builds it) against the real API on
 * port 0 (plain HTTP, and HTTPS with a self-signed certificate), real tokens from a real OIDC
 * provider, a real broker over a SQLite ledger.
 */

// the same issuer audience and clients (with their groups) as the gateway tests

let dir: string;
let idp: DevIssuer;
let ledger: SqliteLedger;
let broker: ApprovalBroker;
let api: ApiServer;
let tlsApi: ApiServer;
let configFile: string;
let verifier: TokenVerifier;
const tokens: Record<string, string> = {};

function configFor(listeners: Record<string, unknown>, extra: Record<string, unknown> = {}): { raw: Record<string, unknown>; loaded: LoadedConfig } {
  const raw = { identity: { issuer: idp.issuer, audience: AUDIENCE }, ledger: { sqlite: './ledger.db' }, listeners, ...extra };
  return { raw, loaded: loadConfigText(stringify(raw), join(dir, 'gatehouse.yaml'), {}) };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-approvals-cli-'));
  idp = await startDevIssuer({ audience: AUDIENCE, clients: CLIENTS });
  const plain = configFor({ api: { host: '127.0.0.1', port: 0 } });
  verifier = new TokenVerifier(plain.loaded.config.identity, silentLogger);
  ledger = new SqliteLedger(join(dir, 'ledger.db'));
  broker = new ApprovalBroker({ ledger, log: silentLogger });
  api = await startApi({ loaded: plain.loaded, broker, verifier, log: silentLogger });
  tlsApi = await startApi({ loaded: configFor({ api: { host: '127.0.0.1', port: 0, tls: { selfSigned: true } } }).loaded, broker, verifier, log: silentLogger });
  // what a reviewer's config names: the API's public URL
  configFile = join(dir, 'reviewer.yaml');
  writeFileSync(configFile, stringify(configFor({}, { approvals: { url: api.url } }).raw));
  for (const c of CLIENTS) tokens[c.clientId] = await idp.token(c.clientId);
});

afterAll(async () => {
  await api?.close();
  await tlsApi?.close();
  await broker?.close();
  await ledger?.close();
  await idp?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `gatehouse approvals ...` as `client` (token in GATEHOUSE_TOKEN), with no config or URL from the test's own environment. */
function gh(args: string[], client: string | null = 'dba-alice', env: Record<string, string> = {}): Promise<RunResult> {
  const base: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete base.GATEHOUSE_CONFIG;
  delete base.GATEHOUSE_API_URL;
  Object.assign(base, env);
  if (client === null) delete base.GATEHOUSE_TOKEN;
  else base.GATEHOUSE_TOKEN = tokens[client]!;
  return runProgram(process.execPath, ['dist/cli/main.js', 'approvals', ...args], { env: base, cwd: process.cwd() });
}

async function held(over: Parameters<typeof input>[0] = {}) {
  return broker.request(input({ requester: await verifier.verify(tokens['ci-agent']!), ...over }));
}

describe('gatehouse approvals', () => {
  it('without a token: one clear line and exit 1, nothing sent', async () => {
    const r = await gh(['list', '--url', api.url], null);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('gatehouse: no token: set GATEHOUSE_TOKEN (or pass --token) to your own OIDC access token [GH_ERR_UNAUTHENTICATED]\n');
    const bad = await gh(['list', '--url', api.url, '--token', 'not-a-token'], null);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^gatehouse: the password is not a JWT .* \(GH_ERR_TOKEN_MALFORMED\) \[GH_ERR_UNAUTHENTICATED\]\n$/);
  });

  it('list shows a table of pending requests, show the whole request with the commands to decide it', async () => {
    const long = `DELETE FROM orders WHERE id IN (${Array.from({ length: 40 }, (_, i) => i).join(', ')})`;
    const { approval } = await held({ text: long });
    const list = await gh(['list', '--config', configFile], 'intern-bot');
    expect(list.code, list.stderr).toBe(0);
    const [head, ...rows] = list.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^ID\s+AGE\s+REQUESTER\s+CONNECTION\s+POLICY\s+STATEMENT\s+EXPIRES IN$/);
    const row = rows.find((l) => l.startsWith(approval.id))!;
    expect(row).toMatch(/^ap_\w{12}\s+\d+s\s+ci-agent\s+orders\s+prod-deletes\s+DELETE FROM orders WHERE id IN \(0, 1, 2, .*…\s+in (\d+m \d\ds|\d+s)$/);
    expect(list.stdout).toMatch(/\d+ pending approvals?\n$/);

    const json = await gh(['list', '--url', api.url, '--json']);
    expect((JSON.parse(json.stdout) as Array<{ id: string; text: string }>).find((a) => a.id === approval.id)?.text).toBe(long);

    const show = await gh(['show', approval.id, '--url', api.url]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(`approval   ${approval.id}  pending`);
    expect(show.stdout).toContain('policy     prod-deletes: deletes on orders need a DBA');
    expect(show.stdout).toContain(`  ${long}\n`);
    expect(show.stdout).toContain(`approve:   gatehouse approvals approve ${approval.id} --url ${api.url}`);
    await broker.decide(approval.id, await verifier.verify(tokens['dba-alice']!), { approve: false });
  });

  it('approve releases the statement; deciding twice, or outside the reviewer group, fails with the code', async () => {
    const { approval, outcome } = await held();
    const intern = await gh(['approve', approval.id, '--url', api.url], 'intern-bot');
    expect(intern.code).toBe(1);
    expect(intern.stderr).toMatch(/^gatehouse: only members of dba may decide approval .* \[GH_ERR_APPROVAL_FORBIDDEN\]\n$/);

    const ok = await gh(['approve', approval.id, '--url', api.url, '--reason', 'ticket OPS-9']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(`approved ${approval.id} once: the statement of ci-agent on orders runs now\n`);
    expect(await outcome).toMatchObject({ decision: 'approved', reviewer: { subject: 'dba-alice' }, reason: 'ticket OPS-9' });

    const twice = await gh(['deny', approval.id, '--url', api.url]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toBe(`gatehouse: approval ${approval.id} is already decided [GH_ERR_APPROVAL_DECIDED]\n`);
    const unknown = await gh(['show', 'ap_nosuchthing0', '--url', api.url]);
    expect(unknown.stderr).toMatch(/\[GH_ERR_APPROVAL_NOT_FOUND\]\n$/);

    const all = await gh(['list', '--all', '--url', api.url]);
    expect(all.stdout).toMatch(new RegExp(`${approval.id}.*approved \\(dba-alice\\)`));
    // the reviewer's token is never printed
    for (const r of [intern, ok, twice, all]) expect(r.stdout + r.stderr).not.toContain(tokens['dba-alice']!.slice(-20));
  });

  it('deny with a reason, and approve --for as a time-bound grant', async () => {
    const denied = await held();
    const d = await gh(['deny', denied.approval.id, '--url', api.url, '--reason', 'run it in the maintenance window']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toBe(`denied ${denied.approval.id}: the statement of ci-agent on orders will not run\n`);
    expect(await denied.outcome).toMatchObject({ decision: 'denied', reason: 'run it in the maintenance window' });

    const badFor = await gh(['approve', 'ap_whatever00000', '--url', api.url, '--for', 'a while']);
    expect(badFor.code).toBe(2);
    expect(badFor.stderr).toMatch(/^gatehouse: --for: not a duration.*\[GH_ERR_USAGE\]\n$/);

    const granted = await held({ shape: 'fp-cli-grant' });
    const g = await gh(['approve', granted.approval.id, '--url', api.url, '--for', '30m']);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout).toMatch(new RegExp(`^approved ${granted.approval.id} as grant gr_\\w{12} until \\S+Z: ci-agent may run statements of this shape on orders without review until then\\n$`));
    const grants = await gh(['grants', '--url', api.url]);
    expect(grants.stdout).toMatch(/^ID\s+SUBJECT\s+CONNECTION\s+GRANTED BY\s+UNTIL\s+LEFT\s+APPROVAL\n/);
    expect(grants.stdout).toMatch(new RegExp(`gr_\\w{12}\\s+ci-agent\\s+orders\\s+dba-alice\\s+\\S+Z\\s+(29m|30m) \\d\\ds\\s+${granted.approval.id}`));
  });

  it('HTTPS with a self-signed certificate needs --insecure; plain http leaves loopback never', async () => {
    const strict = await gh(['list', '--url', tlsApi.url]);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toMatch(/cannot reach the Gatehouse API at https:\/\/127\.0\.0\.1:\d+: .*add --insecure \[GH_ERR_USAGE\]\n$/);
    const insecure = await gh(['list', '--url', tlsApi.url, '--insecure']);
    expect(insecure.code, insecure.stderr).toBe(0);

    const remote = await gh(['list', '--url', 'http://gatehouse.example:8480']);
    expect(remote.code).toBe(2);
    expect(remote.stderr).toBe('gatehouse: refusing to send your token over plain http to gatehouse.example:8480: use https (listeners.api.tls) [GH_ERR_USAGE]\n');

    const down = await gh(['list', '--url', 'http://127.0.0.1:1']);
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/^gatehouse: cannot reach the Gatehouse API at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED.*\[GH_ERR_USAGE\]\n$/);

    const nowhere = await gh(['list']);
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toMatch(/where is the gateway\? .*\[GH_ERR_USAGE\]\n$/);
    const fromEnv = await gh(['list'], 'dba-alice', { GATEHOUSE_API_URL: api.url });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
  });
});
