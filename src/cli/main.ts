#!/usr/bin/env node
import { Command, Option } from 'commander';
import { run } from './common.js';

/**
 * The gatehouse CLI: thin commander wiring; each command lives in its own module, loaded only when
 * that command runs (the operator commands then start fast, without the server's dependencies).
 */
const serve = async (o: Parameters<typeof import('./serve.js').serve>[0]) => (await import('./serve.js')).serve(o);
const sessions = async (o: import('./ledger-commands.js').SessionsOptions) => (await import('./ledger-commands.js')).sessions(o);
const search = async (o: import('./ledger-commands.js').SearchOptions) => (await import('./ledger-commands.js')).search(o);
const exportRecords = async (o: Parameters<typeof import('./export.js').exportRecords>[0]) => (await import('./export.js')).exportRecords(o);
const report = async (id: string, o: Parameters<typeof import('./ledger-commands.js').report>[1]) => (await import('./ledger-commands.js')).report(id, o);
const replay = async (id: string | undefined, o: import('./replay.js').ReplayOptions) => (await import('./replay.js')).replay(id, o);
type Integrity = typeof import('./integrity-commands.js');
const verify = async (o: Parameters<Integrity['verify']>[0]) => (await import('./integrity-commands.js')).verify(o);
const keysGenerate = async (o: Parameters<Integrity['keysGenerate']>[0]) => (await import('./integrity-commands.js')).keysGenerate(o);
const evidence = async (id: string, o: Parameters<Integrity['evidence']>[1]) => (await import('./integrity-commands.js')).evidence(id, o);
const verifyEvidence = async (f: string, o: Parameters<Integrity['verifyEvidenceFile']>[1]) => (await import('./integrity-commands.js')).verifyEvidenceFile(f, o);
const token = async (o: Parameters<typeof import('./token.js').token>[0]) => (await import('./token.js')).token(o);
const kubeconfig = async (o: import('./kubeconfig.js').KubeconfigOptions) => (await import('./kubeconfig.js')).kubeconfig(o);
const execCredential = async (o: Parameters<typeof import('./kubeconfig.js').execCredential>[0]) => (await import('./kubeconfig.js')).execCredential(o);
type Approvals = typeof import('./approvals.js');
const approvalsList = async (o: Parameters<Approvals['approvalsList']>[0]) => (await import('./approvals.js')).approvalsList(o);
const approvalsShow = async (id: string, o: Parameters<Approvals['approvalsShow']>[1]) => (await import('./approvals.js')).approvalsShow(id, o);
const approvalsApprove = async (id: string, o: Parameters<Approvals['approvalsApprove']>[1]) => (await import('./approvals.js')).approvalsApprove(id, o);
const approvalsDeny = async (id: string, o: Parameters<Approvals['approvalsDeny']>[1]) => (await import('./approvals.js')).approvalsDeny(id, o);
const approvalsGrants = async (o: Parameters<Approvals['approvalsGrants']>[0]) => (await import('./approvals.js')).approvalsGrants(o);

const program = new Command('gatehouse')
  .description('Gatehouse: an identity-aware, recording gateway for AI agents and CI jobs')
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

const configOption = () => new Option('-c, --config <file>', 'configuration file (default: $GATEHOUSE_CONFIG or ./gatehouse.yaml)');

program
  .command('serve')
  .description('start the gateway listeners; prints one line when ready; SIGTERM drains sessions')
  .addOption(configOption())
  .option('--drain-timeout <seconds>', 'how long SIGTERM waits for busy sessions before ending them', '10')
  .action((o) => run(() => serve(o)));

