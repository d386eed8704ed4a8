// The link acceptance suite against both transports: the in-memory twin, and
// WebRTC data channels through simple-peer on node-datachannel (loopback, no STUN).
import { MemoryNetwork } from "../../core/net/memory-transport.ts";
import { simplePeerLinks } from "../../transports/simple-peer-link.ts";
import { describeLink } from "./link.suite.ts";

describeLink("MemoryLink", () => {
  const network = new MemoryNetwork();
  return { factory: (self) => network.factory(self) };
});

describeLink("simple-peer on node-datachannel", () => ({ factory: () => simplePeerLinks() }));
