// The rules that pause contributing outright, whatever the load: a battery
// running down (with hysteresis: pause below a stop level unless charging,
// resume only above a higher restart level), "only while this device is idle",
// and allowed hours. Each says why it pauses, in words for the Contribute page.

export interface BatteryReading {
  /** 0..1 */
  level: number;
  charging: boolean;
}

export interface GateSettings {
  /** Below this battery percentage, not charging, contributing pauses. */
  batteryStopPct: number;
  /** Once paused for the battery, it resumes at this percentage (or when charging). */
  batteryResumePct: number;
  onlyWhenIdle: boolean;
  /** Local hours [fromHour, toHour) when contributing is allowed; null: any time. */
  allowedHours: { fromHour: number; toHour: number } | null;
}

export interface GateSignals {
  battery: BatteryReading | null;
  /** Whether the person is away from the device; null when nobody can tell. */
  idle: boolean | null;
  /** Minutes since local midnight. */
  localMinutes: number;
}

export const DEFAULT_GATES: GateSettings = {
  batteryStopPct: 20,
  batteryResumePct: 30,
  onlyWhenIdle: false,
  allowedHours: null,
};

/** Pause below the stop level unless charging; once paused, resume at the restart level or on charging. */
export class BatteryGate {
  private pausedNow = false;

  update(battery: BatteryReading | null, s: GateSettings): boolean {
    if (!battery || battery.charging) this.pausedNow = false;
    else if (this.pausedNow)
      this.pausedNow = battery.level * 100 < Math.max(s.batteryResumePct, s.batteryStopPct);
    else this.pausedNow = battery.level * 100 < s.batteryStopPct;
    return this.pausedNow;
  }

  get paused(): boolean {
    return this.pausedNow;
  }
}

export function withinHours(hours: GateSettings["allowedHours"], localMinutes: number): boolean {
  if (!hours || hours.fromHour === hours.toHour) return true;
  const h = Math.floor(localMinutes / 60) % 24;
  return hours.fromHour < hours.toHour
    ? h >= hours.fromHour && h < hours.toHour
    : h >= hours.fromHour || h < hours.toHour;
}

const hh = (hour: number) => `${String(hour).padStart(2, "0")}:00`;

/** Why the gates pause contributing now, or null when they let it run. */
export class DeviceGates {
  private readonly battery = new BatteryGate();

  update(signals: GateSignals, settings: GateSettings): string | null {
    const reasons: string[] = [];
    if (this.battery.update(signals.battery, settings)) {
      const pct = Math.round((signals.battery?.level ?? 0) * 100);
      reasons.push(`battery ${pct} %, resumes at ${settings.batteryResumePct} %`);
    }
    if (!withinHours(settings.allowedHours, signals.localMinutes) && settings.allowedHours)
      reasons.push(`outside the allowed hours, resumes at ${hh(settings.allowedHours.fromHour)}`);
    if (settings.onlyWhenIdle && signals.idle === false)
      reasons.push("this device is in use (only while idle)");
    return reasons.length > 0 ? reasons.join("; ") : null;
  }
}
