/**
 * Rectangular linear sum assignment (the "Hungarian" problem) by shortest augmenting paths, after
 * D. F. Crouse, "On implementing 2D rectangular assignment algorithms", IEEE TAES 52(4), 2016.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";

/** An optimal assignment: `rows[k]` is assigned to `cols[k]`, with `rows` ascending. */
export interface Assignment {
  /** Row indices, ascending. */
  rows: number[];
  /** Column assigned to each entry of `rows`. */
  cols: number[];
}

/** Options of {@link linearSumAssignment}. */
export interface AssignmentOptions {
  /** Maximise the total instead of minimising it (default false). */
  maximize?: boolean;
}

/**
 * Assigns each row of an `R × C` cost matrix to a distinct column (or each column to a distinct row when
 * `C < R`) so that the total cost is minimal, or maximal with `maximize`; `min(R, C)` pairs are returned.
 *
 * Ties between optimal assignments are broken exactly as `scipy.optimize.linear_sum_assignment` breaks
 * them (same search order), so the pairs are the ones SciPy returns, not merely equally good ones.
 * Costs must be finite (SciPy's use of `inf` for forbidden pairs is not supported). O(R·C·min(R, C)).
 *
 * ```ts
 * linearSumAssignment([[4, 1, 3], [2, 0, 5], [3, 2, 2]]); // { rows: [0, 1, 2], cols: [1, 0, 2] }
 * ```
 *
 * @param cost rows of equal length (arrays or typed arrays)
 * @throws {WeSpeakerError} `invalid-argument` when rows differ in length or a cost is not finite
 */
export function linearSumAssignment(
  cost: ArrayLike<ArrayLike<number>>,
  options: AssignmentOptions = {},
): Assignment {
  const nRows = cost.length;
  const nCols = nRows === 0 ? 0 : cost[0].length;
  for (let i = 0; i < nRows; i++) {
    if (cost[i].length !== nCols) {
      throw new WeSpeakerError(
        "invalid-argument",
        `cost matrix row ${i} has ${cost[i].length} entries, row 0 has ${nCols}`,
      );
    }
    for (let j = 0; j < nCols; j++) {
      if (!Number.isFinite(cost[i][j])) {
        throw new WeSpeakerError(
          "invalid-argument",
          `cost[${i}][${j}] is ${cost[i][j]}; costs must be finite`,
        );
      }
    }
  }
  if (nRows === 0 || nCols === 0) return { rows: [], cols: [] };
  // The search runs over the longer side, every row of the shorter side getting a column.
  const transposed = nCols < nRows;
  const n = transposed ? nCols : nRows;
  const m = transposed ? nRows : nCols;
  const sign = options.maximize ? -1 : 1;
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) c[i * m + j] = sign * (transposed ? cost[j][i] : cost[i][j]);
  }
  const colOfRow = solve(c, n, m);
  const pairs = Array.from(colOfRow, (j, i) => transposed ? [j, i] : [i, j]);
  pairs.sort((a, b) => a[0] - b[0]);
  return { rows: pairs.map((p) => p[0]), cols: pairs.map((p) => p[1]) };
}

/** Minimum-cost assignment of each of the `n` rows of `c` (row-major, `n <= m`) to a column. */
function solve(c: Float64Array, n: number, m: number): Int32Array {
  const u = new Float64Array(n);
  const v = new Float64Array(m);
  const colOfRow = new Int32Array(n).fill(-1);
  const rowOfCol = new Int32Array(m).fill(-1);
  const pred = new Int32Array(m);
  const dist = new Float64Array(m);
  const rowSeen = new Uint8Array(n);
  const colSeen = new Uint8Array(m);
  const open = new Int32Array(m);
  for (let start = 0; start < n; start++) {
    // Dijkstra over reduced costs from the new row to the nearest free column.
    dist.fill(Infinity);
    rowSeen.fill(0);
    colSeen.fill(0);
    // Columns are scanned from the last one down, and a free column wins a tie: SciPy's order,
    // which decides which of several optimal assignments comes out.
    for (let k = 0; k < m; k++) open[k] = m - 1 - k;
    let left = m;
    let reach = 0;
    let row = start;
    let sink = -1;
    while (sink < 0) {
      rowSeen[row] = 1;
      let best = -1;
      let lowest = Infinity;
      for (let k = 0; k < left; k++) {
        const j = open[k];
        const d = reach + c[row * m + j] - u[row] - v[j];
        if (d < dist[j]) {
          pred[j] = row;
          dist[j] = d;
        }
        if (dist[j] < lowest || (dist[j] === lowest && rowOfCol[j] < 0)) {
          lowest = dist[j];
          best = k;
        }
      }
      reach = lowest;
      const j = open[best];
      colSeen[j] = 1;
      open[best] = open[--left];
      if (rowOfCol[j] < 0) sink = j;
      else row = rowOfCol[j];
    }
    u[start] += reach;
    for (let i = 0; i < n; i++) {
      if (rowSeen[i] && i !== start) u[i] += reach - dist[colOfRow[i]];
    }
    for (let j = 0; j < m; j++) if (colSeen[j]) v[j] -= reach - dist[j];
    for (let j = sink;;) {
      const i = pred[j];
      rowOfCol[j] = i;
      const previous = colOfRow[i];
      colOfRow[i] = j;
      if (i === start) break;
      j = previous;
    }
  }
  return colOfRow;
}
