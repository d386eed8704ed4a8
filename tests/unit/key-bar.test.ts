import { describe, expect, it } from "vitest";
import { endsWithPrompt, GuestSizeTeller, sttyLine } from "../../web/guest-size.ts";
import {
  applyModifiers,
  isTerminalReport,
  keyText,
  NO_MODIFIERS,
  StickyModifiers,
} from "../../web/key-bar.ts";

const CTRL = { ctrl: true, alt: false };
const ALT = { ctrl: false, alt: true };

describe("the key bar's modifiers", () => {
  it("Ctrl turns the next character into its control code, either case", () => {
    expect(applyModifiers(CTRL, "c")).toBe("\x03");
    expect(applyModifiers(CTRL, "C")).toBe("\x03");
    expect(applyModifiers(CTRL, "d")).toBe("\x04");
    expect(applyModifiers(CTRL, "[")).toBe("\x1b");
    expect(applyModifiers(CTRL, "\\")).toBe("\x1c");
    expect(applyModifiers(CTRL, " ")).toBe("\x00");
    expect(applyModifiers(CTRL, "?")).toBe("\x7f");
  });

  it("applies to the first character of what an IME delivers at once, not the rest", () => {
    expect(applyModifiers(CTRL, "cat")).toBe("\x03at");
  });

  it("leaves characters Ctrl does not change, and multi-byte ones, as they are", () => {
    expect(applyModifiers(CTRL, "é")).toBe("é");
    expect(applyModifiers(CTRL, "😀x")).toBe("😀x");
    expect(applyModifiers(CTRL, "")).toBe("");
  });

  it("Alt puts ESC in front; Ctrl and Alt together give ESC and the control code", () => {
    expect(applyModifiers(ALT, "b")).toBe("\x1bb");
    expect(applyModifiers({ ctrl: true, alt: true }, "x")).toBe("\x1b\x18");
  });

  it("without modifiers, text passes unchanged", () => {
    expect(applyModifiers(NO_MODIFIERS, "ls -l\r")).toBe("ls -l\r");
  });

  it("arrows follow the cursor-key mode, and take xterm's modifier form", () => {
    expect(keyText("ArrowUp", NO_MODIFIERS, false)).toBe("\x1b[A");
    expect(keyText("ArrowUp", NO_MODIFIERS, true)).toBe("\x1bOA");
    expect(keyText("ArrowLeft", CTRL, false)).toBe("\x1b[1;5D");
    expect(keyText("ArrowRight", ALT, true)).toBe("\x1b[1;3C");
  });

  it("Esc and Tab, with Alt", () => {
    expect(keyText("Escape", NO_MODIFIERS, false)).toBe("\x1b");
    expect(keyText("Tab", NO_MODIFIERS, false)).toBe("\t");
    expect(keyText("Tab", ALT, false)).toBe("\x1b\t");
  });

  it("knows the terminal's own replies from typing", () => {
    expect(isTerminalReport("\x1b[24;15R")).toBe(true);
    expect(isTerminalReport("\x1b[?1;2c")).toBe(true);
    expect(isTerminalReport("c")).toBe(false);
    expect(isTerminalReport("\x1b[A")).toBe(false);
  });
});

describe("telling the guest the shell's size", () => {
  const PROMPT = "root@spare:~# \x1b[6n";

  function teller() {
    const sent: string[] = [];
    const t = new GuestSizeTeller((line) => sent.push(line));
    return { t, sent };
  }

  it("recognises busybox's prompt with its cursor query", () => {
    expect(endsWithPrompt(PROMPT)).toBe(true);
    expect(endsWithPrompt("~ $ ")).toBe(true);
    expect(endsWithPrompt("root@spare:~# ls")).toBe(false);
    expect(endsWithPrompt("100% done")).toBe(false);
  });

  it("types stty once at a prompt, and again only when the size changes", () => {
    const { t, sent } = teller();
    t.resized(45, 30);
    t.setLive(true);
    expect(sent).toEqual([]);
    t.output(new TextEncoder().encode(PROMPT));
    expect(sent).toEqual([sttyLine(45, 30)]);
    t.output(`stty cols 45 rows 30\r\n${PROMPT}`);
    expect(sent).toHaveLength(1);
    t.resized(60, 30);
    expect(sent).toEqual([sttyLine(45, 30), sttyLine(60, 30)]);
    expect(sent[0]).toBe("stty cols 45 rows 30\r");
  });

  it("never types into a half-typed line, or while no guest listens", () => {
    const { t, sent } = teller();
    t.resized(45, 30);
    t.output(PROMPT);
    expect(sent).toEqual([]); // not live
    t.setLive(true);
    expect(sent).toHaveLength(1);
    t.output(PROMPT);
    t.typed("ec");
    t.resized(50, 30);
    t.output(`${PROMPT}`); // the shell redraws its prompt: the person's "ec" is still pending
    expect(sent).toHaveLength(1);
    t.typed("ho hi\r");
    t.output(`echo hi\r\nhi\r\n${PROMPT}`);
    expect(sent).toEqual([sttyLine(45, 30), sttyLine(50, 30)]);
  });

  it("waits while a program runs, and tells a new console again", () => {
    const { t, sent } = teller();
    t.setLive(true);
    t.resized(45, 30);
    t.output("sleep 5\r\n");
    expect(sent).toEqual([]);
    t.output(PROMPT);
    expect(sent).toHaveLength(1);
    t.reset();
    t.output(PROMPT);
    expect(sent).toHaveLength(2);
  });
});

describe("sticky Ctrl and Alt", () => {
  it("apply to the next key only, then clear", () => {
    const sticky = new StickyModifiers();
    sticky.tap("ctrl");
    expect(sticky.state()).toEqual({ ctrl: true, alt: false });
    expect(sticky.text("c")).toBe("\x03");
    expect(sticky.state()).toEqual(NO_MODIFIERS);
    expect(sticky.text("c")).toBe("c");
  });

  it("a second tap disarms; both together apply to one bar key", () => {
    const sticky = new StickyModifiers();
    sticky.tap("alt");
    sticky.tap("alt");
    expect(sticky.text("b")).toBe("b");
    sticky.tap("ctrl");
    sticky.tap("alt");
    expect(sticky.key("ArrowUp", false)).toBe("\x1b[1;7A");
    expect(sticky.key("ArrowUp", false)).toBe("\x1b[A");
  });

  it("stay armed through the terminal's own replies (a cursor report after the prompt)", () => {
    const sticky = new StickyModifiers();
    sticky.tap("ctrl");
    expect(sticky.text("\x1b[27;15R")).toBe("\x1b[27;15R");
    expect(sticky.text("d")).toBe("\x04");
  });
});
