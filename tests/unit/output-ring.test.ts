import { describe, expect, it } from "vitest";
import { EarlyOutput, OutputRingWriter } from "../../core/util/output-ring.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array | null) => (b ? new TextDecoder().decode(b) : null);

/** A worker's console (ring and messages) and a page's view of it. */
function stream(capacityBytes = 16) {
  const ring = new OutputRingWriter(capacityBytes);
  const page = new EarlyOutput();
  page.attach(ring.buffer);
  const messages: Uint8Array[] = [];
  return {
    page,
    /** The worker emits `s`: into the ring now, its message arrives later. */
    emit(s: string) {
      ring.write(bytes(s));
      messages.push(bytes(s));
    },
    /** The next message arrives at the page. */
    deliver: () => text(page.fromMessage(messages.shift()!)),
  };
}

describe("EarlyOutput", () => {
  it("shows each byte once, whichever brought it first", () => {
    const s = stream();
    s.emit("$ ");
    expect(s.deliver()).toBe("$ ");
    s.emit("a");
    expect(text(s.page.fromRing())).toBe("a"); // read in the frame after the keystroke
    expect(s.page.fromRing()).toBeNull();
    expect(s.deliver()).toBeNull(); // its message comes later: already shown
    s.emit("bc");
    s.emit("d");
    expect(text(s.page.fromRing())).toBe("bcd");
    s.emit("e");
    expect(s.deliver()).toBeNull();
    expect(s.deliver()).toBeNull();
    expect(s.deliver()).toBe("e");
  });

  it("hands on the rest of a message the ring showed only part of", () => {
    const s = stream();
    s.emit("ab");
    expect(text(s.page.fromRing())).toBe("ab");
    s.emit("cd");
    expect(s.deliver()).toBeNull();
    expect(s.deliver()).toBe("cd");
  });

  it("keeps to the messages when the ring went round past what was shown", () => {
    const s = stream(4);
    s.emit("12");
    s.emit("3456"); // the ring now holds 3456: 12 is gone
    expect(s.page.fromRing()).toBeNull();
    expect(s.deliver()).toBe("12");
    expect(text(s.page.fromRing())).toBe("3456");
    expect(s.deliver()).toBeNull();
  });

  it("without a ring, is just the messages", () => {
    const page = new EarlyOutput();
    expect(page.fromRing()).toBeNull();
    expect(text(page.fromMessage(bytes("x")))).toBe("x");
  });

  it("wraps round the ring's end", () => {
    const s = stream(4);
    s.emit("abc");
    expect(s.deliver()).toBe("abc");
    s.emit("de"); // d at the end of the ring, e at its start
    expect(text(s.page.fromRing())).toBe("de");
  });
});
