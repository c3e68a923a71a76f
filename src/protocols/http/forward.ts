import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { Agent, type Dispatcher } from 'undici';
import type { LoadedConfig, WebConnectionConfig } from '../../core/config.js';
import { GatehouseError } from '../../core/errors.js';
import { watchStalledWriter } from '../../core/stall.js';
import type { HttpResponseEvent } from '../../core/events.js';
import { BodyTap } from './body-tap.js';
import { pemOrFile, upstreamCredential, type UpstreamCredential } from './credential.js';
import { withoutHopByHop } from './request-parts.js';

/**
 * One request to the upstream with undici, bodies streamed both ways (undici pulls the agent's
 * body as the upstream takes it; the response body is piped to the agent with backpressure),
 * every byte counted and hashed on the way.
 */

/** A connection as the listener serves it: its upstream, its credential, its pool of sockets. */
export interface HttpRoute {
  connection: WebConnectionConfig;
  credential: UpstreamCredential;
  /** what the upstream TLS handshake needs: the private CA, the client certificate (for upgrades, which bypass undici) */
  tlsOptions: { ca?: string; cert?: string; key?: string };
  dispatcher: Agent;
  /** `https://host:port` */
  origin: string;
  basePath: string;
  host: string;
  port: number;
  tls: boolean;
}

export function httpRoute(loaded: LoadedConfig, c: WebConnectionConfig): HttpRoute {
  const url = new URL(c.type === 'kubernetes' ? c.server : c.url);
  const tls = url.protocol === 'https:';
  const credential = upstreamCredential(loaded, c);
  const tlsOptions: HttpRoute['tlsOptions'] = {
    ...(c.ca !== undefined ? { ca: pemOrFile(loaded, c, c.ca, 'CA') } : {}),
    ...(credential.tls ?? {}),
  };
  return {
    connection: c,
    credential,
    tlsOptions,
    // bodyTimeout is set per request (watches and followed logs stay open while idle)
    dispatcher: new Agent({ connect: { ...tlsOptions }, headersTimeout: c.timeout, bodyTimeout: c.timeout }),
    origin: url.origin,
    basePath: url.pathname,
    host: url.hostname,
    port: url.port ? Number(url.port) : tls ? 443 : 80,
    tls,
  };
}

/** The agent's headers as sent upstream: hop-by-hop, the agent's Authorization and Host out; the credential in. */
export function upstreamHeaders(headers: IncomingHttpHeaders, route: HttpRoute, clientAddress: string): Record<string, string | string[]> {
  const out = withoutHopByHop(headers);
  delete out['authorization'];
  delete out['host'];
  // Node's server has already answered a 100-continue; undici refuses the header
  delete out['expect'];
  const cred = route.credential;
  if (cred.header !== null && cred.value !== null) out[cred.header] = cred.value;
  const xff = out['x-forwarded-for'];
  out['x-forwarded-for'] = xff === undefined ? clientAddress : `${Array.isArray(xff) ? xff.join(', ') : xff}, ${clientAddress}`;
  return out;
}

const hasBody = (req: IncomingMessage) =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

export interface ForwardOutcome {
  status: HttpResponseEvent['status'];
  statusCode: number | null;
  responseHeaders: Record<string, string | string[]>;
  requestTap: BodyTap | null;
  responseTap: BodyTap | null;
  /** what went wrong (internal detail: log and ledger only) */
  error: GatehouseError | null;
  /** the status the gateway answered with itself, when no upstream response was passed on */
  gatewayStatus: number | null;
}

const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** Sends the request upstream and streams the answer to the agent; never throws. */
export async function forward(
  req: IncomingMessage, res: ServerResponse, route: HttpRoute, target: string, clientAddress: string, maxSampleBytes: number,
  bodyTimeout = route.connection.timeout, stalledClientTimeout = 0,
): Promise<ForwardOutcome> {
  const c = route.connection;
  const ac = new AbortController();
  let clientGone = false;
  const onClose = () => {
    if (res.writableFinished) return;
    clientGone = true;
    ac.abort(new Error('the agent closed the connection'));
  };
  res.on('close', onClose);
  const requestTap = hasBody(req) ? new BodyTap(one(req.headers['content-type']), one(req.headers['content-encoding']), maxSampleBytes) : null;
  const body = requestTap ? pipeline(req, requestTap, () => undefined) : null;
  const base = { requestTap, responseTap: null, responseHeaders: {} };
  let response: Dispatcher.ResponseData;
  try {
    response = await route.dispatcher.request({
      origin: route.origin, path: target, method: req.method ?? 'GET', headers: upstreamHeaders(req.headers, route, clientAddress), body,
      headersTimeout: c.timeout, bodyTimeout, signal: ac.signal,
    });
  } catch (e) {
    res.off('close', onClose);
    const code = (e as { code?: string }).code ?? '';
    const detail = `${code ? `${code}: ` : ''}${(e as Error).message}`;
    if (clientGone) {
      return { ...base, status: 'interrupted', statusCode: null, error: new GatehouseError('GH_ERR_UPSTREAM_UNAVAILABLE', 'the agent left before the upstream answered', { detail }), gatewayStatus: null };
    }
    if (TIMEOUTS.has(code)) {
      return {
        ...base, status: 'error', statusCode: null, gatewayStatus: 504,
        error: new GatehouseError('GH_ERR_UPSTREAM_UNAVAILABLE', `the upstream of connection "${c.name}" did not answer within ${c.timeout} ms`, { detail }),
      };
    }
    return {
      ...base, status: 'error', statusCode: null, gatewayStatus: 502,
      error: new GatehouseError('GH_ERR_UPSTREAM_UNAVAILABLE', `the gateway cannot reach the upstream of connection "${c.name}" right now`, { detail }),
    };
  }
  const responseHeaders = withoutHopByHop(response.headers);
  const responseTap = new BodyTap(one(responseHeaders['content-type']), one(responseHeaders['content-encoding']), maxSampleBytes);
  // an agent that stops reading holds the upstream back (backpressure); past the limit it is cut
  let stalled = false;
  const unwatch = stalledClientTimeout > 0
    ? watchStalledWriter(res, stalledClientTimeout, () => {
      stalled = true;
      res.destroy(new Error('the agent stopped reading'));
    })
    : () => undefined;
  try {
    res.writeHead(response.statusCode, responseHeaders);
    await pipelineAsync(response.body, responseTap, res);
    return { status: 'ok', statusCode: response.statusCode, responseHeaders, requestTap, responseTap, error: null, gatewayStatus: null };
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    const detail = `${code ? `${code}: ` : ''}${(e as Error).message}`;
    res.destroy();
    response.body.destroy();
    // an upstream failure (undici's body timeout, a reset) destroys the agent's response too, whose
    // close then looks like the agent leaving: the error's origin decides
    const upstreamFault = code.startsWith('UND_ERR');
    const agentLeft = clientGone && !upstreamFault;
    const why = stalled
      ? `the agent took none of the response for ${stalledClientTimeout} ms (limits.stalledClientTimeout); it was cut`
      : agentLeft ? 'the agent left while the response was streamed' : 'the response body was cut off';
    return {
      status: agentLeft || stalled ? 'interrupted' : 'error', statusCode: response.statusCode, responseHeaders, requestTap, responseTap, gatewayStatus: null,
      error: new GatehouseError('GH_ERR_UPSTREAM_UNAVAILABLE', why, { detail }),
    };
  } finally {
    unwatch();
    res.off('close', onClose);
  }
}
