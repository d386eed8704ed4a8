// One readable line per thing that happens to a hosted VM: taken on, running,
// checkpointed, stopped or moved away. It compares what the host runtime shows
// now with what it showed last time, so it logs changes, never a repeat.
import { formatCredits } from "../core/ledger/units.ts";
import type { HostedVm } from "../core/vm/host-runtime.ts";

const short = (id: string) => id.slice(0, 10);
const kb = (bytes: number) => `${Math.round(bytes / 1024)} KiB`;

function named(vm: HostedVm): string {
  return `VM "${vm.name}" (${short(vm.vmId)}, owner ${short(vm.owner)}, epoch ${vm.epoch})`;
}

export class HostLog {
  private readonly last = new Map<string, HostedVm>();

  constructor(private readonly write: (line: string) => void) {}

  /** Logs how `now` differs from the previous call. */
  update(now: HostedVm[]): void {
    const seen = new Set<string>();
    for (const vm of now) {
      const key = `${vm.vmId}/${vm.epoch}`;
      seen.add(key);
      const before = this.last.get(key);
      this.last.set(key, vm);
      if (!before) this.write(`hosting ${named(vm)}: ${vm.state}${vm.detail ? ` (${vm.detail})` : ""}`);
      else if (before.state !== vm.state)
        this.write(`${named(vm)}: ${vm.state}${vm.detail ? ` (${vm.detail})` : ""}`);
      const pay = vm.payment;
      if (pay && before && pay.state !== before.payment?.state)
        this.write(`${named(vm)}: payment ${pay.state}${pay.reason ? ` (${pay.reason})` : ""}`);
      const c = vm.lastCheckpoint;
      if (c && c.seq !== before?.lastCheckpoint?.seq)
        this.write(
          `${named(vm)}: checkpoint ${c.seq} kept (${kb(c.bytes)}, saved in ${Math.round(c.saveMs)} ms, sent in ${Math.round(c.transferMs)} ms)`,
        );
    }
    for (const [key, vm] of this.last) {
      if (seen.has(key)) continue;
      this.last.delete(key);
      const paid = vm.payment ? `, paid ${formatCredits(vm.payment.paidMilli)}` : "";
      this.write(`no longer hosting ${named(vm)}${paid}`);
    }
  }
}
