import { useEffect, useState } from 'react';
import { api, getJson, type Approval, type SessionInfo } from '../api.js';
import { left, StatusBadge, time } from '../format.js';
import { Link } from '../router.js';

// Held commands waiting for a reviewer, decided here with a reason; and the recent history. The
// gateway decides who may decide (role, the rule's reviewer groups, never one's own request); the
// page only explains in advance why a button would be refused.

const POLL_MS = 2000;

function Pending({ a, me, now, onDecided }: { a: Approval; me: SessionInfo; now: number; onDecided: () => void }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const own = a.requester.subject === me.subject;
  const mayDecide = me.role === 'reviewer' || me.role === 'admin';
  const canClick = mayDecide && !own && !busy;
  const decide = async (verb: 'approve' | 'deny') => {
    setBusy(true);
    setError(null);
    try {
      await api(`/api/approvals/${encodeURIComponent(a.id)}/${verb}`, { method: 'POST', body: reason.trim() ? { reason: reason.trim() } : {} });
      onDecided();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const rid = `reason-${a.id}`;
  return (
    <li className="card approval-item" data-approval={a.id} aria-labelledby={`h-${a.id}`}>
      <h3 id={`h-${a.id}`}>{a.protocol} on {a.connection} · <span className="muted">{a.id}</span></h3>
      <pre className="command">{a.text}</pre>
      <dl className="kv">
        <dt>Asked by</dt><dd>{a.requester.subject} <span className="muted">({a.requester.groups.join(', ')}){a.requester.ciJob ? ` CI job ${a.requester.ciJob}` : ''}</span></dd>
        <dt>Policy</dt><dd>{a.policy} — {a.reason}</dd>
        <dt>Reviewers</dt><dd>{a.reviewers.join(', ')}</dd>
        <dt>Requested</dt><dd>{time(a.requestedAtIso)}</dd>
        <dt>Time left</dt><dd><strong>{left(a.expiresAt / 1000 - now)}</strong> (denied at {time(a.expiresAtIso)})</dd>
        <dt>Session</dt><dd><Link to={`/sessions/${encodeURIComponent(a.sessionId)}`}>{a.sessionId}</Link></dd>
      </dl>
      <label htmlFor={rid}>Reason for your decision</label>
      <textarea id={rid} rows={2} value={reason} onChange={(e) => setReason(e.target.value)} maxLength={2000} />
      <div className="actions">
        <button type="button" className="primary" disabled={!canClick} onClick={() => void decide('approve')}>Approve</button>
        <button type="button" className="danger" disabled={!canClick} onClick={() => void decide('deny')}>Deny</button>
        {!mayDecide && <span className="muted">Your console role ({me.role}) cannot decide approvals.</span>}
        {own && <span className="muted">This is your own request: another reviewer must decide it.</span>}
      </div>
      {error && <p className="error" role="alert">{error}</p>}
    </li>
  );
}

export function ApprovalsPage({ me }: { me: SessionInfo }) {
  const [all, setAll] = useState<Approval[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const r = await getJson<{ approvals: Approval[] }>('/api/approvals?state=all', ctl.signal);
        setAll(r.approvals);
        setError(null);
      } catch (e) {
        if (!ctl.signal.aborted) setError((e as Error).message);
      }
      setNow(Date.now());
      if (!ctl.signal.aborted) timer = setTimeout(() => void load(), POLL_MS);
    };
    void load();
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
  }, [tick]);

  const pending = all?.filter((a) => a.state === 'pending') ?? [];
  const decided = all?.filter((a) => a.state !== 'pending') ?? [];
  return (
    <section aria-labelledby="approvals-title">
      <h1 id="approvals-title">Approvals</h1>
      {error && <p className="error" role="alert">{error}</p>}
      <h2 id="pending-title">Pending <span className="badge live">{pending.length}</span></h2>
      {all === null ? <p aria-busy="true">Loading…</p> : pending.length === 0 ? <p>Nothing is waiting for a decision.</p> : (
        <ul className="approvals" aria-labelledby="pending-title">
          {pending.map((a) => <Pending key={a.id} a={a} me={me} now={now} onDecided={() => setTick((t) => t + 1)} />)}
        </ul>
      )}
      <h2 id="history-title">History</h2>
      <p className="muted small">Decisions since the gateway started; every decision is also in the ledger, under its session.</p>
      {decided.length === 0 ? <p>No decisions yet.</p> : (
        <div className="table-wrap">
          <table aria-labelledby="history-title">
            <thead><tr><th scope="col">Decided</th><th scope="col">Decision</th><th scope="col">By</th><th scope="col">Reason</th><th scope="col">Statement</th><th scope="col">Asked by</th><th scope="col">Session</th></tr></thead>
            <tbody>
              {decided.map((a) => (
                <tr key={a.id}>
                  <td>{time(a.decision?.decidedAtIso)}</td>
                  <td><StatusBadge status={a.state} /></td>
                  <td>{a.decision?.reviewer?.subject ?? a.decision?.by ?? '—'}</td>
                  <td>{a.decision?.reason ?? '—'}</td>
                  <td><code>{a.text.length > 120 ? `${a.text.slice(0, 120)}…` : a.text}</code></td>
                  <td>{a.requester.subject}</td>
                  <td><Link to={`/sessions/${encodeURIComponent(a.sessionId)}`}>report</Link></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
