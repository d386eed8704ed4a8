// What every VmEngine does, whatever runs the VM: v86 in the VM host (the
// worker's code, run directly in Node) and the fake engine the runtime tests
// use both run this suite, so the fake cannot drift from the real engine. It is
// one chain (boot, command, checkpoint, stop, restore elsewhere), so the real
// engine boots once and restores once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createVmKey } from "../../core/crypto/vm-crypto.ts";
import type { createVmEngine } from "../../web/vm-engine.ts";

/** The VmEngine interface, as the real engine implements it. */
type VmEngine = ReturnType<typeof createVmEngine>;

export interface EngineFixture {
  /** The image this fixture's engines have. */
  imageId: string;
  create(): VmEngine;
  close?(): Promise<void>;
}

/** An engine and everything it printed. */
class Console {
  text = "";
  private readonly decoder = new TextDecoder();
  readonly onOutput = (bytes: Uint8Array) => {
    this.text += this.decoder.decode(bytes, { stream: true });
  };
  async waitFor(marker: string, from = 0, timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!this.text.includes(marker, from)) {
      if (Date.now() > end)
        throw new Error(
          `no "${marker}" in ${timeoutMs} ms; the console ends: ${JSON.stringify(this.text.slice(-300))}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const line = (command: string) => new TextEncoder().encode(`${command}\r`);

export function describeVmEngine(name: string, start: () => Promise<EngineFixture>) {
  describe.sequential(`VmEngine: ${name}`, () => {
    let fixture: EngineFixture;
    let key: CryptoKey;
    let otherKey: CryptoKey;
    const context = "checkpoint/acceptance/1/1";
    let first: VmEngine;
    const firstConsole = new Console();
    let sealed: Uint8Array;
    const stopped: VmEngine[] = [];

    beforeAll(async () => {
      fixture = await start();
      [key, otherKey] = await Promise.all([createVmKey(), createVmKey()]);
    });
    afterAll(async () => {
      for (const engine of [first, ...stopped]) await engine?.stop().catch(() => {});
      await fixture?.close?.();
    });

    it("refuses to start an image it does not have", async () => {
      const engine = fixture.create();
      stopped.push(engine);
      const options = { imageId: `${fixture.imageId}-other`, sealed: null, budgetPct: 100 };
      await expect(engine.start({ ...options, onOutput: () => {} })).rejects.toThrow();
    });

    it("starts from the image: output arrives and the shell answers", async () => {
      first = fixture.create();
      await first.start({
        imageId: fixture.imageId,
        sealed: null,
        budgetPct: 100,
        onOutput: firstConsole.onOutput,
      });
      await firstConsole.waitFor("", 0);
      const from = firstConsole.text.length;
      first.input(line("echo X-$((1+1))"));
      await firstConsole.waitFor("X-2", from);
    });

    it("reports stats, and takes a new budget", async () => {
      const before = await first.stats();
      expect(before.usedPct).toBeGreaterThanOrEqual(0);
      expect(before.instructions).toBeGreaterThanOrEqual(0);
      first.setBudget(50);
      const from = firstConsole.text.length;
      first.input(line("echo B-$((2*25))"));
      await firstConsole.waitFor("B-50", from);
      const after = await first.stats();
      expect(Number.isFinite(after.usedPct)).toBe(true);
      expect(after.instructions).toBeGreaterThan(before.instructions);
      first.setBudget(100);
    });

    it("checkpoints to sealed bytes that do not show what is inside", async () => {
      let from = firstConsole.text.length;
      first.input(line("echo f-$((20+3)) > /root/f"));
      first.input(line("echo W-$((2+2))"));
      await firstConsole.waitFor("W-4", from);
      const c = await first.checkpoint(key, context);
      expect(c.sealed).toBeInstanceOf(Uint8Array);
      expect(c.sealed.byteLength).toBeGreaterThan(0);
      expect(c.rawBytes).toBeGreaterThan(0);
      expect(c.saveMs).toBeGreaterThanOrEqual(0);
      expect(c.packMs).toBeGreaterThanOrEqual(0);
      expect(Buffer.from(c.sealed).includes("X-2")).toBe(false);
      sealed = c.sealed;
      // Still running after a checkpoint.
      from = firstConsole.text.length;
      first.input(line("echo A-$((4+5))"));
      await firstConsole.waitFor("A-9", from);
    });

    it("keeps a transcript of the console", async () => {
      const transcript = await first.transcript();
      expect(transcript).toContain("X-2");
      expect(transcript).toContain("A-9");
    });

    it("stops: no more output, input is ignored, and there is nothing to checkpoint", async () => {
      await first.stop();
      stopped.push(first);
      const at = firstConsole.text.length;
      first.input(line("echo Y-$((3+3))"));
      await new Promise((r) => setTimeout(r, 300));
      expect(firstConsole.text.length).toBe(at);
      await expect(first.checkpoint(key, context)).rejects.toThrow();
      expect(await first.stats()).toEqual({ usedPct: 0, instructions: 0 });
    });

    it("will not start from the checkpoint under another key or context", async () => {
      for (const wrong of [
        { bytes: sealed, key: otherKey, context },
        { bytes: sealed, key, context: "checkpoint/acceptance/1/2" },
      ]) {
        const engine = fixture.create();
        stopped.push(engine);
        const output: Uint8Array[] = [];
        const started = engine.start({
          imageId: fixture.imageId,
          sealed: wrong,
          budgetPct: 100,
          onOutput: (b) => output.push(b),
        });
        await expect(started).rejects.toThrow();
        expect(output).toEqual([]);
      }
    });

    it("restores the checkpoint in another engine, with the console and the file it had", async () => {
      const second = fixture.create();
      stopped.push(second);
      const console2 = new Console();
      await second.start({
        imageId: fixture.imageId,
        sealed: { bytes: sealed, key, context },
        budgetPct: 100,
        onOutput: console2.onOutput,
      });
      // The console shows what it showed when the checkpoint was taken.
      await console2.waitFor("W-4", 0);
      const from = console2.text.length;
      second.input(line("cat /root/f"));
      await console2.waitFor("f-23", from);
      await second.stop();
    });
  });
}
