/**
 * Giving names to the speakers of a diarization: the best one-to-one assignment of found speakers to
 * enrolled ones over the scores that pass the threshold, so that no name is given twice.
 *
 * @module
 */
import { linearSumAssignment } from "../math/hungarian.ts";

/**
 * For each found speaker (a row of scores against every enrolled speaker, or null without an embedding),
 * the enrolled speaker it is named after, or null: the assignment that maximises the total margin above
 * the threshold (Hungarian), one enrolled speaker per found speaker at most.
 *
 * @returns the chosen column per row (or null), and the score behind it: the chosen pair's, or for an
 *   unnamed row the best score it reached (null without scores)
 */
export function assignNames(
  rows: readonly (ArrayLike<number> | null)[],
  threshold: number,
): { chosen: (number | null)[]; scores: (number | null)[] } {
  const chosen = new Array<number | null>(rows.length).fill(null);
  const scores = rows.map((r) => r === null || r.length === 0 ? null : r[topScores(r, 1)[0]]);
  // Enough columns for an optimal assignment: each row's best `rows.length` (any other column could be
  // swapped for one of those that is free, without loss).
  const columns = [...new Set(rows.flatMap((r) => r === null ? [] : topScores(r, rows.length)))]
    .sort((x, y) => x - y);
  const scored = rows.flatMap((r, k) => r === null ? [] : [k]);
  if (scored.length === 0 || columns.length === 0) return { chosen, scores };
  // A pair below the threshold weighs 0; one at or above weighs its margin (plus a hair, so that a pair
  // exactly at the threshold still counts as a name).
  const gain = scored.map((k) =>
    columns.map((c) => rows[k]![c] >= threshold ? rows[k]![c] - threshold + 1e-9 : 0)
  );
  const { rows: picked, cols } = linearSumAssignment(gain, { maximize: true });
  picked.forEach((i, n) => {
    const k = scored[i], c = columns[cols[n]];
    if (rows[k]![c] >= threshold) {
      chosen[k] = c;
      scores[k] = rows[k]![c];
    }
  });
  return { chosen, scores };
}

/** Indices of the `k` highest scores, highest first; equal scores in index order. */
export function topScores(scores: ArrayLike<number>, k: number): number[] {
  const n = scores.length;
  k = Math.min(k, n);
  if (k <= 0) return [];
  // A sorted list of the best k so far: O(n) for small k, as a search over a large registry needs.
  const best: number[] = [];
  const before = (i: number, j: number) => scores[i] > scores[j] || (scores[i] === scores[j] && i < j);
  for (let i = 0; i < n; i++) {
    if (best.length === k && !before(i, best[k - 1])) continue;
    let at = best.length === k ? k - 1 : best.length;
    while (at > 0 && before(i, best[at - 1])) {
      best[at] = best[at - 1];
      at--;
    }
    best[at] = i;
  }
  return best;
}
