/**
 * Converts a WeSpeaker ResNet34 checkpoint (pyannote `pytorch_model.bin`, WeSpeaker `avg_model.pt`,
 * ONNX export, or MLX safetensors) to the MLX safetensors this library loads, plus `config.json`:
 *
 *     deno run --allow-read --allow-write scripts/convert.ts IN OUT.safetensors
 *     bun scripts/convert.ts IN OUT.safetensors
 *
 * The same as the CLI's `convert` command; from code, use `convertCheckpoint` from the package.
 */
import process from "node:process";
import { main } from "../lib/cli.ts";

if (import.meta.main) process.exitCode = await main(["convert", ...process.argv.slice(2)]);
