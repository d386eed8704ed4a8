// Second half of the guest image build: boots the freshly made image in v86 under
// Node, waits for the shell, saves and compresses the state, checks that the state
// restores and answers, then writes manifest.json and SHA256SUMS.
//
// usage: tsx scripts/guest/save-state.ts <guest-dir> <packages.tsv> <memory-MiB> <cmdline>
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import type { GuestFile, GuestManifest, GuestPackage } from "../../core/guest/guest-manifest.ts";
import { withTimeout } from "../../core/util/async.ts";
import { NodeVm, v86Version } from "../lib/node-vm.ts";
import { writeBrotliState, writeSums } from "./brotli-state.ts";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

function fileEntry(dir: string, path: string): GuestFile {
  const data = readFileSync(join(dir, path));
  return { path, sha256: sha256(data), bytes: data.length };
}

function readPackages(tsvPath: string): GuestPackage[] {
  return readFileSync(tsvPath, "utf8")
    .trim()
    .split("\n")
    .map((line) => {
      const [name, version, architecture, source, debSha256, licence] = line.split("\t");
      return { name, version, architecture, source, debSha256, licence } as GuestPackage;
    });
}

async function main(): Promise<void> {
  const [dir, packagesTsv, memoryMiB, cmdline] = process.argv.slice(2);
  if (!dir || !packagesTsv || !memoryMiB || !cmdline) {
    console.error("usage: save-state.ts <guest-dir> <packages.tsv> <memory-MiB> <cmdline>");
    process.exit(2);
  }
  const memorySizeBytes = Number(memoryMiB) * 1024 * 1024;
  const read = (name: string) => new Uint8Array(readFileSync(join(dir, name)));

  console.log(`booting the guest in v86 ${v86Version} (${memoryMiB} MiB)...`);
  const bootStart = performance.now();
  const vm = await NodeVm.start({
    memorySizeBytes,
    cold: {
      bios: read("bios.bin"),
      vgaBios: read("vgabios.bin"),
      bzimage: read("vmlinuz"),
      initrd: read("initrd.cpio.gz"),
      cmdline,
    },
  });
  await withTimeout(vm.tail.waitFor("# "), 180_000, "first shell prompt");
  const uname = await vm.run("uname -r", 60_000);
  const coldBootMs = Math.round(performance.now() - bootStart);
  console.log(`shell answered after ${coldBootMs} ms (${uname.trim().split("\n").at(-1)})`);

  // Leave the console clean: a cleared screen, the welcome text and a prompt.
  await vm.run("sync; echo 3 > /proc/sys/vm/drop_caches");
  const clearFrom = vm.tail.end;
  vm.send("clear; cat /etc/motd\r");
  const cleared = await withTimeout(vm.tail.waitFor("\x1b[J", clearFrom), 10_000, "clear");
  await withTimeout(vm.tail.waitFor("# ", cleared), 10_000, "prompt after clear");
  await new Promise((r) => setTimeout(r, 300));
  const consoleTranscript = vm.tail.since(cleared + 3).replaceAll("\x1b[6n", "");

  const saveStart = performance.now();
  const raw = new Uint8Array(await vm.save());
  const saveStateMs = Math.round(performance.now() - saveStart);
  await vm.destroy();
  const gz = gzipSync(raw, { level: 9 });
  writeFileSync(join(dir, "state.bin.gz"), gz);
  console.log(`state: ${raw.length} bytes raw, ${gz.length} gzip (saved in ${saveStateMs} ms)`);

  // The state must restore and answer before it is published.
  const restoreStart = performance.now();
  const check = await NodeVm.start({ memorySizeBytes, state: gunzipSync(gz).buffer as ArrayBuffer });
  await new Promise((r) => setTimeout(r, 0));
  const answer = await check.run("echo hello-$((6*7))", 30_000);
  const address = await check.run("ip -4 addr show eth0", 30_000);
  // Files in and out: what the host puts in the 9p filesystem the guest reads at /files.
  await check.emulator.create_file("build-check.txt", new TextEncoder().encode("nine-p-ok"));
  const files = await check.run("cat /files/build-check.txt && rm /files/build-check.txt", 30_000);
  await check.destroy();
  if (!answer.includes("hello-42")) throw new Error(`restored guest answered ${JSON.stringify(answer)}`);
  if (!files.includes("nine-p-ok"))
    throw new Error(`restored guest cannot read /files: ${JSON.stringify(files)}`);
  // Every VM starts networked: the address from DHCP is part of the booted state.
  if (!address.includes(`inet ${check.nic.guestIp}/`))
    throw new Error(`restored guest has no address on eth0: ${JSON.stringify(address)}`);
  console.log(`restored state answered in ${Math.round(performance.now() - restoreStart)} ms`);

  const packages = readPackages(packagesTsv);
  const kernel = packages.find((p) => p.name.startsWith("linux-image"));
  const busybox = packages.find((p) => p.name.startsWith("busybox"));
  const stateEntry = fileEntry(dir, "state.bin.gz");
  const manifest: GuestManifest = {
    schema: 1,
    imageId: `debian-linux-${kernel?.version}-busybox-${busybox?.version.replace(/^\d+:/, "")}-${stateEntry.sha256.slice(0, 12)}`,
    v86Version,
    memorySizeBytes,
    cmdline,
    files: {
      bios: fileEntry(dir, "bios.bin"),
      vgaBios: fileEntry(dir, "vgabios.bin"),
      bzimage: fileEntry(dir, "vmlinuz"),
      initrd: fileEntry(dir, "initrd.cpio.gz"),
      state: { ...stateEntry, encoding: "gzip", rawBytes: raw.length },
    },
    consoleTranscript,
    packages,
    measured: { coldBootMs, saveStateMs },
  };
  writeFileSync(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);

  // The brotli copy browsers fetch, named in the manifest; then SHA256SUMS of every file.
  writeBrotliState(dir);
  const sums = writeSums(dir);
  console.log(`wrote manifest.json and SHA256SUMS (${sums} files) in ${dir}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