/** Filters shared by `sessions` and `search`. */
function withFilters(cmd: Command, defaultLimit: string): Command {
  return cmd
    .addOption(configOption())
    .option('--text <query>', 'full-text search over commands: words, "phrases", AND, OR, NOT, prefix*')
    .option('--identity <subject>', 'token subject')
    .option('--group <group>', 'a group the identity held')
    .option('--connection <name>', 'connection name')
    .option('--protocol <protocol>', 'protocol (postgres, ssh)')
    .addOption(new Option('--status <status>', 'session status').choices(['active', 'ok', 'denied', 'error']))
    .option('--ci-job <id>', 'CI job id')
    .option('--token <id>', 'token id (jti) or the token\'s SHA-256')
    .option('--since <time>', 'at or after (ISO time, or a duration back from now: 15m, 2h, 7d)')
    .option('--until <time>', 'before (ISO time or duration)')
    .option('--cursor <cursor>', 'continue from a previous page')
    .option('--limit <n>', 'page size', defaultLimit)
    .option('--json', 'print JSON');
}

withFilters(program.command('sessions').description('list recorded sessions, newest first'), '100').action((o) => run(() => sessions(o)));

withFilters(program.command('search').description('find recorded statements (with their session, identity and time), newest first'), '50')
  .option('--result <outcome>', "the statement's own outcome: ok, error, blocked (by policy or a reviewer), skipped, suspended, interrupted")
  .action((o) =>
  run(() => search(o)),
);

program
  .command('report')
  .description('the full record of one session: identity, every statement, results, errors')
  .argument('<session-id>')
  .addOption(configOption())
  .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'html']).default('text'))
  .option('-o, --out <file>', 'write to a file instead of stdout')
  .action((id: string, o) => run(() => report(id, o)));

program
  .command('replay')
  .description("play an SSH session's terminal recording, after checking it against the digest in the ledger")
  .argument('[session-id]', 'session id, or a unique prefix of one')
  .addOption(configOption())
  .option('--channel <n>', 'the shell on this SSH channel (default: the first shell of the session)')
  .option('--speed <x>', 'playback speed factor', '1')
  .option('--idle-limit <seconds>', 'longest pause between outputs', '2')
  .option('--no-wait', 'write all the output at once (for pipes and tests)')
  .option('--file <cast>', 'play an asciicast file directly (no ledger, not checked)')
  .option('--verify-only', 'check the recording against the ledger, print the result, play nothing')
  .action((id: string | undefined, o) => run(() => replay(id, o)));

program
  .command('verify')
  .description('check the hash chain, the Merkle tree and every signed checkpoint; exit 0 with counts and hashes, 1 naming the first bad record')
  .addOption(configOption())
  .option('--public-key <pem>', 'Ed25519 public key to check checkpoint signatures with (default: derived from the configured signing key)')
  .option('--witness <file>', 'signed checkpoints held outside the gateway (default: ledger.checkpoints.witnessFile)')
  .action((o) => run(() => verify(o)));

program
  .command('evidence')
  .description('write one self-contained evidence bundle for a session (records + inclusion proofs + signed checkpoint)')
  .argument('<session-id>')
  .addOption(configOption())
  .requiredOption('-o, --out <file>', 'where to write the bundle')
  .action((id: string, o) => run(() => evidence(id, o)));

program
  .command('verify-evidence')
  .description('verify an evidence bundle offline with nothing but the public key')
  .argument('<file>')
  .requiredOption('--public-key <pem>', "the gateway's Ed25519 public key")
  .action((f: string, o) => run(() => verifyEvidence(f, o)));

const keys = program.command('keys').description('ledger signing keys');
keys
  .command('generate')
  .description('write a new Ed25519 key pair: ledger-signing.key (private) and ledger-signing.pub (public)')
  .option('--out <dir>', 'directory to write to', '.')
  .option('--force', 'replace existing key files')
  .action((o) => run(() => keysGenerate(o)));

program
  .command('export')
  .description('stream ledger records as JSON lines (for a SIEM); --follow keeps streaming new ones')
  .addOption(configOption())
  .option('--since <time>', 'records at or after (ISO time, or a duration back from now: 15m, 2h, 7d)')
  .addOption(new Option('--format <format>', 'output format').choices(['jsonl']).default('jsonl'))
  .option('--follow', 'keep running and stream new records as they are written')
  .option('--poll-ms <ms>', 'how often --follow looks for new records', '500')
  .option('-o, --out <file>', 'append to a file instead of stdout')
  .action((o) => run(() => exportRecords(o)));

