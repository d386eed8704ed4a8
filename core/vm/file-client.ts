// An owner's tab's side of files into and out of a VM it owns that runs
// elsewhere (file-protocol.ts): GuestFilePort over the mesh to the VM's
// current host, one call answered at a time, each with a timeout. The host
// takes the calls only from a tab the owner granted the console (an open shell).

import type { MeshPort, PeerChannel } from "../net/channels.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import { withTimeout } from "../util/async.ts";
import type { Clock } from "../util/clock.ts";
import { isCount, isObject, SHA256_PATTERN } from "../util/guards.ts";
import {
  encodeFileMessage,
  FILES_PROTOCOL,
  type FileAnswer,
  type FileRequest,
  MAX_LISTED_FILES,
  parseFileMessage,
  REMOTE_FILE_CHUNK_BYTES,
} from "./file-protocol.ts";
import {
  FileTransferError,
  type GuestFileDownload,
  type GuestFileEntry,
  type GuestFilePort,
  MAX_FILE_CHUNK_BYTES,
} from "./file-transfer.ts";

/** Pieces of a download asked for at once (the host answers at most 4 calls of a tab at once). */
const PIECES_IN_FLIGHT = 3;
/** How long one call may wait for its answer. */
const CALL_TIMEOUT_MS = 30_000;
/** Packing a whole disk reads every file of it first (the image's too, which its host may fetch). */
const SNAPSHOT_TIMEOUT_MS = 180_000;

type Call = FileRequest extends infer R
  ? R extends FileRequest
    ? Omit<R, "t" | "rq" | "vmId">
    : never
  : never;

export class FileClients {
  private readonly channel: PeerChannel;
  private readonly off: () => void;
  private nextRq = 1;
  private readonly waiting = new Map<number, { from: PeerAddress; settle: (a: FileAnswer) => void }>();

  constructor(
    mesh: MeshPort,
    private readonly clock: Clock,
  ) {
    this.channel = mesh.channel(FILES_PROTOCOL);
    this.off = this.channel.on("message", (remote, payload) => {
      const m = parseFileMessage(payload);
      const waiter = m?.t === "res" ? this.waiting.get(m.rq) : undefined;
      // Only the host asked answers.
      if (m?.t === "res" && waiter && waiter.from === remote) {
        this.waiting.delete(m.rq);
        waiter.settle(m);
      }
    });
  }

  dispose(): void {
    this.off();
    for (const [rq, waiter] of this.waiting) {
      this.waiting.delete(rq);
      waiter.settle({ t: "res", rq, ok: false, error: "this tab stopped" });
    }
  }

  /** The files of VM `vmId`, at whatever host `hostOf` names at each call. */
  port(vmId: string, hostOf: () => PeerAddress | null): GuestFilePort {
    const call = async (
      c: Call,
      timeoutMs = CALL_TIMEOUT_MS,
    ): Promise<{ value: unknown; chunk: Uint8Array | null }> => {
      const host = hostOf();
      if (!host) throw new FileTransferError("the VM has no host right now");
      const rq = this.nextRq++;
      const answered = new Promise<FileAnswer>((settle) => this.waiting.set(rq, { from: host, settle }));
      const request = { t: "req", rq, vmId, ...c } as FileRequest;
      if (!this.channel.send(host, encodeFileMessage(request))) {
        this.waiting.delete(rq);
        throw new FileTransferError("the VM's host is out of reach");
      }
      let answer: FileAnswer;
      try {
        answer = await withTimeout(answered, timeoutMs, "the VM's host", this.clock);
      } finally {
        this.waiting.delete(rq);
      }
      if (!answer.ok) throw new FileTransferError(answer.error);
      return answer;
    };
    const expect =
      <T>(ok: (v: unknown) => v is T) =>
      (a: { value: unknown }): T => {
        if (!ok(a.value)) throw new FileTransferError("the VM's host gave an answer that makes no sense");
        return a.value;
      };
    const isNumber = (v: unknown): v is number => isCount(v);
    const isText = (v: unknown): v is string => typeof v === "string";
    const isNull = (v: unknown): v is null => v === null;
    return {
      fileUploadBegin: async (name, bytes) =>
        expect(isNumber)(await call({ op: "uploadBegin", name, bytes })),
      // Pieces small enough for a data channel message, sent in order.
      fileUploadChunk: async (transfer, offset, chunk) => {
        for (let at = 0; at < chunk.length; at += REMOTE_FILE_CHUNK_BYTES) {
          const piece = chunk.subarray(at, at + REMOTE_FILE_CHUNK_BYTES);
          expect(isNull)(await call({ op: "uploadChunk", transfer, offset: offset + at, chunk: piece }));
        }
      },
      fileUploadEnd: async (transfer, sha256) =>
        expect(isText)(await call({ op: "uploadEnd", transfer, sha256 })),
      fileUploadCancel: async (transfer) => {
        await call({ op: "uploadCancel", transfer });
      },
      fileList: async () => expect(isEntries)(await call({ op: "list" })),
      fileDownloadBegin: async (name) => expect(isDownload)(await call({ op: "downloadBegin", name })),
      fileSnapshotBegin: async () =>
        expect(isDownload)(await call({ op: "snapshotBegin" }, SNAPSHOT_TIMEOUT_MS)),
      // A bigger piece asked for comes as several, a few in flight at once (reads keep no order).
      fileDownloadChunk: async (transfer, offset, maxBytes = REMOTE_FILE_CHUNK_BYTES) => {
        const want = Math.max(0, Math.min(maxBytes, MAX_FILE_CHUNK_BYTES));
        const starts: number[] = [];
        for (let at = 0; at < want; at += REMOTE_FILE_CHUNK_BYTES) starts.push(at);
        const out = new Uint8Array(want);
        let got = 0;
        for (let i = 0; i < starts.length; i += PIECES_IN_FLIGHT) {
          const batch = starts.slice(i, i + PIECES_IN_FLIGHT);
          const pieces = await Promise.all(
            batch.map(async (at) => {
              const size = Math.min(REMOTE_FILE_CHUNK_BYTES, want - at);
              const answer = await call({
                op: "downloadChunk",
                transfer,
                offset: offset + at,
                maxBytes: size,
              });
              const piece = answer.chunk ?? new Uint8Array(0);
              if (piece.length > size) throw new FileTransferError("the VM's host sent more than was asked");
              return { piece, size };
            }),
          );
          for (const { piece, size } of pieces) {
            out.set(piece, got);
            got += piece.length;
            if (piece.length < size) return out.slice(0, got); // the end of the file
          }
        }
        return out;
      },
      fileDownloadEnd: async (transfer) => {
        await call({ op: "downloadEnd", transfer });
      },
    };
  }
}

const isEntries = (v: unknown): v is GuestFileEntry[] =>
  Array.isArray(v) &&
  v.length <= MAX_LISTED_FILES &&
  v.every((e) => isObject(e) && typeof e.name === "string" && e.name.length <= 500 && isCount(e.bytes));

const isDownload = (v: unknown): v is GuestFileDownload =>
  isObject(v) &&
  isCount(v.id) &&
  typeof v.name === "string" &&
  v.name.length <= 500 &&
  isCount(v.bytes) &&
  typeof v.sha256 === "string" &&
  SHA256_PATTERN.test(v.sha256);
