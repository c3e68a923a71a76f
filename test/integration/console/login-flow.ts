/**
 * The human side of the console login without a browser: follows the real oidc-provider's
 * redirects with a cookie jar, fills its real login form, and stops where the IdP sends the browser
 * back to the console (the redirect URL), so a test can hand that URL to the API.
 */

export class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(setCookies: readonly string[]): void {
    for (const c of setCookies) {
      const pair = c.split(';')[0]!;
      const i = pair.indexOf('=');
      if (i < 0) continue;
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (value === '' || /;\s*max-age=0/i.test(c) || /;\s*expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** A Set-Cookie header (one or several) as a list. */
export function setCookies(h: string | string[] | number | undefined): string[] {
  if (h === undefined || typeof h === 'number') return [];
  return Array.isArray(h) ? h : [h];
}

export interface IdpLoginResult {
  /** where the IdP sent the browser back (redirect URL with code, state, iss) */
  callback: URL;
  /** the pages the IdP showed (the login form's HTML, for assertions) */
  pages: string[];
}

/** Logs in at the IdP from the authorization URL; fails when the IdP never sends the browser back. */
export async function idpLogin(authUrl: string, redirectPrefix: string, username: string, password: string): Promise<IdpLoginResult> {
  const jar = new CookieJar();
  const pages: string[] = [];
  let url = authUrl;
  let method: 'GET' | 'POST' = 'GET';
  let body: URLSearchParams | undefined;
  for (let hop = 0; hop < 12; hop++) {
    const res = await fetch(url, {
      method, redirect: 'manual', headers: { cookie: jar.header(), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) }, ...(body ? { body } : {}),
    });
    jar.store(res.headers.getSetCookie());
    const location = res.headers.get('location');
    if (location) {
      const next = new URL(location, url);
      if (next.href.startsWith(redirectPrefix)) return { callback: next, pages };
      url = next.href;
      method = 'GET';
      body = undefined;
      continue;
    }
    const html = await res.text();
    pages.push(html);
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    if (!action || method === 'POST') throw new Error(`the IdP did not redirect back (status ${res.status}): ${html.replace(/<style>[^]*<\/style>/, "").replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
    url = new URL(action.replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n))), url).href;
    method = 'POST';
    body = new URLSearchParams({ login: username, password });
  }
  throw new Error('too many redirects at the IdP');
}
