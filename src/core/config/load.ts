import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { GatehouseError } from '../errors.js';
import { ConfigSchema, type Config } from './schema.js';

/** Loading a config: YAML text, then `${VAR}` substitution, then validation, with errors that name the path. */

export interface LoadedConfig {
  config: Config;
  /** absolute path of the file, or null when built in memory */
  file: string | null;
  /** directory relative paths in the file are resolved against */
  baseDir: string;
}

type Env = Record<string, string | undefined>;

const VAR = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(top level)';
}

/** Replaces ${VAR} in every string value; throws naming the first path whose variable is unset. */
export function substituteEnv(value: unknown, env: Env, path: PropertyKey[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(VAR, (whole, varName: string | undefined, fallback: string | undefined) => {
      if (whole === '$$') return '$';
      const v = env[varName as string];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      throw new GatehouseError(
        'GH_ERR_CONFIG_ENV_MISSING',
        `${formatPath(path)}: environment variable ${varName} is not set`,
      );
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, [...path, i]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, [...path, k]);
    return out;
  }
  return value;
}

/** Validates an already-parsed object (after env substitution). */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${formatPath(i.path)}: ${i.message}`);
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${source} is not valid:\n${lines.join('\n')}`);
  }
  const config = result.data;
  const seen = new Set<string>();
  for (const [i, c] of config.connections.entries()) {
    if (seen.has(c.name)) {
      throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${source} is not valid:\n  connections[${i}].name: "${c.name}" is used twice`);
    }
    seen.add(c.name);
  }
  return config;
}

export function loadConfigText(text: string, file: string | null, env: Env = process.env): LoadedConfig {
  const source = file ?? 'config';
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', `${source}: YAML syntax error: ${first.message}`);
  }
  const substituted = substituteEnv(doc.toJS(), env);
  const config = parseConfig(substituted, source);
  const baseDir = file ? dirname(resolve(file)) : process.cwd();
  return { config, file: file ? resolve(file) : null, baseDir };
}

export function loadConfigFile(file: string, env: Env = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new GatehouseError('GH_ERR_CONFIG_READ', `cannot read config ${file}: ${reason}`);
  }
  return loadConfigText(text, file, env);
}
