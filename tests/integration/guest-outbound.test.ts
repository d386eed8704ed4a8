// A contributor who allows it lets the VMs it hosts reach the internet: the
// guest's HTTP goes out through the host's fetch. Never to the host's own
// machine or its private networks, though (v86 would take "<port>.external" to
// the host's localhost), and a guest that is not allowed still gets the 403.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { guestMacForVm } from "../../core/guest/guest-mac.ts";
import { isPrivateTarget } from "../../worker/guest-nic.ts";
import { type GuestServer, serveGuest, startHost } from "../helpers/guest-host.ts";

let server: GuestServer;
beforeAll(async () => {
  server = await serveGuest();
});
afterAll(async () => {
  await server?.close();
});

describe("outbound internet a host allows", () => {
  it("fetches the guest's request through the host, but never the host's own network", async () => {
    const vm = await startHost(server, { mac: guestMacForVm("vm-out"), outbound: true });
    const fetchSpy = vi
      .spyOn(globalThis, "fetch")
      .mockImplementation(async () => new Response("hello-from-outside", { status: 200 }));
    try {
      expect(vm.host.network()?.outbound).toBe("on");
      const out = await vm.run("wget -q -O - http://example.com/page; echo; echo wget-exit-$?");
      expect(out).toContain("hello-from-outside");
      expect(out).toContain("wget-exit-0");
      expect(fetchSpy).toHaveBeenCalledTimes(1);
      expect(String(fetchSpy.mock.calls[0]![0])).toBe("http://example.com/page");

      for (const url of ["http://8080.external/", "http://192.168.1.1/", "http://172.16.0.5/"]) {
        const refused = await vm.run(`wget -q -O - ${url} 2>&1; echo wget-exit-$?`);
        expect(refused, url).toMatch(/403 Private Address/);
      }
      expect(fetchSpy).toHaveBeenCalledTimes(1);
    } finally {
      fetchSpy.mockRestore();
      await vm.host.destroy();
    }
  }, 60_000);

  it("tells private targets from public ones", () => {
    for (const url of [
      "http://localhost/",
      "http://a.localhost/",
      "http://printer.local/",
      "http://10.1.2.3/",
      "http://172.20.0.1/",
      "http://169.254.169.254/latest/meta-data",
      "http://[::1]/",
      "http://0.0.0.0/",
      "not a url",
    ])
      expect(isPrivateTarget(url), url).toBe(true);
    for (const url of ["http://example.com/", "https://8.8.8.8/", "http://172.32.0.1/"])
      expect(isPrivateTarget(url), url).toBe(false);
  });
});
