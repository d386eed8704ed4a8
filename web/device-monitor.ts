// Watches what the device says about itself and turns it, through core's
// Backoff, into the share of the CPU budget others' VMs may use right now and
// the reason for it: Compute Pressure (PressureObserver, cpu), the page's own
// long tasks, the battery (Battery API), whether the person is away (idle.ts),
// and the local time for allowed hours.
import { Backoff, type BackoffDecision } from "../core/cpu/backoff.ts";
import type { GateSettings } from "../core/cpu/device-gates.ts";
import type { PressureState } from "../core/cpu/load-backoff.ts";
import { IdleWatch } from "./idle.ts";
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

const PRESSURE_STATES: readonly string[] = ["nominal", "fair", "serious", "critical"];

export class DeviceMonitor {
  private readonly backoff = new Backoff();
  private pressure: PressureState | null = null;
  private battery: BatteryLike | null = null;
  private longTaskTimes: number[] = [];
  private readonly idle: IdleWatch;
  /** The observers, listeners and the timer this monitor started: dispose ends them. */
  private readonly lifetime = new Lifetime();
  private last: BackoffDecision;

  constructor(
    private readonly settings: () => GateSettings,
    private readonly onChange: (decision: BackoffDecision) => void,
  ) {
    this.last = this.backoff.current();
    this.idle = new IdleWatch(this.lifetime, () => this.tick());
    this.watchPressure();
    this.watchBattery();
    this.watchLongTasks();
    this.lifetime.every(TICK_MS, () => this.tick());
  }

  /** The share of the budget (0..1) others' VMs may use now. */
  share(): number {
    return this.last.share;
  }

  decision(): BackoffDecision {
    return this.last;
  }

  /** Lets "only while idle" use the Idle Detection API (asks the person; needs a click). */
  requestIdlePermission(): Promise<boolean> {
    return this.idle.requestPermission();
  }

  /** Decides again now (settings changed). */
  refresh(): void {
    this.tick();
  }

  dispose(): void {
    this.lifetime.end();
  }

  private watchPressure(): void {
    const Ctor = (
      globalThis as { PressureObserver?: new (cb: (r: PressureRecordLike[]) => void) => PressureObserverLike }
    ).PressureObserver;
    if (!Ctor) return;
    const observer = new Ctor((records) => {
      const state = records.at(-1)?.state;
      if (typeof state === "string" && PRESSURE_STATES.includes(state)) this.pressure = state;
      this.tick();
    });
    this.lifetime.defer(() => observer.disconnect());
    observer.observe("cpu", { sampleInterval: 1000 }).catch(() => {});
  }

  private watchBattery(): void {
    const nav = navigator as Navigator & { getBattery?: () => Promise<BatteryLike> };
    nav.getBattery?.().then(
      (battery) => {
        if (this.lifetime.ended) return;
        this.battery = battery;
        for (const type of ["levelchange", "chargingchange"])
          battery.addEventListener(type, () => this.tick(), { signal: this.lifetime.signal });
        this.tick();
      },
      () => {},
    );
  }

  private watchLongTasks(): void {
    if (!PerformanceObserver.supportedEntryTypes?.includes("longtask")) return;
    const longTasks = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) this.longTaskTimes.push(entry.startTime);
    });
    longTasks.observe({ type: "longtask", buffered: false });
    this.lifetime.defer(() => longTasks.disconnect());
  }

  private tick(): void {
    if (this.lifetime.ended) return;
    const now = performance.now();
    this.longTaskTimes = this.longTaskTimes.filter((t) => now - t < LONG_TASK_WINDOW_MS);
    const date = new Date();
    const battery = this.battery;
    const next = this.backoff.update(
      {
        pressure: this.pressure,
        longTasks: this.longTaskTimes.length,
        battery:
          battery && Number.isFinite(battery.level)
            ? { level: battery.level, charging: battery.charging }
            : null,
        idle: this.idle.idle(),
        localMinutes: date.getHours() * 60 + date.getMinutes(),
      },
      this.settings(),
      now,
    );
    if (next.share !== this.last.share || next.reason !== this.last.reason) {
      this.last = next;
      this.onChange(next);
    }
  }
}
