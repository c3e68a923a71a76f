import { StringDecoder } from 'node:string_decoder';

/**
 * Command lines typed into an interactive shell, recovered best effort from the keystrokes.
 *
 * The input is run through a small emacs-mode readline emulation: printable characters insert at
 * the cursor; Backspace / Ctrl-H, Delete (ESC[3~) / Ctrl-D, Ctrl-U, Ctrl-K, Ctrl-W, Left / Right /
 * Home / End (CSI, SS3 and Ctrl-A/E/B/F) edit it; Enter (CR or LF) completes it; Ctrl-C discards
 * it; bracketed paste markers are dropped and the pasted text inserted (a newline in it completes
 * a line, as the shell will run it). When the line was changed by something the keystrokes alone
 * cannot tell (Up/Down and Ctrl-P/N history, Tab completion, Ctrl-R search, Ctrl-Y yank, Alt-
 * keys, other control keys), the line is taken from the server's echo instead: the text of the
 * terminal's current line after the prompt, the prompt being what that line held when the first
 * keystroke of the command arrived.
 *
 * Limits (why these records say bestEffort, and why the terminal recording is the evidence):
 * - full-screen programs (vim, less, top), and programs reading their own input (a REPL, a
 *   password prompt: the typed password is not echoed, but it is a "line" here), produce lines
 *   that are not shell commands;
 * - vi editing mode, multi-line commands, here-documents and custom key bindings are not modelled;
 * - echo-derived lines need the echo to have arrived before Enter: keys sent in one burst with
 *   Enter after a Tab or Up arrow lose what was not echoed yet; a line that wraps and is redrawn
 *   with vertical cursor moves, and wide (CJK) characters, confuse the echo tracking;
 * - what the shell runs can differ (aliases, functions, `eval`, scripts fed on stdin).
 */

export interface TypedCommandsOptions {
  /** longest line kept, in UTF-8 bytes (longer lines are truncated; default 4096) */
  maxLineBytes?: number;
}

type EscState = 'ground' | 'esc' | 'csi' | 'ss3';

export class TypedCommands {
  private readonly max: number;
  private readonly decoder = new StringDecoder('utf8');
  private readonly echo: EchoLine;
  /** the line being edited, one code point per entry */
  private line: string[] = [];
  private lineBytes = 0;
  private cursor = 0;
  /** the line was changed in a way only the echo shows */
  private fromEcho = false;
  /** the echo line's cells before the first keystroke of this line (null: no keystroke yet) */
  private prompt: string[] | null = null;
  private esc: EscState = 'ground';
  private params = '';
  private paste = false;
  private done: string[] = [];

  constructor(opts: TypedCommandsOptions = {}) {
    this.max = opts.maxLineBytes ?? 4096;
    if (!Number.isInteger(this.max) || this.max < 1) throw new TypeError(`maxLineBytes must be a positive integer (got ${opts.maxLineBytes})`);
    this.echo = new EchoLine(this.max + 1024);
  }

  /** Feeds client->server keystroke bytes; returns the command lines completed by this chunk. */
  input(data: Buffer): string[] {
    for (const ch of this.decoder.write(data)) this.key(ch);
    const done = this.done;
    this.done = [];
    return done;
  }

  /** Feeds server->client output (the echo): used for lines changed by history or completion. */
  output(data: Buffer): void {
    this.echo.write(data);
  }

  private key(ch: string): void {
    if (this.esc !== 'ground') return this.escape(ch);
    if (this.prompt === null) this.prompt = this.echo.beforeCursor();
    const c = ch.codePointAt(0)!;
    if (this.paste) {
      if (ch === '\x1b') this.esc = 'esc';
      else if (ch === '\r' || ch === '\n') this.enter();
      else if (c >= 0x20 || ch === '\t') this.insert(ch);
      return;
    }
    if (c >= 0x20 && c !== 0x7f) return this.insert(ch);
    switch (ch) {
      case '\r':
      case '\n':
        return this.enter();
      case '\x7f':
      case '\b':
        return this.deleteBefore(1);
      case '\x1b':
        this.esc = 'esc';
        return;
      case '\x03': // Ctrl-C
        return this.reset();
      case '\x04': // Ctrl-D: EOF on an empty line, else delete at the cursor
        if (this.line.length === 0 && !this.fromEcho) return this.reset();
        return this.deleteAt(1);
      case '\x15': // Ctrl-U
        return this.deleteBefore(this.cursor);
      case '\x0b': // Ctrl-K
        return this.deleteAt(this.line.length - this.cursor);
      case '\x17': // Ctrl-W: the whitespace-delimited word before the cursor
        return this.deleteBefore(this.wordBefore());
      case '\x01': // Ctrl-A
        this.cursor = 0;
        return;
      case '\x05': // Ctrl-E
        this.cursor = this.line.length;
        return;
      case '\x02': // Ctrl-B
        return this.move(-1);
      case '\x06': // Ctrl-F
        return this.move(1);
      case '\x0c': // Ctrl-L redraws; the line is unchanged
        return;
      default: // Tab, Ctrl-R, Ctrl-P/N, Ctrl-Y, Ctrl-T, ...: only the echo knows
        this.fromEcho = true;
    }
  }

