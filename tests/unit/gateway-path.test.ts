// Addresses under /vm/: by VM id or unique name, with an optional port; the rest
// of the path and the query go to the guest; anything else is not an address.
import { describe, expect, it } from "vitest";
import { parseGatewayPath } from "../../core/web/gateway-path.ts";

const id = "0123456789abcdef0123456789abcdef";

describe("gateway paths", () => {
  it("reads the VM, the port and what goes to the guest", () => {
    expect(parseGatewayPath(`/vm/${id}/`, "")).toEqual({ ref: id, port: undefined, target: "/" });
    expect(parseGatewayPath(`/vm/${id}`, "")).toEqual({ ref: id, port: undefined, target: "/" });
    expect(parseGatewayPath("/vm/blog:8080/a/b.html", "?x=1")).toEqual({
      ref: "blog",
      port: 8080,
      target: "/a/b.html?x=1",
    });
  });

  it("is not an address otherwise", () => {
    for (const p of [
      "/vms/x/",
      "/vm/",
      "/vm/Bad_Name/",
      "/vm/blog:0/",
      "/vm/blog:99999/",
      "/vm/blog:x/",
      "/vm/..%2F/",
    ])
      expect(parseGatewayPath(p, ""), p).toBeNull();
  });
});
