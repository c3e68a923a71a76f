import type { KubeRequestRecord } from './events.js';

/**
 * A Kubernetes request in its own terms, as policy messages, search text and reports show it. In
 * core (not beside the request parser) because the ledger's command text is built from records.
 */

/** `pods`, `pods/exec`, `deployments.apps`, `deployments.apps/scale` — how rules and records name a resource. */
export function resourceName(a: Pick<KubeRequestRecord, 'apiGroup' | 'resource' | 'subresource'>): string {
  const r = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  return a.subresource ? `${r}/${a.subresource}` : r;
}

/** One line in Kubernetes terms: `delete pods web-1 -n prod`, `list secrets`, `get /version` (`path`: of a non-resource request). */
export function describeKube(a: Omit<KubeRequestRecord, 'apiVersion'>, path: string): string {
  if (!a.resourceRequest) return `${a.verb} ${path}`;
  return `${a.verb} ${resourceName(a)}${a.name ? ` ${a.name}` : ''}${a.namespace && a.resource !== 'namespaces' ? ` -n ${a.namespace}` : ''}`;
}
