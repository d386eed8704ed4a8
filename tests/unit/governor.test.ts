import { describe, expect, it } from "vitest";
import { type GovernedEmulator, Governor } from "../../core/cpu/governor.ts";
import { type Clock, ManualClock } from "../../core/util/clock.ts";

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** An emulator that is busy `busyFraction` of the time it runs, and stops late. */
class FakeEmulator implements GovernedEmulator {
  running = false;
  busyFraction = 1;
  overshootMs = 2;
  stops = 0;
  private busy = 0;
  private lastAt = 0;
  constructor(private readonly clock: Clock) {}
  private accrue(): void {
    const now = this.clock.nowMs();
    if (this.running) this.busy += (now - this.lastAt) * this.busyFraction;
    this.lastAt = now;
  }
  run(): void {
    this.accrue();
    this.running = true;
  }
  stop(): Promise<void> {
    this.stops++;
    return new Promise((resolve) =>
      this.clock.after(this.overshootMs, () => {
        this.accrue();
        this.running = false;
        resolve();
      }),
    );
  }
  busyMs(): number {
    this.accrue();
    return this.busy;
  }
}

/** A clock whose timers all fire `lateMs` late, like a busy event loop. */
class LateClock extends ManualClock {
  constructor(private readonly lateMs: number) {
    super();
  }
  override after(ms: number, fn: () => void): () => void {
    return super.after(ms + this.lateMs, fn);
  }
}

function setup(budgetPct: number, clock: ManualClock = new ManualClock()) {
  const emulator = new FakeEmulator(clock);
  const governor = new Governor(emulator, clock, { budgetPct, periodMs: 20 });
  return { clock, emulator, governor };
}

/** Share of one core the emulator really used over `ms` of clock time. */
async function measure(clock: ManualClock, emulator: FakeEmulator, ms: number): Promise<number> {
  const busy0 = emulator.busyMs();
  await clock.advance(ms, flush);
  return ((emulator.busyMs() - busy0) / ms) * 100;
}

