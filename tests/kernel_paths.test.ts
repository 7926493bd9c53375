// The generic MLX path (the plain MLX operations that GPU streams run, selected on the CPU with
// WESPEAKER_CPU_KERNEL=mlx) against our CPU kernels, end to end: the same diarization of the same file by
// the CLI under each. `npm test` also runs the embedding and segmentation parity suites under it (see
// package.json's test:kernels), against the same float64 goldens and bounds.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { segmentationWaveform } from "./helpers/segmentation_inputs.ts";
import { runCliAsync } from "./helpers/runtime.ts";
import { encodeWav } from "./helpers/wav_writer.ts";
import { testSegmentationWeights, testWeights } from "./helpers/weights.ts";

interface Diarization {
  speakers: string[];
  segments: { speaker: string; start: number; end: number }[];
  speakerEmbeddings: (number[] | null)[];
}

describe("the generic MLX path (WESPEAKER_CPU_KERNEL=mlx)", () => {
  // Two diarizations, one on MLX's slow CPU ops: minutes on a busy machine.
  test("diarizes a file as the CPU kernels do: same turns, speaker embeddings within float32 rounding", {
    timeout: 600_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "wespeaker-paths-"));
    try {
      const wav = join(dir, "talk.wav");
      // 18 s of speech-like audio: 9 chunks at the default 1 s step, a full native batch of 8 and one more.
      const audio = segmentationWaveform({ kind: "speech", seed: 11 }, 18 * 16000);
      writeFileSync(wav, encodeWav([audio], { format: "float", bits: 32, sampleRate: 16000 }));
      const args = [
        "diarize",
        "--segmentation",
        await testSegmentationWeights(),
        "--weights",
        testWeights().path,
        "--json",
        wav,
      ];
      const kernels = await runCliAsync(args, { WESPEAKER_CPU_KERNEL: "" });
      const generic = await runCliAsync(args, { WESPEAKER_CPU_KERNEL: "mlx" });
      assert.equal(kernels.status, 0, kernels.stderr);
      assert.equal(generic.status, 0, generic.stderr);
      const a = JSON.parse(kernels.stdout) as Diarization, b = JSON.parse(generic.stdout) as Diarization;
      assert.ok(a.segments.length > 0);
      assert.deepEqual(b.speakers, a.speakers);
      assert.deepEqual(b.segments, a.segments);
      let worst = 0;
      a.speakerEmbeddings.forEach((e, k) => {
        assert.equal(e === null, b.speakerEmbeddings[k] === null);
        e?.forEach((
          v,
          i,
        ) => (worst = Math.max(worst, Math.abs(v - b.speakerEmbeddings[k]![i]) / Math.max(1, Math.abs(v)))));
      });
      console.log(
        `CPU kernels vs MLX operations: speaker embeddings differ by at most ${worst.toExponential(1)}`,
      );
      assert.ok(worst <= 1e-4, `speaker embeddings differ by ${worst}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
