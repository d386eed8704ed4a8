// The keys a touch keyboard lacks, in a bar under the shell: Esc, Tab, sticky
// Ctrl and Alt, the arrows and a few symbols. Ctrl and Alt are sticky: a tap
// applies to the next key (from the bar, or typed on the on-screen keyboard,
// however it arrives: a key press, an IME's `input` event or a composition),
// then clears. The byte logic is pure (`applyModifiers`, `keyText`) so it is
// unit-tested; the bar is one component for the local and the remote shell.

export interface Modifiers {
  ctrl: boolean;
  alt: boolean;
}

export const NO_MODIFIERS: Modifiers = Object.freeze({ ctrl: false, alt: false });

export type BarKey = "Escape" | "Tab" | "ArrowUp" | "ArrowDown" | "ArrowRight" | "ArrowLeft";

const ARROW_FINAL: Record<string, string> = { ArrowUp: "A", ArrowDown: "B", ArrowRight: "C", ArrowLeft: "D" };

/** Ctrl with one character, as a terminal sends it (Ctrl-C is 0x03); null when Ctrl does not change it. */
function ctrlOf(ch: string): string | null {
  const code = ch.charCodeAt(0);
  if (ch.length !== 1) return null;
  if ((code >= 0x61 && code <= 0x7a) || (code >= 0x40 && code <= 0x5f))
    return String.fromCharCode(code & 0x1f);
  if (ch === " " || ch === "2") return "\x00";
  if (ch === "?" || ch === "8") return "\x7f";
  if (code >= 0x33 && code <= 0x37) return String.fromCharCode(code - 0x18); // Ctrl-3…7 as xterm: ESC, FS, GS, RS, US
  return null;
}

/**
 * What the shell receives for `text` typed with `mods` held: Ctrl turns the first
 * character into its control code (letters of either case, @ [ \ ] ^ _ and space),
 * Alt puts ESC in front. The rest of the text (an IME may deliver a whole word)
 * passes as it came.
 */
export function applyModifiers(mods: Modifiers, text: string): string {
  if (text.length === 0 || (!mods.ctrl && !mods.alt)) return text;
  const first = String.fromCodePoint(text.codePointAt(0) ?? 0);
  const rest = text.slice(first.length);
  const head = mods.ctrl ? (ctrlOf(first) ?? first) : first;
  return `${mods.alt ? "\x1b" : ""}${head}${rest}`;
}

/**
 * The bytes of a bar key. Arrows follow the terminal's cursor-key mode (ESC O A in
 * application mode, ESC [ A otherwise) and, with a modifier, xterm's ESC [ 1 ; m A.
 */
export function keyText(key: BarKey, mods: Modifiers, appCursor: boolean): string {
  const final = ARROW_FINAL[key];
  if (final) {
    const m = 1 + (mods.alt ? 2 : 0) + (mods.ctrl ? 4 : 0);
    if (m > 1) return `\x1b[1;${m}${final}`;
    return `\x1b${appCursor ? "O" : "["}${final}`;
  }
  if (key === "Tab") return applyModifiers({ ctrl: false, alt: mods.alt }, "\t");
  return applyModifiers({ ctrl: false, alt: mods.alt }, "\x1b"); // Escape
}

/** Replies the terminal makes by itself (a cursor position report, device attributes): no key applies to them. */
export function isTerminalReport(text: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: an escape sequence is what it matches
  return /^\x1b\[[\d;?>]*[Rnc]$/.test(text);
}

type Sticky = keyof Modifiers;

/**
 * Sticky Ctrl and Alt: a tap arms one (a second tap disarms it); the next key or
 * text takes them, then they clear. Terminal replies pass untouched and leave them armed.
 */
export class StickyModifiers {
  private mods: Modifiers = { ...NO_MODIFIERS };

  state(): Modifiers {
    return { ...this.mods };
  }

  tap(name: Sticky): void {
    this.mods = { ...this.mods, [name]: !this.mods[name] };
  }

  /** Typed text with the armed modifiers applied. */
  text(text: string): string {
    if (isTerminalReport(text) || (!this.mods.ctrl && !this.mods.alt)) return text;
    const out = applyModifiers(this.mods, text);
    this.mods = { ...NO_MODIFIERS };
    return out;
  }

  /** A bar key with the armed modifiers applied. */
  key(key: BarKey, appCursor: boolean): string {
    const out = keyText(key, this.mods, appCursor);
    this.mods = { ...NO_MODIFIERS };
    return out;
  }
}

interface BarButton {
  label: string;
  /** Said by screen readers where the label is a symbol. */
  name?: string;
  key?: BarKey;
  text?: string;
  sticky?: Sticky;
}

const BUTTONS: BarButton[] = [
  { label: "Esc", key: "Escape" },
  { label: "Tab", key: "Tab" },
  { label: "Ctrl", sticky: "ctrl" },
  { label: "Alt", sticky: "alt" },
  { label: "←", name: "Left", key: "ArrowLeft" },
  { label: "↑", name: "Up", key: "ArrowUp" },
  { label: "↓", name: "Down", key: "ArrowDown" },
  { label: "→", name: "Right", key: "ArrowRight" },
  { label: "|", name: "Pipe", text: "|" },
  { label: "~", name: "Tilde", text: "~" },
  { label: "/", name: "Slash", text: "/" },
  { label: "-", name: "Dash", text: "-" },
];

export interface KeyBarHost {
  /** Sends text to the shell as if typed. */
  send(text: string): void;
  /** Whether the terminal is in application cursor-key mode. */
  appCursor(): boolean;
  /** Gives the terminal the focus back (so the on-screen keyboard stays up). */
  focus(): void;
}

export class KeyBar {
  readonly element: HTMLElement;
  private readonly sticky = new StickyModifiers();
  private readonly stickyButtons = new Map<Sticky, HTMLButtonElement>();
  private readonly controller = new AbortController();

  constructor(private readonly host: KeyBarHost) {
    const bar = document.createElement("div");
    bar.className = "key-bar";
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", "Terminal keys");
    const { signal } = this.controller;
    for (const spec of BUTTONS) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = spec.label;
      if (spec.name) button.setAttribute("aria-label", spec.name);
      if (spec.sticky) {
        button.setAttribute("aria-pressed", "false");
        this.stickyButtons.set(spec.sticky, button);
      }
      // A tap must not take the focus from the terminal: the on-screen keyboard would close.
      button.addEventListener("pointerdown", (e) => e.preventDefault(), { signal });
      button.addEventListener("mousedown", (e) => e.preventDefault(), { signal });
      button.addEventListener("click", () => this.press(spec), { signal });
      bar.append(button);
    }
    this.element = bar;
  }

  /** Applies the sticky modifiers to text typed on the keyboard, and clears them. */
  consume(text: string): string {
    const out = this.sticky.text(text);
    this.showState();
    return out;
  }

  dispose(): void {
    this.controller.abort();
    this.element.remove();
  }

  private press(spec: BarButton): void {
    if (spec.sticky) this.sticky.tap(spec.sticky);
    else if (spec.key) this.host.send(this.sticky.key(spec.key, this.host.appCursor()));
    else if (spec.text) this.host.send(this.sticky.text(spec.text));
    this.showState();
    this.host.focus();
  }

  private showState(): void {
    const mods = this.sticky.state();
    for (const [name, button] of this.stickyButtons) button.setAttribute("aria-pressed", String(mods[name]));
  }
}
