import { describe, expect, it } from "vitest";
import { SerialBatcher } from "../../worker/serial-batcher.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("SerialBatcher", () => {
  it("hands on one tick's bytes together, as soon as the tick ends (before any timer)", async () => {
    const batches: string[] = [];
    const batcher = new SerialBatcher((bytes) => batches.push(text(bytes)));
    for (const c of "ok\r\n") batcher.push(c.charCodeAt(0));
    expect(batches).toEqual([]); // still in the emulator's tick
    const timer = new Promise<string[]>((resolve) => setTimeout(() => resolve([...batches]), 0));
    await Promise.resolve();
    expect(batches).toEqual(["ok\r\n"]);
    expect(await timer).toEqual(["ok\r\n"]);
    batcher.push(0x24);
    await Promise.resolve();
    expect(batches).toEqual(["ok\r\n", "$"]);
  });

  it("hands on a full buffer at once, and what is left at dispose", () => {
    const batches: string[] = [];
    const batcher = new SerialBatcher((bytes) => batches.push(text(bytes)), 0, 4);
    for (const c of "abcdef") batcher.push(c.charCodeAt(0));
    expect(batches).toEqual(["abcd"]);
    batcher.dispose();
    expect(batches).toEqual(["abcd", "ef"]);
  });
});
