import { useEffect, useState } from 'react';
import { getJson, type ReportEvent, type ReportResult, type SessionReport } from '../api.js';
import { duration, StatusBadge, time, value } from '../format.js';
import { Link } from '../router.js';

// One session's complete record: who (identity panel), then every recorded step in order with its
// time, duration, parameters, result, masked sample rows, errors, policy decision and approval.
// Reading it is itself recorded by the gateway (console.view).

export function isDenial(e: ReportEvent): boolean {
  return e.type === 'auth.denied' || e.decision?.action === 'block' || e.result?.status === 'blocked' || e.approval?.decision === 'denied' || e.type === 'ssh.refused'
    || (e.type === 'session.end' && e.status === 'denied');
}

function Sample({ r }: { r: ReportResult }) {
  if (!r.columns || r.sample.length === 0) return null;
  return (
    <div className="table-wrap">
      <table className="sample">
        <caption>
          Sample rows ({r.sample.length}{r.rows !== null && r.rows > r.sample.length ? ` of ${r.rows}` : ''})
          {r.masked ? <span className="badge warn"> masked by {r.masked.rules.join(', ')}</span> : null}
        </caption>
        <thead><tr>{r.columns.map((c, i) => <th scope="col" key={i}>{c}</th>)}</tr></thead>
        <tbody>{r.sample.map((row, i) => <tr key={i}>{row.map((v, j) => <td key={j}>{value(v)}</td>)}</tr>)}</tbody>
      </table>
    </div>
  );
}

function Result({ r }: { r: ReportResult }) {
  return (
    <div className="result">
      <StatusBadge status={r.status} /> {r.tag ?? ''} {r.rows !== null ? `· ${r.rows} row${r.rows === 1 ? '' : 's'}` : ''} · {duration(r.durationUs)} · {r.bytes} bytes
      {r.error && (
        <p className="error">
          ERROR {r.error.sqlstate}: {r.error.message}{r.error.detail ? ` (${r.error.detail})` : ''}
        </p>
      )}
      <Sample r={r} />
    </div>
  );
}

export function Step({ e }: { e: ReportEvent }) {
  const denied = isDenial(e);
  const results = e.results ?? (e.result ? [e.result] : []);
  const dur = e.result?.durationUs ?? e.durationUs;
  return (
    <li className={`step${denied ? ' denied' : ''}`} data-type={e.type}>
      <div className="step-head">
        <time dateTime={e.time}>{time(e.time)}</time>
        <span className="type">{e.type}</span>
        {dur !== undefined ? <span className="muted">{duration(dur)}</span> : null}
        {denied ? <strong className="badge bad">DENIED</strong> : null}
        <span className="muted small">#{e.seq}</span>
      </div>
      {e.command !== null && <pre className="command">{e.command}</pre>}
      {e.params && e.params.length > 0 && (
        <p className="params">Parameters: {e.params.map((p, i) => <code key={i}>${i + 1} = {value(p)}</code>)}</p>
      )}
      {e.decision && (
        <p className={`decision ${e.decision.action}`}>
          Policy <strong>{e.decision.policy}</strong>: {e.decision.action}{e.decision.reason ? ` — ${e.decision.reason}` : ''}
        </p>
      )}
      {e.approval && (
        <p className="approval">
          Approval {e.approval.id}:{' '}
          {e.approval.decision
            ? <><StatusBadge status={e.approval.decision === 'approved' ? 'approved' : 'denied'} /> by {e.approval.reviewer ?? e.approval.by}{e.approval.reason ? ` — “${e.approval.reason}”` : ''} ({e.approval.scope}; waited {duration(e.approval.waitedUs)})</>
            : <>requested by policy {e.approval.policy} ({e.approval.reason}); reviewers {e.approval.reviewers?.join(', ')}; expires {time(e.approval.expiresAt)}</>}
        </p>
      )}
      {e.type === 'auth.denied' && <p className="error">Refused ({e.code}): {e.reason}</p>}
      {e.refused && <p className="error">Refused {e.refused.what}: {e.refused.detail}</p>}
      {e.type === 'session.start' && <p>Connected to {e.connection} as {e.subject}, authorized by group {e.authorizedBy}</p>}
      {e.type === 'session.end' && <p>Ended: <StatusBadge status={e.status ?? '?'} /> {e.statements} commands, {e.errors} errors{e.reason ? ` — ${e.reason}` : ''}</p>}
      {e.exit && <p>Exit: {e.exit.code !== null ? `code ${e.exit.code}` : `signal ${e.exit.signal}`}</p>}
      {e.shell && e.shell.typed.length > 0 && (
        <p>Typed: {e.shell.typed.map((t, i) => <code key={i}>{t.command}</code>)}</p>
      )}
      {results.map((r, i) => <Result key={i} r={r} />)}
    </li>
  );
}

