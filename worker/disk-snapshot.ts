// A VM's whole disk as one download: its 9p root packed into a gzip-compressed
// tar (core/guest/tar.ts), every directory, file and symlink with its owner,
// mode and time. Files the guest never opened are read from the image as v86
// reads them (fetched by name, then kept). The archive is made in memory, so it
// is held to a size: what the disk holds may be at most `maxBytes`.
import { type TarEntry, tarEnd, tarEntry } from "../core/guest/tar.ts";
import { FileTransferError } from "../core/vm/file-transfer.ts";

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** The parts of v86's 9p filesystem (lib/filesystem.js, 0.5.462) a snapshot reads. */
export interface DiskFs {
  inodes: { mode: number; size: number; mtime: number; uid: number; gid: number; symlink: string }[];
  SearchPath(path: string): { id: number };
  read_dir(path: string): string[] | undefined;
}

/** Files read ahead of the one being packed. */
const READ_AHEAD = 16;

/** The tar.gz of everything under `/` of `fs`; `readFile` gives a file's contents (v86's read_file). */
export async function packDisk(
  fs: DiskFs,
  readFile: (path: string) => Promise<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array> {
  // Every entry first (metadata only), then the files' contents, a few read ahead at once:
  // the image's files come over the network one by one, and one at a time took a minute.
  const entries: { path: string; readsData: boolean; make: (data: Uint8Array) => TarEntry }[] = [];
  let total = 0;
  const visit = (dir: string): void => {
    for (const name of [...(fs.read_dir(dir) ?? [])].sort()) {
      const path = dir === "/" ? `/${name}` : `${dir}/${name}`;
      const inode = fs.inodes[fs.SearchPath(path).id];
      if (!inode) continue;
      const meta = {
        path: path.slice(1),
        mode: inode.mode,
        mtimeS: inode.mtime,
        uid: inode.uid,
        gid: inode.gid,
      };
      const type = inode.mode & S_IFMT;
      if (type === S_IFDIR) {
        entries.push({ path, readsData: false, make: () => ({ type: "dir", ...meta }) });
        visit(path);
      } else if (type === S_IFLNK) {
        const target = inode.symlink;
        entries.push({ path, readsData: false, make: () => ({ type: "symlink", ...meta, target }) });
      } else if (type === S_IFREG) {
        total += inode.size;
        if (total > maxBytes)
          throw new FileTransferError(
            `the disk holds more than ${Math.round(maxBytes / 2 ** 20)} MiB: too much for one download`,
          );
        // An empty file has nothing to read: v86 keeps no data for one restored from a state
        // (its read_file then says "File not found", as for apt's lock files after a move).
        entries.push({ path, readsData: inode.size > 0, make: (data) => ({ type: "file", ...meta, data }) });
      }
      // Devices, sockets, FIFOs: the guest makes its own.
    }
  };
  visit("/");

  const gzip = new CompressionStream("gzip");
  const writer = gzip.writable.getWriter();
  const packed = new Response(gzip.readable).arrayBuffer();
  // A copy of each file: the guest may write it while it is packed.
  const contents = new Map<number, Promise<Uint8Array>>();
  const readAhead = (from: number) => {
    for (let i = from; i < entries.length && contents.size < READ_AHEAD; i++) {
      const e = entries[i]!;
      if (!e.readsData || contents.has(i)) continue;
      const read = readFile(e.path).then(
        (d) => d.slice(),
        (err: unknown) => {
          throw new Error(`${e.path}: ${err instanceof Error ? err.message : String(err)}`);
        },
      );
      // Awaited in turn below; one that fails while an earlier one is awaited is not unhandled.
      read.catch(() => {});
      contents.set(i, read);
    }
  };
  try {
    for (let i = 0; i < entries.length; i++) {
      readAhead(i);
      const e = entries[i]!;
      let data: Uint8Array = new Uint8Array(0);
      if (e.readsData) {
        data = await contents.get(i)!;
        contents.delete(i);
      }
      for (const block of tarEntry(e.make(data))) await writer.write(block as Uint8Array<ArrayBuffer>);
    }
    await writer.write(tarEnd() as Uint8Array<ArrayBuffer>);
    await writer.close();
  } catch (err) {
    await writer.abort(err).catch(() => {});
    await packed.catch(() => {});
    throw err;
  }
  return new Uint8Array(await packed);
}
