import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { getJson, type SessionRow } from '../api.js';
import { duration, StatusBadge, time } from '../format.js';
import { Link, navigate, useLocation } from '../router.js';

// Sessions: every filter of GET /api/sessions, kept in the URL (a filtered list is a link), cursor
// paging, and the first page refreshed every few seconds while "live" is on (active sessions change).

const FILTERS = [
  { name: 'text', label: 'Full text (commands)', placeholder: 'DELETE AND orders, "exact phrase", prefix*' },
  { name: 'identity', label: 'Identity (subject)', placeholder: 'ci-agent' },
  { name: 'group', label: 'Group', placeholder: 'ci-agents' },
  { name: 'connection', label: 'Connection', placeholder: 'orders' },
  { name: 'ciJob', label: 'CI job', placeholder: '4711' },
  { name: 'since', label: 'Since', placeholder: '2h, 7d or 2026-11-02T09:00Z' },
  { name: 'until', label: 'Until', placeholder: '15m or an ISO time' },
] as const;

const PROTOCOLS = ['', 'postgres', 'ssh', 'http', 'kubernetes'];
const STATUSES = ['', 'active', 'ok', 'denied', 'error'];
// newest and oldest are the ledger's own orders (every page); the others reorder the page shown
const SORTS = { newest: 'Newest first', oldest: 'Oldest first', longest: 'Longest first (this page)', errors: 'Most errors first (this page)' } as const;
type Sort = keyof typeof SORTS;
const POLL_MS = 3000;

