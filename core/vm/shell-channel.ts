// The fast path of a remote console's output: a side channel (core/net/side-channel.ts)
// per tab and VM, from the VM's host to the tab, that the tab's browser can
// hand to a worker. The worker puts the bytes in shared memory, where the page
// reads them in its next frame: the echo of a keystroke is painted in the frame
// after the key, not one later (the page's own tasks wait for that frame).
//
// The tab opens the channel, named for the VM, once the host has confirmed it
// as a viewer; the host takes it only from a tab it granted that VM's console,
// and says "from here on" on it first. Only output travels on it: typing goes
// on the mesh's shell channel, and so does output to tabs without one.
import { VM_ID_PATTERN } from "../state/vm-records.ts";

const LABEL_PREFIX = "shell/1/";
const HELLO = 0;
const OUTPUT = 1;
/** Most console bytes in one frame; the host splits longer output. */
export const MAX_SHELL_FRAME_BYTES = 16 * 1024;

export function shellChannelLabel(vmId: string): string {
  return LABEL_PREFIX + vmId;
}

/** The VM a shell channel's label names, or null if it is not one. */
export function vmIdOfShellChannel(label: string): string | null {
  if (!label.startsWith(LABEL_PREFIX)) return null;
  const vmId = label.slice(LABEL_PREFIX.length);
  return VM_ID_PATTERN.test(vmId) ? vmId : null;
}

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
