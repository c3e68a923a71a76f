import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AuditEvent, SessionStartEvent, SshExitEvent } from '../../../src/core/events.js';
import { renderHtml } from '../../../src/report/render-html.js';
import { renderText } from '../../../src/report/render-text.js';
import { buildSessionReport } from '../../../src/report/session-report.js';
import { client, identity, records, stream, summary, T0 } from './helpers.js';

const HOST_KEY = 'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8';
const start: SessionStartEvent = {
  type: 'session.start', protocol: 'ssh', connection: 'web-1', identity, authorizedBy: 'ci-agents',
  client: { ...client, user: null, application: 'OpenSSH_9.6' },
  upstream: { host: 'web-1.internal', port: 22, database: null, user: 'deploy', tls: true, hostKey: HOST_KEY }, parameters: {},
};
const actor = { subject: 'ci-agent', groups: ['ci-agents'], tokenId: 'jti-123', ciJob: '4711' };
const empty = stream('');
function exit(commandSeq: number, channel: number, over: Partial<SshExitEvent> = {}): SshExitEvent {
  return {
    type: 'ssh.exit', channel, commandSeq, status: 'ok', exitCode: 0, signal: null, stdout: empty, stderr: empty, stdinBytes: 0, durationUs: 12_345, ...over,
  };
}
const thirty = Array.from({ length: 30 }, (_, i) => `line ${String(i + 1).padStart(2, '0')}`).join('\n') + '\n'; // 8 bytes a line

const events: AuditEvent[] = [
  start, // 10
  { type: 'ssh.exec', channel: 0, command: 'uname -a', pty: false, env: {} }, // 11
  exit(11, 0, { stdout: stream('Linux web-1 6.1.0\n') }),
  { type: 'ssh.exec', channel: 1, command: 'cat /nope', pty: false, env: { LANG: 'C' } }, // 13
  exit(13, 1, { status: 'error', exitCode: 1, stderr: stream('cat: /nope: No such file or directory\n'), durationUs: 4_100 }),
  { type: 'ssh.exec', channel: 2, command: 'rm -rf /srv', pty: false, env: {}, decision: { action: 'block', policy: 'no-rm', reason: 'recursive delete' } }, // 15
  exit(15, 2, { status: 'blocked', exitCode: null, durationUs: 300 }),
  { type: 'ssh.exec', channel: 3, command: 'systemctl restart app', pty: true, env: {}, decision: { action: 'review', policy: 'restarts', reason: 'restarts need a reviewer', approvalId: 'apr-1' } }, // 17
  {
    type: 'approval.requested', approvalId: 'apr-1', statementSeq: 17, protocol: 'ssh', connection: 'web-1', requester: actor, policy: 'restarts',
    reason: 'restarts need a reviewer', text: 'systemctl restart app', shape: 'systemctl restart app', reviewers: ['ops'], expiresAt: T0 + 600_000_000,
  },
  { type: 'approval.decided', approvalId: 'apr-1', decision: 'approved', by: 'reviewer', reviewer: { ...actor, subject: 'alice' }, reason: null, scope: { kind: 'once' }, waitedUs: 5_000_000 },
  exit(17, 3, { stdout: stream(thirty, { bytes: 10_000, truncated: true, sha256: '77'.repeat(32) }), stdinBytes: 12, masked: { rules: ['email'], lines: 2 } }), // 20
  { type: 'ssh.shell', channel: 4, pty: { term: 'xterm-256color', cols: 120, rows: 40 }, recording: 's-ssh-4.cast' }, // 21
  { type: 'ssh.command', channel: 4, shellSeq: 21, command: 'ls -la', source: 'keystrokes', bestEffort: true },
  { type: 'ssh.command', channel: 4, shellSeq: 21, command: 'cat /etc/hostname', source: 'keystrokes', bestEffort: true },
  { type: 'ssh.recording', channel: 4, shellSeq: 21, file: 's-ssh-4.cast', bytes: 4096, sha256: '99'.repeat(32), events: 42, durationUs: 61_500_000 },
  exit(21, 4, { stdout: stream('\x1b[1;32m$\x1b[0m ls -la\r\ntotal 0\r\n'), stdinBytes: 25, durationUs: 61_600_000 }), // 25
  { type: 'ssh.sftp', channel: 5, op: 'open', path: '/srv/data.csv', flags: ['read', 'write'] },
  { type: 'ssh.sftp', channel: 5, op: 'close', path: '/srv/data.csv', bytesRead: 100, bytesWritten: 2048 },
  { type: 'ssh.sftp', channel: 5, op: 'rename', path: '/srv/a.txt', target: '/srv/b.txt' },
  { type: 'ssh.refused', what: 'port-forward', detail: 'local forwarding to 10.1.2.3:5432 is not offered through the gateway' }, // 29
  { type: 'session.end', status: 'ok', reason: 'client disconnected', statements: 8, errors: 1, durationUs: 70_000_000 },
];
const ssh = (over = {}) => summary({ id: 's-ssh', protocol: 'ssh', connection: 'web-1', clientUser: null, clientApplication: 'OpenSSH_9.6', statements: 8, errors: 1, ...over });
const rep = buildSessionReport(ssh({ reason: 'client disconnected' }), records('s-ssh', events));
const text = renderText(rep);
const html = renderHtml(rep, { generatedAtUs: T0 });