program
  .command('token')
  .description('get an access token (client_credentials) from the configured issuer and print it')
  .addOption(configOption())
  .requiredOption('--client <id>', 'OAuth client id')
  .option('--client-secret <secret>', 'client secret (default: $GATEHOUSE_CLIENT_SECRET, or the dev issuer config)')
  .option('--resource <uri>', 'resource / audience to ask for (default: identity.audience)')
  .action((o) => run(() => token(o)));

program
  .command('kubeconfig')
  .description('print a kubeconfig that points kubectl at a Kubernetes connection through the gateway')
  .addOption(configOption())
  .requiredOption('--connection <name>', 'the kubernetes connection')
  .option('--server <url>', 'the gateway\'s https base URL as agents reach it (default: from listeners.http)')
  .option('--token-env <var>', 'the environment variable kubectl\'s credential plugin reads the OIDC token from', 'GATEHOUSE_TOKEN')
  .option('--token-command <cmd>', 'instead, a shell command that prints the token (e.g. "gatehouse token --client ci-bot")')
  .option('--ca <file>', 'PEM CA bundle to trust for the gateway (default: its certificate when self-issued)')
  .option('--insecure', 'skip TLS verification of the gateway (development only)')
  .option('-n, --namespace <ns>', 'the context\'s default namespace')
  .option('--plugin-command <cmd>', 'the gatehouse command kubectl runs for the token (default: this gatehouse, by absolute path)')
  .action((o) => run(() => kubeconfig(o)));

program
  .command('exec-credential')
  .description('kubectl exec credential plugin: print an ExecCredential with the OIDC token (used by the kubeconfig above)')
  .option('--env <var>', 'read the token from this environment variable', 'GATEHOUSE_TOKEN')
  .option('--command <cmd>', 'run this shell command and use what it prints as the token')
  .action((o) => run(() => execCredential(o)));

const approvalsCmd = program
  .command('approvals')
  .description("review commands held for approval, through the gateway's API with your own OIDC token ($GATEHOUSE_TOKEN)");
/** How every approvals subcommand reaches the API and proves who the reviewer is. */
function withApi(cmd: Command): Command {
  return cmd
    .addOption(configOption())
    .option('--url <url>', 'API base URL (default: approvals.url or listeners.api of --config/$GATEHOUSE_CONFIG, else $GATEHOUSE_API_URL)')
    .option('--token <token>', 'your OIDC access token (default: $GATEHOUSE_TOKEN; prefer the variable, arguments are visible to other users)')
    .option('--insecure', "don't verify the API's TLS certificate (development: listeners.api.tls.selfSigned)")
    .option('--json', 'print JSON');
}
withApi(approvalsCmd.command('list').description('pending requests, oldest first'))
  .option('--all', 'include recently decided requests')
  .action((o) => run(() => approvalsList(o)));
withApi(approvalsCmd.command('show').description('one request: who, where, which rule, the full statement').argument('<id>'))
  .action((id: string, o) => run(() => approvalsShow(id, o)));
withApi(approvalsCmd.command('approve').description('approve a held statement (once, or --for a time-bound grant)').argument('<id>'))
  .option('--reason <text>', 'why (recorded in the ledger)')
  .option('--for <duration>', 'grant: the requester may run statements of the same shape on the same connection for this long (e.g. 30m, max 24h)')
  .action((id: string, o) => run(() => approvalsApprove(id, o)));
withApi(approvalsCmd.command('deny').description('deny a held statement; it is not run').argument('<id>'))
  .option('--reason <text>', 'why (recorded in the ledger, shown to the requester)')
  .action((id: string, o) => run(() => approvalsDeny(id, o)));
withApi(approvalsCmd.command('grants').description('time-bound grants in force'))
  .action((o) => run(() => approvalsGrants(o)));

await program.parseAsync();
