// What a host sends on a tab's shell channel (shell-channel.ts): one greeting
// ("from here on, your output comes here"), then console output in bounded
// frames. Parsed at the edge by the tab's worker; anything else closes the channel.

const HELLO = 0;
const OUTPUT = 1;
/** Most console bytes in one frame; the host splits longer output. */
export const MAX_SHELL_FRAME_BYTES = 16 * 1024;

export type ShellChannelFrame = { t: "hello" } | { t: "output"; bytes: Uint8Array };

/** The host's first frame: its output to this tab comes here from now on. */
export const SHELL_HELLO = Uint8Array.of(HELLO);

/** Console output, in frames of at most MAX_SHELL_FRAME_BYTES. */
export function encodeShellOutput(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += MAX_SHELL_FRAME_BYTES) {
    const part = bytes.subarray(at, at + MAX_SHELL_FRAME_BYTES);
    const frame = new Uint8Array(1 + part.length);
    frame[0] = OUTPUT;
    frame.set(part, 1);
    frames.push(frame);
  }
  return frames;
}

/** One frame from the host, or null for anything else (the channel is then closed). */
export function parseShellFrame(data: Uint8Array): ShellChannelFrame | null {
  if (data.length === 1 && data[0] === HELLO) return { t: "hello" };
  if (data.length > 1 && data.length <= 1 + MAX_SHELL_FRAME_BYTES && data[0] === OUTPUT)
    return { t: "output", bytes: data.subarray(1) };
  return null;
}
