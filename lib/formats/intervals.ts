/**
 * Time intervals with pyannote.core's conventions, which the DER scorer must share to give pyannote's
 * numbers: an interval lasting 1 µs or less is empty (dropped), touching within 1 µs counts as
 * connected, and "intersects" has pyannote's asymmetric 1 µs tolerance.
 *
 * @module
 */

/** A time interval in seconds. */
export interface Interval {
  /** Start time. */
  start: number;
  /** End time. */
  end: number;
}

/** Shortest duration that is not empty, as pyannote.core's `SEGMENT_PRECISION`. */
export const PRECISION = 1e-6;

/** Whether `[start, end]` lasts more than {@link PRECISION}. */
export function nonEmpty(start: number, end: number): boolean {
  return end - start > PRECISION;
}

/** Duration of `[start, end]`, 0 when it is empty. */
export function duration(start: number, end: number): number {
  return nonEmpty(start, end) ? end - start : 0;
}

/** pyannote.core's `Segment.intersects`. */
export function intersects(a: Interval, b: Interval): boolean {
  return (a.start < b.start && b.start < a.end - PRECISION) ||
    (a.start > b.start && a.start < b.end - PRECISION) || a.start === b.start;
}

/** Orders by start, then end. */
export function byTime(a: Interval, b: Interval): number {
  return a.start - b.start || a.end - b.end;
}

/**
 * The fewest disjoint intervals covering the non-empty ones of `intervals` (pyannote's
 * `Timeline.support`): intervals overlapping or separated by at most 1 µs are merged. Sorted.
 */
export function support(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals.filter((s) => nonEmpty(s.start, s.end)).sort(byTime);
  const merged: Interval[] = [];
  let current: Interval | undefined;
  for (const s of sorted) {
    if (current !== undefined && !nonEmpty(Math.min(current.end, s.end), s.start)) {
      current = { start: current.start, end: Math.max(current.end, s.end) };
      merged[merged.length - 1] = current;
    } else merged.push(current = { start: s.start, end: s.end });
  }
  return merged;
}

/**
 * Index of the first of the sorted disjoint `regions` that ends after `t` (`regions.length` if none).
 */
function firstEndingAfter(regions: readonly Interval[], t: number): number {
  let lo = 0, hi = regions.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (regions[mid].end > t) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Calls `emit` with each non-empty intersection of `interval` with the sorted disjoint `regions` that
 * it intersects in pyannote's sense (the pieces that `crop(…, mode="intersection")` keeps).
 */
export function cropInterval(
  interval: Interval,
  regions: readonly Interval[],
  emit: (start: number, end: number) => void,
): void {
  for (let k = firstEndingAfter(regions, interval.start); k < regions.length; k++) {
    const region = regions[k];
    if (region.start >= interval.end) break;
    if (!intersects(interval, region)) continue;
    const start = Math.max(interval.start, region.start);
    const end = Math.min(interval.end, region.end);
    if (nonEmpty(start, end)) emit(start, end);
  }
}

/**
 * The parts of `within` (sorted disjoint) not covered by `removed` (sorted disjoint): pyannote's
 * `removed.gaps(support=within)`, gaps of 1 µs or less dropped.
 */
export function gaps(removed: readonly Interval[], within: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const region of within) {
    const cut: Interval[] = [];
    for (let k = firstEndingAfter(removed, region.start); k < removed.length; k++) {
      if (removed[k].start >= region.end) break;
      cropInterval(removed[k], [region], (start, end) => cut.push({ start, end }));
    }
    let from = region.start;
    for (const piece of support(cut)) {
      if (nonEmpty(from, piece.start)) out.push({ start: from, end: piece.start });
      from = piece.end;
    }
    if (nonEmpty(from, region.end)) out.push({ start: from, end: region.end });
  }
  return out;
}
