import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { decodeJwt } from 'jose';
import { stringify } from 'yaml';
import { configPath } from '../core/config.js';
import { GatehouseError } from '../core/errors.js';
import { loadConfig, out, progress } from './common.js';

/**
 * `gatehouse kubeconfig --connection NAME`: a kubeconfig that points kubectl at the gateway's
 * HTTPS listener (`/c/NAME`) and gets the agent's OIDC token from an exec credential plugin —
 * `gatehouse exec-credential`, which reads it from an environment variable (GATEHOUSE_TOKEN by
 * default) or runs a command that prints it. Nothing secret is written into the file.
 */

export interface KubeconfigOptions {
  config?: string;
  connection: string;
  server?: string;
  tokenEnv: string;
  tokenCommand?: string;
  ca?: string;
  insecure?: boolean;
  namespace?: string;
  pluginCommand?: string;
}

const EXEC_API = 'client.authentication.k8s.io/v1beta1';

/** The command line that runs this very gatehouse (node + script), unless the caller names one. */
function pluginCommand(override: string | undefined): { command: string; args: string[] } {
  if (override) return { command: override, args: [] };
  const script = process.argv[1];
  if (!script) return { command: 'gatehouse', args: [] };
  return { command: process.execPath, args: [realpathSync(script)] };
}

export async function kubeconfig(o: KubeconfigOptions): Promise<number> {
  const loaded = loadConfig(o.config);
  const cfg = loaded.config;
  const c = cfg.connections.find((x) => x.name === o.connection);
  if (!c) {
    const names = cfg.connections.filter((x) => x.type === 'kubernetes').map((x) => x.name);
    throw new GatehouseError('GH_ERR_USAGE', `there is no connection named "${o.connection}"${names.length ? ` (Kubernetes connections: ${names.join(', ')})` : ''}`);
  }
  if (c.type !== 'kubernetes') throw new GatehouseError('GH_ERR_USAGE', `connection "${c.name}" is a ${c.type} connection, not a kubernetes one`);
  const lc = cfg.listeners.http;
  if (!lc) throw new GatehouseError('GH_ERR_USAGE', 'the configuration has no listeners.http: Kubernetes connections are served there');
  if (!lc.tls) throw new GatehouseError('GH_ERR_USAGE', 'listeners.http has no tls: kubectl sends its token only over HTTPS');
  let base = o.server;
  if (base === undefined) {
    const host = lc.host === '0.0.0.0' || lc.host === '::' ? '127.0.0.1' : lc.host;
    base = `https://${host.includes(':') ? `[${host}]` : host}:${lc.port}`;
  }
  if (!/^https:\/\//.test(base)) throw new GatehouseError('GH_ERR_USAGE', `--server must be an https:// URL (got ${base})`);
  const server = `${base.replace(/\/+$/, '')}/c/${encodeURIComponent(c.name)}`;

  const cluster: Record<string, unknown> = { server };
  if (o.insecure) {
    cluster['insecure-skip-tls-verify'] = true;
  } else if (o.ca !== undefined) {
    cluster['certificate-authority-data'] = readPem(o.ca, '--ca').toString('base64');
  } else if ('selfSigned' in lc.tls) {
    throw new GatehouseError('GH_ERR_USAGE', 'listeners.http.tls is selfSigned: a new certificate is made at every start, so kubectl cannot pin it; configure a cert file, give --ca, or pass --insecure (development only)');
  } else {
    const pem = readPem(configPath(loaded, lc.tls.cert), 'listeners.http.tls.cert');
    const cert = new X509Certificate(pem);
    // a self-issued certificate is its own CA; one issued by a CA verifies against the system roots (or --ca)
    if (cert.issuer === cert.subject) cluster['certificate-authority-data'] = pem.toString('base64');
    else progress('the listener certificate is CA-issued: kubectl will check it against the system roots (give --ca for a private CA)');
  }

  const plugin = pluginCommand(o.pluginCommand);
  const source = o.tokenCommand !== undefined ? ['--command', o.tokenCommand] : ['--env', o.tokenEnv];
  const name = `gatehouse-${c.name}`;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster }],
    users: [{
      name,
      user: {
        exec: {
          apiVersion: EXEC_API, command: plugin.command, args: [...plugin.args, 'exec-credential', ...source], interactiveMode: 'Never',
          installHint: 'the gatehouse CLI provides the token: see the Kubernetes section of the Gatehouse README',
        },
      },
    }],
    contexts: [{ name, context: { cluster: name, user: name, ...(o.namespace ? { namespace: o.namespace } : {}) } }],
    'current-context': name,
  };
  out(stringify(doc).trimEnd());
  return 0;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new GatehouseError('GH_ERR_CONFIG_READ', `cannot read ${what} (${file}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Runs the token command; its stdout (trimmed) is the token. Bounded to 1 MiB and 60 s. */
function runTokenCommand(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command], { maxBuffer: 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new GatehouseError('GH_ERR_USAGE', `the token command failed: ${String(stderr).trim().slice(0, 500) || err.message}`));
      else resolve(String(stdout).trim());
    });
  });
}

/**
 * `gatehouse exec-credential`: the kubectl exec credential plugin. Prints an ExecCredential with
 * the token, and its expiry (read from the token's `exp`, unverified: the gateway verifies) so that
 * kubectl asks again when it runs out.
 */
export async function execCredential(o: { env?: string; command?: string }): Promise<number> {
  let token: string;
  if (o.command !== undefined) {
    token = await runTokenCommand(o.command);
  } else {
    const name = o.env ?? 'GATEHOUSE_TOKEN';
    token = (process.env[name] ?? '').trim();
    if (token === '') throw new GatehouseError('GH_ERR_USAGE', `environment variable ${name} is empty: set it to your OIDC access token (e.g. ${name}=$(gatehouse token --client ...))`);
  }
  if (token === '') throw new GatehouseError('GH_ERR_USAGE', 'the token command printed nothing');
  const status: Record<string, string> = { token };
  try {
    const exp = decodeJwt(token).exp;
    if (typeof exp === 'number') status['expirationTimestamp'] = new Date(exp * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  } catch {
    // not a JWT the plugin can read: no expiry, kubectl keeps it until a 401
  }
  out(JSON.stringify({ apiVersion: EXEC_API, kind: 'ExecCredential', status }));
  return 0;
}
