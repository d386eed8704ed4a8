// The Network page's "Refused input": what peers sent this tab that it checked and
// did not apply (forged, malformed, over quota, replayed, over the rate), as counts.

import type { PeerNode } from "../core/peer/peer-node.ts";

export type InputStats = ReturnType<PeerNode["inputStats"]>;

/** "1 forged or malformed", "0 over quota": a count and what it counts. */
type Part = [count: number, what: string];

interface Row {
  key: string;
  label: string;
  parts: Part[];
  /** Context after the counts, e.g. how many were taken. */
  note?: string;
}

const n = (x: number) => x.toLocaleString("en");

/** The rows of the list, in words a user reads. */
export function refusedRows(s: InputStats): Row[] {
  const p = s.presence;
  return [
    {
      key: "entries",
      label: "Shared state entries",
      parts: [
        [s.entries.invalid, "forged or malformed"],
        [s.entries.overQuota, "over quota"],
        [s.entries.stale, "old replays or repeats"],
      ],
      note: `${n(s.entries.applied)} taken`,
    },
    {
      key: "sync",
      label: "Sync messages",
      parts: [[s.sync.dropped, "dropped (malformed, too large or too fast)"]],
    },
    {
      key: "presence",
      label: "Presence",
      parts: [
        [p.invalid + p.badMessages, "forged or malformed"],
        [p.rateLimited, "too fast"],
      ],
      note: `${n(p.accepted)} taken`,
    },
    {
      key: "profiles",
      label: "Profiles",
      parts: [[s.profiles.invalid, "not signed by the peer they name"]],
    },
    {
      key: "frames",
      label: "Mesh frames",
      parts: [[s.frames.dropped, "for unknown channels or versions"]],
    },
    {
      key: "signatures",
      label: "Signatures (whole tab)",
      // Not `malformed`: that also counts this tab's own look-ups of absent values.
      parts: [[s.signatures.badSignature, "forged"]],
      note: `${n(s.signatures.verified)} checked`,
    },
  ];
}

/** The one-line summary: "Refused from peers: 3 forged or malformed, 0 over quota, 12 old replays or repeats." */
export function refusedSummary(s: InputStats): string {
  const e = s.entries;
  return `Refused from peers: ${n(e.invalid)} forged or malformed, ${n(e.overQuota)} over quota, ${n(e.stale)} old replays or repeats.`;
}

/** Renders the stats into `summary` (a paragraph) and `list` (a <dl>); only text changes when they do. */
export function renderRefusedInput(summary: HTMLElement, list: HTMLElement, s: InputStats): void {
  summary.textContent = refusedSummary(s);
  const rows = refusedRows(s);
  if (list.childElementCount !== rows.length * 2) {
    list.replaceChildren(
      ...rows.flatMap((r) => {
        const dt = document.createElement("dt");
        dt.textContent = r.label;
        const dd = document.createElement("dd");
        dd.dataset.key = r.key;
        return [dt, dd];
      }),
    );
  }
  for (const r of rows) {
    const dd = list.querySelector<HTMLElement>(`dd[data-key="${r.key}"]`);
    if (!dd) continue;
    const text = r.parts.map(([c, what]) => `${n(c)} ${what}`).join(" · ") + (r.note ? ` (${r.note})` : "");
    if (dd.textContent !== text) dd.textContent = text;
  }
}
