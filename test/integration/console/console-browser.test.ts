import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portBelowEphemeralRange } from '../../support/ports.js';
import { startDevIssuer, type DevIssuer } from '../../../src/identity/dev-issuer.js';
import { AUDIENCE, CLIENTS, psql, startEnv, type GatewayEnv } from '../../support/gateway-fixture.js';
import { startSshEnv, type SshEnv } from '../../support/ssh-env.js';
import { spawn } from 'node:child_process';
import { logIn, openBrowser, requireBrowserAndConsole, type Browser } from './browser.js';

/**
 * The web console in a real browser (Debian Chromium through playwright-core) against the real
 * gateway: real PostgreSQL and psql, a real OpenSSH server and client, the real oidc-provider with
 * its login form. A reviewer logs in, finds an agent's session by the text of a command, reads its
 * report, approves a held DELETE while psql waits for it, steps through the SQL, verifies the
 * ledger, and replays an SSH shell in asciinema-player. Every page is saved as a screenshot in
 * test-artifacts/console/. Waits are on what the page shows, never on time.
 */

const CONSOLE_CLIENT = { clientId: 'gatehouse-console', clientSecret: 'gatehouse-console-test-secret' };
const RITA = { username: 'rita', password: 'rita-test-password', name: 'Rita Reviewer', groups: ['dba'] };
const ROLES = { auditors: ['auditors'], reviewers: ['dba'], admins: ['platform-admins'] };

let idp: DevIssuer;
let pgPort: number;
let sshPort: number;
let env: GatewayEnv;
let browser: Browser | null = null;
const shots: string[] = [];

const consoleConfig = { roles: ROLES, login: CONSOLE_CLIENT };
const identity = () => ({ issuer: idp.issuer, audience: AUDIENCE, ciJobClaim: 'ci_job_id' });

