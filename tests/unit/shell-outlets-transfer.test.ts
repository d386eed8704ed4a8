// The VM worker hands each output chunk to the page by transferring its buffer
// (worker/vm-console.ts), which empties the chunk in the worker. Output a tab
// missed while its channel opened must still reach it as the bytes they were,
// not as zeros: the outlets keep their own copy.
import { describe, expect, it } from "vitest";
import { parseShellFrame } from "../../core/vm/shell-frames.ts";
import { ShellOutlets } from "../../worker/shell-outlets.ts";

class OpeningChannel extends EventTarget {
  binaryType = "blob";
  readyState = "connecting";
  bufferedAmount = 0;
  readonly sent: Uint8Array[] = [];
  send(data: Uint8Array): void {
    this.sent.push(data.slice());
  }
  close(): void {
    this.readyState = "closed";
  }
  open(): void {
    this.readyState = "open";
    this.dispatchEvent(new Event("open"));
  }
}

describe("output a tab missed while its shell channel opened", () => {
  it("arrives as written, although the worker transferred the chunk to the page", () => {
    const outlets = new ShellOutlets();
    const channel = new OpeningChannel();
    outlets.add(1, channel as unknown as RTCDataChannel, 0, () => {});
    const echo = new TextEncoder().encode("stty cols 41 rows 27\r\n");
    outlets.write(echo);
    structuredClone(echo.buffer, { transfer: [echo.buffer] }); // what postMessage's transfer does
    channel.open();
    const output = channel.sent.map((d) => parseShellFrame(d)).filter((f) => f?.t === "output");
    expect(output.map((f) => (f?.t === "output" ? new TextDecoder().decode(f.bytes) : ""))).toEqual([
      "stty cols 41 rows 27\r\n",
    ]);
  });
});
