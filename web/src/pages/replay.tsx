import * as AsciinemaPlayer from 'asciinema-player';
import 'asciinema-player/dist/bundle/asciinema-player.css';
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { apiText, getJson, type Recording, type SessionReport } from '../api.js';
import { duration, time } from '../format.js';
import { Link } from '../router.js';
import { Step } from './report.js';

// Replay: terminal recordings (SSH shells, kubectl exec) in asciinema-player, fetched through the
// API, which sends a recording only when it matches the digest the ledger holds; SQL sessions
// stepped statement by statement.

const SPEEDS = [0.5, 1, 2, 4, 8];

function Terminal({ sessionId, rec }: { sessionId: string; rec: Recording }) {
  const box = useRef<HTMLDivElement>(null);
  const player = useRef<AsciinemaPlayer.Player | null>(null);
  const [cast, setCast] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [speed, setSpeed] = useState(1);
  const [pos, setPos] = useState(0);
  const [total, setTotal] = useState(rec.durationUs / 1e6);

  useEffect(() => {
    if (!rec.url) return;
    apiText(rec.url).then(setCast, (e: Error) => setError(e.message));
  }, [rec.url]);

  useEffect(() => {
    if (cast === null || !box.current) return;
    const at = player.current?.getCurrentTime() ?? 0;
    const p = AsciinemaPlayer.create({ data: cast }, box.current, { speed, fit: 'width', controls: true, startAt: at, idleTimeLimit: 2, preload: true, terminalFontFamily: 'ui-monospace, monospace' });
    player.current = p;
    const timer = setInterval(() => {
      setPos(p.getCurrentTime());
      const d = p.getDuration();
      if (d !== undefined) setTotal(d);
    }, 250);
    return () => {
      clearInterval(timer);
      p.dispose();
    };
  }, [cast, speed]);

  const seek = (t: number) => {
    void player.current?.seek(Math.max(0, Math.min(total, t)));
    setPos(t);
  };

  return (
    <section className="card" aria-label={`Recording of channel ${rec.channel}`} data-recording={rec.channel}>
      <h2>Channel {rec.channel} <span className="muted small">{rec.file} · {rec.events} events · {duration(rec.durationUs)} · sha256 {rec.sha256.slice(0, 12)}…</span></h2>
      {!rec.finished && <p className="error">This recording was never finished: the ledger holds no digest for it, so it is not served.</p>}
      {error && <p className="error" role="alert">{error}</p>}
      {rec.finished && cast === null && !error && <p aria-busy="true">Fetching and checking the recording…</p>}
      <div className="controls">
        <button type="button" onClick={() => void player.current?.play()}>Play recording</button>
        <button type="button" onClick={() => void player.current?.pause()}>Pause recording</button>
        <label className="inline">
          Speed{' '}
          <select value={speed} onChange={(e) => setSpeed(Number(e.target.value))}>
            {SPEEDS.map((s) => <option key={s} value={s}>{s}×</option>)}
          </select>
        </label>
        <label className="inline grow">
          Position
          <input type="range" min={0} max={Math.max(total, 0.001)} step="any" value={Math.min(pos, total)} onChange={(e) => seek(Number(e.target.value))} aria-valuetext={`${pos.toFixed(1)} of ${total.toFixed(1)} seconds`} />
        </label>
        <span className="muted">{pos.toFixed(1)} / {total.toFixed(1)} s</span>
      </div>
      <div ref={box} className="player" data-session={sessionId} />
    </section>
  );
}

function SqlStepper({ report }: { report: SessionReport }) {
  const steps = report.events.filter((e) => e.command !== null && e.type !== 'approval.requested');
  const [i, setI] = useState(0);
  const step = steps[i];
  const onKey = (e: KeyboardEvent<HTMLElement>) => {
    if (e.key === 'ArrowRight' || e.key === 'j') setI((x) => Math.min(steps.length - 1, x + 1));
    if (e.key === 'ArrowLeft' || e.key === 'k') setI((x) => Math.max(0, x - 1));
  };
  if (steps.length === 0) return <p>This session ran no statements.</p>;
  return (
    <section className="card stepper" aria-label="Statements, one at a time" onKeyDown={onKey}>
      <div className="controls">
        <button type="button" onClick={() => setI(0)} disabled={i === 0}>First</button>
        <button type="button" onClick={() => setI(i - 1)} disabled={i === 0}>Previous statement</button>
        <span aria-live="polite" data-testid="step-position">Statement {i + 1} of {steps.length}</span>
        <button type="button" onClick={() => setI(i + 1)} disabled={i >= steps.length - 1}>Next statement</button>
        <button type="button" onClick={() => setI(steps.length - 1)} disabled={i >= steps.length - 1}>Last</button>
        <span className="muted small">Arrow keys step too.</span>
      </div>
      {step && (
        <>
          <p className="muted">{time(step.time)}{i > 0 && steps[i - 1] ? ` · ${duration((Date.parse(step.time) - Date.parse(steps[i - 1]!.time)) * 1000)} after the previous one` : ''}</p>
          <ol className="timeline"><Step e={step} /></ol>
        </>
      )}
    </section>
  );
}

export function ReplayPage({ sessionId }: { sessionId: string }) {
  const [recs, setRecs] = useState<Recording[] | null>(null);
  const [report, setReport] = useState<SessionReport | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const id = encodeURIComponent(sessionId);
    getJson<{ recordings: Recording[] }>(`/api/sessions/${id}/recordings`).then((r) => setRecs(r.recordings), (e: Error) => setError(e.message));
    getJson<SessionReport>(`/api/sessions/${id}`).then(setReport, (e: Error) => setError(e.message));
  }, [sessionId]);

  return (
    <section aria-labelledby="replay-title">
      <p><Link to={`/sessions/${encodeURIComponent(sessionId)}`}>← Report</Link></p>
      <h1 id="replay-title">Replay <code>{sessionId}</code></h1>
      {error && <p className="error" role="alert">{error}</p>}
      {recs === null || report === null ? <p aria-busy="true">Loading…</p> : (
        <>
          {recs.map((r) => <Terminal key={`${r.channel}-${r.shellSeq}`} sessionId={sessionId} rec={r} />)}
          {report.session.protocol === 'postgres' && <SqlStepper report={report} />}
          {recs.length === 0 && report.session.protocol !== 'postgres' && <p>This session has no terminal recording.</p>}
        </>
      )}
    </section>
  );
}
