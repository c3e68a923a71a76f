import { describe, expect, it } from 'vitest';
import { TypedCommands } from '../../../src/protocols/ssh/typed-commands.js';

/** One step of a terminal conversation: keystrokes from the client, or output (the echo) from the server. */
type Step = { in: string } | { out: string };

const PROMPT = '\x1b]0;agent@web1: ~\x07\x1b[01;32magent@web1\x1b[00m:\x1b[01;34m~\x1b[00m$ ';

/** Runs the steps; `split` feeds step `step` as two chunks cut at byte `at`. */
function run(steps: Step[], split?: { step: number; at: number }, opts?: { maxLineBytes?: number }): string[] {
  const t = new TypedCommands(opts);
  const lines: string[] = [];
  steps.forEach((s, i) => {
    const bytes = Buffer.from('in' in s ? s.in : s.out, 'utf8');
    const chunks = split?.step === i ? [bytes.subarray(0, split.at), bytes.subarray(split.at)] : [bytes];
    for (const c of chunks) {
      if ('in' in s) lines.push(...t.input(c));
      else t.output(c);
    }
  });
  return lines;
}

/** The steps give `expected` fed whole, and with every step split at every byte offset. */
function expectLines(steps: Step[], expected: string[], opts?: { maxLineBytes?: number }): void {
  expect(run(steps, undefined, opts)).toEqual(expected);
  steps.forEach((s, step) => {
    const n = Buffer.byteLength('in' in s ? s.in : s.out);
    for (let at = 0; at <= n; at++) expect(run(steps, { step, at }, opts), `step ${step} split at ${at}`).toEqual(expected);
  });
}

/** Keystrokes typed one chunk per key, each echoed by the shell (as a pty with echo does). */
function typed(text: string): Step[] {
  return [...text].flatMap((ch) => [{ in: ch }, { out: ch }]);
}

describe('TypedCommands: lines from keystrokes', () => {
  it('plain lines, CR or LF, several in one chunk; empty lines skipped; UTF-8 kept whole', () => {
    expectLines([{ in: 'ls -la\r' }, { in: '\r  \r' }, { in: 'echo héllo 😀\nuptime\r' }], ['ls -la', 'echo héllo 😀', 'uptime']);
  });

  it('edits: backspace, Ctrl-H, Ctrl-U, Ctrl-W, Ctrl-K, Delete, left-arrow insert, Home/End', () => {
    expectLines([{ in: 'lss\x7f -l\x08a\r' }], ['ls -a']);
    expectLines([{ in: 'rm -rf /\x15echo safe\r' }], ['echo safe']);
    expectLines([{ in: 'git commit  --amend\x17\x17push\r' }], ['git push']);
    expectLines([{ in: `cat /etc/passwd${'\x1b[D'.repeat(6)}host${'\x1b[3~'.repeat(6)}\r` }], ['cat /etc/host']);
    expectLines([{ in: 'world\x1b[Hhello \x1b[F!\r' }], ['hello world!']);
    expectLines([{ in: 'world\x1bOHhello \x1bOF!\r' }], ['hello world!']);
    expectLines([{ in: 'echo one two\x01\x06\x06\x06\x06\x0b\x05 ok\r' }], ['echo ok']);
    expectLines([{ in: 'ab\x1b[Dé\x1b[C\x1b[C\x1b[Cc\r' }], ['aébc']);
  });

  it('Ctrl-C discards the line; Ctrl-D on an empty line is ignored, inside one deletes at the cursor', () => {
    expectLines([{ in: 'rm -rf /tmp/x\x03' }, { in: 'ls\r' }], ['ls']);
    expectLines([{ in: '\x04' }, { in: 'abc\x1b[D\x1b[D\x04\r' }], ['ac']);
  });

  it('bracketed paste: markers dropped, text inserted, newlines inside complete lines', () => {
    expectLines([{ in: 'echo \x1b[200~pasted\ttext\x1b[201~!\r' }], ['echo pasted\ttext!']);
    expectLines([{ in: '\x1b[200~make build\nmake test\x1b[201~\r' }], ['make build', 'make test']);
  });

  it('caps a line at maxLineBytes and keeps going', () => {
    expectLines([{ in: `echo ${'x'.repeat(20)}\r` }, { in: 'ls\r' }], ['echo xxxxxxx', 'ls'], { maxLineBytes: 12 });
    expect(run([{ in: `${'é'.repeat(10)}\r` }], undefined, { maxLineBytes: 5 })).toEqual(['éé']);
  });
});

describe('TypedCommands: lines only the echo shows', () => {
  it('Up arrow history on an empty line: bash writes the recalled line after the prompt', () => {
    expectLines([{ out: PROMPT }, { in: '\x1b[A' }, { out: 'ls -la' }, { in: '\r' }, { out: '\r\n' }], ['ls -la']);
    expectLines([{ out: PROMPT }, { in: '\x1bOA' }, { out: 'ls -la' }, { in: '\r' }], ['ls -la']);
  });

  it('Up arrow over a typed line: readline backs up with BS, rewrites and clears to the end of the line', () => {
    const steps: Step[] = [
      { out: `uptime\r\n 10:00:00 up 1 day\r\n\x1b[01;34mdocs\x1b[0m  caf\u00e9\r\n\x1b]0;t\x07half\r\n${PROMPT}` },
      ...typed('whoami'),
      { in: '\x1b[A' },
      { out: '\b\b\b\b\b\bdf -h\x1b[K' },
      { in: '\x1b[A' },
      { out: '\b\b\b\b\bcat /etc/os-release' },
      { in: '\x7f'.repeat(10) },
      { out: '\b \b'.repeat(10) },
      ...typed('hostname'),
      { in: '\r' },
      { out: '\r\nweb1\r\n' },
    ];
    expectLines(steps, ['cat /etc/hostname']);
  });

  it('Tab completion: the completed text comes from the echo, then typing goes on', () => {
    const steps: Step[] = [{ out: PROMPT }, ...typed('cat /etc/hostn'), { in: '\t' }, { out: 'ame ' }, ...typed('| wc'), { in: '\r' }];
    expectLines(steps, ['cat /etc/hostname | wc']);
  });

  it('Tab with several candidates: bash lists them and redraws prompt and line', () => {
    const steps: Step[] = [{ out: PROMPT }, ...typed('ls /etc/pa'), { in: '\t\t' }, { out: '\x07\r\npam.conf  pam.d/  passwd\r\n' + PROMPT + 'ls /etc/pa' }, ...typed('sswd'), { in: '\r' }];
    expectLines(steps, ['ls /etc/passwd']);
  });

  it('Ctrl-R search: the match shown by the search prompt is the command', () => {
    const steps: Step[] = [
      { out: PROMPT },
      { in: '\x12' },
      { out: "\r\n\x1b[A\x1b[K(reverse-i-search)`': " },
      { in: 'syst' },
      { out: "\r(reverse-i-search)`syst': systemctl status nginx\x1b[K" },
      { in: '\r' },
    ];
    expectLines(steps, ['systemctl status nginx']);
  });

  it('Ctrl-C after a history recall discards it; the next line starts from the input again', () => {
    expectLines([{ out: PROMPT }, { in: '\x1b[A' }, { out: 'reboot' }, { in: '\x03' }, { out: '^C\r\n' + PROMPT }, { in: 'id\r' }], ['id']);
  });
});
