import { describeKube as describeRecorded, resourceName } from '../../core/kube-text.js';

/**
 * Kubernetes request attributes from an HTTP request, as the API server's own RequestInfoFactory
 * derives them (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go): the verb (get, list,
 * watch, create, update, patch, delete, deletecollection), API group and version, resource,
 * subresource, namespace and name. Non-resource paths (/version, /healthz, /openapi/v2, the
 * discovery roots /api and /apis) keep the lower-case method as verb and their path. Pure.
 */

export interface KubeAttributes {
  /** false for non-resource paths (discovery, /version, /healthz, /openapi) */
  resourceRequest: boolean;
  verb: string;
  /** '' for the core group */
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  /** '' when cluster-scoped (or not a resource request) */
  namespace: string;
  name: string;
  /** the request path (non-resource requests are matched on it) */
  path: string;
}

const VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
/** `namespaces/<ns>/status` and `/finalize` are subresources of the namespace, not resources in it */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const CONNECT_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);

/** `metadata.name=x` (or `==`) as the only term of a field selector → x; kubectl get NAME -w uses it. */
function exactName(fieldSelector: string | null): string {
  if (!fieldSelector) return '';
  const terms = fieldSelector.split(',');
  for (const t of terms) {
    const m = /^\s*metadata\.name\s*==?\s*([^\s=!]+)\s*$/.exec(t);
    if (m) return /^[^/%]+$/.test(m[1]!) && m[1] !== '.' && m[1] !== '..' ? m[1]! : '';
  }
  return '';
}

/**
 * `path` is percent-decoded and normalised (no dot segments); `search` is the raw query string
 * with or without its leading `?`.
 */
export function kubeAttributes(method: string, path: string, search: string): KubeAttributes {
  const m = method.toUpperCase();
  const nonResource: KubeAttributes = {
    resourceRequest: false, verb: m.toLowerCase(), apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '', path,
  };
  let parts = path.split('/').filter((p) => p !== '');
  let apiGroup = '';
  let apiVersion: string;
  if (parts[0] === 'api' && parts.length >= 3) {
    apiVersion = parts[1]!;
    parts = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    apiGroup = parts[1]!;
    apiVersion = parts[2]!;
    parts = parts.slice(3);
  } else {
    return nonResource;
  }
  let verb = VERBS[m] ?? m.toLowerCase();
  // the deprecated /watch/ prefix
  if (parts[0] === 'watch' && verb === 'get') {
    verb = 'watch';
    parts = parts.slice(1);
    if (parts.length === 0) return nonResource;
  }
  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1]!;
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
  }
  const resource = parts[0] ?? '';
  let name = parts[1] ?? '';
  const subresource = parts[2] ?? '';
  if (name === '' && verb === 'get') {
    const q = new URLSearchParams(search.startsWith('?') ? search.slice(1) : search);
    verb = TRUE.has(q.get('watch') ?? '') ? 'watch' : 'list';
    name = exactName(q.get('fieldSelector'));
  } else if (name === '' && verb === 'watch') {
    name = exactName(new URLSearchParams(search.startsWith('?') ? search.slice(1) : search).get('fieldSelector'));
  }
  if (name === '' && verb === 'delete') verb = 'deletecollection';
  // exec, attach and port-forward are `create` whichever method carries them: SPDY clients POST,
  // WebSocket clients must GET, and API servers since 1.30 authorize both as create (KEP-4006)
  if (verb === 'get' && CONNECT_SUBRESOURCES.has(subresource)) verb = 'create';
  return { resourceRequest: true, verb, apiGroup, apiVersion, resource, subresource, namespace, name, path };
}

/** One line in Kubernetes terms: `delete pods web-1 -n prod`, `list secrets`, `get /version`. */
export function describeKube(a: KubeAttributes): string {
  return describeRecorded(a, a.path);
}

export { resourceName };
