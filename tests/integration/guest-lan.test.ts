// Two real guests (v86 in Node, the repo's image) on one owner's private
// network: each host hands on what its guest sends to 10.0.0.0/8 with the
// translation vm-lan.ts applies (source: the VM's virtual address; on arrival,
// destination: the guest's own), and the guests' own Linux TCP/IP does the rest:
// `ping` answers and `wget` fetches the other guest's page by its address.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guestMacForVm } from "../../core/guest/guest-mac.ts";
import { parseIpv4, rewriteAddress } from "../../core/guest/lan-packet.ts";
import { GUEST_IP_BITS, virtualAddressBitsOf, virtualAddressOf } from "../../core/guest/virtual-address.ts";
import type { VmHost } from "../../worker/vm-host.ts";
import { type GuestServer, type StartedHost, serveGuest, startHost } from "../helpers/guest-host.ts";

const ONE = "11111111111111111111111111111111";
const TWO = "22222222222222222222222222222222";

let server: GuestServer;
let one: StartedHost;
let two: StartedHost;
let stopped = false;

/** Carries what `from`'s guest sends to `to`'s, as two hosts' VmLans would (one each way). */
async function forward(from: VmHost, fromVm: string, to: VmHost, toVm: string): Promise<void> {
  while (!stopped) {
    const packets = await from.lanTake();
    if (packets === null) return;
    for (const p of packets) {
      if (parseIpv4(p)?.dst !== virtualAddressBitsOf(toVm)) continue; // nobody has that address
      const out = rewriteAddress(p, "src", virtualAddressBitsOf(fromVm));
      const inbound = out && rewriteAddress(out, "dst", GUEST_IP_BITS);
      if (inbound) to.lanGive([inbound]);
    }
  }
}

beforeAll(async () => {
  server = await serveGuest();
  one = await startHost(server, { mac: guestMacForVm(ONE) });
  two = await startHost(server, { mac: guestMacForVm(TWO) });
  void forward(one.host, ONE, two.host, TWO);
  void forward(two.host, TWO, one.host, ONE);
}, 120_000);

afterAll(async () => {
  stopped = true;
  await one?.host.destroy();
  await two?.host.destroy();
  await server?.close();
});

describe("two guests on their owner's network", () => {
  it("ping each other at their virtual addresses", async () => {
    const out = await one.run(`ping -c 2 -W 3 ${virtualAddressOf(TWO)}; echo ping-exit-$?`, 30_000);
    expect(out).toContain(`from ${virtualAddressOf(TWO)}`);
    expect(out).toContain("ping-exit-0");
  }, 60_000);

  it("fetch each other's page, a large one intact", async () => {
    await two.run(
      "mkdir -p /www && printf '%s' '<h1>two-says-hi</h1>' > /www/index.html && httpd -p 80 -h /www",
    );
    const page = await one.run(
      `wget -q -O - http://${virtualAddressOf(TWO)}/; echo; echo wget-exit-$?`,
      30_000,
    );
    expect(page).toContain("<h1>two-says-hi</h1>");
    expect(page).toContain("wget-exit-0");
    // A larger answer: many segments each way, every checksum right after translation.
    await two.run("dd if=/dev/urandom of=/www/blob bs=1k count=200 2>/dev/null; md5sum /www/blob > /www/sum");
    const sum = (await two.run("cat /www/sum")).match(/[0-9a-f]{32}/)?.[0];
    const fetched = await one.run(
      `wget -q -O /tmp/blob http://${virtualAddressOf(TWO)}/blob && md5sum /tmp/blob`,
      60_000,
    );
    expect(sum).toBeDefined();
    expect(fetched).toContain(sum!);
  }, 120_000);

  it("does not hand the owner's network to v86's own TCP/IP: an address nobody has stays silent", async () => {
    const out = await one.run("ping -c 1 -W 2 10.0.0.1; echo ping-exit-$?", 30_000);
    expect(out).toContain("ping-exit-1");
  }, 60_000);
});