describe('SSH session report model', () => {
  it('folds exits into their exec or shell, typed commands and the recording into the shell', () => {
    expect(rep.events.map((e) => [e.seq, e.type])).toEqual([
      [10, 'session.start'], [11, 'ssh.exec'], [13, 'ssh.exec'], [15, 'ssh.exec'], [17, 'ssh.exec'], [18, 'approval.requested'],
      [19, 'approval.decided'], [21, 'ssh.shell'], [26, 'ssh.sftp'], [27, 'ssh.sftp'], [28, 'ssh.sftp'], [29, 'ssh.refused'], [30, 'session.end'],
    ]);
    expect(rep.events[1]).toMatchObject({ command: 'uname -a', channel: 0, pty: false, exit: { status: 'ok', exitCode: 0, stdout: { sample: 'Linux web-1 6.1.0\n' } } });
    expect(rep.events[3]).toMatchObject({ decision: { action: 'block', policy: 'no-rm' }, exit: { status: 'blocked' } });
    expect(rep.events[7]!.shell).toEqual({
      pty: { term: 'xterm-256color', cols: 120, rows: 40 }, recording: 's-ssh-4.cast',
      typed: [{ seq: 22, time: '2026-11-18T11:06:40.141456Z', command: 'ls -la' }, { seq: 23, time: '2026-11-18T11:06:40.142956Z', command: 'cat /etc/hostname' }],
      recorded: { file: 's-ssh-4.cast', bytes: 4096, sha256: '99'.repeat(32), events: 42, durationUs: 61_500_000 },
    });
    expect(rep.events[8]).toMatchObject({ sftp: { op: 'open', path: '/srv/data.csv', flags: ['read', 'write'] } });
    expect(rep.events[11]).toMatchObject({ refused: { what: 'port-forward' } });
    expect(rep.session.upstream).toMatchObject({ database: null, hostKey: HOST_KEY });
  });

  it('lists an exit, a typed command or a recording whose owner is not among the records on its own', () => {
    const orphans = [events[2]!, events[12]!, events[14]!];
    expect(orphans.map((e) => e.type)).toEqual(['ssh.exit', 'ssh.command', 'ssh.recording']);
    const r = buildSessionReport(ssh(), records('s-ssh', orphans, 50));
    expect(r.events.map((e) => [e.type, e.statementSeq])).toEqual([['ssh.exit', 11], ['ssh.command', 21], ['ssh.recording', 21]]);
    const t = renderText(r);
    expect(t).toContain("#50  2026-11-18T11:06:40.123456Z  ssh.exit  exit of command #11 (command not in this session's records): exit 0, 12.3 ms");
    expect(t).toContain("ssh.command  typed into shell #21 (shell not in this session's records): ls -la  (typed, best effort)");
    expect(t).toContain(`recording s-ssh-4.cast, 4096 bytes, sha256 ${'99'.repeat(32)}`);
  });

  it('keeps the place of a pruned exec; its exit is then listed on its own', () => {
    const recs = records('s-ssh', [start, events[1]!, events[2]!]);
    recs[1] = { ...recs[1]!, event: { pruned: true } as unknown as AuditEvent };
    const r = buildSessionReport(ssh(), recs);
    expect(r.events.map((e) => [e.seq, e.type, e.pruned ?? false])).toEqual([[10, 'session.start', false], [11, 'ssh.exec', true], [12, 'ssh.exit', false]]);
    expect(renderText(r)).toContain('#11  2026-11-18T11:06:40.124956Z  ssh.exec  (payload removed by retention)');
    expect(renderHtml(r)).toContain('<td colspan="3" class="muted">ssh.exec: payload removed by retention</td>');
  });
});

