// The remote shell's channel worker parses what a host sends at the edge: a
// greeting, then console output in bounded frames; anything else closes the
// channel (and says why), and a page can hand it only so many channels.
import { describe, expect, it } from "vitest";
import { encodeShellOutput, MAX_SHELL_FRAME_BYTES, SHELL_HELLO } from "../../core/vm/shell-frames.ts";
import type { ShellChannelEvent } from "../../worker/api.ts";
import { ShellChannels } from "../../worker/shell-channels.ts";

/** Enough of an RTCDataChannel: the test plays the host's side. */
class FakeChannel extends EventTarget {
  binaryType = "blob";
  closed = false;
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dispatchEvent(new Event("close"));
  }
  /** The host sends `data` (bytes arrive as an ArrayBuffer, as binaryType asks). */
  receive(data: Uint8Array | string): void {
    const event = new MessageEvent("message", {
      data: typeof data === "string" ? data : data.slice().buffer,
    });
    this.dispatchEvent(event);
  }
}

function worker() {
  const events: ShellChannelEvent[] = [];
  const channels = new ShellChannels((event) => events.push(event));
  const add = (id: number) => {
    const channel = new FakeChannel();
    channels.handle({ t: "add", id, channel: channel as unknown as RTCDataChannel });
    return channel;
  };
  const output = () =>
    events.flatMap((e) => (e.t === "output" ? [new TextDecoder().decode(e.bytes)] : [])).join("");
  const closedWhy = (id: number) =>
    events.flatMap((e) => (e.t === "closed" && e.id === id ? [e.reason] : []))[0];
  return { events, channels, add, output, closedWhy };
}

describe("the shell channel worker", () => {
  it("passes on the output after the host's greeting, reading bytes as bytes", () => {
    const w = worker();
    const channel = w.add(1);
    expect(channel.binaryType).toBe("arraybuffer");
    channel.receive(SHELL_HELLO);
    for (const frame of encodeShellOutput(new TextEncoder().encode("root@spare:~# a")))
      channel.receive(frame);
    expect(w.events.map((e) => e.t)).toEqual(["ring", "hello", "output"]);
    expect(w.output()).toBe("root@spare:~# a");
    expect(channel.closed).toBe(false);
  });

  it.each([
    ["text instead of bytes", (c: FakeChannel) => c.receive("hello")],
    ["output before the greeting", (c: FakeChannel) => c.receive(encodeShellOutput(Uint8Array.of(97))[0]!)],
    [
      "a second greeting",
      (c: FakeChannel) => {
        c.receive(SHELL_HELLO);
        c.receive(SHELL_HELLO);
      },
    ],
    [
      "a frame over the limit",
      (c: FakeChannel) => {
        c.receive(SHELL_HELLO);
        c.receive(new Uint8Array(2 + MAX_SHELL_FRAME_BYTES).fill(1, 0, 1));
      },
    ],
    [
      "a frame of an unknown kind",
      (c: FakeChannel) => {
        c.receive(SHELL_HELLO);
        c.receive(Uint8Array.of(7, 97));
      },
    ],
    ["an empty frame", (c: FakeChannel) => c.receive(new Uint8Array(0))],
  ])("closes the channel on %s, and passes nothing of it on", (_name, send) => {
    const w = worker();
    const channel = w.add(1);
    send(channel);
    expect(channel.closed).toBe(true);
    expect(w.closedWhy(1)).toMatch(/shell/);
    expect(w.output()).toBe("");
    channel.receive(SHELL_HELLO); // late frames of a closed channel are not read
    expect(w.events.filter((e) => e.t === "hello").length).toBeLessThanOrEqual(1);
  });

  it("holds at most 16 channels at once, and closes the ones past that", () => {
    const w = worker();
    const held = Array.from({ length: 16 }, (_, i) => w.add(i + 1));
    const extra = w.add(17);
    expect(held.every((c) => !c.closed)).toBe(true);
    expect(extra.closed).toBe(true);
    expect(w.closedWhy(17)).toMatch(/too many/);
    held[0]!.close();
    expect(w.add(18).closed).toBe(false);
  });

  it("closes a channel when the page says so", () => {
    const w = worker();
    const channel = w.add(1);
    channel.receive(SHELL_HELLO);
    w.channels.handle({ t: "close", id: 1 });
    expect(channel.closed).toBe(true);
    expect(w.closedWhy(1)).toBe("closed by the page");
  });
});
