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
  const graceMs = Number(opts.drainTimeout) * 1000;
  // listen for SIGTERM/SIGINT before anything starts: a supervisor may stop the gateway the moment
  // it reads the ready line (or before), and the default action would kill it without draining
  let started = false;
  const stopRequested = new Promise<string>((resolve) => {
    const stop = (signal: string) => {
      // before the gateway is up there is nothing to drain: stop at once, as the default action would
      if (!started) process.exit(signal === 'SIGINT' ? 130 : 143);
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
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
    gw.ssh ? `ssh ${gw.ssh.address.address}:${gw.ssh.address.port} (host key ${gw.ssh.hostKey})` : null,
    gw.http ? `http ${gw.http.tls ? 'https' : 'http'}://${gw.http.address.family === 'IPv6' ? `[${gw.http.address.address}]` : gw.http.address.address}:${gw.http.address.port}` : null,
    gw.api ? `api ${gw.api.url}` : null,
    `ledger ${ledgerLocation(loaded)}`,
  ].filter((p) => p !== null);
  started = true;
  out(`gatehouse ready: ${parts.join(', ')}`);
  if (gw.api && loaded.config.console?.login) process.stderr.write(`web console: ${gw.api.url}/ (log in through ${loaded.config.identity.issuer})\n`);
  const signal = await stopRequested;
  log.info({ signal, graceMs }, 'shutting down: draining sessions');
  await gw.close(graceMs);
  await dev?.close();
  log.info('stopped');
  log.flush();
  return 0;
}
