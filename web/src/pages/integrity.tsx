import { useCallback, useEffect, useState } from 'react';
import { api, getJson, type Integrity, type VerificationRun } from '../api.js';
import { StatusBadge, time } from '../format.js';

// Integrity: the ledger head and Merkle tree, the latest signed checkpoints, and a verification run
// (chain, roots, signatures, witness copies) started here and followed until it finishes.

function Run({ run }: { run: VerificationRun }) {
  return (
    <div data-testid="verification" data-state={run.state}>
      <p>
        <StatusBadge status={run.state === 'ok' ? 'verified' : run.state} /> started by {run.startedBy} at {time(run.startedAt)}
        {run.finishedAt ? `, finished ${time(run.finishedAt)}` : ''}
      </p>
      {run.state === 'running' ? (
        <p>
          <label htmlFor="verify-progress">Records checked: {run.checked}</label>{' '}
          <progress id="verify-progress" aria-valuetext={`${run.checked} records checked`} />
        </p>
      ) : (
        <p>{run.checked} records checked{run.keyId ? `; checkpoints signed by key ${run.keyId} (${run.keySource})` : '; no signing key to check signatures against'}{run.witnessFile ? `; witness ${run.witnessFile}` : ''}.</p>
      )}
      {run.error && <p className="error">{run.error}</p>}
      {run.logs.map((l) => (
        <details key={l.logId} open={!l.ok}>
          <summary>Log {l.logId}: {l.ok ? 'intact' : 'BROKEN'}</summary>
          <pre className="json">{JSON.stringify(l, null, 2)}</pre>
        </details>
      ))}
    </div>
  );
}

export function IntegrityPage() {
  const [data, setData] = useState<Integrity | null>(null);
  const [run, setRun] = useState<VerificationRun | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const d = await getJson<Integrity>('/api/integrity?checkpoints=10');
      setData(d);
      setRun((r) => r ?? d.verification);
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  // follow a running verification until it is done
  useEffect(() => {
    if (run?.state !== 'running') return;
    const t = setTimeout(async () => {
      try {
        const r = await getJson<{ verification: VerificationRun | null }>('/api/integrity/verify');
        setRun(r.verification);
        if (r.verification?.state !== 'running') void load();
      } catch (e) {
        setError((e as Error).message);
      }
    }, 500);
    return () => clearTimeout(t);
  }, [run, load]);

  const verify = async () => {
    setError(null);
    try {
      const r = await api<{ verification: VerificationRun }>('/api/integrity/verify?wait=0', { method: 'POST' });
      setRun(r.data.verification);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <section aria-labelledby="integrity-title">
      <h1 id="integrity-title">Ledger integrity</h1>
      {error && <p className="error" role="alert">{error}</p>}
      {!data ? <p aria-busy="true">Loading…</p> : (
        <>
          <div className="panels">
            <section className="card" aria-labelledby="head-title">
              <h2 id="head-title">Head</h2>
              <dl className="kv">
                <dt>Log</dt><dd><code>{data.logId}</code></dd>
                <dt>Last record</dt><dd>#{data.head.seq} <code className="hash">{data.head.hash}</code></dd>
                <dt>Merkle tree</dt><dd>{data.tree ? <>{data.tree.size} leaves, root <code className="hash">{data.tree.root}</code></> : 'not kept by this store'}</dd>
                <dt>Signed checkpoints</dt><dd>{data.checkpoints.count}</dd>
              </dl>
            </section>
            <section className="card" aria-labelledby="verify-title">
              <h2 id="verify-title">Verification</h2>
              <button type="button" className="primary" onClick={() => void verify()} disabled={run?.state === 'running'}>Verify the whole ledger</button>
              <div aria-live="polite">{run ? <Run run={run} /> : <p>No verification has run since the gateway started.</p>}</div>
            </section>
          </div>
          <h2 id="cp-title">Latest checkpoints</h2>
          {data.checkpoints.latest.length === 0 ? <p>No signed checkpoints (ledger.checkpoints is not configured, or none was signed yet).</p> : (
            <div className="table-wrap">
              <table aria-labelledby="cp-title">
                <thead><tr><th scope="col">Time</th><th scope="col">Record</th><th scope="col">Tree size</th><th scope="col">Root</th><th scope="col">Key</th></tr></thead>
                <tbody>
                  {data.checkpoints.latest.map((c) => (
                    <tr key={c.seq}><td>{time(c.time)}</td><td>#{c.seq}</td><td className="num">{c.treeSize}</td><td><code className="hash">{c.rootHash}</code></td><td><code>{c.keyId}</code></td></tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
