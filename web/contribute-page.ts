// "Contribute": the switch that lends this tab's idle CPU to other people's VMs,
// its limits (VM slots, memory, CPU budget, when to hold back), what the
// adaptive governor does now and why, a chart of the last hour, and the VMs it
// runs right now.

import { type BackoffDecision, effectiveBudgetPct } from "../core/cpu/backoff.ts";
import { shortPeerId } from "../core/crypto/identity.ts";
import { formatCredits } from "../core/ledger/units.ts";
import type { BandwidthTotals } from "../core/net/bandwidth-cap.ts";
import type { KeyValueStore } from "../core/state/storage.ts";
import { formatAge, formatBytes } from "../core/util/format.ts";
import type { HostedVm, HostRuntime } from "../core/vm/host-runtime.ts";
import { BandwidthRateMeter, bandwidthText } from "./bandwidth-view.ts";
import { CpuChart, CpuHistory } from "./contribute-chart.ts";
import {
  batteryLevels,
  type ContributeSettings,
  parseAllowedHours,
  parseBandwidthCap,
  saveContributeSettings,
} from "./contribute-settings.ts";
import { Lifetime } from "./lifetime.ts";

export interface ContributeElements {
  toggle: HTMLButtonElement;
  form: HTMLFormElement;
  slots: HTMLInputElement;
  memory: HTMLInputElement;
  budget: HTMLInputElement;
  batteryStop: HTMLInputElement;
  batteryResume: HTMLInputElement;
  hoursFrom: HTMLInputElement;
  hoursTo: HTMLInputElement;
  idleOnly: HTMLInputElement;
  /** "Let VMs I host reach the internet (HTTP through this browser)". */
  outbound: HTMLInputElement;
  /** The bandwidth cap in KiB/s (empty: unlimited). */
  bandwidthCap: HTMLInputElement;
  /** What bandwidth this tab gives now. */
  bandwidth: HTMLElement;
  status: HTMLElement;
  /** What the adaptive governor does now, and why. */
  governor: HTMLElement;
  chart: HTMLElement;
  hosted: HTMLTableSectionElement;
}

/** The adaptive governor as the page sees it (device-monitor.ts). */
export interface GovernorView {
  decision(): BackoffDecision;
  /** Decides again now (settings changed). */
  refresh(): void;
  requestIdlePermission(): Promise<boolean>;
}

const REFRESH_MS = 1000;

export class ContributePage {
  /** Every listener and timer this page started: dispose ends them. */
  private readonly lifetime = new Lifetime();
  private readonly history = new CpuHistory();
  private readonly chart: CpuChart;
  private readonly rates = new BandwidthRateMeter();

  constructor(
    private readonly el: ContributeElements,
    private settings: ContributeSettings,
    private readonly host: HostRuntime,
    private readonly governor: GovernorView,
    private readonly store: KeyValueStore,
    /** Called whenever what this tab offers changed (to sign presence again). */
    private readonly onChange: (settings: ContributeSettings) => void,
    /** What this tab sent and received for its hosted VMs (VmServices.bandwidth). */
    private readonly bandwidth: { totals(): BandwidthTotals },
  ) {
    const { signal } = this.lifetime;
    el.toggle.addEventListener("click", () => void this.setContributing(!this.settings.contributing), {
      signal,
    });
    el.form.addEventListener(
      "submit",
      (e) => {
        e.preventDefault();
        void this.saveLimits();
      },
      { signal },
    );
    // Idle Detection sees the whole device, but asks first (inside this click).
    el.idleOnly.addEventListener(
      "change",
      () => {
        if (el.idleOnly.checked) void governor.requestIdlePermission();
      },
      { signal },
    );
    this.chart = new CpuChart(el.chart);
    this.lifetime.defer(() => this.chart.dispose());
    this.lifetime.defer(host.on("change", () => this.render()));
    this.lifetime.every(REFRESH_MS, () => this.render());
    this.fill();
    this.host.setAccepting(this.settings.contributing);
    this.render();
  }

  /** The governor decided again: show it now. */
  governorChanged(): void {
    this.render();
  }

  dispose(): void {
    this.lifetime.end();
  }

  private fill(): void {
    this.el.slots.value = String(this.settings.slots);
    this.el.memory.value = String(this.settings.memoryMiB);
    this.el.budget.value = String(this.settings.budgetPct);
    this.el.batteryStop.value = String(this.settings.batteryStopPct);
    this.el.batteryResume.value = String(this.settings.batteryResumePct);
    this.el.hoursFrom.value = this.settings.allowedHours ? String(this.settings.allowedHours.fromHour) : "";
    this.el.hoursTo.value = this.settings.allowedHours ? String(this.settings.allowedHours.toHour) : "";
    this.el.idleOnly.checked = this.settings.onlyWhenIdle;
    this.el.outbound.checked = this.settings.outboundAllowed === true;
    this.el.bandwidthCap.value =
      this.settings.bandwidthCapKiBps == null ? "" : String(this.settings.bandwidthCapKiBps);
  }

  private async setContributing(contributing: boolean): Promise<void> {
    this.settings = { ...this.settings, contributing };
    this.host.setAccepting(contributing);
    if (!contributing) await this.host.releaseAll(); // a last checkpoint, then the owners move their VMs
    await saveContributeSettings(this.store, this.settings);
    this.onChange(this.settings);
    this.render();
  }

