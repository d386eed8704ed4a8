// A uPlot chart as wide as its element, however the element changes: drawn on
// a page that starts hidden (0 px wide) or on a phone turned sideways, it
// follows the element's width instead of keeping the width it was made with.
import type uPlot from "uplot";

/** The width a chart in `el` is drawn at (within 240-720 px; 600 while `el` is not laid out). */
export function chartWidthOf(el: HTMLElement): number {
  return Math.max(240, Math.min(720, el.clientWidth || 600));
}

/** Keeps `plot` as wide as `el`; returns what stops it. */
export function followWidth(plot: uPlot, el: HTMLElement, heightPx: number): () => void {
  if (typeof ResizeObserver === "undefined") return () => {};
  let drawnPx = plot.width;
  const observer = new ResizeObserver(() => {
    if (el.clientWidth === 0) return; // hidden: keep the last width until shown
    const widthPx = chartWidthOf(el);
    if (widthPx === drawnPx) return;
    drawnPx = widthPx;
    plot.setSize({ width: widthPx, height: heightPx });
  });
  observer.observe(el);
  return () => observer.disconnect();
}
