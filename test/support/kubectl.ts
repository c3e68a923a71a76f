import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { runProgram, type RunResult } from './gateway-fixture.js';

/**
 * Runs the real kubectl with a generated kubeconfig in a temp dir (HOME too: kubectl keeps a
 * discovery cache under ~/.kube/cache). A missing kubectl fails loudly, naming what to install.
 */

const CANDIDATES = ['/usr/bin/kubectl', '/usr/local/bin/kubectl', '/usr/lib/google-cloud-sdk/bin/kubectl', '/snap/bin/kubectl'];

export function kubectlBinary(): string {
  const fromEnv = process.env.KUBECTL;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`KUBECTL=${fromEnv} does not exist`);
    return fromEnv;
  }
  const found = CANDIDATES.find((c) => existsSync(c));
  if (!found) throw new Error('kubectl is missing: apt-get install -y kubernetes-client (or set KUBECTL to a kubectl binary)');
  return undispatched(found);
}

/**
 * Google Cloud SDK's kubectl is a dispatcher: before each command it asks the server's /version
 * (5 s timeout) and runs the `kubectl.1.N` beside it that matches. Under load that lookup can time
 * out and another version runs, with other protocol preferences; the tests run the newest versioned
 * binary directly instead, so the kubectl under test is one known version.
 */
function undispatched(bin: string): string {
  const real = realpathSync(bin);
  if (basename(real) !== 'kubectl') return bin;
  const dir = dirname(real);
  const versions = readdirSync(dir)
    .map((f) => /^kubectl\.1\.(\d+)$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]));
  return versions.length > 0 ? join(dir, versions[0]![0]) : bin;
}

/**
 * What the kubectl under test does, by its client version (`kubectl version --client -o json`,
 * read once). Where a version is named it was checked by running Debian's 1.20 and gcloud's
 * 1.27 to 1.33 against the double; between 1.20 and 1.27 nothing was run (see each note).
 */
export interface KubectlFeatures {
  /** the client's minor version (20 for Debian's kubernetes-client, 33 for gcloud's newest today) */
  minor: number;
  /** exec/attach over WebSocket by default, falling back to SPDY (1.30; KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false turns it off) */
  websocketExec: boolean;
  /** port-forward tunnels SPDY inside a WebSocket (SPDY/3.1+portforward.k8s.io) by default (1.31; KUBECTL_PORT_FORWARD_WEBSOCKETS=false turns it off) */
  websocketPortForward: boolean;
  /** offers v5.channel.k8s.io over SPDY too (1.29; 1.28 and older offer v4 down to channel.k8s.io) */
  spdyV5: boolean;
  /** apply/create send fieldValidation (server-side field validation, kubernetes/kubernetes#108350, 1.24; 1.20 does not, 1.27+ do) */
  fieldValidation: boolean;
  /**
   * `delete` waits with a GET of the object (404: gone); 1.20 lists with fieldSelector=metadata.name=NAME
   * instead (an empty list: gone). 1.27+ GET; the change lies between 1.20 and 1.27 (taken as 1.21 here, unchecked).
   */
  deleteWaitsWithGet: boolean;
  /**
   * `logs` names the container (`?container=app`) it picked as the default; 1.20 leaves it to the server.
   * 1.27+ name it; the change came with default-container selection (taken as 1.21 here, unchecked).
   */
  logsNamesContainer: boolean;
}

let features: Promise<KubectlFeatures> | undefined;

