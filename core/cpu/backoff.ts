// The adaptive governor's decision: which share of the configured CPU budget
// others' VMs get now (0..1, 0 meaning paused) and why, in words the Contribute
// page shows as they are ("running at 35 %: system busy", "paused: battery
// 18 %, resumes at 30 %"). Pure: signals and time come in, nothing is timed here.

import { DeviceGates, type GateSettings, type GateSignals } from "./device-gates.ts";
import { LoadBackoff, type LoadBackoffOptions, type LoadSignals } from "./load-backoff.ts";

export type BackoffSignals = LoadSignals & GateSignals;

export interface BackoffDecision {
  share: number;
  paused: boolean;
  reason: string;
}

export class Backoff {
  private readonly load: LoadBackoff;
  private readonly gates = new DeviceGates();
  private last: BackoffDecision = { share: 1, paused: false, reason: "running at 100 %" };

  constructor(options: LoadBackoffOptions = {}) {
    this.load = new LoadBackoff(options);
  }

  update(signals: BackoffSignals, settings: GateSettings, nowMs: number): BackoffDecision {
    const loadShare = this.load.update(signals, nowMs);
    const gate = this.gates.update(signals, settings);
    if (gate !== null) this.last = { share: 0, paused: true, reason: `paused: ${gate}` };
    else if (loadShare <= 0) this.last = { share: 0, paused: true, reason: `paused: ${this.why()}` };
    else {
      const pct = Math.round(loadShare * 100);
      this.last = {
        share: loadShare,
        paused: false,
        reason: loadShare >= 1 ? "running at 100 %" : `running at ${pct} %: ${this.why()}`,
      };
    }
    return this.last;
  }

  current(): BackoffDecision {
    return this.last;
  }

  private why(): string {
    const what = this.load.cause === "page" ? "this page is busy" : "system busy";
    return this.load.load === "calm" ? `${what} a moment ago, recovering` : what;
  }
}

/** The budget to give a governor: the user's budget scaled by the share (0 means held). */
export function effectiveBudgetPct(userBudgetPct: number, share: number): number {
  return share > 0 ? Math.max(1, Math.round(userBudgetPct * share)) : 0;
}