describe('SSH session report, text', () => {
  it('shows the upstream with its host key and counts commands', () => {
    expect(text).toContain(`  upstream       deploy@web-1.internal:22 (host key ${HOST_KEY})\n`);
    expect(text).not.toContain('null');
    expect(text).toContain('  commands       8, errors 1\n');
    expect(text).toContain('  address        10.0.0.7:51234 (ssh)\n');
    expect(text).toContain('session.end  ok: client disconnected (8 commands, 1 errors, 70000 ms)');
  });

  it('shows an exec with its exit and output', () => {
    expect(text).toContain([
      '#11  2026-11-18T11:06:40.124956Z  uname -a',
      '        → exit 0, 12.3 ms; stdout 18 bytes, stderr 0 bytes, stdin 0 bytes',
      '          stdout (18 bytes):',
      '          | Linux web-1 6.1.0',
      '#13',
    ].join('\n'));
  });

  it('shows a failed exec with its stderr', () => {
    expect(text).toContain([
      '#13  2026-11-18T11:06:40.127956Z  cat /nope',
      '        env LANG=C',
      '        → ERROR exit 1, 4.1 ms; stdout 0 bytes, stderr 38 bytes, stdin 0 bytes',
      '          stderr (38 bytes):',
      '          | cat: /nope: No such file or directory',
    ].join('\n'));
  });

  it('shows a blocked exec plainly, with its policy and reason', () => {
    expect(text).toContain([
      '#15  2026-11-18T11:06:40.130956Z  rm -rf /srv',
      '        policy: block by "no-rm" (recursive delete)',
      '        → BLOCKED by policy "no-rm": recursive delete; not run',
      '#17',
    ].join('\n'));
  });

  it('shows an exec held for approval, the approval, and its capped output', () => {
    expect(text).toContain([
      '#17  2026-11-18T11:06:40.133956Z  systemctl restart app',
      '        policy: review by "restarts" (restarts need a reviewer), approval apr-1',
      '        with a pty',
      '        → exit 0, 12.3 ms; stdout 10000 bytes, stderr 0 bytes, stdin 12 bytes',
      '          masked by email: 2 lines changed',
      '          stdout (10000 bytes):',
      '          | line 01',
    ].join('\n'));
    expect(text).toContain('          | line 20\n');
    expect(text).not.toContain('line 21');
    expect(text).toContain(`          … ${10_000 - 20 * 8} more bytes, sha256 ${'77'.repeat(32)}\n`);
    expect(text).toContain('approval.requested  apr-1 for command #17: policy restarts (restarts need a reviewer); reviewers ops');
    expect(text).toContain('approval.decided  apr-1 approved by alice; once; waited 5000 ms');
  });

  it('shows a shell with its typed commands, its recording and how to replay it', () => {
    expect(text).toContain([
      '#21  2026-11-18T11:06:40.139956Z  interactive shell (pty xterm-256color 120x40)',
      '        #22  2026-11-18T11:06:40.141456Z  ls -la  (typed, best effort)',
      '        #23  2026-11-18T11:06:40.142956Z  cat /etc/hostname  (typed, best effort)',
      '        → exit 0, 61.6 s; stdout 30 bytes, stderr 0 bytes, stdin 25 bytes',
      '          stdout (30 bytes):',
      '          | $ ls -la',
      '          | total 0',
      `        recording s-ssh-4.cast, 4096 bytes, sha256 ${'99'.repeat(32)}, 42 events, 61.5 s`,
      '        replay: gatehouse replay s-ssh --channel 4',
    ].join('\n'));
  });

  it('says when a shell recording was never finished', () => {
    const r = buildSessionReport(ssh(), records('s-ssh', [
      start, // 10
      { type: 'ssh.shell', channel: 4, pty: { term: 'xterm-256color', cols: 120, rows: 40 }, recording: 's-ssh-4.cast' }, // 11
      { type: 'ssh.command', channel: 4, shellSeq: 11, command: 'top', source: 'keystrokes', bestEffort: true },
    ]));
    const t = renderText(r);
    expect(t).toContain('interactive shell (pty xterm-256color 120x40)\n        #12  2026-11-18T11:06:40.126456Z  top  (typed, best effort)\n');
    expect(t).toContain('→ (no exit recorded)');
    expect(t).toContain('recording s-ssh-4.cast was not finished');
    expect(t).not.toContain('gatehouse replay');
  });

  it('shows file operations and refusals one line each', () => {
    expect(text).toContain('#26  2026-11-18T11:06:40.147456Z  sftp open /srv/data.csv (read,write)\n');
    expect(text).toContain('#27  2026-11-18T11:06:40.148956Z  sftp close /srv/data.csv: read 100 bytes, wrote 2048 bytes\n');
    expect(text).toContain('#28  2026-11-18T11:06:40.150456Z  sftp rename /srv/a.txt -> /srv/b.txt\n');
    expect(text).toContain('#29  2026-11-18T11:06:40.151956Z  refused: port-forward — local forwarding to 10.1.2.3:5432 is not offered through the gateway\n');
  });
});

