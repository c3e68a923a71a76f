import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, type Dispatcher } from 'undici';
import type { ApprovalsConfig } from '../core/config.js';
import type { Logger } from '../core/log.js';
import type { Approval, ApprovalNotifier } from './broker.js';
import { slackMessage } from './slack-message.js';
import { approvalJson } from './view.js';

/**
 * Tells a webhook about approval requests and decisions. The broker must never wait on or fail
 * because of a notification, so `notify` returns at once; deliveries of one approval are chained so
 * the receiver always sees `requested` before `decided`. A 5xx answer or a network error is retried
 * once; whatever still fails is logged and dropped (the ledger, not the webhook, is the record).
 */

export type WebhookFormat = 'json' | 'slack';

export interface WebhookOptions {
  url: string;
  format: WebhookFormat;
  /** HMAC-SHA256 key; when set every POST carries X-Gatehouse-Signature: sha256=<hex of the body> */
  secret?: string | undefined;
  timeoutMs: number;
  log: Logger;
  /** the reviewers' API base URL, for the commands in the message */
  apiUrl?: string | null;
  /** pause before the one retry (tests shorten it) */
  retryDelayMs?: number;
  dispatcher?: Dispatcher;
}

export interface ApprovalWebhookBody {
  event: 'approval.requested' | 'approval.decided';
  approval: ReturnType<typeof approvalJson>;
}

/** The exact body text for one notification (built when notified: the broker mutates the approval later). */
export function webhookBody(kind: 'requested' | 'decided', a: Approval, format: WebhookFormat, apiUrl: string | null): string {
  if (format === 'slack') return JSON.stringify(slackMessage(kind, a, apiUrl));
  const body: ApprovalWebhookBody = { event: kind === 'requested' ? 'approval.requested' : 'approval.decided', approval: approvalJson(a) };
  return JSON.stringify(body);
}

export function webhookSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export class WebhookNotifier implements ApprovalNotifier {
  /** the tail of each approval's delivery chain, dropped once it is the last */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly target: string;

  constructor(private readonly o: WebhookOptions) {
    const u = new URL(o.url);
    // logs name the receiver without the path: Slack (and others) put their secret in it
    this.target = u.origin;
  }

  notify(kind: 'requested' | 'decided', approval: Approval): void {
    let body: string;
    try {
      body = webhookBody(kind, approval, this.o.format, this.o.apiUrl ?? null);
    } catch (e) {
      this.o.log.error({ err: (e as Error).message, approval: approval.id }, 'approval webhook: building the message failed');
      return;
    }
    const id = approval.id;
    const tail = (this.chains.get(id) ?? Promise.resolve()).then(() => this.deliver(kind, id, body));
    this.chains.set(id, tail);
    void tail.then(() => {
      if (this.chains.get(id) === tail) this.chains.delete(id);
    });
  }

  /** Resolves when every delivery started so far has ended (shutdown, tests). */
  async flush(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  /** Never rejects. */
  private async deliver(kind: string, id: string, body: string): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'gatehouse-approvals' };
    if (this.o.secret !== undefined) headers['x-gatehouse-signature'] = webhookSignature(this.o.secret, body);
    let why = '';
    for (let attempt = 1; attempt <= 2; attempt++) {
      if (attempt > 1) await sleep(this.o.retryDelayMs ?? 1_000);
      try {
        const res = await request(this.o.url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(this.o.timeoutMs),
          ...(this.o.dispatcher ? { dispatcher: this.o.dispatcher } : {}),
        });
        await res.body.dump();
        if (res.statusCode < 300) {
          this.o.log.debug({ approval: id, kind, status: res.statusCode, webhook: this.target }, 'approval webhook delivered');
          return;
        }
        why = `HTTP ${res.statusCode}`;
        if (res.statusCode < 500) break; // the receiver refused this message: sending it again would not help
      } catch (e) {
        why = (e as Error).message;
      }
    }
    this.o.log.warn({ approval: id, kind, webhook: this.target, err: why }, 'approval webhook not delivered');
  }
}

/** The configured webhook, or null when `approvals.webhook` is not set. */
export function webhookFromConfig(cfg: ApprovalsConfig, apiUrl: string | null, log: Logger): WebhookNotifier | null {
  const w = cfg.webhook;
  if (!w) return null;
  return new WebhookNotifier({ url: w.url, format: w.format, secret: w.secret, timeoutMs: w.timeout, apiUrl, log: log.child({ component: 'approvals' }) });
}
