// Tables reflow into stacked rows on narrow screens (style.css); each cell then
// shows its column's name, which CSS reads from `data-label`. The pages build
// their rows as data changes, so this labels rows as they are added.

function labelRows(table: HTMLTableElement): void {
  const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent?.trim() ?? "");
  for (const row of table.tBodies[0]?.rows ?? []) {
    [...row.cells].forEach((cell, i) => {
      const name = names[i];
      if (name && cell.dataset.label !== name) cell.dataset.label = name;
    });
  }
}

/** Labels the cells of every table under `root`, now and as rows change; returns the stop. */
export function labelTableCells(root: ParentNode): () => void {
  const observers = [...root.querySelectorAll("table")].map((table) => {
    labelRows(table);
    const observer = new MutationObserver(() => labelRows(table));
    for (const body of table.tBodies) observer.observe(body, { childList: true });
    return observer;
  });
  return () => {
    for (const o of observers) o.disconnect();
  };
}