export function kubectlFeatures(): Promise<KubectlFeatures> {
  features ??= (async () => {
    const bin = kubectlBinary();
    const r = await runProgram(bin, ['version', '--client', '-o', 'json']);
    if (r.code !== 0) throw new Error(`${bin} version --client -o json failed (${r.code}): ${r.stderr}`);
    const v = JSON.parse(r.stdout) as { clientVersion?: { major?: string; minor?: string } };
    const minor = Number.parseInt(v.clientVersion?.minor ?? '', 10);
    if (v.clientVersion?.major !== '1' || !Number.isFinite(minor)) throw new Error(`cannot read the version of ${bin}: ${r.stdout}`);
    return {
      minor,
      websocketExec: minor >= 30,
      websocketPortForward: minor >= 31,
      spdyV5: minor >= 29,
      fieldValidation: minor >= 24,
      deleteWaitsWithGet: minor >= 21,
      logsNamesContainer: minor >= 21,
    };
  })();
  return features;
}

export interface KubeconfigInput {
  server: string;
  caPem: string;
  token?: string;
  clientCertPem?: string;
  clientKeyPem?: string;
  namespace?: string;
}

export interface Kubectl {
  dir: string;
  kubeconfig: string;
  bin: string;
  /** the environment kubectl runs with (KUBECONFIG, HOME, no proxies) plus `extra` */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  run(args: string[], opts?: { input?: string; env?: Record<string, string> }): Promise<RunResult>;
  spawn(args: string[], opts?: { env?: Record<string, string> }): KubectlProcess;
  dispose(): void;
}

export interface KubectlProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** resolves with stdout once it matches (fails after timeoutMs or when kubectl exits first) */
  waitFor(match: RegExp | string, timeoutMs?: number): Promise<string>;
  /** resolves with the exit code (or the signal name) */
  exited: Promise<number | string>;
  kill(): Promise<number | string>;
}

export function writeKubeconfig(dir: string, k: KubeconfigInput): string {
  const user: Record<string, string> = {};
  if (k.token) user.token = k.token;
  if (k.clientCertPem) user['client-certificate-data'] = Buffer.from(k.clientCertPem).toString('base64');
  if (k.clientKeyPem) user['client-key-data'] = Buffer.from(k.clientKeyPem).toString('base64');
  const cfg = {
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'double', cluster: { server: k.server, 'certificate-authority-data': Buffer.from(k.caPem).toString('base64') } }],
    users: [{ name: 'agent', user }],
    contexts: [{ name: 'double', context: { cluster: 'double', user: 'agent', namespace: k.namespace ?? 'default' } }],
    'current-context': 'double',
  };
  const file = join(dir, 'kubeconfig');
  writeFileSync(file, stringify(cfg), { mode: 0o600 });
  return file;
}

export function kubectlFor(k: KubeconfigInput): Kubectl {
  const bin = kubectlBinary();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-kubectl-'));
  const home = join(dir, 'home');
  mkdirSync(home);
  const kubeconfig = writeKubeconfig(dir, k);
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
    const e: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig, HOME: home, NO_COLOR: '1', ...extra };
    for (const p of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy']) delete e[p];
    return e;
  };
  return {
    dir, kubeconfig, bin, env,
    run: (args, opts = {}) => runProgram(bin, args, { env: env(opts.env), ...(opts.input !== undefined ? { input: opts.input } : {}) }),
    spawn: (args, opts = {}) => spawnProcess(bin, args, env(opts.env)),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function spawnProcess(bin: string, args: string[], env: NodeJS.ProcessEnv): KubectlProcess {
  const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const exited = new Promise<number | string>((resolve) => child.on('close', (code, signal) => {
    resolve(code ?? signal ?? 'unknown');
    for (const w of waiters) w();
  }));
  let done = false;
  void exited.then(() => { done = true; });
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString('utf8');
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (c: Buffer) => { err += c.toString('utf8'); });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(match, timeoutMs = 20_000) {
      const ok = () => (typeof match === 'string' ? out.includes(match) : match.test(out));
      return new Promise((resolve, reject) => {
        const check = () => {
          if (ok()) {
            cleanup();
            resolve(out);
          } else if (done || child.exitCode !== null) {
            cleanup();
            reject(new Error(`kubectl exited before printing ${String(match)}\nstdout: ${out}\nstderr: ${err}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`kubectl did not print ${String(match)} within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
