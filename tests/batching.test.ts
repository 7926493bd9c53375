import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { planBatches } from "../lib/batching.ts";

describe("planBatches", () => {
  test("covers every clip exactly once", () => {
    const frames = [300, 98, 998, 310, 97, 1000, 48, 290, 305];
    const groups = planBatches(frames);
    assert.deepEqual(groups.flat().sort((a, b) => a - b), frames.map((_, i) => i));
  });

  test("groups similar lengths and keeps dissimilar ones apart", () => {
    const groups = planBatches([300, 98, 998, 310, 97, 1000, 290]);
    assert.deepEqual(groups, [[5, 2], [3, 0, 6], [1, 4]]);
  });

  test("respects maxBatchSize and maxBatchFrames", () => {
    assert.deepEqual(planBatches([100, 100, 100, 100, 100], { maxBatchSize: 2 }), [[0, 1], [2, 3], [4]]);
    assert.deepEqual(planBatches([100, 100, 100], { maxBatchFrames: 250 }), [[0, 1], [2]]);
  });

  test("a single clip longer than maxBatchFrames still gets its own batch", () => {
    assert.deepEqual(planBatches([5000, 10], { maxBatchFrames: 100 }), [[0], [1]]);
  });

  test("rejects a nonsensical batch size", () => {
    assert.throws(() => planBatches([1], { maxBatchSize: 0 }), RangeError);
  });
});
