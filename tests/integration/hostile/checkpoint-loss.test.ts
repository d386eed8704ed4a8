// Attack 2: destroying a VM's data. A peer of the room deletes every checkpoint
// record as it appears in the document. The owner still holds good sealed
// checkpoints (and their records, sent to it by the host); when the host goes
// away the next one must restore them, never boot the image with empty files.
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../../helpers/eventually.ts";
import { running } from "../fake-engine.ts";
import { moreCheckpoints, ownerHeld, remove, room, runningOn, runningVm, setFile, stopAll } from "./setup.ts";

afterEach(stopAll);

describe("hostile: destroying a VM's data", () => {
  it("a VM whose checkpoint records are all deleted still resumes from its owner's checkpoints", async () => {
    const { owner, a, b, others } = await room([{}]);
    const mallory = others[0]!;
    // Every checkpoint record is deleted the moment Mallory's copy of the document holds it.
    const erase = () => {
      for (const k of [...mallory.vm.book.checkpoints.keys()]) mallory.vm.book.checkpoints.delete(k);
    };
    mallory.vm.book.checkpoints.observe(erase);

    const { vmId, first, second } = await runningVm(owner, a, b, "precious");
    await setFile(owner, first, vmId, "note", "kept-7");
    await moreCheckpoints(owner, vmId, 1, 2);
    expect(owner.vm.book.checkpoints.size).toBe(0);
    expect((await ownerHeld(owner, vmId)).length).toBeGreaterThan(0);

    await remove(first);
    await eventually(
      "the VM is running again, or its owner says why not",
      () => runningOn(second, vmId) || ["failed", "waiting"].includes(owner.vm.owner.get(vmId)?.state ?? ""),
      { timeoutMs: 15_000 },
    );
    expect(owner.vm.owner.get(vmId)?.state).toBe("running");
    // Restored with its files, not booted from the image.
    expect([...running].some((m) => m.running && m.files.note === "kept-7")).toBe(true);
    mallory.vm.book.checkpoints.unobserve(erase);
  });
});
