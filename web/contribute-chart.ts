// The Contribute page's chart: the CPU this tab allowed others' VMs over the
// last hour (their budgets scaled by the governor's share), one point every
// ten seconds, drawn with uPlot like the Credits page's chart.
import uPlot from "uplot";
import { chartWidthOf, followWidth } from "./chart-width.ts";
import "uplot/dist/uPlot.min.css";

const SAMPLE_EVERY_MS = 10_000;
const HOUR_MS = 3600_000;
const MAX_POINTS = HOUR_MS / SAMPLE_EVERY_MS;

export interface CpuPoint {
  atMs: number;
  /** Percent of one core allowed to hosted VMs, all together. */
  givenPct: number;
  /** The governor's share of the configured budget, in percent. */
  sharePct: number;
}

const slotOf = (atMs: number) => Math.floor(atMs / SAMPLE_EVERY_MS);

/** The last hour of points, oldest first, one per ten seconds (the newest of each ten). */
export class CpuHistory {
  private points: CpuPoint[] = [];

  add(point: CpuPoint): void {
    const last = this.points.at(-1);
    if (last && slotOf(last.atMs) === slotOf(point.atMs)) this.points[this.points.length - 1] = point;
    else this.points.push(point);
    const since = point.atMs - HOUR_MS;
    while (this.points.length > MAX_POINTS || (this.points[0] && this.points[0].atMs < since))
      this.points.shift();
  }

  all(): readonly CpuPoint[] {
    return this.points;
  }
}

const CHART_HEIGHT_PX = 180;

export class CpuChart {
  private plot: uPlot | null = null;
  private stopFollowing: () => void = () => {};

  constructor(private readonly el: HTMLElement) {}

  render(points: readonly CpuPoint[]): void {
    const data: uPlot.AlignedData = [
      points.map((p) => p.atMs / 1000),
      points.map((p) => p.givenPct),
      points.map((p) => p.sharePct),
    ];
    this.el.dataset.points = String(points.length);
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    this.plot = new uPlot(
      {
        width: chartWidthOf(this.el),
        height: CHART_HEIGHT_PX,
        scales: {
          // Always the last hour, however few points there are yet.
          x: { time: true, range: (_u, _min, max) => [max - HOUR_MS / 1000, max] },
          y: { range: (_u, _min, max) => [0, Math.max(100, max)] },
        },
        series: [
          {},
          { label: "CPU given (% of one core)", stroke: "#2e9d5b", width: 2 },
          { label: "Share of budget (%)", stroke: "#2a7ae2" },
        ],
        axes: [{}, { label: "%" }],
      },
      data,
      this.el,
    );
    this.stopFollowing = followWidth(this.plot, this.el, CHART_HEIGHT_PX);
  }

  dispose(): void {
    this.stopFollowing();
    this.plot?.destroy();
    this.plot = null;
  }
}
