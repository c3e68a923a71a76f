import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/**
 * Debian's Chromium driven by playwright-core, each run in a fresh profile (--user-data-dir, via
 * launchPersistentContext), with the flags that work on these machines (FIELD-NOTES.md). A missing
 * Chromium or an unbuilt console fails loudly: the browser tests never skip.
 */

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'console');
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function requireBrowserAndConsole(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: install it with: apt-get install -y --no-install-recommends chromium (npm test does this when it runs as root)`);
  }
  if (!existsSync(join(process.cwd(), 'web', 'dist', 'index.html'))) {
    throw new Error('the web console is not built: npm ci --prefix web && npm run build --prefix web (npm test does this)');
  }
  mkdirSync(ARTIFACTS, { recursive: true });
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** console errors and page errors seen so far (CSP violations show up here) */
  problems: string[];
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export async function openBrowser(viewport = { width: 1440, height: 900 }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'gatehouse-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport, acceptDownloads: true });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return {
    context, page, problems,
    async screenshot(name) {
      const file = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The console's login: its button, then the dev issuer's real form, back to the console. */
export async function logIn(page: Page, consoleUrl: string, username: string, password: string, screenshot?: () => Promise<unknown>): Promise<void> {
  await page.goto(`${consoleUrl}/`);
  await page.getByRole('link', { name: 'Log in with your identity provider' }).click();
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await screenshot?.();
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.href.startsWith(consoleUrl) && !u.pathname.startsWith('/login') && !u.pathname.startsWith('/api/'));
  await page.getByTestId('whoami').filter({ hasText: username }).waitFor();
}
