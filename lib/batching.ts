/** Limits for grouping clips of similar length into one native call. */
export interface BatchPlanOptions {
  /** Most clips in one call (default 16). */
  maxBatchSize?: number;
  /** Shortest clip in a group as a fraction of the longest (default 0.8): bounds wasted padding. */
  minFillRatio?: number;
  /** Most padded frames (clips × longest clip) in one call (default 32000, ~5 min of audio). */
  maxBatchFrames?: number;
}

/**
 * Splits clips into groups of similar length: longest first, each group filled while the next
 * clip is at least `minFillRatio` of the group's longest one. Returns indices into `frames`.
 */
export function planBatches(frames: readonly number[], options: BatchPlanOptions = {}): number[][] {
  const maxBatchSize = options.maxBatchSize ?? 16;
  const minFillRatio = options.minFillRatio ?? 0.8;
  const maxBatchFrames = options.maxBatchFrames ?? 32000;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new RangeError(`maxBatchSize must be a positive integer, got ${maxBatchSize}`);
  }
  const order = frames.map((_, i) => i).sort((a, b) => frames[b] - frames[a] || a - b);
  const groups: number[][] = [];
  let group: number[] = [];
  for (const i of order) {
    const longest = group.length ? frames[group[0]] : frames[i];
    const fits = group.length < maxBatchSize && frames[i] >= minFillRatio * longest &&
      (group.length + 1) * longest <= maxBatchFrames;
    if (group.length && !fits) {
      groups.push(group);
      group = [];
    }
    group.push(i);
  }
  if (group.length) groups.push(group);
  return groups;
}
