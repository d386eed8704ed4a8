// /files for the fake engine: the VM host's rules (core/vm/file-transfer.ts) over
// a map in memory, so runtime tests move files without v86.
import { sha256Hex } from "../../core/util/bytes.ts";
import {
  FileTransferError,
  freeFileName,
  type GuestFilePort,
  guestFileName,
  TransferTable,
  UploadBuffer,
} from "../../core/vm/file-transfer.ts";

export function memoryFiles(): GuestFilePort & { stored: Map<string, Uint8Array> } {
  const stored = new Map<string, Uint8Array>();
  const uploads = new TransferTable<UploadBuffer>("upload");
  const downloads = new TransferTable<Uint8Array>("download");
  return {
    stored,
    fileUploadBegin: async (name, bytes) => uploads.add(new UploadBuffer(guestFileName(name), bytes)),
    fileUploadChunk: async (id, offset, chunk) => uploads.get(id).write(offset, chunk),
    fileUploadEnd: async (id, sha256) => {
      const upload = uploads.get(id);
      uploads.delete(id);
      const data = await upload.finish(sha256);
      const name = freeFileName(upload.name, (n) => stored.has(n));
      stored.set(name, data);
      return name;
    },
    fileUploadCancel: async (id) => uploads.delete(id),
    fileList: async () => [...stored].map(([name, data]) => ({ name, bytes: data.length })),
    fileDownloadBegin: async (name) => {
      const clean = guestFileName(name);
      const data = stored.get(clean);
      if (!data) throw new FileTransferError(`no file /files/${clean}`);
      const id = downloads.add(data.slice());
      return { id, name: clean, bytes: data.length, sha256: await sha256Hex(data) };
    },
    fileDownloadChunk: async (id, offset, maxBytes = 1024 * 1024) =>
      downloads.get(id).slice(offset, offset + maxBytes),
    fileDownloadEnd: async (id) => downloads.delete(id),
  };
}
