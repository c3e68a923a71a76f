import { ledgerLocation } from '../ledger/open.js';
import { createLogger } from '../core/log.js';
import { startDevEnvironment } from '../dev/dev-env.js';
import { startGateway } from '../server.js';
import { loadConfig, out } from './common.js';

/**
 * `gatehouse serve`: starts the dev components (if the config has a `dev` section), then the
 * gateway; prints one line to stdout when ready; SIGTERM/SIGINT drain sessions and exit 0.
 */
export async function serve(opts: { config?: string; drainTimeout: string }): Promise<number> {
  const loaded = loadConfig(opts.config);
  const log = createLogger({ level: loaded.config.log.level });
  const dev = loaded.config.dev ? await startDevEnvironment(loaded, log) : null;
  for (const line of dev?.describe() ?? []) process.stderr.write(`${line}\n`);
  let gw;
  try {
    gw = await startGateway(loaded, log);
  } catch (e) {
    await dev?.close();
    throw e;
  }
  const pg = gw.postgres;
  const parts = [
    pg ? `postgres ${pg.address.address}:${pg.address.port} (tls ${pg.tls ? 'offered' : 'off'})` : null,
    gw.api ? `api ${gw.api.url}` : null,
    `ledger ${ledgerLocation(loaded)}`,
  ].filter((p) => p !== null);
  out(`gatehouse ready: ${parts.join(', ')}`);
  const graceMs = Number(opts.drainTimeout) * 1000;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal, graceMs }, 'shutting down: draining sessions');
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await gw.close(graceMs);
  await dev?.close();
  log.info('stopped');
  log.flush();
  return 0;
}
