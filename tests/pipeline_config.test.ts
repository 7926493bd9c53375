// config.yaml as pyannote.audio 4 reads it: the two published configs (reproduced in
// tests/fixtures/pipelines/, sources in its README), PyYAML's YAML 1.1 scalars, and a named error with its
// line for every key this library does not understand or cannot honour.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { parsePipelineConfig } from "../lib/diarization/config.ts";
import { WeSpeakerError } from "../lib/errors.ts";

const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/pipelines/${name}.config.yaml`, import.meta.url), "utf8");
const community1 = fixture("community-1");
const v31 = fixture("3.1");

function rejects(text: string, message: RegExp): void {
  assert.throws(
    () => parsePipelineConfig(text, "c.yaml"),
    (e) =>
      e instanceof WeSpeakerError && e.code === "invalid-weights" && message.test(e.message) ||
      assert.fail(String(e)),
  );
}

describe("pipeline config.yaml", () => {
  test("speaker-diarization-community-1", () => {
    assert.deepEqual(parsePipelineConfig(community1), {
      segmentation: { subfolder: "segmentation" },
      embedding: { subfolder: "embedding" },
      plda: { subfolder: "plda" },
      clustering: { method: "VBxClustering", threshold: 0.6, Fa: 0.07, Fb: 0.8 },
      segmentationStep: 0.1,
      embeddingExcludeOverlap: true,
      minDurationOff: 0,
    });
  });

  test("speaker-diarization-3.1", () => {
    assert.deepEqual(parsePipelineConfig(v31), {
      segmentation: { location: "pyannote/segmentation-3.0" },
      embedding: { location: "pyannote/wespeaker-voxceleb-resnet34-LM" },
      clustering: { method: "AgglomerativeClustering", threshold: 0.7045654963945799, minClusterSize: 12 },
      segmentationStep: 0.1,
      embeddingExcludeOverlap: true,
      minDurationOff: 0,
    });
  });

  test("pyannote 4's defaults for what a VBx config leaves out; $model revisions; step", () => {
    const text = community1
      .replace(/\nparams:[\s\S]*$/, "\n")
      .replace("plda: $model/plda", "plda: $model/plda@v2\n    segmentation_step: 0.25");
    const config = parsePipelineConfig(text);
    assert.deepEqual(config.clustering, { method: "VBxClustering", threshold: 0.6, Fa: 0.07, Fb: 0.8 });
    assert.deepEqual(config.plda, { subfolder: "plda", revision: "v2" });
    assert.equal(config.segmentationStep, 0.25);
    assert.equal(config.minDurationOff, 0);
  });

  test("unknown and unsupported keys are errors naming the key and its line", () => {
    rejects(
      community1.replace("    Fb: 0.8", "    Fb: 0.8\n    Fc: 1"),
      /^c\.yaml, line 17: params\.clustering\.Fc: unknown key \(understood here: threshold, Fa, Fb\)$/,
    );
    rejects(`${community1}device: cuda\n`, /line 19: device: not supported: a torch device/);
    rejects(
      community1.replace("  params:\n", "  params:\n    token: hf_x\n"),
      /line 4: pipeline\.params\.token: not supported: pass the token to fromPretrained/,
    );
    rejects(
      community1.replace("VBxClustering", "KMeansClustering"),
      /line 4: pipeline\.params\.clustering: unsupported clustering KMeansClustering/,
    );
    rejects(
      v31.replace("method: centroid", "method: average"),
      /params\.clustering\.method: unsupported linkage average \(only centroid is\)/,
    );
    rejects(
      v31.replace("    min_cluster_size: 12\n", ""),
      /params\.clustering\.min_cluster_size: missing \(AgglomerativeClustering has no default\)/,
    );
    rejects(
      v31.replace("    min_duration_off: 0.0", "    min_duration_off: 0.0\n    threshold: 0.5"),
      /params\.segmentation\.threshold: not supported: segmentation-3\.0 is a powerset model/,
    );
    rejects(
      community1.replace(
        "pyannote.audio.pipelines.SpeakerDiarization",
        "pyannote.audio.pipelines.VoiceActivityDetection",
      ),
      /pipeline\.name: unsupported pipeline/,
    );
    rejects(
      community1.replace("    embedding: $model/embedding\n", ""),
      /pipeline\.params\.embedding: missing/,
    );
    rejects(
      community1.replace("$model/plda", "$model/../plda"),
      /pipeline\.params\.plda: \$model\/\.\.\/plda is not a folder of the pipeline/,
    );
    rejects(
      v31.replace("pyannote/segmentation-3.0", "pyannote/segmentation-3.0@main"),
      /a revision cannot be given with "@"/,
    );
    rejects(
      v31.replace("  clustering:\n", "  clustering:\n    Fa: 0.1\n"),
      /params\.clustering\.Fa: unknown key/,
    );
    rejects(
      v31.replace(
        "    segmentation_batch_size: 32",
        "    segmentation_batch_size: 32\n    plda: $model/plda",
      ),
      /pipeline\.params\.plda: only VBxClustering uses a PLDA/,
    );
  });

  test("values are checked, with PyYAML's YAML 1.1 scalars", () => {
    // PyYAML reads 1e-3 (no dot) as a string, `yes` as true, and an unquoted date as a date.
    rejects(
      community1.replace("threshold: 0.6", "threshold: 1e-3"),
      /params\.clustering\.threshold: expected a number > 0, got "1e-3"/,
    );
    rejects(community1.replace("threshold: 0.6", "threshold: -0.6"), /expected a number > 0, got -0\.6/);
    rejects(community1.replace("threshold: 0.6", "threshold: 6.0e1"), /expected a number > 0, got "6\.0e1"/);
    assert.equal(
      parsePipelineConfig(community1.replace("threshold: 0.6", "threshold: 6.0e-1")).clustering.threshold,
      0.6,
    );
    assert.equal(
      parsePipelineConfig(community1.replace("threshold: 0.6", "threshold: .6")).clustering.threshold,
      0.6,
    );
    rejects(
      community1.replace("embedding_exclude_overlap: true", "embedding_exclude_overlap: 1"),
      /expected true or false, got 1/,
    );
    assert.equal(
      parsePipelineConfig(
        community1.replace("embedding_exclude_overlap: true", "embedding_exclude_overlap: yes"),
      ).embeddingExcludeOverlap,
      true,
    );
    rejects(
      community1.replace("Fb: 0.8", "Fb: 2001-12-14"),
      /params\.clustering\.Fb: expected a number > 0, got a date \(2001-12-14\)/,
    );
    rejects(
      community1.replace("segmentation_batch_size: 32", "segmentation_batch_size: 3.5"),
      /expected a positive integer, got 3\.5/,
    );
    rejects(
      community1.replace("clustering: VBxClustering", "clustering: [VBxClustering]"),
      /expected a non-empty string, got a list/,
    );
  });

  test("malformed YAML is an error with its line", () => {
    rejects("pipeline:\n  name: [unclosed\n", /^c\.yaml, line \d+: not valid YAML/);
    rejects("pipeline:\n  name: x\n  name: y\n", /line 3: not valid YAML: Map keys must be unique/);
    rejects("- a\n- b\n", /^c\.yaml: expected a mapping, got a list$/);
    rejects("", /^c\.yaml: expected a mapping, got nothing \(null\)$/);
  });
});
