// "Credits": this identity's balance, what it earned and spent, its ratio, the
// proofs of cheating seen in the network, a chart of credit over time (uPlot),
// and the stamp that buys a new identity its starting allowance.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Identity } from "../core/crypto/identity.ts";
import { shortPeerId } from "../core/crypto/identity.ts";
import type { Ledger } from "../core/ledger/ledger.ts";
import { ALLOWANCE_MILLI, STAMP_BITS } from "../core/ledger/stamp.ts";
import { formatCredits } from "../core/ledger/units.ts";
import type { CreditBook } from "../core/state/credit-book.ts";
import { errorMessage } from "../core/util/errors.ts";
import { chartWidthOf, followWidth } from "./chart-width.ts";
import type { CreditHistory } from "./credits-history.ts";
import { Lifetime } from "./lifetime.ts";
import { makeStamp } from "./stamp-maker.ts";

const REFRESH_MS = 5000;

export interface CreditsElements {
  balance: HTMLElement;
  figures: HTMLElement;
  stampButton: HTMLButtonElement;
  stampProgress: HTMLProgressElement;
  stampStatus: HTMLElement;
  proofs: HTMLElement;
  chart: HTMLElement;
}

const PROOF_TEXT: Record<string, string> = {
  equivocation: "signed two different receipts for one lease",
  regression: "signed a lower total after a higher one",
  "over-claim": "signed more than the lease could have used",
};

const CHART_HEIGHT_PX = 220;
export class CreditsPage {
  private readonly lifetime = new Lifetime();
  private plot: uPlot | null = null;
  private stamping: AbortController | null = null;

  constructor(
    private readonly el: CreditsElements,
    private readonly book: CreditBook,
    private readonly identity: Identity,
    private readonly history: CreditHistory,
    /** The stamp difficulty this tab works to (web/credit-rules.ts). */
    private readonly stampBits = STAMP_BITS,
  ) {
    el.stampButton.addEventListener("click", () => void this.stamp(), { signal: this.lifetime.signal });
    this.lifetime.defer(book.observe(() => void this.render()));
    this.lifetime.every(REFRESH_MS, () => void this.render());
    this.lifetime.defer(() => {
      this.stamping?.abort();
      this.plot?.destroy();
    });
    void history.load().then(() => this.render());
  }

  dispose(): void {
    this.lifetime.end();
  }

  private async render(): Promise<void> {
    if (this.lifetime.ended) return;
    let ledger: Ledger;
    try {
      ledger = await this.book.ledger();
    } catch (err) {
      this.el.figures.textContent = `The ledger could not be read: ${errorMessage(err)}`;
      return;
    }
    const me = ledger.accounts.get(this.identity.peerId);
    const balance = me?.balanceMilli ?? 0;
    this.el.balance.textContent = formatCredits(balance);
    const ratio = me?.ratio == null ? "no spending yet" : me.ratio.toFixed(2);
    this.el.figures.textContent =
      `Allowance ${formatCredits(me?.allowanceMilli ?? 0)} · earned ${formatCredits(me?.earnedMilli ?? 0)} · ` +
      `spent ${formatCredits(me?.spentMilli ?? 0)} · ratio ${ratio}`;
    const stamped = this.book.hasStamp();
    this.el.stampButton.hidden = stamped || this.stamping !== null;
    if (stamped && !this.stamping && !this.el.stampStatus.textContent)
      this.el.stampStatus.textContent = "This identity has its stamp.";
    this.renderProofs(ledger);
    this.history.add({
      atMs: Date.now(),
      balanceMilli: balance,
      earnedMilli: me?.earnedMilli ?? 0,
      spentMilli: me?.spentMilli ?? 0,
    });
    this.renderChart();
  }

  private renderProofs(ledger: Ledger): void {
    const items = ledger.proofs.map((p) => {
      const li = document.createElement("li");
      li.textContent = `${shortPeerId(p.owner)} ${PROOF_TEXT[p.kind] ?? p.kind} (lease ${p.lease.slice(0, 8)}): hosts refuse its VMs`;
      return li;
    });
    if (items.length === 0) {
      const li = document.createElement("li");
      li.textContent = "None seen.";
      items.push(li);
    }
    this.el.proofs.replaceChildren(...items);
  }

  private renderChart(): void {
    const points = this.history.all();
    const data: uPlot.AlignedData = [
      points.map((p) => p.atMs / 1000),
      points.map((p) => p.balanceMilli / 1000),
      points.map((p) => p.earnedMilli / 1000),
      points.map((p) => p.spentMilli / 1000),
    ];
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    this.plot = new uPlot(
      {
        width: chartWidthOf(this.el.chart),
        height: CHART_HEIGHT_PX,
        series: [
          {},
          { label: "Balance", stroke: "#2a7ae2", width: 2 },
          { label: "Earned", stroke: "#2e9d5b" },
          { label: "Spent", stroke: "#c9523c" },
        ],
        axes: [{}, { label: "credits" }],
      },
      data,
      this.el.chart,
    );
    this.lifetime.defer(followWidth(this.plot, this.el.chart, CHART_HEIGHT_PX));
  }

  private async stamp(): Promise<void> {
    if (this.stamping) return;
    const controller = new AbortController();
    this.stamping = controller;
    this.el.stampButton.hidden = true;
    this.el.stampProgress.hidden = false;
    this.el.stampStatus.textContent = `Working for the starting allowance (${formatCredits(ALLOWANCE_MILLI)})…`;
    try {
      const stamp = await makeStamp(
        this.identity.publicKey,
        ({ tries, expectedTries }) => {
          const pct = Math.min(99, Math.floor((100 * tries) / expectedTries));
          this.el.stampProgress.value = pct;
          this.el.stampStatus.textContent = `Working for the starting allowance: ${pct} % of the expected work (${this.stampBits}-bit stamp)…`;
        },
        controller.signal,
        this.stampBits,
      );
      await this.book.publishStamp(stamp);
      this.el.stampProgress.value = 100;
      this.el.stampStatus.textContent = `Done: ${formatCredits(ALLOWANCE_MILLI)} to start with.`;
    } catch (err) {
      if (!controller.signal.aborted)
        this.el.stampStatus.textContent = `The stamp failed: ${errorMessage(err)}`;
    } finally {
      this.stamping = null;
      this.el.stampProgress.hidden = true;
      void this.render();
    }
  }
}