beforeAll(async () => {
  requireBrowserAndConsole();
  // the API ports are chosen first: the IdP must know the console's redirect URLs (so not ephemeral
  // ports, which another test's outgoing connection could take before the API listens)
  pgPort = await portBelowEphemeralRange();
  sshPort = await portBelowEphemeralRange();
  idp = await startDevIssuer({
    audience: AUDIENCE, clients: CLIENTS, ciJobClaim: 'ci_job_id', users: [RITA],
    loginClients: [{ ...CONSOLE_CLIENT, redirectUris: [pgPort, sshPort].map((p) => `http://127.0.0.1:${p}/api/auth/callback`) }],
  });
  env = await startEnv({
    signing: true,
    config: {
      identity: identity(),
      listeners: { postgres: { host: '127.0.0.1', port: 0 }, api: { host: '127.0.0.1', port: pgPort } },
      console: consoleConfig,
      policies: [{ name: 'review-deletes', match: { statement: ['delete'] }, action: 'review', reviewers: ['dba'], timeout: '5m', reason: 'deletes need a DBA' }],
    },
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await env?.dispose();
  await idp?.close();
  if (shots.length > 0) process.stdout.write(`console screenshots:\n${shots.map((s) => `  ${s}`).join('\n')}\n`);
});

/** ssh -tt into web-1 through the gateway; types a command after the first prompt and `exit` after its output. */
function interactiveShell(ssh: SshEnv, token: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/ssh', ['-tt', ...ssh.sshArgs('web-1')], { env: ssh.sshEnv(token), stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let typed = false;
    let exited = false;
    const onData = (b: Buffer) => {
      output += b.toString('utf8');
      if (!typed && /[#$]\s*$/.test(output)) {
        typed = true;
        child.stdin.write('echo console-replay-$((6*7))\n');
      }
      if (typed && !exited && output.includes('console-replay-42')) {
        exited = true;
        child.stdin.write('exit\n');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('the web console in Chromium', () => {
  it('a reviewer logs in, finds a session by text, reads its report, approves a held statement, steps the SQL and verifies the ledger', { timeout: 240_000 }, async () => {
    const url = env.gateway.api!.url;
    const token = await idp.token('ci-agent');
    // the agent's work: a query to find later by its text
    const probe = await psql(env, token, ['-c', 'SELECT count(*) AS browser_probe FROM orders', '-c', "SELECT id, item FROM orders WHERE status = 'shipped' ORDER BY id LIMIT 3"], {});
    expect(probe.code, probe.stderr).toBe(0);

    browser = await openBrowser();
    const { page } = browser;
    const shot = async (name: string) => shots.push(await browser!.screenshot(name));

    // not logged in: the console sends the browser to its login page, then to the IdP's form
    await logIn(page, url, RITA.username, RITA.password, () => shot('01-idp-login-form'));
    await page.getByRole('heading', { name: 'Sessions' }).waitFor();

    // keyboard: the first Tab reaches the skip link, which moves focus to the content
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    // every form control has a label
    expect(await page.evaluate("[...document.querySelectorAll('input, select, textarea')].filter((el) => !el.labels?.length).length")).toBe(0);

    // find the session by the text of its command
    await page.getByLabel('Full text (commands)').fill('browser_probe');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/text=browser_probe/);
    const row = page.locator('table.sessions tbody tr');
    await row.filter({ hasText: 'ci-agent' }).first().waitFor();
    expect(await row.count()).toBe(1);
    await shot('02-sessions-search');
    // the ledger's other order keeps the search, and the one match
    await page.getByLabel('Sort').selectOption('oldest');
    await page.waitForURL(/sort=oldest/);
    expect(page.url()).toContain('text=browser_probe');
    await row.filter({ hasText: 'ci-agent' }).first().waitFor();
    expect(await row.count()).toBe(1);

    // its report: identity and every command
    await row.first().getByRole('link').click();
    await page.getByRole('heading', { name: /Session report/ }).waitFor();
    const ident = page.getByTestId('identity');
    await ident.waitFor();
    const identText = (await ident.textContent()) ?? '';
    for (const s of ['ci-agent', 'verified', 'ci-agents', idp.issuer, '4711', 'psql']) expect(identText, s).toContain(s);
    const commands = await page.locator('.timeline pre.command').allTextContents();
    expect(commands).toEqual(['SELECT count(*) AS browser_probe FROM orders', "SELECT id, item FROM orders WHERE status = 'shipped' ORDER BY id LIMIT 3"]);
    await page.locator('table.sample').first().waitFor();
    const reportUrl = page.url();
    expect(await page.getByLabel('Link to this report').inputValue()).toBe(reportUrl);
    await shot('03-session-report');
    // the HTML download is the gateway's own report of the same session
    const html = await page.context().request.get(`${url}${await page.getByRole('link', { name: 'Download HTML' }).getAttribute('href')}`);
    expect(html.status()).toBe(200);
    expect(await html.text()).toContain('browser_probe');

    // SQL replay: statement by statement
    await page.getByRole('link', { name: 'Replay' }).click();
    await page.getByTestId('step-position').filter({ hasText: 'Statement 1 of 2' }).waitFor();
    await page.getByRole('button', { name: 'Next statement' }).click();
    await page.getByTestId('step-position').filter({ hasText: 'Statement 2 of 2' }).waitFor();
    expect(await page.locator('.stepper pre.command').textContent()).toContain("status = 'shipped'");
    await shot('04-replay-sql');

    // a held DELETE: psql waits while the reviewer decides in the console
    const agentToken = await idp.token('ci-agent');
    const held = psql(env, agentToken, ['-c', "DELETE FROM orders WHERE status = 'cancelled'"]);
    await page.getByRole('link', { name: 'Approvals' }).click();
    const card = page.locator('.approval-item').filter({ hasText: "DELETE FROM orders WHERE status = 'cancelled'" });
    await card.waitFor();
    const cardText = (await card.textContent()) ?? '';
    for (const s of ['ci-agent', 'review-deletes', 'deletes need a DBA', 'Time left']) expect(cardText, s).toContain(s);
    await card.getByLabel('Reason for your decision').fill('checked with the order team');
    await shot('05-approvals-pending');
    await card.getByRole('button', { name: 'Approve' }).click();
    const done = await held;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/^DELETE \d+$/m);
    const history = page.locator('table tbody tr').filter({ hasText: 'checked with the order team' });
    await history.waitFor();
    expect(await history.textContent()).toContain('rita');
    await shot('06-approvals-history');

    // the held statement's report shows the decision
    await history.getByRole('link', { name: 'report' }).click();
    const step = page.locator('.step').filter({ hasText: "DELETE FROM orders WHERE status = 'cancelled'" });
    await step.waitFor();
    await page.locator('.approval').filter({ hasText: 'checked with the order team' }).waitFor();

    // integrity: verify the whole ledger and watch it finish
    await page.getByRole('link', { name: 'Integrity' }).click();
    await page.getByRole('heading', { name: 'Latest checkpoints' }).waitFor();
    await page.getByRole('button', { name: 'Verify the whole ledger' }).click();
    await page.locator('[data-testid="verification"][data-state="ok"]').waitFor();
    await shot('07-integrity');

    // a shared link opens the same report (on a large monitor too)
    await page.setViewportSize({ width: 2560, height: 1440 });
    await page.goto(reportUrl);
    await page.getByTestId('identity').waitFor();
    await shot('08-report-large-monitor');

    // the console's reads are themselves in the ledger
    const access = await env.gateway.ledger.recordsOfType('console.view');
    expect(access.some((r) => r.event.type === 'console.view' && r.event.viewer.subject === 'rita')).toBe(true);
    expect((await env.gateway.ledger.recordsOfType('console.login' as never)).length).toBeGreaterThan(0);

    // log out: back to the login page, and the old cookie reads nothing
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('link', { name: 'Log in with your identity provider' }).waitFor();
    expect((await page.context().request.get(`${url}/api/sessions`)).status()).toBe(401);
    expect(browser.problems.filter((p) => !p.includes('401'))).toEqual([]);
    await browser.close();
    browser = null;
  });

  it('replays an SSH shell recording in asciinema-player', { timeout: 240_000 }, async () => {
    let ssh: SshEnv | null = null;
    try {
      ssh = await startSshEnv({
        config: {
          identity: identity(),
          listeners: { ssh: { host: '127.0.0.1', port: 0, hostKeyFile: './gateway_host_key' }, api: { host: '127.0.0.1', port: sshPort } },
          console: consoleConfig,
        },
      });
      const token = await idp.token('ci-agent');
      // a real interactive shell (a pty on the far side, -tt): type once it shows a prompt, exit once the output is there
      const r = await interactiveShell(ssh, token);
      const records = await ssh.sessionRecords('ci-agent');
      expect(records.some((x) => x.event.type === 'ssh.recording'), `${r.code} ${r.output} ${records.map((x) => x.event.type).join(' ')}`).toBe(true);
      const sessionId = records[0]!.sessionId;

      browser = await openBrowser();
      const { page } = browser;
      const url = ssh.gateway.api!.url;
      await logIn(page, url, RITA.username, RITA.password);
      await page.goto(`${url}/sessions/${encodeURIComponent(sessionId)}/replay`);
      const player = page.locator('.player');
      await player.locator('.ap-term').waitFor();
      // speed and seek: jump to the end at 4x and read the terminal
      await page.getByLabel('Speed').selectOption('4');
      await player.locator('.ap-term').waitFor();
      await page.getByRole('button', { name: 'Play recording' }).click();
      await player.filter({ hasText: 'console-replay-42' }).waitFor().catch(async (e: unknown) => {
        await browser!.screenshot('99-replay-failure');
        throw new Error(`${(e as Error).message}\nproblems: ${browser!.problems.join('\n')}\nplayer: ${(await player.innerText()).slice(0, 2000)}\ncast: ${ssh!.dir}`);
      });
      shots.push(await browser.screenshot('09-replay-ssh'));
      // seek back to the start (an empty terminal), then to the end again; paused first, or a
      // player still playing its last moments at 4x would show the text again before it is looked for
      await page.getByRole('button', { name: 'Pause recording' }).click();
      const position = page.getByLabel('Position');
      await position.fill('0');
      await player.filter({ hasNotText: 'console-replay-42' }).waitFor();
      await position.fill((await position.getAttribute('max'))!);
      await player.filter({ hasText: 'console-replay-42' }).waitFor();
      expect(browser.problems).toEqual([]);
    } finally {
      await browser?.close();
      browser = null;
      await ssh?.dispose();
    }
  });
});
