// JSON that arrived as bytes (a payload from a peer): parsed, or undefined when it
// is not JSON (JSON itself never yields undefined). Callers bound the size first.

const lenient = new TextDecoder();
const strict = new TextDecoder("utf-8", { fatal: true });

/** `fatal`: bytes that are not valid UTF-8 are refused rather than replaced. */
export function parseJsonBytes(bytes: Uint8Array, options: { fatal?: boolean } = {}): unknown {
  try {
    return JSON.parse((options.fatal ? strict : lenient).decode(bytes));
  } catch {
    return undefined;
  }
}