export function ReportPage({ sessionId }: { sessionId: string }) {
  const [report, setReport] = useState<SessionReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);

  useEffect(() => {
    const ctl = new AbortController();
    getJson<SessionReport>(`/api/sessions/${encodeURIComponent(sessionId)}`, ctl.signal).then(setReport, (e: Error) => !ctl.signal.aborted && setError(e.message));
    return () => ctl.abort();
  }, [sessionId]);

  if (error) return <section><h1>Session {sessionId}</h1><p className="error" role="alert">{error}</p></section>;
  if (!report) return <p aria-busy="true">Loading the report…</p>;
  const { session: s, identity: id } = report;
  const share = location.href;
  const denials = report.events.filter(isDenial).length;
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(share);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  const replayable = s.protocol === 'postgres' || report.events.some((e) => e.shell || e.type === 'kubernetes.stream' || e.type === 'ssh.recording');

  return (
    <section aria-labelledby="report-title">
      <p><Link to="/sessions">← Sessions</Link></p>
      <h1 id="report-title">Session report <code>{s.id}</code></h1>
      <div className="toolbar">
        <a className="button" href={`/api/sessions/${encodeURIComponent(s.id)}/report.html`} download>Download HTML</a>
        <a className="button" href={`/api/sessions/${encodeURIComponent(s.id)}/evidence.json`} download title="The session's records with inclusion proofs against a signed checkpoint; check it offline with gatehouse verify-evidence">Download evidence</a>
        {replayable && <Link className="button" to={`/sessions/${encodeURIComponent(s.id)}/replay`}>Replay</Link>}
        <label className="inline share">
          Link to this report <input readOnly value={share} onFocus={(e) => e.currentTarget.select()} size={Math.min(share.length, 60)} />
        </label>
        <button type="button" onClick={() => void copy()}>Copy link</button>
        <span aria-live="polite" className="muted">{copied ? 'Copied' : ''}</span>
      </div>
      <div className="panels">
        <section className="card" aria-labelledby="identity-title">
          <h2 id="identity-title">Identity</h2>
          <dl className="kv" data-testid="identity">
            <dt>Subject</dt><dd>{id.subject ?? '—'} {id.verified ? <span className="badge ok">verified</span> : <span className="badge bad">unverified claim</span>}</dd>
            <dt>Groups</dt><dd>{id.groups.join(', ') || '—'}</dd>
            <dt>Authorizing group</dt><dd>{id.authorizedBy ?? '—'}</dd>
            <dt>Issuer</dt><dd>{id.issuer ?? '—'}</dd>
            <dt>Client id</dt><dd>{id.clientId ?? '—'}</dd>
            <dt>Token id</dt><dd><code>{id.tokenId ?? '—'}</code></dd>
            <dt>Token SHA-256</dt><dd><code className="hash">{id.tokenSha256 ?? '—'}</code></dd>
            <dt>CI job</dt><dd>{id.ciJob ?? '—'}</dd>
            <dt>Client user / application</dt><dd>{s.client.user ?? '—'} / {s.client.application ?? '—'} <span className="muted small">(declared by the client, not verified)</span></dd>
          </dl>
        </section>
        <section className="card" aria-labelledby="session-title">
          <h2 id="session-title">Session</h2>
          <dl className="kv">
            <dt>Status</dt><dd><StatusBadge status={s.status} />{s.reason ? ` ${s.reason}` : ''}</dd>
            <dt>Protocol / connection</dt><dd>{s.protocol} / {s.connection ?? '—'}</dd>
            <dt>Started</dt><dd>{time(s.startedAt)}</dd>
            <dt>Ended</dt><dd>{s.endedAt ? time(s.endedAt) : 'still active'}</dd>
            <dt>Commands / errors</dt><dd>{s.statements} / {s.errors}{denials > 0 ? <strong className="badge bad"> {denials} denied</strong> : null}</dd>
            <dt>Client</dt><dd>{s.client.address ?? '—'}{s.client.tls ? ' (TLS)' : ''}</dd>
            <dt>Ledger</dt><dd>records {report.ledger.firstSeq ?? '—'}–{report.ledger.lastSeq ?? '—'} <code className="hash">{report.ledger.lastHash?.slice(0, 16) ?? ''}</code></dd>
          </dl>
        </section>
      </div>
      <h2 id="timeline-title">Timeline</h2>
      <ol className="timeline" aria-labelledby="timeline-title">
        {report.events.map((e) => <Step key={e.seq} e={e} />)}
      </ol>
    </section>
  );
}
