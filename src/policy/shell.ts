/**
 * Shell command lines, read for policy: which programs a line runs and with which arguments.
 *
 * Why by hand: no maintained npm library parses POSIX shell into simple commands the way a guardrail
 * needs (quotes removed, nested `$(...)` / backticks / `sh -c '...'` opened, wrappers such as sudo
 * skipped), and this is a small, bounded tokenizer. It is a guardrail, not a sandbox: a command
 * built at run time (`eval "$(base64 -d <<< ...)"`, a script file) is not visible in its text. The
 * limits are in docs/security.md.
 */

export interface ShellCommand {
  /** argv[0] reduced to its base name (`/usr/bin/rm` -> `rm`) */
  program: string;
  args: string[];
}

export interface ShellParse {
  commands: ShellCommand[];
  /** false when the text could not be tokenized (unbalanced quotes); commands are then best effort */
  parsed: boolean;
}

/** Programs that run their arguments as another command. */
const WRAPPERS = new Set(['sudo', 'doas', 'env', 'nice', 'nohup', 'time', 'timeout', 'stdbuf', 'ionice', 'chroot', 'xargs', 'exec', 'command', 'builtin', 'setsid', 'su']);
/** Shells whose `-c` argument is itself a command line. */
/** Wrapper options that take a value (`nice -n 5`, `sudo -u root`). */
const VALUE_OPTIONS: Record<string, RegExp> = {
  sudo: /^-[ugCDhprtU]$/, su: /^-[csg]$/, nice: /^-n$/, ionice: /^-[cnp]$/, timeout: /^-[sk]$/, chroot: /^--userspec$/, xargs: /^-[EeIiLlnPsd]$/, env: /^-[uC]$/,
};
const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'ash', 'busybox']);
const MAX_DEPTH = 8;
const MAX_TEXT = 64 * 1024;

interface Token {
  kind: 'word' | 'op';
  text: string;
  /** command substitutions found inside the word, to be read as command lines too */
  nested: string[];
}

/** Splits a command line into words and control operators (; & && || | newline), removing quotes. */
function tokenize(text: string): { tokens: Token[]; ok: boolean } {
  const tokens: Token[] = [];
  let word = '';
  let inWord = false;
  let nested: string[] = [];
  let ok = true;
  const flush = () => {
    if (inWord) tokens.push({ kind: 'word', text: word, nested });
    word = '';
    inWord = false;
    nested = [];
  };
  // reads a $( ... ) or ` ... ` body starting after the opener; returns the index after the closer
  const substitution = (i: number, close: ')' | '`'): number => {
    let depth = 1;
    let j = i;
    let quote: string | null = null;
    for (; j < text.length; j++) {
      const c = text[j]!;
      if (quote) {
        if (c === '\\' && quote === '"') j++;
        else if (c === quote) quote = null;
        continue;
      }
      if (c === '\\') j++;
      else if (c === "'" || c === '"') quote = c;
      else if (close === ')' && c === '(') depth++;
      else if (c === close && --depth === 0) break;
    }
    if (j >= text.length) ok = false;
    nested.push(text.slice(i, j));
    return j + 1;
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') {
      flush();
      i++;
    } else if (c === '\n' || c === ';' || c === '&' || c === '|' || c === '(' || c === ')') {
      flush();
      const two = text.slice(i, i + 2);
      const op = two === '&&' || two === '||' || two === ';;' ? two : c;
      tokens.push({ kind: 'op', text: op, nested: [] });
      i += op.length;
    } else if (c === '#' && !inWord) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '\\') {
      inWord = true;
      if (text[i + 1] === '\n') i += 2;
      else {
        word += text[i + 1] ?? '';
        i += 2;
      }
    } else if (c === "'") {
      inWord = true;
      const end = text.indexOf("'", i + 1);
      if (end < 0) {
        ok = false;
        word += text.slice(i + 1);
        i = text.length;
      } else {
        word += text.slice(i + 1, end);
        i = end + 1;
      }
    } else if (c === '"') {
      inWord = true;
      i++;
      for (; i < text.length && text[i] !== '"'; i++) {
        const d = text[i]!;
        if (d === '\\' && i + 1 < text.length && '$`"\\\n'.includes(text[i + 1]!)) word += text[++i];
        else if (d === '$' && text[i + 1] === '(') i = substitution(i + 2, ')') - 1;
        else if (d === '`') i = substitution(i + 1, '`') - 1;
        else word += d;
      }
      if (i >= text.length) ok = false;
      i++;
    } else if (c === '$' && text[i + 1] === '(') {
      inWord = true;
      i = substitution(i + 2, ')');
    } else if (c === '`') {
      inWord = true;
      i = substitution(i + 1, '`');
    } else if ((c === '<' || c === '>') && (!inWord || /^\d+$/.test(word))) {
      // a redirection (`>f`, `2>&1`): its target and file descriptor are not arguments
      inWord = false;
      word = '';
      flush();
      i++;
      while (text[i] === '>' || text[i] === '&' || text[i] === '<') i++;
      tokens.push({ kind: 'op', text: 'redirect', nested: [] });
    } else {
      inWord = true;
      word += c;
      i++;
    }
  }
  flush();
  return { tokens, ok };
}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;
const base = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

