import process from "node:process";
import { convertCheckpoint, readCheckpoint, writeConverted } from "../../hub/convert/mod.ts";
import type { Command } from "../command.ts";

/** `wespeaker convert IN OUT`: any supported checkpoint to our safetensors. */
export const convert: Command = {
  name: "convert",
  summary: "convert a checkpoint (pyannote/WeSpeaker .bin/.pt, .onnx) to MLX safetensors",
  help: `usage: wespeaker convert IN OUT

Converts IN (a pyannote pytorch_model.bin, a WeSpeaker avg_model.pt, an ONNX export; embedding or
segmentation) to MLX safetensors OUT, with config.json beside it. The output is deterministic.`,
  options: {},
  positionals: { min: 2, max: 2, name: "paths (IN OUT)" },
  async run({ positionals: [input, output] }) {
    const converted = await convertCheckpoint(await readCheckpoint(input), input);
    await writeConverted(output, converted);
    const tensors = Object.keys(converted.tensors).length;
    process.stderr.write(`wrote ${output}: ${tensors} tensors, ${converted.safetensors.length} bytes\n`);
  },
};