describe("Governor", () => {
  it.each([10, 25, 50, 75])(
    "holds a busy guest to its budget (%i percent) despite late stops",
    async (budget) => {
      const { clock, emulator, governor } = setup(budget);
      governor.start();
      await clock.advance(1000, flush); // settle
      const used = await measure(clock, emulator, 10_000);
      expect(used).toBeGreaterThan(budget - 2);
      expect(used).toBeLessThan(budget + 2);
      expect(governor.usage().usedPct).toBeCloseTo(used, -1);
    },
  );

  it("holds the budget when every timer fires late", async () => {
    const { clock, emulator, governor } = setup(30, new LateClock(5));
    governor.start();
    await clock.advance(1000, flush);
    const used = await measure(clock, emulator, 10_000);
    expect(Math.abs(used - 30)).toBeLessThan(3);
  });

  it("never stops the emulator at a 100% budget", async () => {
    const { clock, emulator, governor } = setup(100);
    governor.start();
    const used = await measure(clock, emulator, 5000);
    expect(emulator.stops).toBe(0);
    expect(used).toBeCloseTo(100, 5);
    expect(governor.usage().usedPct).toBeGreaterThan(99);
  });

  it("leaves an idle guest running: it is not using its budget", async () => {
    const { clock, emulator, governor } = setup(25);
    emulator.busyFraction = 0.05;
    governor.start();
    const used = await measure(clock, emulator, 5000);
    expect(emulator.stops).toBe(0);
    expect(used).toBeCloseTo(5, 1);
  });

  it("lets a guest that wakes after a long idle spell burst for one period at most", async () => {
    const { clock, emulator, governor } = setup(25);
    emulator.busyFraction = 0;
    governor.start();
    await clock.advance(10_000, flush);
    emulator.busyFraction = 1;
    const used = await measure(clock, emulator, 200);
    // one period of credit (20 ms) over 200 ms adds at most ~10 points
    expect(used).toBeLessThan(25 + 12);
  });

  it("pauses: nothing runs and no timer is left; resume holds the budget again", async () => {
    const { clock, emulator, governor } = setup(40);
    governor.start();
    await clock.advance(500, flush);
    const paused = governor.pause();
    await clock.advance(5, flush); // the emulator stops at its next tick
    await paused;
    expect(emulator.running).toBe(false);
    expect(clock.pending).toBe(0);
    expect(governor.usage().state).toBe("paused");
    const pausedUse = await measure(clock, emulator, 5000);
    expect(pausedUse).toBe(0);
    const wallBefore = governor.usage().wallMs;
    governor.resume();
    const used = await measure(clock, emulator, 5000);
    expect(Math.abs(used - 40)).toBeLessThan(2);
    // the paused time did not count as wall time the guest could spend later
    expect(governor.usage().wallMs - wallBefore).toBeLessThan(5100);
  });

  it("pausing while resting does not restart the emulator later", async () => {
    const { clock, emulator, governor } = setup(10);
    governor.start();
    for (let i = 0; i < 50 && governor.usage().state !== "resting"; i++) await clock.advance(1, flush);
    expect(governor.usage().state).toBe("resting");
    const paused = governor.pause();
    await clock.advance(1000, flush);
    await paused;
    expect(emulator.running).toBe(false);
  });

  it("follows a new budget", async () => {
    const { clock, emulator, governor } = setup(20);
    governor.start();
    await clock.advance(1000, flush);
    governor.setBudget(60);
    await clock.advance(500, flush);
    const used = await measure(clock, emulator, 5000);
    expect(Math.abs(used - 60)).toBeLessThan(2);
    expect(governor.usage().budgetPct).toBe(60);
  });

  it("clamps budgets above 100, and holds on nonsense ones (negative, NaN) rather than run", () => {
    const { governor } = setup(500);
    expect(governor.usage().budgetPct).toBe(100);
    governor.setBudget(0.5);
    expect(governor.usage().budgetPct).toBe(1);
    governor.setBudget(-3);
    expect(governor.usage().budgetPct).toBe(0);
    governor.setBudget(Number.NaN);
    expect(governor.usage().budgetPct).toBe(0);
  });

  it("stop() ends governing and leaves no timers", async () => {
    const { clock, emulator, governor } = setup(50);
    governor.start();
    await clock.advance(300, flush);
    const stopped = governor.stop();
    await clock.advance(1000, flush);
    await stopped;
    expect(emulator.running).toBe(false);
    expect(clock.pending).toBe(0);
    governor.start();
    expect(emulator.running).toBe(false);
  });

  it("input cuts a rest short: the guest answers at once", async () => {
    const { clock, emulator, governor } = setup(25);
    governor.start();
    await clock.advance(1000, flush);
    for (let i = 0; i < 50 && !(governor.usage().state === "resting" && !emulator.running); i++)
      await clock.advance(1, flush);
    expect(emulator.running).toBe(false);
    governor.wake();
    expect(emulator.running).toBe(true);
    expect(governor.usage().state).toBe("running");
  });

  it("input while it stops for a rest runs it as soon as it has stopped", async () => {
    const { clock, emulator, governor } = setup(25);
    governor.start();
    await clock.advance(1000, flush);
    for (let i = 0; i < 50 && !(governor.usage().state === "resting" && emulator.running); i++)
      await clock.advance(1, flush);
    expect(governor.usage().state).toBe("resting"); // asked to stop, not stopped yet
    governor.wake();
    await clock.advance(emulator.overshootMs, flush);
    expect(emulator.running).toBe(true);
  });

  it("still holds the budget when a busy guest is typed at nonstop", async () => {
    const { clock, emulator, governor } = setup(25);
    governor.start();
    await clock.advance(1000, flush);
    const busy0 = emulator.busyMs();
    for (let ms = 0; ms < 5000; ms++) {
      governor.wake();
      await clock.advance(1, flush);
    }
    const used = ((emulator.busyMs() - busy0) / 5000) * 100;
    expect(Math.abs(used - 25)).toBeLessThan(2);
  });

  it("a budget of 0 holds a busy guest (no CPU at all, input does not wake it) until raised", async () => {
    const { clock, emulator, governor } = setup(50);
    governor.start();
    await clock.advance(1000, flush);
    governor.setBudget(0);
    await clock.advance(emulator.overshootMs, flush);
    expect(governor.usage()).toMatchObject({ state: "held", budgetPct: 0 });
    governor.wake();
    expect(await measure(clock, emulator, 5000)).toBe(0);
    governor.setBudget(30);
    await clock.advance(1000, flush);
    const used = await measure(clock, emulator, 5000);
    expect(Math.abs(used - 30)).toBeLessThan(2);
  });

  it("started with a budget of 0, it waits held; pause and resume keep it held", async () => {
    const clock = new ManualClock();
    const emulator = new FakeEmulator(clock);
    const governor = new Governor(emulator, clock, { budgetPct: 0 });
    governor.start();
    expect(governor.usage().state).toBe("held");
    await governor.pause();
    expect(governor.usage().state).toBe("paused");
    governor.resume();
    expect(governor.usage().state).toBe("held");
    expect(await measure(clock, emulator, 1000)).toBe(0);
    governor.setBudget(100);
    expect(emulator.running).toBe(true);
  });

  it("a budget lowered then raised again runs at the new budget within a period, not after a rest planned at the low one", async () => {
    const { clock, emulator, governor } = setup(50);
    governor.start();
    await clock.advance(60_000, flush);
    governor.setBudget(3);
    await clock.advance(2000, flush);
    governor.setBudget(50);
    await clock.advance(100, flush);
    const used = await measure(clock, emulator, 5000);
    expect(Math.abs(used - 50)).toBeLessThan(3);
  });
});
