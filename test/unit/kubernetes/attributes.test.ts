import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/core/config.js';
import type { Principal } from '../../../src/identity/principal.js';
import { describeKube, kubeAttributes, resourceName } from '../../../src/protocols/kubernetes/attributes.js';
import { decide, resourceMatches } from '../../../src/policy/decide.js';

const a = (method: string, url: string) => {
  const q = url.indexOf('?');
  return kubeAttributes(method, q < 0 ? url : url.slice(0, q), q < 0 ? '' : url.slice(q));
};

describe('Kubernetes request attributes (as the API server derives them)', () => {
  it('reads verb, group, version, resource, namespace and name of resource requests', () => {
    expect(a('GET', '/api/v1/namespaces/prod/pods')).toMatchObject({ resourceRequest: true, verb: 'list', apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'prod', name: '' });
    expect(a('GET', '/api/v1/namespaces/prod/pods/web-1')).toMatchObject({ verb: 'get', resource: 'pods', namespace: 'prod', name: 'web-1', subresource: '' });
    expect(a('GET', '/api/v1/pods')).toMatchObject({ verb: 'list', resource: 'pods', namespace: '' });
    expect(a('GET', '/api/v1/namespaces/prod/pods?watch=true&resourceVersion=10')).toMatchObject({ verb: 'watch', resource: 'pods' });
    expect(a('GET', '/api/v1/namespaces/prod/pods?watch=1')).toMatchObject({ verb: 'watch' });
    expect(a('GET', '/api/v1/namespaces/prod/pods?watch=false')).toMatchObject({ verb: 'list' });
    expect(a('GET', '/api/v1/watch/namespaces/prod/pods')).toMatchObject({ verb: 'watch', resource: 'pods', namespace: 'prod' });
    expect(a('POST', '/api/v1/namespaces/prod/pods')).toMatchObject({ verb: 'create', resource: 'pods', name: '' });
    expect(a('PUT', '/api/v1/namespaces/prod/pods/web-1')).toMatchObject({ verb: 'update', name: 'web-1' });
    expect(a('PATCH', '/apis/apps/v1/namespaces/prod/deployments/api')).toMatchObject({ verb: 'patch', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', name: 'api' });
    expect(a('DELETE', '/api/v1/namespaces/prod/pods/web-1')).toMatchObject({ verb: 'delete', name: 'web-1' });
    expect(a('DELETE', '/api/v1/namespaces/prod/pods')).toMatchObject({ verb: 'deletecollection', name: '' });
  });

  it('reads subresources: exec, log, status, scale', () => {
    expect(a('POST', '/api/v1/namespaces/prod/pods/web-1/exec?command=sh&stdin=true')).toMatchObject({ verb: 'create', resource: 'pods', name: 'web-1', subresource: 'exec' });
    // a WebSocket exec is a GET, authorized as create like the SPDY POST (API servers since 1.30)
    expect(a('GET', '/api/v1/namespaces/prod/pods/web-1/exec?command=ls')).toMatchObject({ verb: 'create', subresource: 'exec' });
    expect(a('GET', '/api/v1/namespaces/prod/pods/web-1/portforward?ports=8080')).toMatchObject({ verb: 'create', subresource: 'portforward' });
    expect(a('GET', '/api/v1/namespaces/prod/pods/web-1/attach')).toMatchObject({ verb: 'create', subresource: 'attach' });
    expect(a('GET', '/api/v1/namespaces/prod/pods/web-1/log?follow=true')).toMatchObject({ verb: 'get', subresource: 'log' });
    expect(a('PUT', '/apis/apps/v1/namespaces/prod/deployments/api/scale')).toMatchObject({ resource: 'deployments', subresource: 'scale' });
  });

  it('treats namespaces as a resource, with their own subresources', () => {
    expect(a('GET', '/api/v1/namespaces')).toMatchObject({ verb: 'list', resource: 'namespaces', namespace: '' });
    expect(a('GET', '/api/v1/namespaces/prod')).toMatchObject({ verb: 'get', resource: 'namespaces', namespace: 'prod', name: 'prod' });
    expect(a('DELETE', '/api/v1/namespaces/prod')).toMatchObject({ verb: 'delete', resource: 'namespaces', name: 'prod' });
    expect(a('PUT', '/api/v1/namespaces/prod/finalize')).toMatchObject({ resource: 'namespaces', name: 'prod', subresource: 'finalize' });
  });

  it('takes the name of a list or watch from an exact metadata.name field selector', () => {
    expect(a('GET', '/api/v1/namespaces/prod/pods?fieldSelector=metadata.name%3Dweb-1&watch=true')).toMatchObject({ verb: 'watch', name: 'web-1' });
    expect(a('GET', '/api/v1/namespaces/prod/pods?fieldSelector=status.phase%3DRunning')).toMatchObject({ verb: 'list', name: '' });
    expect(a('GET', '/api/v1/namespaces/prod/pods?fieldSelector=metadata.name%21%3Dweb-1')).toMatchObject({ name: '' });
  });

  it('keeps non-resource paths as they are', () => {
    for (const p of ['/version', '/healthz', '/openapi/v2', '/api', '/api/v1', '/apis', '/apis/apps', '/apis/apps/v1']) {
      expect(a('GET', p), p).toMatchObject({ resourceRequest: false, verb: 'get', path: p, resource: '' });
    }
  });

  it('describes a request in Kubernetes terms', () => {
    expect(describeKube(a('DELETE', '/api/v1/namespaces/prod/pods/web-1'))).toBe('delete pods web-1 -n prod');
    expect(describeKube(a('GET', '/api/v1/secrets'))).toBe('list secrets');
    expect(describeKube(a('PUT', '/apis/apps/v1/namespaces/prod/deployments/api/scale'))).toBe('update deployments.apps/scale api -n prod');
    expect(describeKube(a('GET', '/version'))).toBe('get /version');
    expect(resourceName(a('GET', '/api/v1/namespaces/x/pods/p/log'))).toBe('pods/log');
  });
});

describe('Kubernetes policy matches', () => {
  it('names resources like RBAC: subresources only when named', () => {
    const pods = a('GET', '/api/v1/namespaces/prod/pods/x');
    const exec = a('POST', '/api/v1/namespaces/prod/pods/x/exec');
    const deploy = a('GET', '/apis/apps/v1/namespaces/prod/deployments/api');
    expect(resourceMatches('pods', pods)).toBe(true);
    expect(resourceMatches('pods', exec)).toBe(false);
    expect(resourceMatches('pods/exec', exec)).toBe(true);
    expect(resourceMatches('pods/*', exec)).toBe(true);
    expect(resourceMatches('pods/*', pods)).toBe(false);
    expect(resourceMatches('*', exec)).toBe(true);
    expect(resourceMatches('deployments', deploy)).toBe(true);
    expect(resourceMatches('deployments.apps', deploy)).toBe(true);
    expect(resourceMatches('deployments.extensions', deploy)).toBe(false);
  });

  const cfg = parseConfig({
    identity: { issuer: 'https://idp.example', audience: 'api://gatehouse' },
    ledger: { sqlite: 'x.db' },
    listeners: {},
    policies: [
      { name: 'no-secrets', match: { resources: ['secrets'], verbs: ['get', 'list', 'watch'] }, action: 'block', reason: 'agents do not read secrets' },
      { name: 'review-prod-deletes', match: { verbs: ['delete', 'deletecollection'], resources: ['pods'], namespaces: ['prod'] }, action: 'review', reviewers: ['sre'] },
      { name: 'no-exec-prod', match: { resources: ['pods/exec', 'pods/attach'], namespaces: ['prod*'] }, action: 'block' },
      { name: 'read-only-api', match: { methods: ['PUT'] }, action: 'block' },
    ],
  });
  const agent: Principal = { subject: 'ci-agent', groups: ['ci-agents'], issuer: 'i', clientId: null, tokenId: 't', tokenSha256: 's', ciJob: null, expiresAt: null };
  const d = (method: string, url: string) => {
    const at = a(method, url);
    return decide(cfg, agent, 'cluster', { text: describeKube(at), http: { method, path: at.path }, kube: at });
  };

  it('blocks reading secrets, reviews deleting pods in prod, refuses exec in prod namespaces', () => {
    expect(d('GET', '/api/v1/namespaces/prod/secrets/db')).toMatchObject({ action: 'block', policy: 'no-secrets', reason: 'agents do not read secrets' });
    expect(d('GET', '/api/v1/secrets')).toMatchObject({ action: 'block', policy: 'no-secrets' });
    expect(d('GET', '/api/v1/namespaces/prod/secrets?watch=true')).toMatchObject({ action: 'block' });
    expect(d('POST', '/api/v1/namespaces/prod/secrets')).toMatchObject({ action: 'allow' });
    expect(d('DELETE', '/api/v1/namespaces/prod/pods/web-1')).toMatchObject({ action: 'review', reviewers: ['sre'], reason: "delete pods in namespace prod needs a reviewer's approval" });
    expect(d('DELETE', '/api/v1/namespaces/prod/pods')).toMatchObject({ action: 'review' });
    expect(d('DELETE', '/api/v1/namespaces/staging/pods/web-1')).toMatchObject({ action: 'allow' });
    expect(d('POST', '/api/v1/namespaces/prod-eu/pods/web-1/exec?command=sh')).toMatchObject({ action: 'block', policy: 'no-exec-prod' });
    expect(d('POST', '/api/v1/namespaces/dev/pods/web-1/exec?command=sh')).toMatchObject({ action: 'allow' });
  });

  it('lets HTTP rules (methods, paths) match Kubernetes requests too, and Kubernetes rules never match plain HTTP', () => {
    expect(d('PUT', '/api/v1/namespaces/dev/pods/web-1')).toMatchObject({ action: 'block', policy: 'read-only-api' });
    expect(decide(cfg, agent, 'api', { text: 'GET /api/v1/secrets', http: { method: 'GET', path: '/api/v1/secrets' } })).toMatchObject({ action: 'allow' });
  });

  it('refuses a rule that mixes Kubernetes and SQL criteria, and bad resource patterns', () => {
    const base = { identity: { issuer: 'https://i', audience: 'a' }, ledger: { sqlite: 'x' }, listeners: {} };
    expect(() => parseConfig({ ...base, policies: [{ name: 'r', match: { verbs: ['get'], statement: ['select'] }, action: 'block' }] })).toThrow(/one kind of command/);
    expect(() => parseConfig({ ...base, policies: [{ name: 'r', match: { resources: ['Pods/Exec'] }, action: 'block' }] })).toThrow(/resource\[\.group\]/);
  });
});
