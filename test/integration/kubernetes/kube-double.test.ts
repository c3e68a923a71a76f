import { request as httpsRequest } from 'node:https';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeApiServer, type KubeApiServer, type SeenKubeRequest } from '../../support/kube-apiserver.js';
import { kubectlFeatures, kubectlFor, type Kubectl } from '../../support/kubectl.js';

/**
 * The Kubernetes API test double, proven with the real kubectl talking to it directly (no gateway):
 * what the user sees (stdout, exit code) and what the double recorded (requests, exec sessions).
 */

const SPDY = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' };
const T = ['--request-timeout=20s'];
/** what the kubectl under test does differs by version (Debian's 1.20, gcloud's 1.33): see kubectlFeatures */
const kubectl = await kubectlFeatures();

let api: KubeApiServer;
let k: Kubectl;
let echo: Server;

beforeAll(async () => {
  // a TCP echo server: the port-forward target "inside the pod"
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  api = await startKubeApiServer({ portForwardTarget: (echo.address() as AddressInfo).port });
  k = kubectlFor({ server: api.url, caPem: api.caPem, token: api.token });
});

afterAll(async () => {
  k?.dispose();
  await api?.close();
  await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
});

/** the requests a kubectl run made (everything the double saw from index `from` on) */
function since(from: number): SeenKubeRequest[] {
  return api.seen.slice(from);
}

/** a request's URL without the timeout parameter --request-timeout adds */
function untimed(url: string): string {
  return url.replace(/([?&])timeout=[^&]*&?/, '$1').replace(/[?&]$/, '');
}

function paths(from: number): string[] {
  return since(from).map((s) => `${s.method} ${untimed(s.url)}`);
}

