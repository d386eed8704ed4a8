// Talking to a busybox shell on a serial console, independent of where the
// guest runs. The shell echoes what it is sent, so completion is detected with
// a marker the shell must compute (`$((a+b))`): the echo holds the expression,
// only real output holds the sum.

export interface MarkedCommand {
  /** What to type, ending in a carriage return. */
  line: string;
  /** Text that appears in the output only once the command has finished. */
  done: string;
}

export function markCommand(command: string, nonce: number): MarkedCommand {
  const a = 1000 + (nonce % 9000);
  const b = 7;
  const prefix = command.trim().length > 0 ? `${command}; ` : "";
  return { line: `${prefix}echo DONE-${nonce}-$((${a}+${b}))\r`, done: `DONE-${nonce}-${a + b}` };
}

/**
 * Collects console output as text and resolves waiters when a string appears.
 * Keeps at most `limitChars` of recent output, so it never grows without bound.
 */
export class ConsoleTail {
  private text = "";
  private waiters: { needle: string; from: number; resolve: (index: number) => void }[] = [];
  private dropped = 0;
  private readonly decoder = new TextDecoder();

  constructor(private readonly limitChars = 1 << 20) {}

  /** Absolute offset (in characters since creation) of the end of the output. */
  get end(): number {
    return this.dropped + this.text.length;
  }

  push(bytes: Uint8Array | string): void {
    this.text += typeof bytes === "string" ? bytes : this.decoder.decode(bytes, { stream: true });
    if (this.text.length > this.limitChars) {
      const cut = this.text.length - this.limitChars;
      this.text = this.text.slice(cut);
      this.dropped += cut;
    }
    this.waiters = this.waiters.filter((w) => {
      const index = this.indexOf(w.needle, w.from);
      if (index < 0) return true;
      w.resolve(index);
      return false;
    });
  }

  /** All output still kept (the most recent `limitChars`). */
  recent(): string {
    return this.text;
  }

  /** Output since the absolute offset `from`. */
  since(from: number): string {
    return this.text.slice(Math.max(0, from - this.dropped));
  }

  indexOf(needle: string, from = 0): number {
    const i = this.text.indexOf(needle, Math.max(0, from - this.dropped));
    return i < 0 ? -1 : i + this.dropped;
  }

  /** Resolves with the absolute offset of `needle` once it appears at or after `from`. */
  waitFor(needle: string, from = 0): Promise<number> {
    const index = this.indexOf(needle, from);
    if (index >= 0) return Promise.resolve(index);
    return new Promise((resolve) => this.waiters.push({ needle, from, resolve }));
  }
}
