// Tells the guest the shell's size. A serial console has no window size of its
// own: the guest's tty says 0×0 and programs assume 80 columns. The only way in
// is to type `stty cols C rows R` at the guest's shell, so this types it only
// when that cannot mix with anything else: the console's last output is a shell
// prompt (`# ` or `$ `, busybox's cursor query after it aside), the person has
// no half-typed line, and the size differs from what the guest was last told.
// Otherwise it waits for the next prompt. (busybox's `resize` applet would ask
// the terminal itself, but it too has to be typed; stty needs no answer back.)

/** How many characters of recent output are kept to recognise a prompt. */
const TAIL_CHARS = 160;

/** CSI and OSC escape sequences, which a prompt may carry around it. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences are what it matches
const ESCAPES = /\x1b\[[\d;?>]*[A-Za-z]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][A-Z0-9]/g;

export function endsWithPrompt(tail: string): boolean {
  return /[#$] $/.test(tail.replace(ESCAPES, ""));
}

export function sttyLine(cols: number, rows: number): string {
  return `stty cols ${cols} rows ${rows}\r`;
}

export class GuestSizeTeller {
  private tail = "";
  private decoder = new TextDecoder();
  /** The person typed part of a line (no Enter or Ctrl-C since). */
  private lineOpen = false;
  private live = false;
  private wanted: { cols: number; rows: number } | null = null;
  private told: string | null = null;

  constructor(private readonly send: (line: string) => void) {}

  /** Console output, as the shell shows it. */
  output(chunk: Uint8Array | string): void {
    const text = typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    this.tail = (this.tail + text).slice(-TAIL_CHARS);
    this.maybeTell();
  }

  /** What the person typed (terminal replies such as cursor reports are not typing). */
  typed(text: string): void {
    if (text.length === 0) return;
    const last = text[text.length - 1];
    this.lineOpen = !(
      last === "\r" ||
      last === "\n" ||
      last === "\x03" ||
      last === "\x04" ||
      last === "\x15"
    );
  }

  /** The shell's size now. */
  resized(cols: number, rows: number): void {
    if (!(cols > 0 && rows > 0)) return;
    this.wanted = { cols, rows };
    this.maybeTell();
  }

  /** Whether input reaches a guest now. */
  setLive(live: boolean): void {
    this.live = live;
    this.maybeTell();
  }

  /** A new console (cleared, or another VM): it has been told nothing yet. */
  reset(): void {
    this.tail = "";
    this.decoder = new TextDecoder();
    this.lineOpen = false;
    this.told = null;
  }

  private maybeTell(): void {
    const w = this.wanted;
    if (!this.live || !w || this.lineOpen || !endsWithPrompt(this.tail)) return;
    const line = sttyLine(w.cols, w.rows);
    if (line === this.told) return;
    this.told = line;
    this.tail = "";
    this.send(line);
  }
}
