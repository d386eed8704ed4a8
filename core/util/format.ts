// Human-readable numbers for the UI.

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} days ago`;
}

export function formatCount(n: number): string {
  if (n < 1e3) return `${Math.round(n)}`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} k`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} M`;
  if (n < 1e12) return `${(n / 1e9).toFixed(1)} G`;
  return `${(n / 1e12).toFixed(1)} T`;
}

/** Console text made safe to replay into a terminal: no questions the terminal would answer. */
export function replayableTranscript(text: string): string {
  // ESC[6n asks the terminal for the cursor position; replayed, the answer would be typed into the shell.
  return text.replaceAll("\x1b[6n", "").replaceAll("\x1b[c", "").replaceAll("\x1b[5n", "");
}
