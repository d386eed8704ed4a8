// Guest networking on the VM host (worker/vm-host.ts in Node, real v86, the
// repo's image): the guest is networked as soon as it is restored, the host
// reaches a server in the guest through its TCP API, the VM's MAC is its own
// and survives a restore, and the guest cannot reach the internet.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { guestMacForVm } from "../../core/guest/guest-mac.ts";
import { NodeVm } from "../../scripts/lib/node-vm.ts";
import { eventually } from "../helpers/eventually.ts";
import {
  type GuestServer,
  httpGet,
  manifest,
  type StartedHost,
  serveGuest,
  startHost,
} from "../helpers/guest-host.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

let server: GuestServer;
beforeAll(async () => {
  server = await serveGuest();
});
afterAll(async () => {
  await server?.close();
});

/** Writes a page and starts busybox httpd on port 80 (it daemonizes). */
async function serveWeb(vm: StartedHost, page: string): Promise<void> {
  await vm.run(`mkdir -p /www && printf '%s' '${page}' > /www/index.html && httpd -p 80 -h /www`);
}

describe("guest networking", () => {
  it("has an address as soon as it is restored, and serves a page to its host", async () => {
    const mac = guestMacForVm("vm-web");
    const vm = await startHost(server, { mac });
    expect(vm.host.network()).toEqual({ mac, ip: "192.168.86.100", outbound: "off" });
    expect(await vm.run("ip -4 addr show eth0")).toContain("inet 192.168.86.100/24");
    expect(await vm.run("ip route")).toContain("default via 192.168.86.1");

    await serveWeb(vm, "<h1>hello from the guest</h1>");
    const answer = await httpGet(vm.host, "/");
    expect(answer.status).toBe(200);
    expect(answer.body).toBe("<h1>hello from the guest</h1>");
    expect((await httpGet(vm.host, "/missing.html")).status).toBe(404);
    await vm.host.destroy();
  });

  it("says so when nothing listens on the port, or no VM runs", async () => {
    const vm = await startHost(server, { mac: guestMacForVm("vm-closed") });
    await expect(vm.host.tcpOpen(8080)).rejects.toThrow(/refused a connection to port 8080/);
    await expect(vm.host.tcpOpen(0)).rejects.toThrow(/not a TCP port/);
    await vm.host.destroy();
    await expect(vm.host.tcpOpen(80)).rejects.toThrow(/no VM is running/);
  });

  it("keeps its MAC, its address and its server across a snapshot and restore", async () => {
    const mac = guestMacForVm("vm-moving");
    const first = await startHost(server, { mac });
    await serveWeb(first, "still here");
    const snapshot = await first.host.snapshot();
    await first.host.destroy();

    const second = await startHost(server, {
      mac,
      states: [{ kind: "bytes", bytes: snapshot.state, transcript: snapshot.transcript, label: "moved" }],
    });
    expect(second.host.network()?.mac).toBe(mac);
    expect(await second.run("ip -4 addr show eth0")).toContain("inet 192.168.86.100/24");
    // httpd was running when the state was saved, and answers on the new host.
    const answer = await httpGet(second.host, "/");
    expect(answer).toMatchObject({ status: 200, body: "still here" });
    await second.host.destroy();
  });

  it("holds back a guest that sends faster than its host reads, then delivers it all", async () => {
    const vm = await startHost(server, { mac: guestMacForVm("vm-big") });
    const size = 1536 * 1024; // more than a connection may leave unread (1 MiB)
    await vm.run(
      `mkdir -p /www && dd if=/dev/zero of=/www/big bs=1024 count=${size / 1024} 2>/dev/null && httpd -p 80 -h /www`,
    );
    const id = await vm.host.tcpOpen(80);
    vm.host.tcpWrite(id, new TextEncoder().encode("GET /big HTTP/1.0\r\n\r\n"));
    // Nobody reads: the guest's TCP must keep what the host has no room for.
    const queued =
      'awk \'$2 ~ /:0050$/ && $4 == "01" { split($5, q, ":"); print "txq=" q[1] }\' /proc/net/tcp /proc/net/tcp6';
    await eventually(
      "the guest holds back bytes the host has no room for",
      async () => {
        const hex = /txq=([0-9A-F]+)/.exec(await vm.run(queued))?.[1];
        return hex !== undefined && Number.parseInt(hex, 16) > 64 * 1024;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    let bytes = 0;
    for (;;) {
      const chunk = await vm.host.tcpRead(id);
      if (!chunk) break;
      bytes += chunk.byteLength;
    }
    vm.host.tcpClose(id);
    expect(bytes).toBeGreaterThan(size); // the headers and the whole file
    expect(bytes).toBeLessThan(size + 1024);
    await vm.host.destroy();
  });

  it("boots from scratch networked, with the VM's MAC inside the guest too", async () => {
    const mac = guestMacForVm("vm-cold");
    const vm = await startHost(server, { mac, states: [] });
    await vm.tail.waitFor("# ");
    expect(await vm.run("cat /sys/class/net/eth0/address", 60_000)).toContain(mac);
    expect(await vm.run("ip -4 addr show eth0")).toContain("inet 192.168.86.100/24");
    await serveWeb(vm, "cold");
    expect(await httpGet(vm.host, "/")).toMatchObject({ status: 200, body: "cold" });
    await vm.host.destroy();
  }, 240_000);

  it("refuses the guest's requests to the internet, and says why", async () => {
    const vm = await startHost(server, { mac: guestMacForVm("vm-outbound") });
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    try {
      const out = await vm.run("wget -q -O - http://example.com/ 2>&1; echo wget-exit-$?");
      expect(out).toMatch(/403 Outbound Off/);
      expect(out).toMatch(/wget-exit-1/);
      expect(fetchSpy).not.toHaveBeenCalled();
    } finally {
      fetchSpy.mockRestore();
      await vm.host.destroy();
    }
  });
});

describe("the VM's MAC on the wire", () => {
  const imageState = () =>
    gunzipSync(readFileSync(join(root, "public/guest/state.bin.gz"))).buffer as ArrayBuffer;

  /** The source MACs of the frames the guest sends while `command` runs. */
  async function framesFrom(vm: NodeVm, command: string): Promise<Set<string>> {
    const seen = new Set<string>();
    const onFrame = (frame: Uint8Array) => seen.add(macOf(frame.subarray(6, 12)));
    vm.emulator.add_listener("net0-send", onFrame);
    try {
      await vm.run(command);
    } finally {
      vm.emulator.remove_listener("net0-send", onFrame);
    }
    return seen;
  }

  it("is the VM's own: two VMs from one image differ, and a restored VM keeps its MAC and address", async () => {
    const macA = guestMacForVm("vm-a");
    const macB = guestMacForVm("vm-b");
    expect(macA).not.toBe(macB);
    const a = await NodeVm.start({
      memorySizeBytes: manifest.memorySizeBytes,
      state: imageState(),
      mac: macA,
    });
    const b = await NodeVm.start({
      memorySizeBytes: manifest.memorySizeBytes,
      state: imageState(),
      mac: macB,
    });
    try {
      expect(await framesFrom(a, "ping -c 1 -W 2 192.168.86.1")).toEqual(new Set([macA]));
      expect(await framesFrom(b, "ping -c 1 -W 2 192.168.86.1")).toEqual(new Set([macB]));
      const saved = await a.save();
      await a.destroy();
      const restored = await NodeVm.start({
        memorySizeBytes: manifest.memorySizeBytes,
        state: saved,
        mac: macA,
      });
      try {
        expect(await restored.run("ip -4 addr show eth0")).toContain("inet 192.168.86.100/24");
        expect(await framesFrom(restored, "ping -c 1 -W 2 192.168.86.1")).toEqual(new Set([macA]));
        // A guest that reopens its card still goes out, and is reached, as the VM's MAC.
        const reopened = await framesFrom(
          restored,
          "ip link set eth0 down && ip link set eth0 up && udhcpc -i eth0 -s /etc/udhcpc/default.script -f -q -n >/dev/null 2>&1; ping -c 1 -W 2 192.168.86.1",
        );
        expect([...reopened].at(-1)).toBe(macA);
      } finally {
        await restored.destroy();
      }
    } finally {
      await b.destroy();
    }
  });
});

describe("a guest that turns on its host", () => {
  it("keeps at most 16 of its connections, and an endless request gets the 403 at once", async () => {
    const state = gunzipSync(readFileSync(join(root, "public/guest/state.bin.gz"))).buffer as ArrayBuffer;
    const vm = await NodeVm.start({ memorySizeBytes: manifest.memorySizeBytes, state });
    try {
      await vm.run("for i in $(seq 1 24); do (sleep 600 | nc 192.168.86.1 80 >/dev/null 2>&1 &); done");
      await eventually("the guest's connections reach the cap", () => vm.nic.guestConnections >= 16, {
        timeoutMs: 30_000,
        intervalMs: 50,
      });
      expect(await vm.run("sleep 1; nc 192.168.86.1 80 < /dev/null 2>&1")).toMatch(/reset by peer/);
      expect(vm.nic.guestConnections).toBe(16);
      await vm.run("killall nc");
      await eventually("the connections close", () => vm.nic.guestConnections === 0, { timeoutMs: 30_000 });
      // Headers that never end: answered at the first bytes, not buffered.
      const out = await vm.run("head -c 300000 /dev/zero | nc 192.168.86.1 80 | head -c 300");
      expect(out).toMatch(/HTTP\/1\.1 403 Outbound Off[\s\S]*Outbound internet is off for this VM/);
      await eventually("the connection closes", () => vm.nic.guestConnections === 0, { timeoutMs: 30_000 });
    } finally {
      await vm.destroy();
    }
  });
});

const macOf = (bytes: Uint8Array) => Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join(":");