describe('SSH session report, HTML', () => {
  it('has the upstream, the host key and a commands table', () => {
    expect(html).toContain(`<tr><th>Upstream</th><td>deploy@web-1.internal:22 (host key ${HOST_KEY})</td></tr>`);
    expect(html).toContain('<tr><th>Commands</th><td>8</td></tr>');
    expect(html).not.toContain('Startup parameters');
    expect(html).not.toContain('null');
    expect(html).toContain('<h2>Commands (8)</h2>');
    expect(html).toContain('<th>Result</th><th>Output</th>');
  });

  it('shows exec results, errors, blocks and approvals', () => {
    expect(html).toContain('<td><pre>uname -a</pre></td><td><div>exit 0, 12.3 ms</div>');
    expect(html).toContain('<pre class="stream">Linux web-1 6.1.0</pre>');
    expect(html).toContain('<tr class="err"><td>13</td>');
    expect(html).toContain('<div class="error">ERROR exit 1, 4.1 ms</div>');
    expect(html).toContain('<pre class="stream stderr">cat: /nope: No such file or directory</pre>');
    expect(html).toContain('<div class="error">policy: block by "no-rm" (recursive delete)</div>');
    expect(html).toContain('<div class="error">BLOCKED by policy &quot;no-rm&quot;: recursive delete; not run</div>');
    expect(html).toContain('<div class="error">policy: review by "restarts" (restarts need a reviewer), approval apr-1</div>');
    expect(html).toContain(`… ${10_000 - 30 * 8} more bytes, sha256 ${'77'.repeat(32)}`);
    expect(html).toContain('line 30');
    expect(html).toContain('apr-1 for command #17');
    expect(html).toContain('<div class="muted">masked by email: 2 lines changed</div>');
  });

  it('shows the shell, its typed commands and a replay element for its recording', () => {
    expect(html).toContain('<pre>interactive shell (pty xterm-256color 120x40)</pre><ul class="typed"><li><span class="muted">#22 2026-11-18T11:06:40.141456Z</span> <code>ls -la</code> <span class="muted">(typed, best effort)</span></li>');
    expect(html).toContain('<span class="link" role="link" data-recording="s-ssh-4.cast" data-channel="4">replay recording</span> <code>gatehouse replay s-ssh --channel 4</code>');
    expect(html).toContain(`recording s-ssh-4.cast, 4096 bytes, sha256 ${'99'.repeat(32)}, 42 events, 61.5 s`);
  });

  it('shows file operations and refusals', () => {
    expect(html).toContain('<pre>sftp open /srv/data.csv (read,write)</pre>');
    expect(html).toContain('<pre>sftp close /srv/data.csv: read 100 bytes, wrote 2048 bytes</pre>');
    expect(html).toContain('<pre>sftp rename /srv/a.txt -&gt; /srv/b.txt</pre>');
    expect(html).toContain('<tr class="err"><td>29</td><td>2026-11-18T11:06:40.151956Z</td><td>ssh.refused</td><td><pre>refused: port-forward — local forwarding to 10.1.2.3:5432 is not offered through the gateway</pre></td></tr>');
  });
});