  private async saveLimits(): Promise<void> {
    const slots = Number(this.el.slots.value);
    const memoryMiB = Number(this.el.memory.value);
    const budgetPct = Number(this.el.budget.value);
    this.settings = {
      ...this.settings,
      slots: Number.isFinite(slots) ? Math.min(16, Math.max(1, Math.round(slots))) : this.settings.slots,
      memoryMiB: Number.isFinite(memoryMiB) ? Math.max(128, Math.round(memoryMiB)) : this.settings.memoryMiB,
      budgetPct: Number.isFinite(budgetPct)
        ? Math.min(100, Math.max(5, Math.round(budgetPct)))
        : this.settings.budgetPct,
      ...this.readGates(),
      // Applies to the VMs that start here from now on (their engine is told at start).
      outboundAllowed: this.el.outbound.checked,
      bandwidthCapKiBps: parseBandwidthCap(this.el.bandwidthCap.value),
    };
    this.fill();
    await saveContributeSettings(this.store, this.settings);
    this.onChange(this.settings);
    this.governor.refresh();
    this.render();
  }

  /** The hold-back rules from the form, checked as when loaded (contribute-settings.ts). */
  private readGates(): Pick<
    ContributeSettings,
    "batteryStopPct" | "batteryResumePct" | "onlyWhenIdle" | "allowedHours"
  > {
    const el = this.el;
    const stop = Number(el.batteryStop.value);
    const stopPct = Number.isFinite(stop)
      ? Math.min(95, Math.max(0, Math.round(stop)))
      : this.settings.batteryStopPct;
    const hour = (input: HTMLInputElement) => (input.value.trim() === "" ? null : Number(input.value));
    return {
      ...batteryLevels(stopPct, Number(el.batteryResume.value)),
      onlyWhenIdle: el.idleOnly.checked,
      allowedHours: parseAllowedHours({ fromHour: hour(el.hoursFrom), toHour: hour(el.hoursTo) }),
    };
  }

  private renderGovernor(running: number): void {
    const { el, settings } = this;
    const d = this.governor.decision();
    el.governor.textContent = settings.contributing ? d.reason : "";
    el.governor.dataset.share = String(d.share);
    el.governor.dataset.paused = String(d.paused);
    const perVmPct = effectiveBudgetPct(settings.budgetPct, d.share);
    this.history.add({ atMs: Date.now(), givenPct: running * perVmPct, sharePct: d.share * 100 });
    this.chart.render(this.history.all());
  }

  private render(): void {
    const { el, settings } = this;
    const vms = this.host.vms();
    el.toggle.setAttribute("aria-pressed", String(settings.contributing));
    el.toggle.classList.toggle("primary", !settings.contributing);
    el.status.textContent = settings.contributing
      ? `Contributing: running ${vms.length} of up to ${settings.slots} VMs, each held to ${settings.budgetPct}% of one core, ${settings.memoryMiB} MiB in all.`
      : vms.length > 0
        ? `Not accepting new VMs; ${vms.length} still here until their owners move them.`
        : "Not contributing. Press “Contribute” to lend this tab's idle CPU to others' VMs.";
    el.status.dataset.hosting = String(vms.length);
    this.renderGovernor(vms.filter((v) => v.state === "running").length);
    const totals = this.bandwidth.totals();
    el.bandwidth.textContent = bandwidthText(
      this.rates.sample(Date.now(), totals),
      totals,
      settings.bandwidthCapKiBps ?? null,
    );
    el.bandwidth.dataset.outBytes = String(totals.outBytes);
    el.bandwidth.dataset.inBytes = String(totals.inBytes);
    const rows = vms.map((v) => {
      const tr = document.createElement("tr");
      tr.dataset.vmId = v.vmId;
      tr.dataset.state = v.state;
      tr.dataset.payment = v.payment?.state ?? "";
      const c = v.lastCheckpoint;
      if (c) {
        tr.dataset.checkpointSeq = String(c.seq);
        tr.dataset.checkpointBytes = String(c.bytes);
        tr.dataset.checkpointSaveMs = String(c.saveMs);
        tr.dataset.checkpointTransferMs = String(c.transferMs);
        tr.dataset.checkpointAt = String(c.atMs);
        tr.dataset.checkpointOverheadPct = String(c.overheadPct);
      }
      const cells = [
        v.name,
        shortPeerId(v.owner),
        v.state +
          (v.detail ? ` (${v.detail})` : "") +
          paymentNote(v.payment) +
          (v.outbound ? " · may reach the internet through this tab" : ""),
        `epoch ${v.epoch}`,
        c
          ? `#${c.seq}, ${formatBytes(c.bytes)}, ${formatAge(Date.now() - c.atMs)}, ${c.overheadPct}% of its budget`
          : "none yet",
      ];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    });
    el.hosted.replaceChildren(...rows);
  }
}

/** What a hosted VM's payment adds to its state: what it earned here, and any slow-down or pause. */
function paymentNote(p: HostedVm["payment"]): string {
  if (!p) return "";
  const earned = ` · earned ${formatCredits(p.paidMilli)}`;
  return p.reason ? `${earned} · ${p.reason}` : earned;
}