  private escape(ch: string): void {
    const c = ch.codePointAt(0)!;
    if (this.esc === 'esc') {
      if (ch === '[') {
        this.esc = 'csi';
        this.params = '';
      } else if (ch === 'O') this.esc = 'ss3';
      else {
        this.esc = 'ground';
        if (!this.paste) this.fromEcho = true; // Alt-<key>: word moves, yank-last-arg, ...
      }
      return;
    }
    if (this.esc === 'csi' && c >= 0x20 && c <= 0x3f) {
      if (this.params.length < 16) this.params += ch;
      return;
    }
    const csi = this.esc === 'csi';
    this.esc = 'ground';
    if (csi && ch === '~' && (this.params === '200' || this.params === '201')) {
      this.paste = this.params === '200';
      return;
    }
    if (this.paste) return;
    const p = csi ? this.params : '';
    if (p.includes(';')) {
      // a modified key (Ctrl-Left is a word move): let the echo tell
      this.fromEcho = true;
      return;
    }
    switch (`${p}${ch}`) {
      case 'C':
        return this.move(1);
      case 'D':
        return this.move(-1);
      case 'H':
      case '1~':
      case '7~':
        this.cursor = 0;
        return;
      case 'F':
      case '4~':
      case '8~':
        this.cursor = this.line.length;
        return;
      case '3~':
        return this.deleteAt(1);
      case 'A':
      case 'B':
      case '5~':
      case '6~':
      case '2~': // history, and Insert (overwrite mode)
        this.fromEcho = true;
        return;
      default: // function keys, focus reports: no change to the line
    }
  }

  private insert(ch: string): void {
    const n = Buffer.byteLength(ch);
    if (this.lineBytes + n > this.max) return;
    this.line.splice(this.cursor, 0, ch);
    this.lineBytes += n;
    this.cursor++;
  }

  private deleteBefore(count: number): void {
    const n = Math.min(count, this.cursor);
    if (n <= 0) return;
    this.cursor -= n;
    this.remove(this.cursor, n);
  }

  private deleteAt(count: number): void {
    this.remove(this.cursor, Math.min(count, this.line.length - this.cursor));
  }

  private remove(at: number, n: number): void {
    if (n <= 0) return;
    for (const ch of this.line.splice(at, n)) this.lineBytes -= Buffer.byteLength(ch);
  }

  private move(d: number): void {
    this.cursor = Math.max(0, Math.min(this.line.length, this.cursor + d));
  }

  private wordBefore(): number {
    let i = this.cursor;
    while (i > 0 && /\s/.test(this.line[i - 1]!)) i--;
    while (i > 0 && !/\s/.test(this.line[i - 1]!)) i--;
    return this.cursor - i;
  }

  private enter(): void {
    const text = this.fromEcho ? this.echo.commandAfter(this.prompt ?? []) : this.line.join('');
    if (text.trim() !== '') this.done.push(truncate(text, this.max));
    this.reset();
  }

  private reset(): void {
    this.line = [];
    this.lineBytes = 0;
    this.cursor = 0;
    this.fromEcho = false;
    this.prompt = null;
  }
}

function truncate(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    bytes += Buffer.byteLength(ch);
    if (bytes > maxBytes) break;
    out += ch;
  }
  return out;
}

