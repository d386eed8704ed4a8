// The VM worker's side of the shell channels: it greets each tab, sends it the
// console's output from where the page left off (no byte twice, none missed),
// then the output as it comes; a tab that talks on it, or a position it cannot
// serve, ends the channel and says so, so the page goes back to the mesh.
import { describe, expect, it } from "vitest";
import { parseShellFrame } from "../../core/vm/shell-frames.ts";
import { ShellOutlets } from "../../worker/shell-outlets.ts";

class FakeChannel extends EventTarget {
  binaryType = "blob";
  readyState = "connecting";
  bufferedAmount = 0;
  readonly sent: Uint8Array[] = [];
  send(data: Uint8Array): void {
    this.sent.push(data.slice());
  }
  close(): void {
    if (this.readyState === "closed") return;
    this.readyState = "closed";
    this.dispatchEvent(new Event("close"));
  }
  open(): void {
    this.readyState = "open";
    this.dispatchEvent(new Event("open"));
  }
  /** What the tab would read: "hello", then the output as text. */
  read(): string[] {
    return this.sent.map((d) => {
      const f = parseShellFrame(d);
      return f?.t === "output" ? new TextDecoder().decode(f.bytes) : (f?.t ?? "bad");
    });
  }
}

const bytes = (s: string) => new TextEncoder().encode(s);
const add = (outlets: ShellOutlets, from: number) => {
  const channel = new FakeChannel();
  const state = { closed: 0 };
  outlets.add(1, channel as unknown as RTCDataChannel, from, () => state.closed++);
  return { channel, state };
};

describe("the VM worker's shell outlets", () => {
  it("greet once open, then send what the page had not sent the tab, then what comes", () => {
    const outlets = new ShellOutlets();
    outlets.write(bytes("root@spare:~# "));
    outlets.write(bytes("ab"));
    // The page had handed on the prompt (14 bytes) when it passed the channel over.
    const { channel } = add(outlets, 14);
    outlets.write(bytes("c"));
    expect(channel.sent).toEqual([]);
    channel.open();
    outlets.write(bytes("d"));
    expect(channel.read()).toEqual(["hello", "abc", "d"]);
    expect(channel.binaryType).toBe("arraybuffer");
  });

  it.each([
    ["a position past the output", 99],
    ["a position no longer kept", 0],
  ])("refuse %s, and say the channel is given up", (_name, from) => {
    const outlets = new ShellOutlets();
    for (let i = 0; i < 70; i++) outlets.write(new Uint8Array(1024)); // more than the history keeps
    const { channel, state } = add(outlets, from);
    expect(channel.readyState).toBe("closed");
    expect(state.closed).toBe(1);
  });

  it("end the channel when the tab talks on it, and send it nothing more", () => {
    const outlets = new ShellOutlets();
    const { channel, state } = add(outlets, 0);
    channel.open();
    channel.dispatchEvent(new MessageEvent("message", { data: new ArrayBuffer(3) }));
    expect(channel.readyState).toBe("closed");
    expect(state.closed).toBe(1);
    outlets.write(bytes("secret"));
    expect(channel.read()).toEqual(["hello"]);
  });

  it("give up a channel that would not take more", () => {
    const outlets = new ShellOutlets();
    const { channel, state } = add(outlets, 0);
    channel.open();
    channel.bufferedAmount = 2 * 1024 * 1024;
    outlets.write(bytes("x"));
    expect(state.closed).toBe(1);
    expect(channel.readyState).toBe("closed");
  });

  // The VM worker hands each output chunk to the page by transferring its buffer
  // (worker/vm-console.ts), which empties the chunk in the worker.
  it("send output a tab missed while its channel opened as written, though the chunk was transferred away", () => {
    const outlets = new ShellOutlets();
    const { channel } = add(outlets, 0);
    const echo = bytes("stty cols 41 rows 27\r\n");
    outlets.write(echo);
    structuredClone(echo.buffer, { transfer: [echo.buffer] }); // what postMessage's transfer does
    channel.open();
    expect(channel.read().filter((t) => t !== "hello")).toEqual(["stty cols 41 rows 27\r\n"]);
  });
});
