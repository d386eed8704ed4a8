// "This device" in the DOM: renders the controller's state, and turns clicks,
// the budget slider, typing and the page being hidden into calls on it.

import { formatAge, formatBytes, formatCount } from "../../core/util/format.ts";
import { EarlyOutput } from "../../core/util/output-ring.ts";
import type { LoadProgress, VmStats } from "../../worker/api.ts";
import { downloadFile } from "../download.ts";
import { Lifetime } from "../lifetime.ts";
import { createShell, type Shell } from "../terminal.ts";
import type { LocalVmController, LocalVmNotice, LocalVmState } from "./controller.ts";

/** How many frames after a keystroke the shell looks for its echo in shared memory. */
const ECHO_FRAMES = 3;

export interface LocalVmElements {
  root: HTMLElement;
  newButton: HTMLButtonElement;
  saveButton: HTMLButtonElement;
  pauseButton: HTMLButtonElement;
  resetButton: HTMLButtonElement;
  budget: HTMLInputElement;
  budgetOutput: HTMLOutputElement;
  status: HTMLElement;
  notice: HTMLElement;
  progress: HTMLProgressElement;
  progressLabel: HTMLElement;
  terminal: HTMLElement;
  stats: HTMLElement;
  saveState: HTMLElement;
  /** Whether a new VM can start on this device without the network. */
  offline: HTMLElement;
}

export class LocalVmView {
  private readonly shell: Shell;
  /** Every listener this view added: dispose ends them. */
  private readonly lifetime = new Lifetime();
  /** The notice on screen, so a re-render keeps its button rather than rebuilding it. */
  private notice: LocalVmNotice | null = null;
  /** The VM's output since the shell was last cleared: from its messages, and sooner from shared memory. */
  private output = new EarlyOutput();

  constructor(
    private readonly el: LocalVmElements,
    private readonly vm: LocalVmController,
  ) {
    this.shell = createShell(el.terminal, (bytes) => vm.input(bytes));
    const { signal } = this.lifetime;
    el.newButton.addEventListener("click", () => void vm.startNew(), { signal });
    el.saveButton.addEventListener("click", () => void vm.save("on demand"), { signal });
    el.pauseButton.addEventListener("click", () => void vm.togglePause(), { signal });
    el.resetButton.addEventListener("click", () => this.reset(), { signal });
    el.budget.addEventListener("input", () => vm.setBudget(Number(el.budget.value)), { signal });
    document.addEventListener(
      "visibilitychange",
      () => {
        if (document.visibilityState === "hidden") void vm.save("page hidden");
      },
      { signal },
    );
    this.lifetime.defer(vm.on("change", () => this.render()));
    // Before the terminal sees the key: this frame's callback is queued ahead of the terminal's redraw.
    el.terminal.addEventListener("keydown", () => this.paintEchoInNextFrame(), { capture: true, signal });
    this.lifetime.defer(
      vm.on("output", (bytes) => {
        const output = this.output;
        if (!output.hasRing && !output.asked) {
          output.asked = true;
          void this.vm.outputRing().then((ring) => output.attach(ring));
        }
        const fresh = output.fromMessage(bytes);
        if (fresh) this.shell.write(fresh);
      }),
    );
    this.lifetime.defer(
      vm.on("clearShell", () => {
        this.output = new EarlyOutput();
        this.shell.clear();
      }),
    );
    this.lifetime.defer(vm.on("focusShell", () => this.shell.focus()));
    this.render();
  }

  /**
   * After a keystroke the page runs no task until it has drawn a frame, so the
   * echo's message would be painted a frame late; reading it from shared memory
   * in that frame's callback paints it in that frame.
   */
  private paintEchoInNextFrame(): void {
    const output = this.output;
    if (!output.hasRing) return;
    this.shell.readAhead(() => {
      if (output !== this.output || this.lifetime.ended) return true;
      const fresh = output.fromRing();
      if (fresh) this.shell.write(fresh);
      return fresh !== null; // not back yet: the next frame
    }, ECHO_FRAMES);
  }

  dispose(): void {
    this.lifetime.end();
    this.shell.dispose();
  }

  private reset(): void {
    if (!this.vm.canReset()) return;
    if (!window.confirm("Reset this VM? Its files and everything it is running are discarded.")) return;
    void this.vm.reset();
  }

  private render(): void {
    const { el } = this;
    const s = this.vm.state();
    const hasVm = s.ui === "running" || s.ui === "paused";
    el.root.dataset.state = s.ui;
    if (s.prepared) el.root.dataset.prepared = "true";
    else delete el.root.dataset.prepared;
    if (s.loadTimings) el.root.dataset.loadTimings = JSON.stringify(s.loadTimings);
    el.newButton.hidden = hasVm;
    el.newButton.disabled = s.ui === "loading";
    el.saveButton.disabled = !hasVm;
    el.pauseButton.disabled = !hasVm;
    el.pauseButton.textContent = s.ui === "paused" ? "Resume" : "Pause";
    el.resetButton.disabled = !hasVm && s.ui !== "failed";
    this.shell.setInputEnabled(s.inputEnabled);
    if (Number(el.budget.value) !== s.budgetPct) el.budget.value = String(s.budgetPct);
    el.budgetOutput.value = `${s.budgetPct}%`;
    el.budget.setAttribute("aria-valuetext", `${s.budgetPct} percent of one core`);
    el.status.textContent = s.status;
    this.renderNotice(s.notice);
    this.renderProgress(s.progress);
    if (s.stats) el.stats.textContent = statsText(s.stats);
    el.saveState.textContent = s.save.text;
    el.saveState.dataset.saved = String(s.save.saved);
    if (s.save.title) el.saveState.title = s.save.title;
    this.renderOffline(s.offline);
  }

  private renderNotice(notice: LocalVmNotice | null): void {
    if (notice === this.notice) return;
    this.notice = notice;
    const el = this.el.notice;
    el.hidden = notice === null;
    el.replaceChildren();
    if (!notice) return;
    el.append(document.createTextNode(notice.text));
    if (notice.offerDownload) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Download the saved VM";
      button.addEventListener("click", () => void this.downloadSetAside()); // goes with the notice
      el.append(" ", button);
    }
  }

  private async downloadSetAside(): Promise<void> {
    const file = await this.vm.setAsideFile();
    if (file) downloadFile(file.name, file.data, file.type);
  }

  private renderProgress(p: LoadProgress | null): void {
    const { progress, progressLabel } = this.el;
    progress.hidden = p === null;
    progressLabel.hidden = p === null;
    if (!p) return;
    progress.max = Math.max(1, p.total);
    progress.value = Math.min(p.done, progress.max);
    progressLabel.textContent = progressText(p);
  }

  private renderOffline(offline: LocalVmState["offline"]): void {
    if (!offline) return;
    const el = this.el.offline;
    el.textContent = offline.text;
    if (offline.title !== undefined) el.title = offline.title;
    if (offline.ready !== undefined) el.dataset.ready = String(offline.ready);
  }
}

function progressText(p: LoadProgress): string {
  const amount =
    p.stage === "download" && p.total > 1
      ? ` ${formatBytes(p.done)} of ${formatBytes(p.total)}`
      : p.stage === "boot"
        ? ` (about ${Math.round(p.total / 1000)} s)`
        : "";
  return `${p.label}…${amount}`;
}

function statsText(s: VmStats): string {
  return (
    `CPU ${s.usedPct.toFixed(0)}% of one core (budget ${s.budgetPct.toFixed(0)}%) · ` +
    `${formatCount(s.instructions)} guest instructions · up ${formatAge(s.uptimeMs).replace(" ago", "")}`
  );
}
