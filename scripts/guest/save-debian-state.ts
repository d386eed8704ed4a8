// Second half of the Debian image build: boots the image in v86 under Node
// (its root the 9p index and files, read from disk as the guest opens them),
// waits for the shell, checks python3 and the network, saves the booted state,
// checks that it restores and that apt installs from the local set, then writes
// manifest.json and SHA256SUMS.
//
// usage: tsx scripts/guest/save-debian-state.ts <guest-dir> <memory-MiB> <cmdline>
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { withTimeout } from "../../core/util/async.ts";
import { NodeVm, v86Version } from "../lib/node-vm.ts";
import { writeBrotliState, writeSums } from "./brotli-state.ts";

const ESC = String.fromCharCode(27);
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

async function main(): Promise<void> {
  const [dir, memoryMiB, cmdline] = process.argv.slice(2);
  if (!dir || !memoryMiB || !cmdline) {
    console.error("usage: save-debian-state.ts <guest-dir> <memory-MiB> <cmdline>");
    process.exit(2);
  }
  const memorySizeBytes = Number(memoryMiB) * 1024 * 1024;
  const read = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
  const basefs = { index: join(dir, "fs.json"), filesDir: `${join(dir, "files")}/` };

  console.log(`booting the Debian guest in v86 ${v86Version} (${memoryMiB} MiB)...`);
  const bootStart = performance.now();
  const vm = await NodeVm.start({
    memorySizeBytes,
    basefs,
    cold: {
      bios: read("bios.bin"),
      vgaBios: read("vgabios.bin"),
      bzimage: read("vmlinuz"),
      initrd: read("initrd.cpio.gz"),
      cmdline,
    },
  });
  const progress = setInterval(
    () => console.log(`  ...console: ${JSON.stringify(vm.tail.recent().slice(-120))}`),
    10_000,
  );
  try {
    await withTimeout(vm.tail.waitFor("# "), 600_000, "first shell prompt");
  } finally {
    clearInterval(progress);
  }
  const coldBootMs = Math.round(performance.now() - bootStart);
  const python = await vm.run('python3 -c "print(6*7)"', 120_000);
  console.log(`shell answered after ${coldBootMs} ms; python3 says ${python.trim().split("\n").at(-1)}`);
  if (!python.includes("42")) throw new Error(`python3 answered ${JSON.stringify(python)}`);

  await vm.run("sync; echo 3 > /proc/sys/vm/drop_caches");
  const clearFrom = vm.tail.end;
  vm.send("clear; cat /etc/motd\r");
  const cleared = await withTimeout(vm.tail.waitFor("\x1b[2J", clearFrom), 10_000, "clear");
  await withTimeout(vm.tail.waitFor("# ", cleared), 10_000, "prompt after clear");
  await new Promise((r) => setTimeout(r, 300));
  const consoleTranscript = vm.tail
    .since(cleared)
    .replace(new RegExp(`^${ESC}\\[2J(${ESC}\\[3J)?`), "")
    .replaceAll("\x1b[6n", "");

  const saveStart = performance.now();
  const raw = new Uint8Array(await vm.save());
  const saveStateMs = Math.round(performance.now() - saveStart);
  await vm.destroy();
  const gz = gzipSync(raw, { level: 9 });
  writeFileSync(join(dir, "state.bin.gz"), gz);
  console.log(`state: ${raw.length} bytes raw, ${gz.length} gzip (saved in ${saveStateMs} ms)`);

  const restoreStart = performance.now();
  const check = await NodeVm.start({ memorySizeBytes, basefs, state: gunzipSync(gz).buffer as ArrayBuffer });
  await new Promise((r) => setTimeout(r, 0));
  const answer = await check.run('python3 -c "print(6*7)"', 60_000);
  const restoreMs = Math.round(performance.now() - restoreStart);
  const installed = await check.run("apt-get install -y -q hello >/dev/null 2>&1; hello", 300_000);
  const address = await check.run("busybox ip -4 addr show eth0", 30_000);
  await check.destroy();
  if (!answer.includes("42")) throw new Error(`restored guest answered ${JSON.stringify(answer)}`);
  if (!installed.includes("Hello, world!"))
    throw new Error(`apt did not install from the local set: ${JSON.stringify(installed)}`);
  if (!address.includes("inet "))
    throw new Error(`restored guest has no address: ${JSON.stringify(address)}`);
  console.log(`restored state answered python3 in ${restoreMs} ms; apt installed hello offline`);

  const index = read("fs.json");
  const fileEntry = (path: string) => {
    const data = read(path);
    return { path, sha256: sha256(data), bytes: data.length };
  };
  const tree = JSON.parse(new TextDecoder().decode(index)) as { size: number };
  const manifest = {
    schema: 1,
    imageId: `debian-12-i386-${sha256(index).slice(0, 12)}-${sha256(gz).slice(0, 12)}`,
    v86Version,
    memorySizeBytes,
    cmdline,
    files: {
      bios: fileEntry("bios.bin"),
      vgaBios: fileEntry("vgabios.bin"),
      bzimage: fileEntry("vmlinuz"),
      initrd: fileEntry("initrd.cpio.gz"),
      state: { ...fileEntry("state.bin.gz"), encoding: "gzip", rawBytes: raw.length },
    },
    // The root filesystem: v86's index, and its files named by the SHA-256 of their contents.
    filesystem: { index: fileEntry("fs.json"), filesDir: "files/", contentBytes: tree.size },
    consoleTranscript,
    packages: [],
    packagesLock: fileEntry("packages.lock"),
    measured: { coldBootMs, saveStateMs, restoreToPythonMs: restoreMs },
  };
  writeFileSync(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  writeBrotliState(dir);
  const sums = writeSums(dir);
  console.log(`wrote manifest.json and SHA256SUMS (${sums} files) in ${dir}`);
}

await main();
