import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { Catalog, ColumnOrigin } from '../../masking/session.js';
import type { UpstreamTarget } from './upstream.js';

/**
 * Where result columns come from, for masking rules that name `schema.table.column`: a RowDescription
 * carries only (table OID, attribute number). The gateway asks the target's catalog once per
 * connection (with its own credentials, on a separate short connection, never the agent's session)
 * for the attributes of the tables the rules name, and keeps the answer for a minute.
 */

const TTL_MS = 60_000;

interface Entry {
  at: number;
  map: Map<string, ColumnOrigin>;
}

const cache = new Map<string, Entry>();

const QUERY = `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS table, a.attnum::int AS attnum, a.attname AS column
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND lower(c.relname) = ANY($1::text[])`;

export async function loadCatalog(key: string, target: UpstreamTarget, tables: ReadonlyArray<{ table: string }>): Promise<Catalog> {
  if (tables.length === 0) return () => null;
  const hit = cache.get(key);
  let map: Map<string, ColumnOrigin>;
  if (hit && Date.now() - hit.at < TTL_MS) map = hit.map;
  else {
    const client = await connect(target);
    try {
      const r = await client.query<{ oid: string; schema: string; table: string; attnum: number; column: string }>(QUERY, [tables.map((t) => t.table.toLowerCase())]);
      map = new Map(r.rows.map((row) => [`${row.oid}:${row.attnum}`, { schema: row.schema, table: row.table, column: row.column }]));
    } finally {
      await client.end().catch(() => undefined);
    }
    cache.set(key, { at: Date.now(), map });
  }
  return (oid, attnum) => map.get(`${oid}:${attnum}`) ?? null;
}

/** The gateway's own login to the target, with the connection's TLS mode (prefer: TLS, else plain). */
async function connect(target: UpstreamTarget): Promise<pg.Client> {
  const mode = target.tls.mode;
  const tls = (): pg.ClientConfig['ssl'] => ({
    rejectUnauthorized: mode === 'verify-ca' || mode === 'verify-full',
    ...(target.tls.ca ? { ca: readFileSync(target.tls.ca) } : {}),
    ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
    ...(target.tls.servername ? { servername: target.tls.servername } : {}),
  });
  const attempt = async (ssl: pg.ClientConfig['ssl']): Promise<pg.Client> => {
    const client = new pg.Client({
      host: target.host, port: target.port, database: target.database, user: target.user, password: target.password ?? undefined,
      ssl, connectionTimeoutMillis: target.connectTimeoutMs, application_name: 'gatehouse-catalog',
    });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };
  if (mode === 'disable') return attempt(false);
  if (mode !== 'prefer') return attempt(tls());
  try {
    return await attempt(tls());
  } catch {
    return attempt(false);
  }
}
