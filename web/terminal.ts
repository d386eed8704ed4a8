// The VM shell: an xterm.js terminal on the guest's serial console. The serial
// console has no window size, so the terminal keeps the classic 80 columns the
// guest assumes.
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";

export interface Shell {
  write(data: Uint8Array | string): void;
  clear(): void;
  focus(): void;
  setInputEnabled(enabled: boolean): void;
  /** Asks for a redraw in the next frame: what is written before that frame's redraw shows in it. */
  redrawNextFrame(): void;
  dispose(): void;
}

export function createShell(container: HTMLElement, onInput: (bytes: Uint8Array) => void): Shell {
  const term = new Terminal({
    cols: 80,
    rows: 24,
    scrollback: 5000,
    cursorBlink: true,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: 14,
    lineHeight: 1.15,
    theme: { background: "#0b0f14", foreground: "#d8dee9", cursor: "#3ddc97" },
  });
  term.open(container);
  term.textarea?.setAttribute("aria-label", "VM shell input");
  const encoder = new TextEncoder();
  let inputEnabled = false;
  const data = term.onData((text) => {
    if (inputEnabled) onInput(encoder.encode(text));
  });
  const binary = term.onBinary((text) => {
    if (inputEnabled) onInput(Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff));
  });
  return {
    write: (chunk) => term.write(chunk),
    clear: () => term.reset(),
    focus: () => term.focus(),
    redrawNextFrame: () => term.refresh(term.buffer.active.cursorY, term.buffer.active.cursorY),
    setInputEnabled(enabled) {
      inputEnabled = enabled;
      term.options.disableStdin = !enabled;
    },
    dispose() {
      data.dispose();
      binary.dispose();
      term.dispose();
    },
  };
}
