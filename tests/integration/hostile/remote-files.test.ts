// Files into and out of a remote VM (core/vm/file-host.ts, file-client.ts): the
// owner's tab with the shell open moves files with the same SHA-256; a tab
// without the console's grant (the owner's before it opens the shell, or a
// stranger on the mesh) is refused, and so is a stranger forging calls on the
// files channel; what a tab leaves under way holds no place once it goes.
import { createHash, randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryNetwork, MemorySignalingHub } from "../../../core/net/memory-transport.ts";
import { encodeFileMessage, FILES_PROTOCOL, parseFileMessage } from "../../../core/vm/file-protocol.ts";
import { downloadDiskThrough, downloadThrough, uploadThrough } from "../../../core/vm/file-pump.ts";
import { eventually } from "../../helpers/eventually.ts";
import { addPeer, attachShell, hostOf, settled, stopAll } from "../vm-peers.ts";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

afterEach(stopAll);

describe("files of a remote VM", () => {
  it("moves files only for the owner's tab with the shell open", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const owner = await addPeer(hub, network);
    const host = await addPeer(hub, network, { contributing: true });
    const mallory = await addPeer(hub, network);
    await settled([owner, host, mallory]);
    const vmId = await owner.vm.owner.create("files");
    await eventually("running", () => owner.vm.owner.get(vmId)?.state === "running");
    const port = owner.vm.files.port(vmId, () => hostOf(owner, vmId));

    // Before the shell is open the host has no grant from this tab.
    await expect(port.fileList()).rejects.toThrow(/may not move files of that VM/);

    const session = await attachShell(owner, vmId);
    const data = new Uint8Array(randomBytes(300 * 1024 + 7));
    const progress: number[] = [];
    const name = await uploadThrough(port, "../../up.bin", data, {
      onProgress: (done) => progress.push(done),
    });
    expect(name).toBe("up.bin");
    expect(progress.at(-1)).toBe(data.length);
    expect(await port.fileList()).toEqual([{ name: "up.bin", bytes: data.length }]);
    const back = await downloadThrough(port, "up.bin");
    expect(sha256(back.data)).toBe(sha256(data));

    // A stranger asks the same host for the same VM's files: refused.
    const theirs = mallory.vm.files.port(vmId, () => hostOf(owner, vmId));
    await expect(theirs.fileList()).rejects.toThrow(/may not move files of that VM/);
    await expect(theirs.fileDownloadBegin("up.bin")).rejects.toThrow(/may not move files of that VM/);
    await expect(uploadThrough(theirs, "evil.bin", new Uint8Array(10))).rejects.toThrow(/may not move files/);
    // Nor the whole disk; and a VM without a disk of its own (this one's files are /files) has none to give.
    await expect(downloadDiskThrough(theirs)).rejects.toThrow(/may not move files of that VM/);
    await expect(downloadDiskThrough(port)).rejects.toThrow(/no disk of its own/);

    // A stranger forging raw calls, even with a transfer id the owner holds: no answer but a refusal.
    const started = await port.fileUploadBegin("pending.bin", 4);
    const answers: unknown[] = [];
    mallory.node.mesh
      .channel(FILES_PROTOCOL)
      .on("message", (_from, payload) => answers.push(parseFileMessage(payload)));
    const forged = encodeFileMessage({
      t: "req",
      rq: 77,
      vmId,
      op: "uploadChunk",
      transfer: started,
      offset: 0,
      chunk: new Uint8Array([1, 2, 3, 4]),
    });
    mallory.node.mesh.channel(FILES_PROTOCOL).send(hostOf(owner, vmId)!, forged);
    await eventually("refused", () => answers.length === 1);
    expect(answers[0]).toMatchObject({ rq: 77, ok: false });
    await port.fileUploadCancel(started);

    // Once the shell is closed, the grant is gone.
    session.detach();
    await eventually("detached", async () =>
      port.fileList().then(
        () => false,
        (err: Error) => /may not move files/.test(err.message),
      ),
    );
    expect(await owner.vm.owner.get(vmId)?.state).toBe("running");
  });
});