describe('kubectl against the Kubernetes API double', () => {
  it('reports v1.32 and requires the bearer token on every request', async () => {
    const from = api.seen.length;
    const r = await k.run(['version', '-o', 'json', ...T]);
    expect(r.code, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as { serverVersion: { gitVersion: string } };
    expect(v.serverVersion.gitVersion).toBe('v1.32.4');
    for (const s of since(from)) {
      expect(s.headers.authorization).toBe(`Bearer ${api.token}`);
      expect(s.auth).toBe('token');
    }
  });

  it('get pods prints the names from a server-side Table (after discovery falls back to legacy JSON)', async () => {
    const from = api.seen.length;
    const r = await k.run(['get', 'pods', ...T]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE/);
    expect(r.stdout).toMatch(/^web-0\s+1\/1\s+Running\s+0/m);
    expect(r.stdout).toMatch(/^web-1\s+1\/1\s+Running/m);
    expect(r.stdout).not.toContain('api-0');
    const list = since(from).find((s) => s.url.startsWith('/api/v1/namespaces/default/pods?'));
    expect(list?.headers.accept).toContain('as=Table;v=v1;g=meta.k8s.io');
    expect(list?.status).toBe(200);
  });

  it('get pod -o json returns the object', async () => {
    const from = api.seen.length;
    const r = await k.run(['get', 'pod', 'web-0', '-o', 'json', ...T]);
    expect(r.code, r.stderr).toBe(0);
    const pod = JSON.parse(r.stdout) as { kind: string; metadata: { name: string; namespace: string }; status: { phase: string } };
    expect(pod.kind).toBe('Pod');
    expect(pod.metadata).toMatchObject({ name: 'web-0', namespace: 'default' });
    expect(pod.status.phase).toBe('Running');
    expect(paths(from)).toContain('GET /api/v1/namespaces/default/pods/web-0');
  });

  it('get pods -A lists every namespace', async () => {
    const from = api.seen.length;
    const r = await k.run(['get', 'pods', '-A', ...T]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^NAMESPACE\s+NAME\s+READY/);
    expect(r.stdout).toMatch(/^default\s+web-0\s/m);
    expect(r.stdout).toMatch(/^prod\s+api-0\s/m);
    expect(paths(from)).toContain('GET /api/v1/pods?limit=500');
  });

  it('apply -f creates, then updates with a strategic-merge patch', async () => {
    const manifest = (tier: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: applied\n  labels:\n    tier: ${tier}\nspec:\n  containers:\n  - name: main\n    image: busybox:1.36\n`;
    let from = api.seen.length;
    const created = await k.run(['apply', '--validate=false', '-f', '-', ...T], { input: manifest('a') });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout.trim()).toBe('pod/applied created');
    // --validate=false: fieldValidation=Ignore from kubectl 1.24 on; older ones (1.20) send no fieldValidation
    const fv = kubectl.fieldValidation ? '&fieldValidation=Ignore' : '';
    expect(paths(from)).toEqual(expect.arrayContaining([
      'GET /api/v1/namespaces/default/pods/applied',
      `POST /api/v1/namespaces/default/pods?fieldManager=kubectl-client-side-apply${fv}`,
    ]));
    if (!kubectl.fieldValidation) expect(paths(from).filter((p) => p.includes('fieldValidation'))).toEqual([]);
    expect((api.getPod('applied')?.metadata as { labels: Record<string, string> }).labels).toEqual({ tier: 'a' });

    from = api.seen.length;
    const updated = await k.run(['apply', '--validate=false', '-f', '-', ...T], { input: manifest('b') });
    expect(updated.code, updated.stderr).toBe(0);
    expect(updated.stdout.trim()).toBe('pod/applied configured');
    const patch = since(from).find((s) => s.method === 'PATCH');
    expect(untimed(patch?.url ?? '')).toBe(`/api/v1/namespaces/default/pods/applied?fieldManager=kubectl-client-side-apply${fv}`);
    expect(patch?.headers['content-type']).toBe('application/strategic-merge-patch+json');
    const meta = api.getPod('applied')?.metadata as { labels: Record<string, string>; annotations: Record<string, string> };
    expect(meta.labels).toEqual({ tier: 'b' });
    expect(meta.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain('"tier":"b"');

    const same = await k.run(['apply', '--validate=false', '-f', '-', ...T], { input: manifest('b') });
    expect(same.stdout.trim()).toBe('pod/applied unchanged');

    const got = await k.run(['get', 'pod', 'applied', '-o', 'jsonpath={.metadata.labels.tier}', ...T]);
    expect(got.stdout).toBe('b');
  });

  it('label (a JSON merge patch) and patch --type=json / --type=merge', async () => {
    const l = await k.run(['label', 'pod', 'web-0', 'team=blue', ...T]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout.trim()).toBe('pod/web-0 labeled');
    const j = await k.run(['patch', 'pod', 'web-0', '--type=json', '-p', '[{"op":"add","path":"/metadata/labels/env","value":"test"}]', ...T]);
    expect(j.code, j.stderr).toBe(0);
    expect(j.stdout.trim()).toBe('pod/web-0 patched');
    const m = await k.run(['patch', 'pod', 'web-0', '--type=merge', '-p', '{"metadata":{"labels":{"team":null}}}', ...T]);
    expect(m.code, m.stderr).toBe(0);
    expect((api.getPod('web-0')?.metadata as { labels: Record<string, string> }).labels).toEqual({ app: 'web', env: 'test' });
    expect(api.seen.filter((s) => s.method === 'PATCH' && s.url.startsWith('/api/v1/namespaces/default/pods/web-0?')).map((s) => s.headers['content-type']))
      .toEqual(['application/merge-patch+json', 'application/json-patch+json', 'application/merge-patch+json']);
  });

  it('delete removes the pod and kubectl sees it gone (its wait: a GET answered 404, or with 1.20 an empty list by name)', async () => {
    api.addPod({ name: 'doomed' });
    const from = api.seen.length;
    const r = await k.run(['delete', 'pod', 'doomed', ...T]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('pod "doomed" deleted');
    expect(since(from).map((s) => `${s.method} ${untimed(s.url)} ${s.status}`)).toEqual([
      'DELETE /api/v1/namespaces/default/pods/doomed 200',
      kubectl.deleteWaitsWithGet
        ? 'GET /api/v1/namespaces/default/pods/doomed 404'
        : 'GET /api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Ddoomed 200',
    ]);
    expect(api.podNames('default')).not.toContain('doomed');
    const again = await k.run(['get', 'pod', 'doomed', ...T]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('pods "doomed" not found');
  });

  it('get pods --watch -o name streams live ADDED and DELETED events', async () => {
    const from = api.seen.length;
    const w = k.spawn(['get', 'pods', '--watch', '-o', 'name']);
    try {
      await w.waitFor(/pod\/web-1\n/);
      expect(w.stdout()).not.toContain('pod/watched-1');
      api.addPod({ name: 'watched-1' });
      await w.waitFor('pod/watched-1\n');
      api.deletePod('watched-1');
      await w.waitFor(/pod\/watched-1\n[^]*pod\/watched-1\n/);
      const watch = since(from).find((s) => /[?&]watch=(true|1)/.test(s.url));
      expect(watch?.url).toMatch(/^\/api\/v1\/namespaces\/default\/pods\?resourceVersion=\d+&watch=true$/);
      expect(api.openStreams()).toBe(1);
    } finally {
      await w.kill();
    }
    // kubectl went away: the double noticed and closed its side of the watch
    await api.streamsClosed();
  });

  it('get pods -w prints Table rows for live events', async () => {
    const w = k.spawn(['get', 'pods', '-w']);
    try {
      await w.waitFor(/^web-0\s+1\/1\s+Running/m);
      api.addPod({ name: 'watched-2' });
      await w.waitFor(/^watched-2\s+1\/1\s+Running/m);
      expect(w.stdout().match(/^NAME\s/gm)).toHaveLength(1);
    } finally {
      await w.kill();
    }
  });

  it('logs prints the current lines; logs -f streams new ones until killed', async () => {
    api.emitLog('web-0', 'line one');
    api.emitLog('web-0', 'line two');
    const from = api.seen.length;
    const r = await k.run(['logs', 'web-0', ...T]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('line one\nline two\n');
    // kubectl ≥1.21 names the default container it picked; 1.20 leaves it to the server (one container)
    const logPath = `/api/v1/namespaces/default/pods/web-0/log${kubectl.logsNamesContainer ? '?container=app' : ''}`;
    expect(paths(from)).toContain(`GET ${logPath}`);

    const f = k.spawn(['logs', '-f', 'web-0']);
    try {
      await f.waitFor('line two\n');
      api.emitLog('web-0', 'line three, live');
      await f.waitFor('line three, live\n');
      expect(api.seen.some((s) => s.url === `${logPath}${kubectl.logsNamesContainer ? '&' : '?'}follow=true`)).toBe(true);
      expect(api.openStreams()).toBe(1);
    } finally {
      await f.kill();
    }
    await api.streamsClosed();
  });

  it('get secret / get secrets (what policy will later block)', async () => {
    const list = await k.run(['get', 'secrets', ...T]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^db-password\s+Opaque\s+1/m);
    const one = await k.run(['get', 'secret', 'db-password', '-o', 'jsonpath={.data.password}', ...T]);
    expect(Buffer.from(one.stdout, 'base64').toString()).toBe('hunter2');
  });

  // exec over WebSocket exists from kubectl 1.30 on: declared only when the kubectl under test has it
  // (1.20 execs over SPDY only, which the spdy block covers)
  for (const transport of [...(kubectl.websocketExec ? ['websocket' as const] : []), 'spdy' as const]) {
    const env = transport === 'spdy' ? SPDY : {};
    // over SPDY, kubectl ≥1.29 offers v5 first; older ones (1.20) v4 first, which the double picks
    const proto = transport === 'websocket' || kubectl.spdyV5 ? 'v5.channel.k8s.io' : 'v4.channel.k8s.io';

    describe(`exec over ${transport}`, () => {
      it('echo: prints the output, exit 0', async () => {
        const from = api.seen.length;
        const n = api.execSessions.length;
        const r = await k.run(['exec', 'web-0', '--', 'echo', 'hello', `from ${transport}`, ...[]], { env });
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toBe(`hello from ${transport}\n`);
        const up = since(from).find((s) => s.upgrade);
        expect(up?.status).toBe(101);
        if (transport === 'spdy') {
          expect(up?.method).toBe('POST');
          expect(up?.upgrade).toBe('SPDY/3.1');
          expect(up?.headers['x-stream-protocol-version']).toBe(`${kubectl.spdyV5 ? 'v5.channel.k8s.io, ' : ''}v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io`);
        } else {
          expect(up?.method).toBe('GET');
          expect(up?.upgrade?.toLowerCase()).toBe('websocket');
          expect(up?.headers['sec-websocket-protocol']).toContain('v5.channel.k8s.io');
        }
        expect(up?.url).toMatch(/^\/api\/v1\/namespaces\/default\/pods\/web-0\/exec\?command=echo&command=hello&command=from\+\w+&container=app&stderr=true&stdout=true/);
        expect(up?.headers.authorization).toBe(`Bearer ${api.token}`);
        const s = api.execSessions[n]!;
        await s.done;
        expect(s).toMatchObject({ transport, subprotocol: proto, kind: 'exec', namespace: 'default', pod: 'web-0', container: 'app', command: ['echo', 'hello', `from ${transport}`], exitCode: 0 });
      });

      it('cat with piped stdin copies it back until stdin closes', async () => {
        const n = api.execSessions.length;
        const input = `some input over ${transport}\nsecond line\n`;
        const r = await k.run(['exec', '-i', 'web-0', '--', 'cat'], { env, input });
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toBe(input);
        const s = api.execSessions[n]!;
        expect(s.stdin.toString()).toBe(input);
        expect(s.stdinClosed).toBe(true);
        expect(s.exitCode).toBe(0);
      });

      it('passes the exit code through (sh -c "exit 3")', async () => {
        const r = await k.run(['exec', 'web-0', '--', 'sh', '-c', 'exit 3'], { env });
        expect(r.code).toBe(3);
        expect(r.stderr).toContain('command terminated with exit code 3');
        expect(api.execSessions.at(-1)).toMatchObject({ command: ['sh', '-c', 'exit 3'], exitCode: 3, transport });
      });

      it('stderr and exit 1 (fail), 127 for an unknown command', async () => {
        const r = await k.run(['exec', 'web-0', '--', 'fail'], { env });
        expect(r.code).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toContain('boom\n');
        const u = await k.run(['exec', '-n', 'prod', 'api-0', '--', 'nosuchcmd', 'x'], { env });
        expect(u.code).toBe(127);
        expect(u.stderr).toContain('nosuchcmd: command not found');
        expect(api.execSessions.at(-1)).toMatchObject({ namespace: 'prod', pod: 'api-0', exitCode: 127, stderr: 'nosuchcmd: command not found\n' });
      });
    });
  }

  // port-forward over WebSocket (SPDY tunnelled in it) exists from kubectl 1.31 on: declared only when
  // the kubectl under test has it; over SPDY (KUBECTL_PORT_FORWARD_WEBSOCKETS=false, or the only way before 1.31) always
  for (const transport of [...(kubectl.websocketPortForward ? ['websocket' as const] : []), 'spdy' as const]) {
    it(`port-forward tunnels a TCP connection to the target port (${transport})`, async () => {
      const n = api.execSessions.length;
      const from = api.seen.length;
      const pf = k.spawn(['port-forward', 'pod/web-0', ':8080'], transport === 'spdy' ? { env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' } } : {});
      try {
        const out = await pf.waitFor(/Forwarding from 127\.0\.0\.1:(\d+) -> 8080/);
        const port = Number(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(out)![1]);
        const sock = connect({ host: '127.0.0.1', port });
        const reply = await new Promise<string>((resolve, reject) => {
          let got = '';
          sock.on('data', (d: Buffer) => {
            got += d.toString();
            if (got.includes('\n')) resolve(got);
          });
          sock.on('error', reject);
          sock.write(`ping through the ${transport} tunnel\n`);
        });
        sock.destroy();
        expect(reply).toBe(`ping through the ${transport} tunnel\n`);
        const up = since(from).filter((s) => s.upgrade);
        // over WebSocket, kubectl tunnels SPDY inside the WebSocket (subprotocol SPDY/3.1+portforward.k8s.io)
        expect(up.map((s) => `${s.method} ${s.upgrade} ${s.status}`)).toEqual([transport === 'spdy' ? 'POST SPDY/3.1 101' : 'GET websocket 101']);
        expect(up[0]!.url).toBe('/api/v1/namespaces/default/pods/web-0/portforward');
        const s = api.execSessions.slice(n).find((x) => x.kind === 'portforward');
        expect(s).toMatchObject({ transport, subprotocol: transport === 'spdy' ? 'portforward.k8s.io' : 'SPDY/3.1+portforward.k8s.io', forwardedPorts: [8080] });
        expect(s?.stdin.toString()).toBe(`ping through the ${transport} tunnel\n`);
      } finally {
        await pf.kill();
      }
    });
  }

  it('a raw watch without resourceVersion starts with the existing pods as ADDED, then streams', async () => {
    const events: Array<{ type: string; object: { metadata: { name: string } } }> = [];
    let buf = '';
    let notify = () => undefined as void;
    const req = httpsRequest(`${api.url}/api/v1/namespaces/prod/pods?watch=1`, { headers: { authorization: `Bearer ${api.token}` }, ca: api.caPem }, (res) => {
      expect(res.headers['content-type']).toBe('application/json');
      expect(res.headers['transfer-encoding']).toBe('chunked');
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, i)) as (typeof events)[number]);
          buf = buf.slice(i + 1);
        }
        notify();
      });
    });
    req.on('error', () => undefined);
    req.end();
    const until = (n: number) => new Promise<void>((resolve) => {
      notify = () => { if (events.length >= n) resolve(); };
      notify();
    });
    try {
      await until(1);
      expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED api-0']);
      api.addPod({ name: 'api-1', namespace: 'prod' });
      api.addPod({ name: 'elsewhere' }); // another namespace: not on this watch
      api.deletePod('api-1', 'prod');
      await until(3);
      expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED api-0', 'ADDED api-1', 'DELETED api-1']);
    } finally {
      req.destroy();
    }
    await api.streamsClosed();
  });

  it('a wrong token gets 401 with a Status object, and kubectl says Unauthorized', async () => {
    const bad = kubectlFor({ server: api.url, caPem: api.caPem, token: 'not-the-token' });
    try {
      const r = await bad.run(['get', 'pods', ...T]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/Unauthorized|must be logged in/);
    } finally {
      bad.dispose();
    }
    const res = await rawRequest('GET', '/api/v1/namespaces/default/pods', {});
    expect(res.code).toBe(401);
    expect(JSON.parse(res.body)).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
  });

  it('an unauthenticated exec upgrade is refused with 401 before any upgrade', async () => {
    const res = await rawRequest('GET', '/api/v1/namespaces/default/pods/web-0/exec?command=echo&stdout=true', {
      connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-protocol': 'v5.channel.k8s.io',
    });
    expect(res.code).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    expect(api.seen.at(-1)).toMatchObject({ upgrade: 'websocket', auth: 'none', status: 401 });
  });

  it('rejects request bodies over 1 MiB', async () => {
    const res = await rawRequest('POST', '/api/v1/namespaces/default/configmaps', { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' }, Buffer.alloc(1024 * 1024 + 10, 0x20));
    expect(res.code).toBe(413);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', reason: 'RequestEntityTooLarge', code: 413 });
  });
});

describe('variants', () => {
  it('client-certificate auth instead of a token', async () => {
    const certApi = await startKubeApiServer({ clientCertAuth: true });
    const c = kubectlFor({ server: certApi.url, caPem: certApi.caPem, clientCertPem: certApi.clientCert!.certPem, clientKeyPem: certApi.clientCert!.keyPem });
    try {
      const r = await c.run(['get', 'pods', '-o', 'name', ...T]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('pod/web-0\npod/web-1\n');
      expect(certApi.seen.length).toBeGreaterThan(0);
      for (const s of certApi.seen) {
        expect(s.auth).toBe('client-cert');
        expect(s.headers.authorization).toBeUndefined();
      }
    } finally {
      c.dispose();
      await certApi.close();
    }
  });

  it('SPDY with v4.channel.k8s.io (what a pre-1.30 server negotiates): stdin, exit codes', async () => {
    const v4 = await startKubeApiServer({ spdyProtocols: ['v4.channel.k8s.io'] });
    const c = kubectlFor({ server: v4.url, caPem: v4.caPem, token: v4.token });
    try {
      const r = await c.run(['exec', '-i', 'web-0', '--', 'cat'], { env: SPDY, input: 'over v4\n' });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('over v4\n');
      const e = await c.run(['exec', 'web-0', '--', 'sh', '-c', 'exit 7'], { env: SPDY });
      expect(e.code).toBe(7);
      expect(v4.execSessions.map((s) => `${s.transport} ${s.subprotocol} ${s.exitCode}`)).toEqual(['spdy v4.channel.k8s.io 0', 'spdy v4.channel.k8s.io 7']);
    } finally {
      c.dispose();
      await v4.close();
    }
  });

  // only kubectl ≥1.30 tries WebSocket first, so only it can fall back: declared only when the kubectl under test has it
  // (older ones go straight to SPDY, as every spdy exec above shows)
  if (kubectl.websocketExec) {
    it('kubectl falls back to SPDY when the server offers no WebSocket exec', async () => {
      const spdyOnly = await startKubeApiServer({ execTransports: ['spdy'] });
      const c = kubectlFor({ server: spdyOnly.url, caPem: spdyOnly.caPem, token: spdyOnly.token });
      try {
        const r = await c.run(['exec', 'web-0', '--', 'echo', 'fell back']);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toBe('fell back\n');
        expect(spdyOnly.seen.filter((s) => s.upgrade).map((s) => `${s.method} ${s.upgrade} ${s.status}`)).toEqual(['GET websocket 400', 'POST SPDY/3.1 101']);
        expect(spdyOnly.execSessions.map((s) => s.transport)).toEqual(['spdy']);
      } finally {
        c.dispose();
        await spdyOnly.close();
      }
    });
  }
});

function rawRequest(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${api.url}${path}`, { method, headers, ca: api.caPem }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body: text }));
    });
    req.on('error', (e) => {
      // the double may close the connection after answering 413 while the body is still being sent
      reject(e);
    });
    req.end(body);
  });
}