/** a line of text and CSI sequences (colours, cursor moves) ended by a newline: nothing of it stays on the current line */
const PLAIN_LINE = /^(?:[^\x00-\x1f\x7f-\x9f]|\x1b\[[\x20-\x3f]*[\x40-\x7e])*\r?\n$/;

type OutState = 'ground' | 'esc' | 'esc-int' | 'csi' | 'osc' | 'osc-esc';

/**
 * The terminal's current line as the server's output draws it: printable characters overwrite at
 * the cursor; CR, BS, TAB, erase-in-line/display, cursor left/right/column, delete/insert/erase
 * characters are applied; LF, vertical moves and cursor positioning start a new (empty) line; other
 * escape sequences (colours, modes, OSC titles, DCS strings) are skipped. One line, no width.
 */
class EchoLine {
  private readonly decoder = new StringDecoder('utf8');
  private cells: string[] = [];
  private cursor = 0;
  private state: OutState = 'ground';
  private params = '';

  constructor(private readonly maxCells: number) {}

  write(data: Buffer): void {
    const s = this.decoder.write(data);
    for (let i = 0; i < s.length; ) {
      // fast path for whole lines of output
      if (this.state === 'ground' && (i === 0 || s.charCodeAt(i - 1) === 0x0a)) {
        const nl = s.indexOf('\n', i);
        if (nl >= 0 && nl - i < 16_384 && PLAIN_LINE.test(s.slice(i, nl + 1))) {
          this.newLine();
          i = nl + 1;
          continue;
        }
      }
      const ch = String.fromCodePoint(s.codePointAt(i)!);
      this.char(ch);
      i += ch.length;
    }
  }

  /** the line up to the cursor (where the user is about to type) */
  beforeCursor(): string[] {
    return Array.from({ length: this.cursor }, (_, i) => this.cells[i] ?? ' ');
  }

  /** the command on the line now: after the prompt, or after a readline search prompt */
  commandAfter(prompt: string[]): string {
    const line = Array.from(this.cells, (c) => c ?? ' ');
    const search = /^\((?:failed )?reverse-i-search\)`[^']*': (.*)$/.exec(line.join(''));
    if (search && !prompt.every((c, i) => line[i] === c)) return search[1]!.trimEnd();
    return line.slice(prompt.length).join('').trimEnd();
  }

  private char(ch: string): void {
    const c = ch.codePointAt(0)!;
    switch (this.state) {
      case 'esc':
        if (ch === '[') {
          this.state = 'csi';
          this.params = '';
        } else if (ch === ']' || ch === 'P' || ch === 'X' || ch === '^' || ch === '_') this.state = 'osc';
        else if (c >= 0x20 && c <= 0x2f) this.state = 'esc-int';
        else {
          this.state = 'ground';
          if (ch === 'c') this.newLine();
        }
        return;
      case 'esc-int': // ESC ( B and friends: intermediates, then one final
        if (c < 0x20 || c > 0x2f) this.state = 'ground';
        return;
      case 'osc': // OSC, DCS, SOS, PM, APC: until BEL or ST
        if (ch === '\x07') this.state = 'ground';
        else if (ch === '\x1b') this.state = 'osc-esc';
        return;
      case 'osc-esc':
        this.state = ch === '\\' ? 'ground' : 'osc';
        return;
      case 'csi':
        if (c >= 0x20 && c <= 0x3f) {
          if (this.params.length < 32) this.params += ch;
          return;
        }
        this.state = 'ground';
        if (c >= 0x40 && c <= 0x7e) return this.csi(ch);
        break; // a control inside CSI: abandon the sequence, run the control
      case 'ground':
        break;
    }
    if (c >= 0x20 && c !== 0x7f && !(c >= 0x80 && c < 0xa0)) return this.put(ch);
    switch (ch) {
      case '\x1b':
        this.state = 'esc';
        return;
      case '\r':
        this.cursor = 0;
        return;
      case '\n':
      case '\v':
      case '\f':
        return this.newLine();
      case '\b':
        this.cursor = Math.max(0, this.cursor - 1);
        return;
      case '\t':
        this.cursor = Math.min(this.maxCells, (Math.floor(this.cursor / 8) + 1) * 8);
        return;
      default: // BEL and other controls
    }
  }

  private csi(final: string): void {
    if (this.params.startsWith('?') || this.params.startsWith('>') || this.params.startsWith('=')) return;
    const args = this.params.split(';').map((p) => Number.parseInt(p, 10));
    const n = Math.max(1, args[0] || 1);
    const mode = args[0] || 0;
    switch (final) {
      case 'K':
        if (mode === 0) this.cells.length = Math.min(this.cells.length, this.cursor);
        else if (mode === 1) this.blank(0, this.cursor + 1);
        else this.cells = [];
        return;
      case 'J':
        if (mode === 0) this.cells.length = Math.min(this.cells.length, this.cursor);
        else if (mode === 1) this.blank(0, this.cursor + 1);
        else this.cells = [];
        return;
      case 'C':
        this.cursor = Math.min(this.maxCells, this.cursor + n);
        return;
      case 'D':
        this.cursor = Math.max(0, this.cursor - n);
        return;
      case 'G':
      case '`':
        this.cursor = Math.min(this.maxCells, n - 1);
        return;
      case 'P':
        this.cells.splice(this.cursor, n);
        return;
      case '@':
        if (this.cursor < this.cells.length) {
          this.cells.splice(this.cursor, 0, ...Array<string>(Math.min(n, this.maxCells)).fill(' '));
          this.cells.length = Math.min(this.cells.length, this.maxCells);
        }
        return;
      case 'X':
        this.blank(this.cursor, Math.min(this.cells.length, this.cursor + n));
        return;
      case 'H':
      case 'f':
        this.newLine();
        this.cursor = Math.min(this.maxCells, Math.max(1, args[1] || 1) - 1);
        return;
      case 'A':
      case 'B': {
        const col = this.cursor;
        this.newLine();
        this.cursor = col;
        return;
      }
      case 'E':
      case 'F':
        this.newLine();
        return;
      default: // SGR, modes, scrolling regions, reports
    }
  }

  private blank(from: number, to: number): void {
    for (let i = from; i < Math.min(to, this.cells.length); i++) this.cells[i] = ' ';
  }

  private put(ch: string): void {
    if (this.cursor >= this.maxCells) return;
    while (this.cells.length < this.cursor) this.cells.push(' ');
    this.cells[this.cursor++] = ch;
  }

  private newLine(): void {
    this.cells = [];
    this.cursor = 0;
  }
}
