// The fast path of a remote console's output: a side channel (core/net/side-channel.ts)
// per tab and VM, from the VM's host to the tab, that the tab's browser can
// hand to a worker. The worker puts the bytes in shared memory, where the page
// reads them in its next frame: the echo of a keystroke is painted in the frame
// after the key, not one later (the page's own tasks wait for that frame).
//
// The tab opens the channel, named for the VM, once the host has confirmed it
// as a viewer; the host takes it only from a tab it granted that VM's console,
// and says "from here on" on it first. Only output travels on it: typing goes
// on the mesh's shell channel, and so does output to tabs without one. What
// travels on it is in shell-frames.ts.
import { VM_ID_PATTERN } from "../state/vm-records.ts";

const LABEL_PREFIX = "shell/1/";

export function shellChannelLabel(vmId: string): string {
  return LABEL_PREFIX + vmId;
}

/** The VM a shell channel's label names, or null if it is not one. */
export function vmIdOfShellChannel(label: string): string | null {
  if (!label.startsWith(LABEL_PREFIX)) return null;
  const vmId = label.slice(LABEL_PREFIX.length);
  return VM_ID_PATTERN.test(vmId) ? vmId : null;
}
