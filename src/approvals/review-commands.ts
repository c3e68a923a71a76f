import type { Config } from '../core/config.js';

/**
 * Where reviewers reach the gateway and what they type there. The hint a held client sees, the
 * webhook message and the CLI's default `--url` all come from here, so they always agree.
 */

const ANY_ADDRESS: Record<string, string> = { '0.0.0.0': '127.0.0.1', '::': '::1', '': '127.0.0.1' };

/** `http(s)://host:port` for a bound or configured address (IPv6 in brackets, "any" as loopback). */
export function baseUrlOf(host: string, port: number, tls: boolean): string {
  const h = ANY_ADDRESS[host] ?? host;
  return `${tls ? 'https' : 'http'}://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/**
 * The reviewers' API base URL: `approvals.url` when set (the public name), else derived from
 * `listeners.api`; null when the gateway has no API.
 */
export function apiBaseUrl(config: Config): string | null {
  if (config.approvals.url !== undefined) return config.approvals.url.replace(/\/+$/, '');
  const api = config.listeners.api;
  return api ? baseUrlOf(api.host, api.port, api.tls !== undefined) : null;
}

export interface ReviewCommands {
  approve: string;
  deny: string;
  show: string;
}

/** The exact CLI commands that decide an approval (with `--url` when the API's address is known). */
export function reviewCommands(id: string, baseUrl: string | null): ReviewCommands {
  const url = baseUrl === null ? '' : ` --url ${baseUrl}`;
  return {
    approve: `gatehouse approvals approve ${id}${url}`,
    deny: `gatehouse approvals deny ${id}${url}`,
    show: `gatehouse approvals show ${id}${url}`,
  };
}

/** For `BrokerOptions.approveHint`: what a held client is told. */
export function approveHint(baseUrl: string | null): (id: string) => string {
  return (id) => `a reviewer runs: ${reviewCommands(id, baseUrl).approve}`;
}
