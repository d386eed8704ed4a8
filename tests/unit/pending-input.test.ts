import { describe, expect, it } from "vitest";
import { droppedInputNote, PendingInput } from "../../core/util/pending-input.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array | null) => (b ? new TextDecoder().decode(b) : null);

describe("PendingInput", () => {
  it("hands back everything held, in order, once", () => {
    const q = new PendingInput();
    for (const key of ["e", "c", "h", "o", " ", "hi", "\r"]) expect(q.push(bytes(key))).toBe(true);
    expect(q.size).toBe(8);
    expect(text(q.take())).toBe("echo hi\r");
    expect(q.take()).toBeNull();
    expect(q.size).toBe(0);
  });

  it("keeps a copy, so a caller reusing its buffer changes nothing held", () => {
    const q = new PendingInput();
    const buffer = bytes("a");
    q.push(buffer);
    buffer[0] = "z".charCodeAt(0);
    expect(text(q.take())).toBe("a");
  });

  it("refuses what does not fit, and everything after it, so what is kept is a prefix", () => {
    const q = new PendingInput(4);
    expect(q.push(bytes("abc"))).toBe(true);
    expect(q.push(bytes("de"))).toBe(false);
    // "f" would fit, but taking it would deliver "abcf": a keystroke out of order.
    expect(q.push(bytes("f"))).toBe(false);
    expect(q.dropped).toBe(3);
    expect(text(q.take())).toBe("abc");
    expect(q.dropped).toBe(0);
    expect(q.push(bytes("gh"))).toBe(true);
    expect(text(q.take())).toBe("gh");
  });

  it("says what was dropped", () => {
    expect(droppedInputNote(1, "the VM was starting")).toBe(
      "1 keystroke did not fit while the VM was starting and was dropped; type again.",
    );
    expect(droppedInputNote(20, "the VM was moving")).toMatch(/^20 bytes of typing .* were dropped/);
  });
});
