// Watches what the device says about itself (Compute Pressure, the battery, the
// page's own long tasks) and turns it, through core's PressurePolicy, into the
// share of the CPU budget the VMs may use right now.
import { type DeviceSignals, PressurePolicy, type PressureState } from "../core/cpu/pressure.ts";
import { Lifetime } from "./lifetime.ts";

const LONG_TASK_WINDOW_MS = 5000;
const TICK_MS = 1000;

interface PressureRecordLike {
  state: PressureState;
}

interface PressureObserverLike {
  observe(source: "cpu", options?: { sampleInterval?: number }): Promise<void>;
  disconnect(): void;
}

interface BatteryLike extends EventTarget {
  charging: boolean;
  level: number;
}

export interface DeviceState {
  share: number;
  signals: DeviceSignals;
}

export class DeviceMonitor {
  private readonly policy = new PressurePolicy();
  private pressure: PressureState | null = null;
  private battery: BatteryLike | null = null;
  private longTaskTimes: number[] = [];
  /** The observers and the timer this monitor started: dispose ends them. */
  private readonly lifetime = new Lifetime();
  private last = 1;

  constructor(private readonly onChange: (state: DeviceState) => void) {
    const PressureObserverCtor = (
      globalThis as { PressureObserver?: new (cb: (r: PressureRecordLike[]) => void) => PressureObserverLike }
    ).PressureObserver;
    if (PressureObserverCtor) {
      const observer = new PressureObserverCtor((records) => {
        this.pressure = records.at(-1)?.state ?? this.pressure;
        this.tick();
      });
      this.lifetime.defer(() => observer.disconnect());
      observer.observe("cpu", { sampleInterval: 1000 }).catch(() => {});
    }
    const nav = navigator as Navigator & { getBattery?: () => Promise<BatteryLike> };
    nav.getBattery?.().then(
      (battery) => {
        this.battery = battery;
      },
      () => {},
    );
    if (PerformanceObserver.supportedEntryTypes?.includes("longtask")) {
      const longTasks = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) this.longTaskTimes.push(entry.startTime);
      });
      longTasks.observe({ type: "longtask", buffered: false });
      this.lifetime.defer(() => longTasks.disconnect());
    }
    this.lifetime.every(TICK_MS, () => this.tick());
  }

  signals(): DeviceSignals {
    const now = performance.now();
    this.longTaskTimes = this.longTaskTimes.filter((t) => now - t < LONG_TASK_WINDOW_MS);
    return {
      pressure: this.pressure,
      battery: this.battery ? { charging: this.battery.charging, level: this.battery.level } : null,
      longTasks: this.longTaskTimes.length,
    };
  }

  share(): number {
    return this.policy.current();
  }

  private tick(): void {
    const signals = this.signals();
    const share = this.policy.update(signals, performance.now());
    if (share !== this.last) {
      this.last = share;
      this.onChange({ share, signals });
    }
  }

  dispose(): void {
    this.lifetime.end();
  }
}

/** A sentence for the UI about why the VMs are slowed, or "" when they are not. */
export function describeBackoff(state: DeviceState): string {
  if (state.share >= 1) return "";
  const why: string[] = [];
  const s = state.signals;
  if (s.pressure && s.pressure !== "nominal") why.push(`CPU pressure is ${s.pressure}`);
  if (s.battery && !s.battery.charging && s.battery.level < 0.4)
    why.push(`the battery is at ${Math.round(s.battery.level * 100)}%`);
  if (s.longTasks >= 3) why.push("this page is busy");
  const reason = why.length > 0 ? why.join(", ") : "the device was busy a moment ago";
  return state.share === 0
    ? `Paused to keep the device smooth: ${reason}.`
    : `Backing off to ${Math.round(state.share * 100)}% of the budget: ${reason}.`;
}
