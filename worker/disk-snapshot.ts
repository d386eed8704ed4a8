// A VM's whole disk as one download: its 9p root packed into a gzip-compressed
// tar (core/guest/tar.ts), every directory, file and symlink with its owner,
// mode and time. Files the guest never opened are read from the image as v86
// reads them (fetched by name, then kept). The archive is made in memory, so it
// is held to a size: what the disk holds may be at most `maxBytes`.
import { type TarEntry, tarEnd, tarEntry } from "../core/guest/tar.ts";

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

export class DiskTooBig extends Error {}

/** The tar.gz of everything under `/` of `fs`; `readFile` gives a file's contents (v86's read_file). */
export async function packDisk(
  fs: DiskFs,
  readFile: (path: string) => Promise<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array> {
  const gzip = new CompressionStream("gzip");
  const writer = gzip.writable.getWriter();
  const packed = new Response(gzip.readable).arrayBuffer();
  let total = 0;
  const write = async (blocks: Uint8Array[]) => {
    for (const block of blocks) await writer.write(block as Uint8Array<ArrayBuffer>);
  };
  const visit = async (dir: string): Promise<void> => {
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
      let entry: TarEntry | null = null;
      if (type === S_IFDIR) entry = { type: "dir", ...meta };
      else if (type === S_IFLNK) entry = { type: "symlink", ...meta, target: inode.symlink };
      else if (type === S_IFREG) {
        total += inode.size;
        if (total > maxBytes)
          throw new DiskTooBig(
            `the disk holds more than ${Math.round(maxBytes / 2 ** 20)} MiB: too much for one download`,
          );
        // A copy: the guest may write the file while it is packed.
        entry = { type: "file", ...meta, data: (await readFile(path)).slice() };
      }
      if (!entry) continue; // devices, sockets, FIFOs: the guest makes its own
      await write(tarEntry(entry));
      if (type === S_IFDIR) await visit(path);
    }
  };
  try {
    await visit("/");
    await write([tarEnd()]);
    await writer.close();
  } catch (err) {
    await writer.abort(err).catch(() => {});
    await packed.catch(() => {});
    throw err;
  }
  return new Uint8Array(await packed);
}