describe('recorded text cannot drive the terminal or the page', () => {
  const hostile: AuditEvent[] = [
    { ...start, identity: { ...identity, subject: 'x\x1b[0m' } },
    { type: 'ssh.exec', channel: 0, command: 'echo \x1b]0;pwned\x07hi\x1b[2J \u202eevil', pty: false, env: { X: '\x1b[31m' } }, // 11
    exit(11, 0, {
      stdout: stream('</script><script>alert(1)</script>\n\x1b[31mred\x1b[0m\x07\x00 \x9b6n \rover\ttab\n'),
      stderr: stream('\x1bP1$r\x1b\\<img src=x onerror=alert(1)>\n'),
    }),
    { type: 'ssh.sftp', channel: 1, op: 'open', path: '/tmp/\x1b[8mhidden', flags: ['read'] },
    { type: 'ssh.refused', what: 'subsystem', detail: 'no \x1b]52;c;Y2xpcA==\x07 clipboard' },
    { type: 'ssh.shell', channel: 2, pty: null, recording: 's-2.cast' }, // 15
    { type: 'ssh.command', channel: 2, shellSeq: 15, command: 'ls\x08\x08rm -rf /', source: 'keystrokes', bestEffort: true },
  ];
  const r = buildSessionReport(summary({ id: 's-x', protocol: 'ssh' }), records('s-x', hostile));
  const t = renderText(r);
  const h = renderHtml(r, { generatedAtUs: T0 });
  if (process.env.DUMP) { writeFileSync('/tmp/x.txt', t); writeFileSync('/tmp/x.html', h); }
  const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

  it('text: no control character but newline and tab; escapes stay visible', () => {
    expect(t).not.toMatch(CONTROL);
    expect(t).toContain('echo \\x1b]0;pwned\\x07hi\\x1b[2J \\u{202e}evil');
    expect(t).toContain('env X=\\x1b[31m');
    // colour codes and the one-byte CSI removed from output, a lone CR a new line, the rest escaped
    expect(t).toContain('          | red\\x07\\x00\n          | over\ttab\n');
    expect(t).toContain('          | </script><script>alert(1)</script>\n');
    expect(t).toContain('          | <img src=x onerror=alert(1)>\n');
    expect(t).toContain('sftp open /tmp/\\x1b[8mhidden (read)');
    expect(t).toContain('refused: subsystem — no \\x1b]52;c;Y2xpcA==\\x07 clipboard');
    expect(t).toContain('ls\\x08\\x08rm -rf /  (typed, best effort)');
    expect(t).toContain('interactive shell (no pty)');
    expect(t).toContain('subject        x\\x1b[0m');
  });

  it('HTML: escaped, and no control character either', () => {
    expect(h).not.toMatch(CONTROL);
    expect(h).not.toMatch(/<script/i);
    expect(h).not.toContain('<img');
    expect(h).toContain('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(h).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(h).toContain('echo \\x1b]0;pwned\\x07hi\\x1b[2J \\u{202e}evil');
    expect(h).toContain('red\\x07\\x00  \nover\ttab');
  });
});
