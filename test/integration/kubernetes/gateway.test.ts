import { existsSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent, HttpRequestEvent, HttpResponseEvent, KubeStreamEvent, SessionStartEvent } from '../../../src/core/events.js';
import type { LedgerRecord } from '../../../src/ledger/ledger.js';
import { principal } from '../../support/approvals.js';
import { runProgram } from '../../support/gateway-fixture.js';
import { startKubeEnv, type KubeEnv } from '../../support/kube-env.js';
import { kubectlFeatures } from '../../support/kubectl.js';
import WebSocket from 'ws';

/**
 * The real kubectl through the gateway to the API server double: kubeconfig from
 * `gatehouse kubeconfig`, token from `gatehouse exec-credential`, every request recorded in
 * Kubernetes terms, exec streams over WebSocket and SPDY recorded and replayable.
 */

let env: KubeEnv;
let kc: string;
let agentToken: string;
let echo: Server;

beforeAll(async () => {
  // a TCP echo server: the port-forward target "inside the pod"
  echo = createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  env = await startKubeEnv({ api: { portForwardTarget: (echo.address() as AddressInfo).port } });
  kc = await env.kubeconfig('cluster');
  agentToken = await env.token('ci-agent');
});
afterAll(async () => {
  await env?.dispose();
  await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
});

const ofType = <T extends AuditEvent['type']>(rs: readonly LedgerRecord[], type: T) =>
  rs.filter((r) => r.event.type === type).map((r) => r.event as Extract<AuditEvent, { type: T }>);

/**
 * The records of the latest session whose request matches, once it has ended (kubectl may exit
 * before the gateway writes the records that follow the response). Polls the ledger; 15 s.
 */
