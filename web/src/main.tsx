import { StrictMode, useCallback, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { api, ApiError, getJson, setCsrfToken, whenUnauthenticated, type SessionInfo } from './api.js';
import { ApprovalsPage } from './pages/approvals.js';
import { IntegrityPage } from './pages/integrity.js';
import { LoginPage } from './pages/login.js';
import { ReplayPage } from './pages/replay.js';
import { ReportPage } from './pages/report.js';
import { SessionsPage } from './pages/sessions.js';
import { Link, navigate, useLocation } from './router.js';
import './styles.css';

function Page({ path, me }: { path: string; me: SessionInfo }) {
  let m: RegExpExecArray | null;
  if (path === '/' || path === '/sessions') return <SessionsPage />;
  if ((m = /^\/sessions\/([^/]+)\/replay$/.exec(path))) return <ReplayPage sessionId={decodeURIComponent(m[1]!)} />;
  if ((m = /^\/sessions\/([^/]+)$/.exec(path))) return <ReportPage sessionId={decodeURIComponent(m[1]!)} />;
  if (path === '/approvals') return <ApprovalsPage me={me} />;
  if (path === '/integrity') return <IntegrityPage />;
  return (
    <section aria-labelledby="nf">
      <h1 id="nf">Not found</h1>
      <p>There is no page at {path}. <Link to="/">Go to sessions</Link>.</p>
    </section>
  );
}

const NAV = [
  { to: '/', label: 'Sessions', match: (p: string) => p === '/' || p.startsWith('/sessions') },
  { to: '/approvals', label: 'Approvals', match: (p: string) => p === '/approvals' },
  { to: '/integrity', label: 'Integrity', match: (p: string) => p === '/integrity' },
];

function App() {
  const { path, query } = useLocation();
  const [me, setMe] = useState<SessionInfo | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const s = await getJson<SessionInfo>('/api/auth/session').catch((e: unknown) => {
        // no console.login on this gateway: the route does not exist
        if (e instanceof ApiError && e.status === 404) return { login: false, authenticated: false, subject: null, groups: [], role: null, csrfToken: null, expiresAt: null };
        throw e;
      });
      setCsrfToken(s.csrfToken);
      setMe(s);
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);

  useEffect(() => {
    whenUnauthenticated(() => void load());
    void load();
  }, [load]);

  useEffect(() => {
    if (!me) return;
    if (!me.authenticated && path !== '/login') navigate(`/login?returnTo=${encodeURIComponent(location.pathname + location.search)}`, true);
    if (me.authenticated && path === '/login') navigate('/', true);
  }, [me, path]);

  if (error) return <main className="center"><p role="alert">The console cannot reach the gateway: {error}</p></main>;
  if (!me) return <main className="center"><p aria-busy="true">Loading…</p></main>;
  if (!me.authenticated) return <LoginPage available={me.login} error={query.get('error')} returnTo={query.get('returnTo') ?? '/'} />;

  const logout = async () => {
    await api('/api/auth/logout', { method: 'POST' }).catch(() => undefined);
    setCsrfToken(null);
    await load();
  };

  return (
    <>
      <a className="skip" href="#main">Skip to content</a>
      <header className="top">
        <span className="brand" aria-label="Gatehouse console">Gatehouse</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.to}>
                <Link to={n.to} aria-current={n.match(path) ? 'page' : undefined}>{n.label}</Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span data-testid="whoami">{me.subject}</span> <span className="badge">{me.role ?? 'no role'}</span>
          <button type="button" onClick={() => void logout()}>Log out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} me={me} />
      </main>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
