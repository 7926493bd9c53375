/**
 * Which of the two networks a weights file holds, so that a segmentation checkpoint given where an
 * embedding model is expected (or the reverse) is named as such instead of "missing tensor conv1.weight".
 *
 * @module
 */
import { closeSync, openSync, readSync } from "node:fs";
import { WeSpeakerError } from "../errors.ts";

/** The network a safetensors file holds, from its tensor names: `undefined` when it cannot tell. */
export function modelKind(path: string): "embedding" | "segmentation" | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const head = new Uint8Array(8);
    if (readSync(fd, head, 0, 8, 0) !== 8) return undefined;
    const length = Number(new DataView(head.buffer).getBigUint64(0, true));
    if (!(length > 1 && length < 1 << 24)) return undefined;
    const json = new Uint8Array(length);
    if (readSync(fd, json, 0, length, 8) !== length) return undefined;
    const names = Object.keys(JSON.parse(new TextDecoder().decode(json)));
    if (names.some((n) => n.startsWith("sincnet.") || n.startsWith("lstm."))) return "segmentation";
    if (names.some((n) => n.startsWith("layer1.") || n === "conv1.weight")) return "embedding";
    return undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Runs `load` on `path`; when it fails on a file holding the other network, the error says so and how
 * to pass it instead.
 */
export function loadingKind<T>(path: string, wanted: "embedding" | "segmentation", load: () => T): T {
  try {
    return load();
  } catch (err) {
    const found = err instanceof WeSpeakerError && err.code === "invalid-weights"
      ? modelKind(path)
      : undefined;
    if (found === undefined || found === wanted) throw err;
    const hint = found === "segmentation"
      ? "give it as the segmentation model (CLI: --segmentation)"
      : "give it as the embedding model (CLI: --weights or --model)";
    const names = {
      embedding: "an embedding model (WeSpeaker ResNet34)",
      segmentation: "a segmentation model (pyannote segmentation-3.0)",
    };
    throw new WeSpeakerError(
      "invalid-weights",
      `${path} holds ${names[found]}, not ${names[wanted].replace(/ \(.*/, "")}: ${hint}`,
      { cause: err },
    );
  }
}
