// Whether the person is away from the device, for "only while this device is
// idle": the Idle Detection API where the person allowed it (it sees the whole
// device, and a locked screen), else input inactivity in this app (which only
// sees this tab: typing in another window looks like being away).
import type { Lifetime } from "./lifetime.ts";

/** Inactivity this long counts as idle (the Idle Detection API's own minimum). */
export const IDLE_AFTER_MS = 60_000;

interface IdleDetectorLike extends EventTarget {
  userState: "active" | "idle" | null;
  screenState: "locked" | "unlocked" | null;
  start(options: { threshold: number; signal: AbortSignal }): Promise<void>;
}

interface IdleDetectorCtor {
  new (): IdleDetectorLike;
  requestPermission(): Promise<"granted" | "denied">;
}

const INPUT_EVENTS = ["pointerdown", "pointermove", "keydown", "wheel", "touchstart"] as const;

export class IdleWatch {
  private detector: IdleDetectorLike | null = null;
  private lastInputMs = performance.now();

  constructor(
    private readonly lifetime: Lifetime,
    private readonly onChange: () => void,
  ) {
    const { signal } = lifetime;
    const onInput = () => {
      const wasIdle = this.idle();
      this.lastInputMs = performance.now();
      if (wasIdle) onChange(); // someone is back: pause at once, not at the next tick
    };
    for (const type of INPUT_EVENTS) window.addEventListener(type, onInput, { signal, passive: true });
    // Use the API without asking when the person already allowed it.
    navigator.permissions
      ?.query({ name: "idle-detection" as PermissionName })
      .then((status) => {
        if (status.state === "granted") void this.startDetector();
      })
      .catch(() => {});
  }

  /** What the page knows: the detector's answer, else input inactivity here. */
  idle(): boolean {
    const d = this.detector;
    if (d?.userState) return d.userState === "idle" || d.screenState === "locked";
    return performance.now() - this.lastInputMs >= IDLE_AFTER_MS;
  }

  /** Asks for Idle Detection (must run inside a click); false when refused or missing. */
  async requestPermission(): Promise<boolean> {
    const Ctor = (globalThis as { IdleDetector?: IdleDetectorCtor }).IdleDetector;
    if (!Ctor) return false;
    try {
      if ((await Ctor.requestPermission()) !== "granted") return false;
      return await this.startDetector();
    } catch {
      return false;
    }
  }

  private async startDetector(): Promise<boolean> {
    const Ctor = (globalThis as { IdleDetector?: IdleDetectorCtor }).IdleDetector;
    if (!Ctor || this.detector || this.lifetime.ended) return this.detector !== null;
    try {
      const detector = new Ctor();
      detector.addEventListener("change", () => this.onChange(), { signal: this.lifetime.signal });
      await detector.start({ threshold: IDLE_AFTER_MS, signal: this.lifetime.signal });
      this.detector = detector;
      this.onChange();
      return true;
    } catch {
      return false;
    }
  }
}