async function requestSession(match: (e: HttpRequestEvent) => boolean): Promise<LedgerRecord[]> {
  const all = await env.allRecords();
  const hit = [...all].reverse().find((r) => r.event.type === 'http.request' && match(r.event));
  if (!hit) throw new Error('no such request in the ledger');
  const deadline = Date.now() + 15_000;
  for (;;) {
    const rs = await env.gateway.ledger.sessionRecords(hit.sessionId);
    if (rs.some((r) => r.event.type === 'session.end')) return rs;
    if (Date.now() > deadline) throw new Error(`session ${hit.sessionId} did not end`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('kubectl through the gateway', () => {
  it('lists pods with a kubeconfig from `gatehouse kubeconfig`; the API server sees only the gateway\'s credential', async () => {
    const before = env.api.seen.length;
    const r = await env.kubectl(kc, agentToken, ['get', 'pods']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+READY\s+STATUS/);
    expect(r.stdout).toContain('web-0');
    expect(r.stdout).toContain('web-1');
    const seen = env.api.seen.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    for (const s of seen) {
      expect(s.headers.authorization).toBe(`Bearer ${env.api.token}`);
      expect(JSON.stringify(s.headers)).not.toContain(agentToken);
    }
    const rs = await requestSession((e) => e.kubernetes?.verb === 'list' && e.kubernetes.resource === 'pods');
    const start = ofType(rs, 'session.start')[0] as SessionStartEvent;
    expect(start).toMatchObject({ protocol: 'kubernetes', connection: 'cluster', authorizedBy: 'ci-agents', identity: { subject: 'ci-agent', ciJob: '4711' } });
    const req = ofType(rs, 'http.request')[0]!;
    expect(req).toMatchObject({ method: 'GET', path: '/api/v1/namespaces/default/pods', kubernetes: { verb: 'list', resourceRequest: true, apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'default', name: '' } });
    expect(req.headers['user-agent']).toMatch(/^kubectl/);
    expect(ofType(rs, 'http.response')[0]).toMatchObject({ status: 'ok', statusCode: 200 });
  });

  it('searches requests in Kubernetes terms', async () => {
    const r = await env.cli(['search', '--text', 'list pods', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('list pods -n default (GET /api/v1/namespaces/default/pods)');
  });

  it('presents a client certificate upstream for a clientCertificate connection', async () => {
    const kcCert = await env.kubeconfig('cluster-cert');
    const before = env.api.seen.length;
    const r = await env.kubectl(kcCert, agentToken, ['get', 'pod', 'web-0', '-o', 'jsonpath={.metadata.name}']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('web-0');
    const seen = env.api.seen.slice(before);
    expect(seen.every((s) => s.auth === 'client-cert' && s.headers.authorization === undefined)).toBe(true);
  });

  it('creates, updates (apply) and deletes a pod, each recorded with its verb', async () => {
    const manifest = join(env.dir, 'pod.yaml');
    const pod = (image: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: job-1\n  namespace: default\nspec:\n  containers:\n  - name: main\n    image: ${image}\n`;
    await import('node:fs').then((fs) => fs.writeFileSync(manifest, pod('busybox:1')));
    let r = await env.kubectl(kc, agentToken, ['apply', '--validate=false', '-f', manifest]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('pod/job-1 created');
    await import('node:fs').then((fs) => fs.writeFileSync(manifest, pod('busybox:2')));
    r = await env.kubectl(kc, agentToken, ['apply', '--validate=false', '-f', manifest]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('pod/job-1 configured');
    r = await env.kubectl(kc, agentToken, ['delete', 'pod', 'job-1', '--wait=false']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('pod "job-1" deleted');
    expect(env.api.podNames('default')).not.toContain('job-1');
    const verbs = (await env.allRecords())
      .flatMap((x) => (x.event.type === 'http.request' && x.event.kubernetes?.name === 'job-1' ? [x.event.kubernetes.verb] : x.event.type === 'http.request' && x.event.method === 'POST' && x.event.path.endsWith('/pods') ? ['create'] : []));
    expect(verbs).toEqual(expect.arrayContaining(['create', 'patch', 'delete']));
  });

  it('streams a watch without buffering: a pod added upstream reaches kubectl while the request is open', async () => {
    const w = env.spawnKubectl(kc, agentToken, ['get', 'pods', '--watch', '-o', 'name']);
    try {
      await w.waitFor('pod/web-1');
      env.api.addPod({ name: 'late-pod' });
      await w.waitFor('pod/late-pod');
    } finally {
      await w.kill();
    }
    const rs = await requestSession((e) => e.kubernetes?.verb === 'watch' && e.kubernetes.resource === 'pods');
    expect(ofType(rs, 'http.request')[0]!.kubernetes).toMatchObject({ verb: 'watch', namespace: 'default' });
    expect(ofType(rs, 'http.response')[0]!.responseBody.sample).toContain('late-pod');
  });

  it('follows logs (`logs -f`) as lines are written', async () => {
    env.api.emitLog('web-0', 'first line');
    const l = env.spawnKubectl(kc, agentToken, ['logs', '-f', 'web-0']);
    try {
      await l.waitFor('first line');
      env.api.emitLog('web-0', 'written while following');
      await l.waitFor('written while following');
    } finally {
      await l.kill();
    }
    const rs = await requestSession((e) => e.kubernetes?.subresource === 'log');
    expect(ofType(rs, 'http.request')[0]).toMatchObject({ kubernetes: { verb: 'get', resource: 'pods', subresource: 'log', name: 'web-0' }, query: { follow: 'true' } });
  });
});

describe('policy in Kubernetes terms', () => {
  it('blocks reading secrets with a Forbidden Status kubectl prints; nothing reaches the API server', async () => {
    const before = env.api.seen.length;
    const r = await env.kubectl(kc, agentToken, ['get', 'secrets', '-n', 'prod']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error from server (Forbidden): blocked by policy "no-secrets": agents do not read secrets');
    expect(env.api.seen.slice(before).some((s) => s.url.includes('secrets'))).toBe(false);
    const rs = await requestSession((e) => e.kubernetes?.resource === 'secrets');
    expect(ofType(rs, 'http.request')[0]).toMatchObject({ kubernetes: { verb: 'list', resource: 'secrets', namespace: 'prod' }, decision: { action: 'block', policy: 'no-secrets' } });
    expect(ofType(rs, 'http.response')[0]).toMatchObject({ status: 'blocked' });
  });

  it('holds a deletion in prod for a reviewer: approved, kubectl completes', async () => {
    env.api.addPod({ name: 'doomed', namespace: 'prod' });
    const del = env.kubectl(kc, agentToken, ['delete', 'pod', 'doomed', '-n', 'prod', '--wait=false']);
    const id = await pendingApproval();
    await env.gateway.approvals!.decide(id, principal('dba-alice', ['dba']), { approve: true, reason: 'planned' });
    const r = await del;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('pod "doomed" deleted');
    expect(env.api.podNames('prod')).not.toContain('doomed');
  });

  it('holds a deletion in prod for a reviewer: denied, kubectl gets Forbidden and the pod stays', async () => {
    env.api.addPod({ name: 'keeper', namespace: 'prod' });
    const del = env.kubectl(kc, agentToken, ['delete', 'pod', 'keeper', '-n', 'prod', '--wait=false']);
    const id = await pendingApproval();
    await env.gateway.approvals!.decide(id, principal('dba-alice', ['dba']), { approve: false, reason: 'not in prod' });
    const r = await del;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Error from server \(Forbidden\): approval .* denied by dba-alice: not in prod/);
    expect(env.api.podNames('prod')).toContain('keeper');
  });

  it('refuses exec in prod before any upgrade reaches the API server', async () => {
    const sessions = env.api.execSessions.length;
    const r = await env.kubectl(kc, agentToken, ['exec', '-n', 'prod', 'api-0', '--', 'echo', 'hi']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('blocked by policy "no-exec-prod"');
    expect(env.api.execSessions.length).toBe(sessions);
  });
});

async function pendingApproval(): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const a = env.gateway.approvals!.list().find((x) => x.connection === 'cluster' && x.state === 'pending');
    if (a) return a.id;
    if (Date.now() > deadline) throw new Error('no approval request appeared');
    await new Promise((r) => setTimeout(r, 10));
  }
}

// kubectl 1.30 and later exec over WebSocket (and over SPDY when told); older ones (Debian's 1.20)
// only over SPDY. The WebSocket path is driven by the ws library below whatever kubectl is here.
const kubectl = await kubectlFeatures();
const transports = [
  ...(kubectl.websocketExec ? [{ transport: 'websocket' as const, env: {} as Record<string, string> }] : []),
  { transport: 'spdy' as const, env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } as Record<string, string> },
];

describe.each(transports)('kubectl exec over $transport', ({ transport, env: extra }) => {
  it('passes stdin, stdout and the exit code through and records them, replayable', async () => {
    const input = `hello from the agent over ${transport}\nsecond line\n`;
    const r = await env.kubectl(kc, agentToken, ['exec', '-i', 'web-0', '--', 'cat'], { input, env: extra });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(input);
    const ex = env.api.execSessions.at(-1)!;
    expect(ex).toMatchObject({ transport, command: ['cat'], pod: 'web-0' });
    const rs = await requestSession((e) => e.kubernetes?.subresource === 'exec');
    const req = ofType(rs, 'http.request')[0]!;
    expect(req.query.command).toBe('cat');
    const stream = ofType(rs, 'kubernetes.stream')[0] as KubeStreamEvent;
    expect(stream).toMatchObject({ transport, status: 'ok', exitCode: 0, error: null });
    expect(stream.stdin.sample).toBe(input);
    expect(stream.stdout.sample).toBe(input);
    expect(stream.recording).not.toBeNull();
    expect(ofType(rs, 'http.response')[0]).toMatchObject({ statusCode: 101, status: 'ok' });
    const sessionId = rs[0]!.sessionId;
    const replay = await env.cli(['replay', sessionId, '--no-wait']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain('hello from the agent');
    const report = await env.cli(['report', sessionId]);
    expect(report.stdout).toContain(`${transport} stream of`);
    expect(report.stdout).toContain('exit 0');
  });

  it('passes a non-zero exit code and stderr through', async () => {
    let r = await env.kubectl(kc, agentToken, ['exec', 'web-0', '--', 'sh', '-c', 'exit 3'], { env: extra });
    expect(r.code).toBe(3);
    let rs = await requestSession((e) => e.kubernetes?.subresource === 'exec');
    expect(ofType(rs, 'kubernetes.stream')[0]).toMatchObject({ transport, exitCode: 3 });
    r = await env.kubectl(kc, agentToken, ['exec', 'web-0', '--', 'fail'], { env: extra });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('boom');
    rs = await requestSession((e) => e.kubernetes?.subresource === 'exec');
    const s = ofType(rs, 'kubernetes.stream')[0]!;
    expect(s.exitCode).toBe(1);
    expect(s.stderr.sample).toBe('boom\n');
  });
});

// kubectl port-forward over SPDY always (KUBECTL_PORT_FORWARD_WEBSOCKETS=false; before 1.31 the only
// way), and tunnelled in a WebSocket (SPDY/3.1+portforward.k8s.io) only when the kubectl under test
// has it (1.31 and later): that case is declared only then.
const portForwards = [
  ...(kubectl.websocketPortForward ? [{ transport: 'websocket' as const, env: {} as Record<string, string>, verb: 'create', subprotocol: 'SPDY/3.1+portforward.k8s.io' }] : []),
  { transport: 'spdy' as const, env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' } as Record<string, string>, verb: 'create', subprotocol: 'portforward.k8s.io' },
];

describe.each(portForwards)('kubectl port-forward over $transport', ({ transport, env: extra, verb, subprotocol }) => {
  it('tunnels a TCP connection to the pod and records the bytes each way, without a recording file', async () => {
    const sessions = env.api.execSessions.length;
    const line = `ping through the gateway over ${transport}\n`;
    const pf = env.spawnKubectl(kc, agentToken, ['port-forward', 'pod/web-0', ':8080'], extra);
    try {
      const out = await pf.waitFor(/Forwarding from 127\.0\.0\.1:(\d+) -> 8080/);
      const port = Number(/Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(out)![1]);
      const sock = connect({ host: '127.0.0.1', port });
      try {
        const reply = await new Promise<string>((resolve, reject) => {
          let got = '';
          sock.on('data', (d: Buffer) => {
            got += d.toString();
            if (got.includes('\n')) resolve(got);
          });
          sock.on('error', reject);
          sock.on('close', () => reject(new Error(`the forwarded connection closed after ${JSON.stringify(got)}\nkubectl stderr: ${pf.stderr()}`)));
          sock.write(line);
        });
        expect(reply).toBe(line);
      } finally {
        sock.destroy();
      }
    } finally {
      await pf.kill();
    }
    // the API server double saw the tunnel, authenticated with the gateway's credential
    const s = env.api.execSessions.slice(sessions).find((x) => x.kind === 'portforward');
    expect(s).toMatchObject({ transport, subprotocol, pod: 'web-0', forwardedPorts: [8080] });
    expect(s?.stdin.toString()).toBe(line);
    const rs = await requestSession((e) => e.kubernetes?.subresource === 'portforward');
    const reqRecord = rs.find((r) => r.event.type === 'http.request' && r.event.kubernetes?.subresource === 'portforward')!;
    const req = reqRecord.event as HttpRequestEvent;
    expect(req).toMatchObject({
      method: transport === 'spdy' ? 'POST' : 'GET',
      kubernetes: { verb, resource: 'pods', subresource: 'portforward', name: 'web-0', namespace: 'default' },
    });
    expect(ofType(rs, 'http.response').find((r) => r.requestSeq === reqRecord.seq)).toMatchObject({ statusCode: 101, status: 'ok' });
    const stream = ofType(rs, 'kubernetes.stream').find((r) => r.requestSeq === reqRecord.seq) as KubeStreamEvent;
    expect(stream).toMatchObject({ transport, subprotocol, status: 'ok', exitCode: null, error: null, recording: null });
    // towards the pod counts as stdin, from it as stdout
    expect(stream.stdin).toMatchObject({ bytes: Buffer.byteLength(line), sample: line });
    expect(stream.stdout).toMatchObject({ bytes: Buffer.byteLength(line), sample: line });
    expect(stream.stderr.bytes).toBe(0);
    // nothing to replay: no asciicast is written for a port-forward
    expect(existsSync(join(env.dir, 'recordings', `${reqRecord.sessionId}.cast`))).toBe(false);
  });
});

describe('exec over WebSocket with a client library (ws)', () => {
  it('relays the v5 channel protocol both ways and records the streams and the exit code', async () => {
    const url = `wss://127.0.0.1:${env.port}/c/cluster/api/v1/namespaces/default/pods/web-1/exec?command=cat&stdin=true&stdout=true&stderr=true`;
    const ws = new WebSocket(url, ['v5.channel.k8s.io'], { headers: { authorization: `Bearer ${agentToken}` }, ca: readFileSync(join(env.dir, 'gateway.crt')) });
    const got: Record<number, string> = {};
    const closed = new Promise<void>((resolve, reject) => {
      ws.on('message', (data: Buffer) => {
        got[data[0]!] = (got[data[0]!] ?? '') + data.subarray(1).toString('utf8');
      });
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    expect(ws.protocol).toBe('v5.channel.k8s.io');
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('from a client library\n')]));
    // v5: close stdin (channel 255, then the channel closed)
    ws.send(Buffer.from([255, 0]));
    await closed;
    expect(got[1]).toBe('from a client library\n');
    expect(JSON.parse(got[3]!)).toMatchObject({ status: 'Success' });
    const rs = await requestSession((e) => e.kubernetes?.subresource === 'exec' && e.kubernetes.name === 'web-1');
    expect(ofType(rs, 'kubernetes.stream')[0]).toMatchObject({
      transport: 'websocket', subprotocol: 'v5.channel.k8s.io', exitCode: 0, stdin: { sample: 'from a client library\n' }, stdout: { sample: 'from a client library\n' },
    });
  });
});

describe('refusals in the protocol\'s own terms', () => {
  it('answers a bad token with 401 Unauthorized (kubectl says so) and records the denial', async () => {
    const r = await env.kubectl(kc, 'not-a-token', ['get', 'pods']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Unauthorized|must be logged in/);
    const denied = (await env.allRecords()).filter((x) => x.event.type === 'auth.denied' && x.event.protocol === 'kubernetes');
    expect(denied.length).toBeGreaterThan(0);
  });

  it('refuses an unmapped group with Forbidden, recorded', async () => {
    const r = await env.kubectl(kc, await env.token('intern-bot'), ['get', 'pods']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error from server (Forbidden)');
    expect(r.stderr).toContain('may not use connection "cluster"');
  });

  it('cuts an upstream that does not answer an exec upgrade in time: 504 Status, recorded', async () => {
    // cluster-stuck's "API server" accepts connections and never says a word
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest({
        host: '127.0.0.1', port: env.port, method: 'GET', path: '/c/cluster-stuck/api/v1/namespaces/default/pods/web-0/exec?command=true&stdout=true',
        ca: readFileSync(join(env.dir, 'gateway.crt')),
        headers: { authorization: `Bearer ${agentToken}`, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-protocol': 'v5.channel.k8s.io' },
      });
      req.on('response', (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Timeout', code: 504 });
    const rs = await requestSession((e) => e.kubernetes?.subresource === 'exec' && e.query.command === 'true');
    expect(ofType(rs, 'session.start')[0]).toMatchObject({ connection: 'cluster-stuck' });
    expect((ofType(rs, 'http.response')[0] as HttpResponseEvent).error).toMatch(/did not answer within 500 ms/);
  });

  it('never lets the upstream credential reach kubectl output, a log line or the ledger', async () => {
    const secret = env.api.token;
    const keyPem = readFileSync(join(env.dir, 'client.key'), 'utf8');
    const keyLine = keyPem.split('\n')[1]!;
    expect(env.logText()).not.toContain(secret);
    expect(env.logText()).not.toContain(keyLine);
    const ledger = JSON.stringify(await env.allRecords());
    expect(ledger).not.toContain(secret);
    expect(ledger).not.toContain(keyLine);
    expect(ledger).not.toContain(agentToken);
  });
});

describe('gatehouse kubeconfig', () => {
  it('refuses an unknown connection, a non-Kubernetes one, and says why', async () => {
    let r = await env.cli(['kubeconfig', '--connection', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('there is no connection named "nope" (Kubernetes connections: cluster, cluster-cert, cluster-stuck)');
    r = await runProgram(process.execPath, ['dist/cli/main.js', 'exec-credential', '--env', 'GATEHOUSE_EMPTY_VAR'], { env: { ...process.env, GATEHOUSE_EMPTY_VAR: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('environment variable GATEHOUSE_EMPTY_VAR is empty');
  });

  it('writes a kubeconfig that pins the gateway certificate and holds no secret', async () => {
    const text = readFileSync(kc, 'utf8');
    expect(text).toContain(`server: https://127.0.0.1:${env.port}/c/cluster`);
    expect(text).toContain('certificate-authority-data:');
    expect(text).toContain('exec-credential');
    expect(text).not.toContain(agentToken);
  });
});
