/**
 * Reading the tar archive inside an npm package tarball (`.tgz` once gunzipped), for the platform
 * package fetched from the npm registry (platform_package.ts). Our own reader rather than a library
 * because what it accepts is the point: regular files with plain relative names, nothing else.
 * Links, devices and names that could climb out of the destination are refused, not skipped.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";

/** A regular file of an archive. */
export interface TarFile {
  /** Relative path with `/` separators, no `.` or `..` segments. */
  name: string;
  /** Permission bits from the header (0o644, 0o755, …). */
  mode: number;
  data: Uint8Array;
}

const BLOCK = 512;
const decoder = new TextDecoder();

function fail(what: string, message: string): never {
  throw new WeSpeakerError("integrity", `${what}: ${message}`);
}

function text(header: Uint8Array, offset: number, length: number): string {
  const field = header.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
}

// Numeric fields are octal text, NUL- or space-terminated.
function octal(what: string, header: Uint8Array, offset: number, length: number, field: string): number {
  const raw = text(header, offset, length).trim();
  if (!/^[0-7]{1,12}$/.test(raw)) {
    fail(what, `header field ${field} is not an octal number: ${JSON.stringify(raw)}`);
  }
  return parseInt(raw, 8);
}

function checksumOk(header: Uint8Array, stored: number): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum === stored;
}

// pax extended header records: "<length> <key>=<value>\n".
function paxPath(what: string, data: Uint8Array): string | undefined {
  let path: string | undefined;
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = space < 0 ? NaN : Number(decoder.decode(data.subarray(at, space)));
    if (!Number.isInteger(length) || length <= space - at || at + length > data.length) {
      fail(what, `malformed pax record at byte ${at} of an extended header`);
    }
    const record = decoder.decode(data.subarray(space + 1, at + length - 1));
    if (record.startsWith("path=")) path = record.slice(5);
    at += length;
  }
  return path;
}

function safeName(what: string, name: string): string {
  const parts = name.split("/").filter((part) => part !== "" && part !== ".");
  if (
    name.startsWith("/") || name.includes("\\") || name.includes("\0") || parts.length === 0 ||
    parts.includes("..")
  ) {
    fail(what, `refusing entry name ${JSON.stringify(name)}`);
  }
  return parts.join("/");
}

/**
 * The regular files of a tar archive, in archive order. Directory entries and pax global headers
 * are passed over; every other entry type is an error.
 *
 * @param what names the archive in errors
 * @throws {WeSpeakerError} `integrity` naming the archive and what is wrong with it
 */
export function readTar(bytes: Uint8Array, what: string): TarFile[] {
  const files: TarFile[] = [];
  let longName: string | undefined;
  let at = 0;
  for (;;) {
    if (at + BLOCK > bytes.length) fail(what, `truncated: no end-of-archive marker after byte ${at}`);
    const header = bytes.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) return files;
    if (!checksumOk(header, octal(what, header, 148, 8, "chksum"))) {
      fail(what, `header checksum mismatch at byte ${at}`);
    }
    const size = octal(what, header, 124, 12, "size");
    const type = String.fromCharCode(header[156]!);
    const start = at + BLOCK;
    if (start + size > bytes.length) fail(what, `entry at byte ${at} claims ${size} bytes past the end`);
    const data = bytes.subarray(start, start + size);
    at = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "x") {
      longName = paxPath(what, data) ?? longName;
      continue;
    }
    if (type === "L") {
      longName = text(data, 0, data.length);
      continue;
    }
    const prefix = text(header, 345, 155);
    const plain = text(header, 0, 100);
    const name = longName ?? (prefix ? `${prefix}/${plain}` : plain);
    longName = undefined;
    if (type === "5" || type === "g") continue;
    if (type !== "0" && type !== "\0") {
      fail(what, `entry ${JSON.stringify(name)} has type '${type}': only regular files are accepted`);
    }
    files.push({ name: safeName(what, name), mode: octal(what, header, 100, 8, "mode") & 0o777, data });
  }
}
