// Waiting for a link: resolves as soon as the mesh says the link to `remote` is
// open (true), or false after `timeoutMs`. Event-driven, not polled.
import type { Clock } from "../util/clock.ts";
import type { MeshPort } from "./channels.ts";
import type { PeerAddress } from "./peer-address.ts";

export function whenOpen(
  mesh: MeshPort,
  remote: PeerAddress,
  clock: Clock,
  timeoutMs: number,
): Promise<boolean> {
  if (mesh.isOpen(remote)) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const finish = (open: boolean) => {
      off();
      cancel();
      resolve(open);
    };
    const off = mesh.on("open", (peer) => {
      if (peer === remote) finish(true);
    });
    const cancel = clock.after(timeoutMs, () => finish(mesh.isOpen(remote)));
  });
}
