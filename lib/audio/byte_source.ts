/**
 * The bytes of an audio file, read where a decoder asks: positional reads of an open file, or slices of
 * bytes held in memory (stdin, `decodeAudio`). Decoders never hold a whole file unless it was given
 * whole.
 *
 * @module
 */
import { type FileHandle, open } from "node:fs/promises";
import { WeSpeakerError } from "../errors.ts";

/** Random access to the bytes of one audio file. */
export interface ByteSource {
  /** Names the file in error messages. */
  readonly name: string;
  /** The file's path when it is a file (ffmpeg then reads it itself). */
  readonly path?: string;
  /** Total bytes. */
  readonly size: number;
  /** Bytes `[offset, offset + length)`, shorter only where the file ends first; a fresh array. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases the file. Idempotent. */
  close(): Promise<void>;
}

/** The bytes of a file, read on demand. */
export async function fileSource(path: string): Promise<ByteSource> {
  let file: FileHandle;
  try {
    file = await open(path, "r");
  } catch (err) {
    throw ioError(path, err);
  }
  let size: number;
  try {
    size = (await file.stat()).size;
  } catch (err) {
    await file.close();
    throw ioError(path, err);
  }
  let handle: FileHandle | null = file;
  return {
    name: path,
    path,
    size,
    async read(offset, length) {
      const into = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
      let filled = 0;
      while (filled < into.length) {
        if (handle === null) throw new WeSpeakerError("closed", `${path} was closed while being read`);
        let bytesRead: number;
        try {
          ({ bytesRead } = await handle.read(into, filled, into.length - filled, offset + filled));
        } catch (err) {
          throw ioError(path, err);
        }
        if (bytesRead === 0) {
          throw new WeSpeakerError(
            "io",
            `cannot read audio file ${path}: it ends at byte ${offset + filled}, before the ` +
              `${into.length} bytes expected at ${offset} (was it truncated while being read?)`,
          );
        }
        filled += bytesRead;
      }
      return into;
    },
    async close() {
      const open = handle;
      handle = null;
      await open?.close();
    },
  };
}

/** Bytes held in memory, under a name for error messages. */
export function memorySource(bytes: Uint8Array, name: string): ByteSource {
  return {
    name,
    size: bytes.length,
    read: (offset, length) => Promise.resolve(bytes.slice(offset, offset + Math.max(0, length))),
    close: () => Promise.resolve(),
  };
}

/** The source's bytes from `from` on, in pieces of `piece` bytes. */
export async function* sequentialBytes(
  source: ByteSource,
  from = 0,
  piece = 1 << 16,
): AsyncGenerator<Uint8Array> {
  for (let at = from; at < source.size; at += piece) yield await source.read(at, piece);
}

// Same wording for every way of reading a file, so they fail alike.
export function ioError(path: string, err: unknown): WeSpeakerError {
  const why = err instanceof Error ? err.message : String(err);
  return new WeSpeakerError("io", `cannot read audio file ${path}: ${why}`, { cause: err });
}
