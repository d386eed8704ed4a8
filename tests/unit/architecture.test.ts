// Imports point one way (DESIGN.md): core/ knows nothing of the DOM, Node,
// sockets or storage; web/ and worker/ and signaling-server/ may use core/.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const rel = join(dir, name);
    if (statSync(join(root, rel)).isDirectory()) return sources(rel);
    return rel.endsWith(".ts") ? [rel] : [];
  });
}

interface Import {
  file: string;
  spec: string;
  typeOnly: boolean;
}

function imports(file: string): Import[] {
  const text = readFileSync(join(root, file), "utf8");
  const found: Import[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^;]*?from\s+["']([^"']+)["']/gm)) {
    found.push({ file, spec: m[3]!, typeOnly: !!m[2] });
  }
  for (const m of text.matchAll(/^\s*import\s+["']([^"']+)["']/gm))
    found.push({ file, spec: m[1]!, typeOnly: false });
  return found;
}

/** The top folder a relative import lands in. */
function target(i: Import): string | null {
  if (!i.spec.startsWith(".")) return null;
  return relative(root, join(root, i.file, "..", i.spec)).split("/")[0] ?? null;
}

// Libraries that run anywhere (no DOM, Node, socket or storage of their own).
const CORE_PACKAGES = new Set(["lru-cache", "@noble/hashes"]);

/** The package an import names: "@scope/name" or "name", without a path inside it. */
const packageOf = (spec: string) =>
  spec
    .split("/")
    .slice(0, spec.startsWith("@") ? 2 : 1)
    .join("/");

/** Inside core: which folder may import which (each folder may import itself). */
const CORE_FOLDERS: Record<string, string[]> = {
  util: [],
  crypto: ["util"],
  cpu: ["util"],
  net: ["util", "crypto"],
  state: ["util", "crypto", "net", "ledger"],
  guest: ["util", "state"],
  peer: ["util", "crypto", "net", "ledger", "state"],
  vm: ["util", "crypto", "net", "ledger", "state", "peer", "web", "guest"],
  ledger: ["util", "crypto"],
  web: ["util", "crypto", "net", "state"],
};

/** The folder inside core/ a core file, or a relative import of it, lands in. */
function coreFolder(file: string, spec = "."): string {
  return relative(join(root, "core"), join(root, file, "..", spec)).split("/")[0] ?? "";
}

describe("architecture", () => {
  it("core's folders import one way: util, crypto, net, state, peer, vm", () => {
    for (const file of sources("core")) {
      const own = coreFolder(file);
      expect(Object.keys(CORE_FOLDERS), `${file} lies in a folder with no rule`).toContain(own);
      for (const i of imports(file)) {
        if (!i.spec.startsWith(".")) continue;
        const to = coreFolder(file, i.spec);
        expect(to === own || CORE_FOLDERS[own]!.includes(to), `${file} imports ${i.spec}`).toBe(true);
      }
    }
  });

  it("core imports only core and environment-neutral libraries", () => {
    for (const i of sources("core").flatMap(imports)) {
      if (i.spec.startsWith(".")) expect(target(i), `${i.file} imports ${i.spec}`).toBe("core");
      else expect(CORE_PACKAGES.has(packageOf(i.spec)), `${i.file} imports ${i.spec}`).toBe(true);
    }
  });

  it("core touches no browser, Node or storage globals", () => {
    const forbidden =
      /\b(document|window|localStorage|sessionStorage|indexedDB|navigator|process|require|Buffer|WebSocket|RTCPeerConnection)\b\s*[.([]/;
    for (const file of sources("core")) {
      const code = readFileSync(join(root, file), "utf8").replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
      expect(forbidden.exec(code)?.[0] ?? null, file).toBeNull();
    }
  });

  it("only core's clock and async helpers create timers, and they hand back their cancel", () => {
    for (const file of sources("core")) {
      if (file === "core/util/clock.ts" || file === "core/util/async.ts") continue;
      const code = readFileSync(join(root, file), "utf8");
      expect(/\bset(Timeout|Interval|Immediate)\s*\(/.test(code), file).toBe(false);
    }
  });

  it("web, worker, transports, the contributor and the server meet only through core (and the worker's API)", () => {
    const rules: Record<string, string[]> = {
      web: ["web", "core", "public", "transports"],
      worker: ["worker", "core"],
      // The server joins rooms as a peer for its web gateway (web-gateway.ts).
      "signaling-server": ["signaling-server", "core", "transports"],
      transports: ["transports", "core"],
      contributor: ["contributor", "core", "transports"],
    };
    for (const [dir, allowed] of Object.entries(rules)) {
      for (const i of sources(dir).flatMap(imports)) {
        const t = target(i);
        if (t === null) continue;
        // The page may know the worker's API types, and its entry as a URL to start it from.
        const ok =
          allowed.includes(t) ||
          (dir === "web" && t === "worker" && i.spec.endsWith("/api.ts") && i.typeOnly) ||
          (dir === "web" && t === "worker" && i.spec.endsWith(".worker.ts?worker&url")) ||
          // The headless contributor runs the worker's VM host in its threads, behind the page's engine.
          (dir === "contributor" && (t === "worker" || i.spec.endsWith("/web/vm-engine.ts")));
        expect(ok, `${i.file} imports ${i.spec}`).toBe(true);
      }
    }
  });
});
