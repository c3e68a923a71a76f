import { Agent, request, type Dispatcher } from 'undici';
import { ErrorCodes, GatehouseError, type ErrorCode } from '../core/errors.js';
import type { ApiErrorBody } from '../api/http-errors.js';

/**
 * A small client of the Gatehouse HTTP API for the CLI. The caller's token goes only in the
 * Authorization header, never to a plain-http address off loopback, and never into a message.
 * The API's error body ({ error: { code, message, detail } }) becomes the same GatehouseError the
 * server raised, so the CLI prints `gatehouse: <message> [GH_ERR_...]` like every other command.
 */

export interface ApiClientOptions {
  baseUrl: string;
  token: string;
  /** skip certificate verification (development, listeners.api.tls.selfSigned) */
  insecure?: boolean;
  timeoutMs?: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

function isApiErrorBody(v: unknown): v is ApiErrorBody {
  return typeof v === 'object' && v !== null && typeof (v as ApiErrorBody).error?.message === 'string';
}

export class ApiClient {
  private readonly base: URL;
  private readonly dispatcher: Dispatcher | undefined;

  constructor(private readonly o: ApiClientOptions) {
    let u: URL;
    try {
      u = new URL(o.baseUrl);
    } catch {
      throw new GatehouseError('GH_ERR_USAGE', `--url: not a URL: "${o.baseUrl}"`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new GatehouseError('GH_ERR_USAGE', `--url must be http(s)://, not ${u.protocol}`);
    if (u.protocol === 'http:' && !LOOPBACK.has(u.hostname) && !u.hostname.startsWith('127.')) {
      throw new GatehouseError('GH_ERR_USAGE', `refusing to send your token over plain http to ${u.host}: use https (listeners.api.tls)`);
    }
    this.base = u;
    this.dispatcher = o.insecure ? new Agent({ connect: { rejectUnauthorized: false } }) : undefined;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, JSON.stringify(body));
  }

  private url(path: string): string {
    return `${this.base.href.replace(/\/+$/, '')}${path}`;
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: string): Promise<T> {
    const url = this.url(path);
    let status: number;
    let text: string;
    try {
      const res = await request(url, {
        method,
        headers: { authorization: `Bearer ${this.o.token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000),
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      });
      status = res.statusCode;
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > MAX_RESPONSE_BYTES) {
        await res.body.dump();
        throw new GatehouseError('GH_ERR_USAGE', `the answer from ${this.base.origin} is larger than ${MAX_RESPONSE_BYTES} bytes`);
      }
      text = await res.body.text();
    } catch (e) {
      if (e instanceof GatehouseError) throw e;
      const err = e as Error & { code?: string; cause?: { code?: string } };
      const code = err.code ?? err.cause?.code ?? '';
      const tlsHint = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code) ? '; for a self-signed development certificate add --insecure' : '';
      throw new GatehouseError('GH_ERR_USAGE', `cannot reach the Gatehouse API at ${this.base.origin}: ${err.message}${code && !err.message.includes(code) ? ` (${code})` : ''}${tlsHint}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new GatehouseError('GH_ERR_USAGE', `${this.base.origin} answered HTTP ${status} without JSON: is --url the Gatehouse API?`);
    }
    if (status >= 200 && status < 300) return json as T;
    if (!isApiErrorBody(json)) throw new GatehouseError('GH_ERR_USAGE', `${this.base.origin} answered HTTP ${status}: is --url the Gatehouse API?`);
    const { code, message, detail } = json.error;
    const known = code !== undefined && (ErrorCodes as readonly string[]).includes(code) ? (code as ErrorCode) : null;
    if (!known) throw new GatehouseError('GH_ERR_USAGE', `the API answered HTTP ${status}: ${message}`);
    throw new GatehouseError(known, message, detail !== undefined ? { detail } : {});
  }
}
