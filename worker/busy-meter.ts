// Measures how long v86 spends emulating, so the governor can steer by real CPU
// use: a halted (idle) guest costs almost nothing even while "running".
//
// v86 has no public hook for this. Its tick function (`do_tick` on the `v86`
// object) keeps its name in libv86.mjs 0.5.462, which package.json pins exactly;
// it is wrapped to time each tick. Should a future v86 rename it, the meter falls
// back to counting all running time as busy (the governor then acts like a plain
// duty cycle), and `precise` says so.

interface TickOwner {
  do_tick?: () => void;
}

export interface BusyMeter {
  busyMs(): number;
  /** Whether ticks are timed (true) or running time is counted instead. */
  readonly precise: boolean;
  setRunning(running: boolean): void;
}

export function createBusyMeter(emulator: unknown, now: () => number = () => performance.now()): BusyMeter {
  const owner = (emulator as { v86?: TickOwner }).v86;
  const tick = owner?.do_tick;
  let busy = 0;
  if (owner && typeof tick === "function") {
    owner.do_tick = function timedTick(this: TickOwner) {
      const start = now();
      try {
        tick.call(this);
      } finally {
        busy += now() - start;
      }
    };
    return { busyMs: () => busy, precise: true, setRunning: () => {} };
  }
  let runningSince: number | null = null;
  return {
    precise: false,
    busyMs: () => busy + (runningSince === null ? 0 : now() - runningSince),
    setRunning(running: boolean) {
      if (running && runningSince === null) runningSince = now();
      if (!running && runningSince !== null) {
        busy += now() - runningSince;
        runningSince = null;
      }
    },
  };
}
