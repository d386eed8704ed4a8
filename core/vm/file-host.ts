// A host's side of files into and out of the VMs it runs (file-protocol.ts):
// only a tab the owner granted the console (the same check as typing) may call,
// and only while the VM runs; each call goes to the VM's engine, which holds
// the limits (worker/guest-files.ts). What a tab left under way is cancelled
// when its link closes, so it holds no place.

import type { MeshPort, PeerChannel } from "../net/channels.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import { errorMessage } from "../util/errors.ts";
import {
  encodeFileMessage,
  FILES_PROTOCOL,
  type FileRequest,
  MAX_LISTED_FILES,
  parseFileMessage,
  REMOTE_FILE_CHUNK_BYTES,
} from "./file-protocol.ts";
import type { GuestFilePort } from "./file-transfer.ts";

/** Calls one tab may have under way at once (it waits for each answer anyway). */
const MAX_CALLS_PER_TAB = 4;

export interface FileHostOptions {
  mesh: MeshPort;
  /** The files of VM `vmId` if `remote` is a tab its owner granted and the VM runs; else null. */
  portFor(remote: PeerAddress, vmId: string): GuestFilePort | null;
}

interface Opened {
  port: GuestFilePort;
  kind: "upload" | "download";
  transfer: number;
}

export class FileHost {
  private readonly channel: PeerChannel;
  private readonly off: (() => void)[];
  private readonly calls = new Map<PeerAddress, number>();
  /** Transfers each tab began and has not ended. */
  private readonly opened = new Map<PeerAddress, Map<string, Opened>>();

  constructor(private readonly o: FileHostOptions) {
    this.channel = o.mesh.channel(FILES_PROTOCOL);
    this.off = [
      this.channel.on("message", (remote, payload) => {
        const m = parseFileMessage(payload);
        if (m?.t === "req") void this.call(remote, m);
      }),
      o.mesh.on("close", (remote) => this.forget(remote)),
    ];
  }

  dispose(): void {
    for (const off of this.off.splice(0)) off();
    for (const remote of [...this.opened.keys()]) this.forget(remote);
  }

  private async call(remote: PeerAddress, m: FileRequest): Promise<void> {
    const port = this.o.portFor(remote, m.vmId);
    const answer = (
      result: { ok: true; value: unknown; chunk?: Uint8Array } | { ok: false; error: string },
    ) =>
      this.channel.send(
        remote,
        encodeFileMessage(
          result.ok
            ? { t: "res", rq: m.rq, ok: true, value: result.value, chunk: result.chunk ?? null }
            : { t: "res", rq: m.rq, ok: false, error: result.error },
        ),
      );
    if (!port)
      return void answer({
        ok: false,
        error: "this tab may not move files of that VM here (open its shell)",
      });
    const calls = this.calls.get(remote) ?? 0;
    if (calls >= MAX_CALLS_PER_TAB) return void answer({ ok: false, error: "too many calls at once" });
    this.calls.set(remote, calls + 1);
    try {
      answer({ ok: true, ...(await this.run(remote, port, m)) });
    } catch (err) {
      answer({ ok: false, error: errorMessage(err) });
    } finally {
      const left = (this.calls.get(remote) ?? 1) - 1;
      if (left > 0) this.calls.set(remote, left);
      else this.calls.delete(remote);
    }
  }

  private async run(
    remote: PeerAddress,
    port: GuestFilePort,
    m: FileRequest,
  ): Promise<{ value: unknown; chunk?: Uint8Array }> {
    switch (m.op) {
      case "list":
        return { value: (await port.fileList()).slice(0, MAX_LISTED_FILES) };
      case "uploadBegin": {
        const transfer = await port.fileUploadBegin(m.name, m.bytes);
        this.note(remote, m.vmId, { port, kind: "upload", transfer });
        return { value: transfer };
      }
      case "uploadChunk":
        this.mine(remote, m.vmId, "upload", m.transfer);
        await port.fileUploadChunk(m.transfer, m.offset, m.chunk);
        return { value: null };
      case "uploadEnd":
        this.mine(remote, m.vmId, "upload", m.transfer);
        this.drop(remote, m.vmId, "upload", m.transfer);
        return { value: await port.fileUploadEnd(m.transfer, m.sha256) };
      case "uploadCancel":
        this.mine(remote, m.vmId, "upload", m.transfer);
        this.drop(remote, m.vmId, "upload", m.transfer);
        await port.fileUploadCancel(m.transfer);
        return { value: null };
      case "downloadBegin": {
        const started = await port.fileDownloadBegin(m.name);
        this.note(remote, m.vmId, { port, kind: "download", transfer: started.id });
        return { value: started };
      }
      case "downloadChunk":
        this.mine(remote, m.vmId, "download", m.transfer);
        return {
          value: null,
          chunk: await port.fileDownloadChunk(
            m.transfer,
            m.offset,
            Math.min(m.maxBytes, REMOTE_FILE_CHUNK_BYTES),
          ),
        };
      case "downloadEnd":
        this.mine(remote, m.vmId, "download", m.transfer);
        this.drop(remote, m.vmId, "download", m.transfer);
        await port.fileDownloadEnd(m.transfer);
        return { value: null };
      case "snapshotBegin": {
        if (!port.fileSnapshotBegin)
          throw new Error("this VM has no disk of its own: its files are in /files");
        const started = await port.fileSnapshotBegin();
        this.note(remote, m.vmId, { port, kind: "download", transfer: started.id });
        return { value: started };
      }
    }
  }

  private note(remote: PeerAddress, vmId: string, opened: Opened): void {
    const mine = this.opened.get(remote) ?? new Map<string, Opened>();
    this.opened.set(remote, mine);
    mine.set(`${vmId}/${opened.kind}/${opened.transfer}`, opened);
  }

  /** Only the tab that began a transfer may go on with it or end it. */
  private mine(remote: PeerAddress, vmId: string, kind: Opened["kind"], transfer: number): void {
    if (!this.opened.get(remote)?.has(`${vmId}/${kind}/${transfer}`))
      throw new Error(`no ${kind} ${transfer} of this tab under way`);
  }

  private drop(remote: PeerAddress, vmId: string, kind: Opened["kind"], transfer: number): void {
    this.opened.get(remote)?.delete(`${vmId}/${kind}/${transfer}`);
  }

  private forget(remote: PeerAddress): void {
    const mine = this.opened.get(remote);
    this.opened.delete(remote);
    this.calls.delete(remote);
    for (const { port, kind, transfer } of mine?.values() ?? []) {
      const end = kind === "upload" ? port.fileUploadCancel(transfer) : port.fileDownloadEnd(transfer);
      void end.catch(() => {});
    }
  }
}