export function SessionsPage() {
  const { query } = useLocation();
  const qs = query.toString();
  const [rows, setRows] = useState<SessionRow[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState(true);
  // the ledger's order lives in the URL (with its cursor); a page-only order in the state
  const [pageSort, setPageSort] = useState<'longest' | 'errors' | null>(null);
  const sort: Sort = pageSort ?? (query.get('sort') === 'oldest' ? 'oldest' : 'newest');
  const setSort = (s: Sort) => {
    if (s === 'longest' || s === 'errors') {
      setPageSort(s);
      return;
    }
    setPageSort(null);
    const p = new URLSearchParams(qs);
    p.delete('cursor');
    p.delete('prev');
    if (s === 'oldest') p.set('sort', 'oldest');
    else p.delete('sort');
    navigate(`/sessions${p.size ? `?${p}` : ''}`);
  };
  const [updated, setUpdated] = useState<Date | null>(null);
  const cursor = query.get('cursor');

  useEffect(() => {
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const params = new URLSearchParams(qs);
    params.delete('prev');
    if (!params.has('limit')) params.set('limit', '50');
    const load = async () => {
      try {
        const r = await getJson<{ sessions: SessionRow[]; next: string | null }>(`/api/sessions?${params}`, ctl.signal);
        setRows(r.sessions);
        setNext(r.next);
        setError(null);
        setUpdated(new Date());
      } catch (e) {
        if (!ctl.signal.aborted) setError((e as Error).message);
      }
      // only the first page is live: later pages are history, and their cursor pins them
      if (live && !cursor && !ctl.signal.aborted) timer = setTimeout(() => void load(), POLL_MS);
    };
    void load();
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
  }, [qs, live, cursor]);

  const sorted = useMemo(() => {
    if (!rows) return null;
    const r = [...rows];
    if (sort === 'longest') r.sort((a, b) => (b.durationMs ?? Infinity) - (a.durationMs ?? Infinity));
    if (sort === 'errors') r.sort((a, b) => b.errors - a.errors);
    return r;
  }, [rows, sort]);

  const apply = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(e.currentTarget)) if (typeof v === 'string' && v.trim() !== '') p.set(k, v.trim());
    // new filters start at the first page, in the order chosen
    const order = query.get('sort');
    if (order) p.set('sort', order);
    navigate(`/sessions${p.size ? `?${p}` : ''}`);
  };
  const page = (c: string | null) => {
    const p = new URLSearchParams(qs);
    if (c) {
      p.set('prev', [p.get('prev'), cursor ?? ''].filter((x) => x !== null).join(','));
      p.set('cursor', c);
    } else {
      p.delete('cursor');
      p.delete('prev');
    }
    navigate(`/sessions?${p}`);
  };
  const back = () => {
    const p = new URLSearchParams(qs);
    const stack = (p.get('prev') ?? '').split(',');
    const prev = stack.pop() ?? '';
    if (prev) p.set('cursor', prev);
    else p.delete('cursor');
    if (stack.length > 0 && stack.some((s) => s)) p.set('prev', stack.join(','));
    else p.delete('prev');
    navigate(`/sessions?${p}`);
  };

  return (
    <section aria-labelledby="sessions-title">
      <h1 id="sessions-title">Sessions</h1>
      <form className="filters" onSubmit={apply} role="search" aria-label="Filter sessions" key={qs}>
        {FILTERS.map((f) => (
          <label key={f.name}>
            <span>{f.label}</span>
            <input name={f.name} defaultValue={query.get(f.name) ?? ''} placeholder={f.placeholder} />
          </label>
        ))}
        <label>
          <span>Protocol</span>
          <select name="protocol" defaultValue={query.get('protocol') ?? ''}>
            {PROTOCOLS.map((p) => <option key={p} value={p}>{p || 'any'}</option>)}
          </select>
        </label>
        <label>
          <span>Status</span>
          <select name="status" defaultValue={query.get('status') ?? ''}>
            {STATUSES.map((p) => <option key={p} value={p}>{p || 'any'}</option>)}
          </select>
        </label>
        <div className="actions">
          <button type="submit" className="primary">Search</button>
          <button type="button" onClick={() => navigate('/sessions')}>Clear</button>
        </div>
      </form>
      <div className="toolbar">
        <label className="inline">
          <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} /> Live updates {cursor ? '(first page only)' : ''}
        </label>
        <label className="inline">
          Sort{' '}
          <select value={sort} onChange={(e) => setSort(e.target.value as Sort)}>
            {Object.entries(SORTS).map(([k, v]) => <option key={k} value={k}>{v}</option>)}
          </select>
        </label>
        <span className="muted" aria-live="polite">{updated ? `Updated ${updated.toLocaleTimeString()}` : ''}</span>
      </div>
      {error && <p className="error" role="alert">{error}</p>}
      {sorted === null ? <p aria-busy="true">Loading…</p> : sorted.length === 0 ? <p>No sessions match.</p> : (
        <div className="table-wrap">
          <table className="sessions">
            <caption className="sr-only">Sessions, {SORTS[sort].toLowerCase()}</caption>
            <thead>
              <tr>
                <th scope="col">Started</th><th scope="col">Identity</th><th scope="col">Connection</th><th scope="col">Protocol</th>
                <th scope="col">Status</th><th scope="col">Commands</th><th scope="col">Errors</th><th scope="col">Duration</th><th scope="col">CI job</th><th scope="col">Client</th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((s) => (
                <tr key={s.id}>
                  <td><Link to={`/sessions/${encodeURIComponent(s.id)}`} aria-label={`Report of session ${s.id} by ${s.subject ?? 'unknown'} started ${time(s.startedAt)}`}>{time(s.startedAt)}</Link></td>
                  <td>{s.subject ?? '—'}<div className="muted small">{s.groups.join(', ')}</div></td>
                  <td>{s.connection ?? '—'}</td>
                  <td>{s.protocol}</td>
                  <td><StatusBadge status={s.status} />{s.reason ? <div className="muted small">{s.reason}</div> : null}</td>
                  <td className="num">{s.statements}</td>
                  <td className="num">{s.errors}</td>
                  <td className="num">{s.durationMs === null ? 'running' : duration(s.durationMs * 1000)}</td>
                  <td>{s.ciJob ?? '—'}</td>
                  <td>{[s.clientUser, s.clientApplication].filter(Boolean).join(' / ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav className="pager" aria-label="Pages">
        <button type="button" onClick={() => page(null)} disabled={!cursor}>First page</button>
        <button type="button" onClick={back} disabled={!cursor}>Previous page</button>
        <button type="button" onClick={() => next && page(next)} disabled={!next}>Next page</button>
      </nav>
    </section>
  );
}
