// ustar archives for the tar reader's tests: regular files by default, any entry type on request,
// and the npm-style gzipped package tarball built from them.
import { gzipSync } from "node:zlib";

/** One archive entry; `type` is the header's typeflag ("0" file, "2" symlink, "5" directory, "x" pax). */
export interface TarEntry {
  name: string;
  data?: Uint8Array | string;
  mode?: number;
  type?: string;
  /** Written into the ustar prefix field instead of the name field. */
  prefix?: string;
}

const encoder = new TextEncoder();

function field(header: Uint8Array, offset: number, length: number, text: string): void {
  header.set(encoder.encode(text).subarray(0, length), offset);
}

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, "0") + "\0";
}

/** A tar archive of `entries`, ended by two zero blocks. */
export function tar(entries: TarEntry[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const entry of entries) {
    const data = typeof entry.data === "string" ? encoder.encode(entry.data) : entry.data ?? new Uint8Array();
    const header = new Uint8Array(512);
    field(header, 0, 100, entry.name);
    field(header, 100, 8, octal(entry.mode ?? 0o644, 8));
    field(header, 108, 8, octal(0, 8));
    field(header, 116, 8, octal(0, 8));
    field(header, 124, 12, octal(data.length, 12));
    field(header, 136, 12, octal(0, 12));
    field(header, 148, 8, "        ");
    field(header, 156, 1, entry.type ?? "0");
    field(header, 257, 8, "ustar\u000000");
    if (entry.prefix) field(header, 345, 155, entry.prefix);
    const sum = header.reduce((a, b) => a + b, 0);
    field(header, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    const body = new Uint8Array(Math.ceil(data.length / 512) * 512);
    body.set(data);
    blocks.push(header, body);
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const block of blocks) {
    out.set(block, at);
    at += block.length;
  }
  return out;
}

/** An npm package tarball (.tgz): `files` under package/, with its package.json. */
export function npmTarball(
  name: string,
  version: string,
  files: Record<string, string | Uint8Array>,
): Uint8Array {
  const manifest = { "package.json": JSON.stringify({ name, version }) };
  return gzipSync(
    tar(Object.entries({ ...manifest, ...files }).map(([path, data]) => ({ name: `package/${path}`, data }))),
  );
}

/** A pax extended header record ("<length> key=value\n") for `path`. */
export function paxPath(path: string): string {
  const body = ` path=${path}\n`;
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return `${length}${body}`;
}

/** Overwrites a header field of the entry whose header starts at `header`, keeping its checksum valid. */
export function setField(archive: Uint8Array, header: number, offset: number, text: string): void {
  const block = archive.subarray(header, header + 512);
  field(block, offset, text.length, text);
  field(block, 148, 8, "        ");
  field(block, 148, 8, block.reduce((a, b) => a + b, 0).toString(8).padStart(6, "0") + "\0 ");
}