function simpleCommands(words: Token[], out: ShellCommand[], depth: number, state: { ok: boolean }): void {
  let k = 0;
  while (k < words.length && ASSIGNMENT.test(words[k]!.text)) k++;
  // skip wrappers and their options (sudo -u root, timeout 5, env -i A=1)
  while (k < words.length && WRAPPERS.has(base(words[k]!.text))) {
    const wrapper = base(words[k]!.text);
    k++;
    while (k < words.length && (words[k]!.text.startsWith('-') || ASSIGNMENT.test(words[k]!.text) || (wrapper === 'timeout' && /^\d/.test(words[k]!.text)))) {
      const opt = words[k]!.text;
      k++;
      if (VALUE_OPTIONS[wrapper]?.test(opt) && k < words.length) {
        if (wrapper === 'su' && opt === '-c') parseInto(words[k]!.text, out, depth + 1, state);
        k++;
      }
    }
  }
  if (k >= words.length) return;
  const program = base(words[k]!.text);
  const args = words.slice(k + 1).map((w) => w.text);
  out.push({ program, args });
  if (SHELLS.has(program)) {
    const c = args.findIndex((a) => /^-[a-z]*c[a-z]*$/.test(a));
    if (c >= 0 && args[c + 1] !== undefined) parseInto(args[c + 1]!, out, depth + 1, state);
  }
  if (program === 'eval') parseInto(args.join(' '), out, depth + 1, state);
}

function parseInto(text: string, out: ShellCommand[], depth: number, state: { ok: boolean }): void {
  if (depth > MAX_DEPTH) {
    state.ok = false;
    return;
  }
  const { tokens, ok } = tokenize(text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) : text);
  if (!ok || text.length > MAX_TEXT) state.ok = false;
  let words: Token[] = [];
  let skipNext = false;
  const end = () => {
    simpleCommands(words, out, depth, state);
    words = [];
  };
  for (const t of tokens) {
    for (const n of t.nested) parseInto(n, out, depth + 1, state);
    if (t.kind === 'op') {
      if (t.text === 'redirect') skipNext = true;
      else end();
      continue;
    }
    if (skipNext) {
      skipNext = false;
      continue;
    }
    words.push(t);
  }
  end();
}

/** The simple commands of a command line, nested ones included. */
export function parseShell(text: string): ShellParse {
  const commands: ShellCommand[] = [];
  const state = { ok: true };
  parseInto(text, commands, 0, state);
  return { commands, parsed: state.ok };
}

/**
 * Does a command match a pattern like `rm -rf` or `systemctl stop`? The first word is the program
 * (base name, `*` for any); each further word must appear among the arguments, where a short-flag
 * cluster (`-rf`) matches when every one of its letters is set, in any order or split (`-r -f`,
 * `-fr`, `-vfr`); a word ending in `*` is a prefix.
 */
export function commandMatches(pattern: string, cmd: ShellCommand): boolean {
  const [prog, ...want] = pattern.trim().split(/\s+/);
  if (prog === undefined || (prog !== '*' && base(prog) !== cmd.program)) return false;
  const shortFlags = new Set<string>();
  for (const a of cmd.args) if (/^-[A-Za-z0-9]+$/.test(a)) for (const ch of a.slice(1)) shortFlags.add(ch);
  return want.every((w) => {
    if (/^-[A-Za-z0-9]+$/.test(w)) return [...w.slice(1)].every((ch) => shortFlags.has(ch));
    if (w.endsWith('*')) return cmd.args.some((a) => a.startsWith(w.slice(0, -1)));
    return cmd.args.includes(w);
  });
}
