// The VM shell: an xterm.js terminal on the guest's serial console, sized to its
// element (xterm's fit add-on) with the guest told the size (guest-size.ts), a
// tool row (font size, copy, paste), the key bar for touch keyboards
// (key-bar.ts), and a confirmation before a paste of more than one line runs.
// Used by the local shell and the remote one alike.
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { EchoFrames, type FrameRead } from "./echo-frames.ts";
import { GuestSizeTeller } from "./guest-size.ts";
import { isTerminalReport, KeyBar } from "./key-bar.ts";
import { confirmPaste } from "./paste-dialog.ts";

export interface Shell {
  write(data: Uint8Array | string): void;
  clear(): void;
  focus(): void;
  setInputEnabled(enabled: boolean): void;
  /**
   * Calls `read` in each of the next `frames` frames, ahead of the terminal's
   * redraw in that frame, until it returns true: what it writes is painted in
   * the frame it was read in (web/echo-frames.ts).
   */
  readAhead(read: FrameRead, frames: number): void;
  dispose(): void;
}

const FONT_KEY = "shell-font-px";
const FONT_MIN_PX = 9;
const FONT_MAX_PX = 24;
const FONT_DEFAULT_PX = 14;

function savedFontPx(): number {
  const n = Number(globalThis.localStorage?.getItem(FONT_KEY));
  return Number.isInteger(n) && n >= FONT_MIN_PX && n <= FONT_MAX_PX ? n : FONT_DEFAULT_PX;
}

function toolButton(
  label: string,
  name: string,
  onClick: () => void,
  signal: AbortSignal,
): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.setAttribute("aria-label", name);
  // Like the key bar's: a tap leaves the focus (and the on-screen keyboard) in the shell.
  b.addEventListener("pointerdown", (e) => e.preventDefault(), { signal });
  b.addEventListener("mousedown", (e) => e.preventDefault(), { signal });
  b.addEventListener("click", onClick, { signal });
  return b;
}

export function createShell(container: HTMLElement, onInput: (bytes: Uint8Array) => void): Shell {
  const controller = new AbortController();
  const { signal } = controller;
  const term = new Terminal({
    cols: 80,
    rows: 24,
    scrollback: 5000,
    cursorBlink: true,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: savedFontPx(),
    lineHeight: 1.15,
    theme: { background: "#0b0f14", foreground: "#d8dee9", cursor: "#3ddc97" },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  const echoFrames = new EchoFrames({
    requestFrame: (callback) => requestAnimationFrame(callback),
    requestRedraw: () => term.refresh(term.buffer.active.cursorY, term.buffer.active.cursorY),
    onRedrawn: (handler) => {
      const listener = term.onRender(handler);
      return () => listener.dispose();
    },
  });

  const screen = document.createElement("div");
  screen.className = "shell-screen";
  const tools = document.createElement("div");
  tools.className = "shell-tools";
  tools.setAttribute("role", "toolbar");
  tools.setAttribute("aria-label", "Shell tools");
  container.append(tools, screen);
  term.open(screen);
  term.textarea?.setAttribute("aria-label", "VM shell input");

  const encoder = new TextEncoder();
  let inputEnabled = false;
  const send = (text: string) => {
    if (inputEnabled) onInput(encoder.encode(text));
  };
  const size = new GuestSizeTeller(send);
  const typed = (text: string) => {
    if (!inputEnabled) return;
    size.typed(text);
    onInput(encoder.encode(text));
  };
  const keyBar = new KeyBar({
    send: typed,
    appCursor: () => term.modes.applicationCursorKeysMode,
    focus: () => term.focus(),
  });
  container.append(keyBar.element);

  const data = term.onData((text) => {
    if (isTerminalReport(text)) send(text);
    else typed(keyBar.consume(text));
  });
  const binary = term.onBinary((text) => {
    if (inputEnabled) onInput(Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff));
  });

  const refit = () => {
    // Hidden (another page, or a closed shell panel): nothing to measure until it shows.
    if (!screen.isConnected || screen.clientWidth === 0 || !fit.proposeDimensions()) return;
    fit.fit();
  };
  const resized = term.onResize(({ cols, rows }) => {
    container.dataset.cols = String(cols);
    container.dataset.rows = String(rows);
    size.resized(cols, rows);
  });
  const observer = new ResizeObserver(() => refit());
  observer.observe(screen);
  refit();
  container.dataset.cols = String(term.cols);
  container.dataset.rows = String(term.rows);
  size.resized(term.cols, term.rows);

  const setFont = (px: number) => {
    const next = Math.min(FONT_MAX_PX, Math.max(FONT_MIN_PX, px));
    term.options.fontSize = next;
    globalThis.localStorage?.setItem(FONT_KEY, String(next));
    refit();
    term.focus();
  };
  const paste = (text: string) => {
    if (!inputEnabled || !text) return;
    if (!/[\r\n]/.test(text.replace(/[\r\n]+$/, ""))) {
      term.paste(text);
      term.focus();
      return;
    }
    void confirmPaste(container, text).then((ok) => {
      if (ok) term.paste(text);
      term.focus();
    });
  };
  const copy = toolButton(
    "Copy",
    "Copy selection",
    () => {
      void navigator.clipboard?.writeText(term.getSelection()).catch(() => undefined);
      term.focus();
    },
    signal,
  );
  copy.disabled = true;
  const selection = term.onSelectionChange(() => {
    copy.disabled = !term.hasSelection();
  });
  tools.append(
    toolButton(
      "A−",
      "A− smaller text",
      () => setFont((term.options.fontSize ?? FONT_DEFAULT_PX) - 1),
      signal,
    ),
    toolButton("A+", "A+ larger text", () => setFont((term.options.fontSize ?? FONT_DEFAULT_PX) + 1), signal),
    copy,
    toolButton(
      "Paste",
      "Paste",
      () =>
        void navigator.clipboard
          ?.readText()
          .then(paste)
          .catch(() => undefined),
      signal,
    ),
  );
  // Pasting with the keyboard or the browser's menu: more than one line asks first (each line would run).
  screen.addEventListener(
    "paste",
    (e) => {
      const text = e.clipboardData?.getData("text/plain") ?? "";
      if (!/[\r\n]/.test(text.replace(/[\r\n]+$/, ""))) return; // one line: xterm pastes it
      e.preventDefault();
      e.stopImmediatePropagation();
      paste(text);
    },
    { capture: true, signal },
  );

  return {
    write: (chunk) => {
      term.write(chunk);
      size.output(chunk);
    },
    clear: () => {
      term.reset();
      size.reset();
    },
    focus: () => {
      // On a phone the shell may be below the fold; xterm also paints nothing while it is off screen.
      container.scrollIntoView({ block: "nearest" });
      term.focus();
    },
    readAhead: (read, frames) => echoFrames.readAhead(read, frames),
    setInputEnabled(enabled) {
      inputEnabled = enabled;
      term.options.disableStdin = !enabled;
      container.dataset.input = enabled ? "on" : "off";
      size.setLive(enabled);
    },
    dispose() {
      controller.abort();
      observer.disconnect();
      data.dispose();
      binary.dispose();
      resized.dispose();
      selection.dispose();
      echoFrames.dispose();
      keyBar.dispose();
      term.dispose();
    },
  };
}
