export function LoginPage({ available, error, returnTo }: { available: boolean; error: string | null; returnTo: string }) {
  return (
    <main className="center" id="main">
      <section className="card login" aria-labelledby="login-title">
        <h1 id="login-title">Gatehouse console</h1>
        <p>Sessions, reports, approvals and the ledger's integrity, for reviewers and auditors.</p>
        {error && <p className="error" role="alert">Login failed: {error}</p>}
        {available ? (
          // a plain link: the browser goes to the gateway, which sends it on to the identity provider
          <a className="button primary" href={`/api/auth/login?returnTo=${encodeURIComponent(returnTo)}`}>Log in with your identity provider</a>
        ) : (
          <p>Console login is not configured on this gateway (console.login). Use the API with a bearer token.</p>
        )}
      </section>
    </main>
  );
}
