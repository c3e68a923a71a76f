import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import type { LoadedConfig } from '../../src/core/config.js';
import type { AuditEvent } from '../../src/core/events.js';
import { startDevIssuer, type DevIssuer } from '../../src/identity/dev-issuer.js';
import type { LedgerRecord } from '../../src/ledger/ledger.js';
import type { Gateway } from '../../src/server.js';
import { AUDIENCE, CLIENTS, runProgram, type RunResult, startConfiguredGateway, allRecordsOf, endedSessionRecords } from './gateway-fixture.js';
import { startKubeApiServer, type KubeApiServer, type KubeApiServerOptions } from './kube-apiserver.js';
import { kubectlBinary, spawnProcess, type KubectlProcess } from './kubectl.js';

/**
 * The Kubernetes test environment: the API server double (test/support/kube-apiserver.ts, HTTPS,
 * requiring its own token), a real OIDC provider, and the gateway with its HTTP listener on TLS
 * (a certificate written to a file, so `gatehouse kubeconfig` can pin it). kubectl runs with the
 * kubeconfig the real `gatehouse kubeconfig` prints, and gets the agent's token from the real
 * `gatehouse exec-credential` plugin via $GATEHOUSE_TOKEN.
 */

export interface KubeEnv {
  dir: string;
  idp: DevIssuer;
  api: KubeApiServer;
  gateway: Gateway;
  loaded: LoadedConfig;
  configFile: string;
  port: number;
  logText(): string;
  token(clientId: string): Promise<string>;
  /** runs the built gatehouse CLI against the config */
  cli(args: string[]): Promise<RunResult>;
  /** writes a kubeconfig with `gatehouse kubeconfig --connection NAME` (extra args appended); returns its path */
  kubeconfig(connection: string, extra?: string[]): Promise<string>;
  /** kubectl's environment: KUBECONFIG, its own HOME, the agent's token */
  kubectlEnv(kubeconfig: string, token: string, extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** starts kubectl in the background (watch, logs -f) */
  spawnKubectl(kubeconfig: string, token: string, args: string[], env?: Record<string, string>): KubectlProcess;
  /** runs kubectl to completion */
  kubectl(kubeconfig: string, token: string, args: string[], opts?: { input?: string; env?: Record<string, string> }): Promise<RunResult>;
  sessionRecords(subject: string, connection?: string): Promise<LedgerRecord[]>;
  allRecords(): Promise<Array<{ seq: number; sessionId: string; event: AuditEvent }>>;
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startKubeEnv(opts: { api?: KubeApiServerOptions; config?: Record<string, unknown> } = {}): Promise<KubeEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-kube-'));
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const kubectl = kubectlBinary();
    const api = await startKubeApiServer({ clientCertAuth: true, ...opts.api });
    cleanups.push(() => api.close());
    writeFileSync(join(dir, 'cluster-ca.pem'), api.caPem);
    writeFileSync(join(dir, 'cluster-token'), `${api.token}\n`);
    writeFileSync(join(dir, 'client.crt'), api.clientCert!.certPem);
    writeFileSync(join(dir, 'client.key'), api.clientCert!.keyPem, { mode: 0o600 });
    const pems = await generate([{ name: 'commonName', value: 'gatehouse-test' }], {
      keySize: 2048, algorithm: 'sha256', extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }],
    });
    writeFileSync(join(dir, 'gateway.crt'), pems.cert);
    writeFileSync(join(dir, 'gateway.key'), pems.private, { mode: 0o600 });
    // an "API server" that accepts connections and never answers (timeouts)
    const held = new Set<Socket>();
    const stuck = createServer((sock) => {
      held.add(sock);
      sock.on('error', () => undefined);
      sock.on('close', () => held.delete(sock));
    });
    await new Promise<void>((resolve) => stuck.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
    const stuckPort = (stuck.address() as AddressInfo).port;
    cleanups.push(async () => {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => stuck.close(() => resolve()));
    });
    const idp = await startDevIssuer({ audience: AUDIENCE, clients: CLIENTS, ciJobClaim: 'ci_job_id' });
    cleanups.push(async () => idp.close());
    const raw = {
      identity: { issuer: idp.issuer, audience: AUDIENCE, ciJobClaim: 'ci_job_id' },
      ledger: { sqlite: './ledger.db' },
      listeners: { http: { host: '127.0.0.1', port: 0, tls: { cert: './gateway.crt', key: './gateway.key' } } },
      connections: [
        { name: 'cluster', type: 'kubernetes', server: api.url, ca: './cluster-ca.pem', credential: { type: 'token', tokenFile: './cluster-token' }, groups: ['ci-agents', 'dba'] },
        { name: 'cluster-cert', type: 'kubernetes', server: api.url, ca: './cluster-ca.pem', credential: { type: 'clientCertificate', cert: './client.crt', key: './client.key' }, groups: ['ci-agents'] },
        { name: 'cluster-stuck', type: 'kubernetes', server: `https://127.0.0.1:${stuckPort}`, ca: './cluster-ca.pem', credential: { type: 'token', tokenFile: './cluster-token' }, groups: ['ci-agents'], timeout: '500ms' },
      ],
      policies: [
        { name: 'no-secrets', connections: ['cluster'], match: { resources: ['secrets'], verbs: ['get', 'list', 'watch'] }, action: 'block', reason: 'agents do not read secrets' },
        { name: 'review-prod-deletes', connections: ['cluster'], match: { verbs: ['delete', 'deletecollection'], namespaces: ['prod'] }, action: 'review', reviewers: ['dba'], timeout: '1m' },
        { name: 'no-exec-prod', connections: ['cluster'], match: { resources: ['pods/exec', 'pods/attach'], namespaces: ['prod'] }, action: 'block' },
      ],
      recording: { dir: './recordings' },
      log: { level: 'debug' },
      ...opts.config,
    };
    const { gateway, loaded, configFile, logText } = await startConfiguredGateway(dir, raw, cleanups);
    const port = gateway.http!.address.port;
    const home = join(dir, 'home');
    mkdirSync(home);
    const cli = (args: string[]) => runProgram(process.execPath, ['dist/cli/main.js', ...args, '--config', configFile], { env: { ...process.env, NO_COLOR: '1' } });
    const kubectlEnv = (kubeconfig: string, token: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig, GATEHOUSE_TOKEN: token, NO_COLOR: '1', ...extra };
      return env;
    };
    const dispose = async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    };
    let n = 0;
    return {
      dir, idp, api, gateway, loaded, configFile, port, logText, cli,
      token: (clientId) => idp.token(clientId),
      async kubeconfig(connection, extra = []) {
        const r = await cli(['kubeconfig', '--connection', connection, '--server', `https://127.0.0.1:${port}`, ...extra]);
        if (r.code !== 0) throw new Error(`gatehouse kubeconfig failed (${r.code}): ${r.stderr}`);
        const file = join(dir, `kubeconfig-${connection}-${n++}`);
        writeFileSync(file, r.stdout);
        return file;
      },
      kubectlEnv,
      spawnKubectl: (kubeconfig, token, args, extra) => spawnProcess(kubectl, ['--request-timeout=0', ...args], kubectlEnv(kubeconfig, token, extra)),
      kubectl: (kubeconfig, token, args, o = {}) =>
        runProgram(kubectl, ['--request-timeout=30s', ...args], { env: kubectlEnv(kubeconfig, token, o.env), ...(o.input !== undefined ? { input: o.input } : {}) }),
      sessionRecords: (subject, connection) => endedSessionRecords(gateway.ledger, subject, connection),
      allRecords: () => allRecordsOf(gateway.ledger),
      dispose,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (e) {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
