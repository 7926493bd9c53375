/**
 * Diarization error rate with the definitions of pyannote.metrics' `DiarizationErrorRate`: the same
 * scored region (UEM, collars, overlap), the same optimal one-to-one speaker mapping and the same
 * component durations, to float rounding.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import { linearSumAssignment } from "../math/hungarian.ts";
import {
  byTime,
  cropInterval,
  duration,
  gaps,
  intersects,
  type Interval,
  nonEmpty,
  support,
} from "./intervals.ts";
import type { SpeakerSegment } from "./rttm.ts";

/** Options of {@link diarizationErrorRate}. */
export interface DEROptions {
  /**
   * Regions to score, `[start, end]` in seconds (a UEM). Default: from the earliest start to the latest
   * end over both reference and hypothesis, as pyannote does. An empty list scores nothing.
   */
  uem?: ReadonlyArray<readonly [number, number]>;
  /**
   * Total width in seconds of the collar centred on every reference boundary (start or end of a turn)
   * that is left out of scoring: `collar / 2` either side. Default 0.
   */
  collar?: number;
  /** Leave out the regions where two or more reference turns overlap (default false). */
  skipOverlap?: boolean;
  /** Also return where the errors are (`DERResult.timeline`), e.g. to draw them (default false). */
  timeline?: boolean;
}

/** Where the errors of a {@link DERResult} are: sorted disjoint intervals in seconds. */
export interface DERTimeline {
  /** The scored region. */
  scored: Interval[];
  /** Where reference speech is missed (fewer hypothesis than reference speakers). */
  missed: Interval[];
  /** Where hypothesis speech is in excess (more hypothesis than reference speakers). */
  falseAlarm: Interval[];
  /** Where reference speech is given to the wrong speaker. */
  confusion: Interval[];
}

/**
 * Durations in seconds over the scored region. Durations are counted per reference (or hypothesis)
 * turn, so a second of two overlapping reference speakers adds 2 to `total`.
 */
export interface DERComponents {
  /** Reference speech: the sum over reference turns of their scored duration. */
  total: number;
  /** Reference speech attributed to the mapped hypothesis speaker. */
  correct: number;
  /** Reference speech not covered by enough hypothesis speech. */
  missedDetection: number;
  /** Hypothesis speech in excess of the reference speech. */
  falseAlarm: number;
  /** Reference speech attributed to a different speaker. */
  confusion: number;
}

/** {@link DERComponents} of one file, its error rate and the speaker mapping used. */
export interface DERResult extends DERComponents {
  /** `(missedDetection + falseAlarm + confusion) / total`, see {@link errorRate}. */
  der: number;
  /**
   * The optimal mapping, hypothesis speaker → reference speaker. A hypothesis speaker is absent when
   * it was left unpaired (more hypothesis than reference speakers) or shares no scored time with the
   * reference speaker it was paired with.
   */
  mapping: Map<string, string>;
  /** Where the errors are, with `options.timeline`. */
  timeline?: DERTimeline;
}

/**
 * `(missedDetection + falseAlarm + confusion) / total`. With no reference speech (`total` 0) the rate
 * is 0 when nothing was hypothesised either and 1 otherwise, as in pyannote.metrics.
 */
export function errorRate(components: DERComponents): number {
  const errors = components.confusion + components.falseAlarm + components.missedDetection;
  if (components.total === 0) return errors === 0 ? 0 : 1;
  return errors / components.total;
}

/**
 * Sums components over files, as pyannote.metrics accumulates them (`metric[:]`, `abs(metric)`): the
 * corpus rate weights each file by its reference speech.
 *
 * ```ts
 * const corpus = new DERAccumulator();
 * for (const [uri, ref] of references) corpus.add(diarizationErrorRate(ref, hypotheses.get(uri) ?? []));
 * console.log(corpus.components.der);
 * ```
 */
export class DERAccumulator {
  #sum: DERComponents = { total: 0, correct: 0, missedDetection: 0, falseAlarm: 0, confusion: 0 };
  #files = 0;

  /** Adds one file's components. */
  add(components: DERComponents): void {
    this.#sum.total += components.total;
    this.#sum.correct += components.correct;
    this.#sum.missedDetection += components.missedDetection;
    this.#sum.falseAlarm += components.falseAlarm;
    this.#sum.confusion += components.confusion;
    this.#files++;
  }

  /** How many files were added. */
  get files(): number {
    return this.#files;
  }

  /** The summed components and their error rate (all 0 before the first file). */
  get components(): DERComponents & { der: number } {
    return { ...this.#sum, der: errorRate(this.#sum) };
  }
}

interface Turn extends Interval {
  label: number;
}

/**
 * Scores `hypothesis` against `reference` for one file exactly as pyannote.metrics 4.2
 * `DiarizationErrorRate(collar, skip_overlap)(reference, hypothesis, uem=uem, detailed=True)`, the
 * annotations loaded from RTTM with one track per turn. Like pyannote:
 *
 * - turns of 1 µs or less are ignored, and a speaker's own overlapping turns count twice;
 * - the scored region is the UEM minus collars and (with `skipOverlap`) reference overlap; both sides are
 *   cropped to it before mapping;
 * - speakers are paired one to one to maximise the total time they share (Hungarian algorithm, ties
 *   broken as pyannote's SciPy call breaks them);
 * - at each instant with `R` reference and `H` hypothesis speakers of which `C` are correctly
 *   mapped, it adds `R` to total, `C` to correct, `min(R, H) - C` to confusion, `R - H` to missed
 *   detection if positive and `H - R` to false alarm if positive.
 *
 * Runs in O(n log n) for n turns when few turns overlap, plus the assignment over speakers.
 *
 * @throws {WeSpeakerError} `invalid-argument` for a turn or UEM region with non-finite times or
 *   `end < start`, or a negative or non-finite collar
 */
export function diarizationErrorRate(
  reference: readonly SpeakerSegment[],
  hypothesis: readonly SpeakerSegment[],
  options: DEROptions = {},
): DERResult {
  const collar = options.collar ?? 0;
  if (!(collar >= 0 && Number.isFinite(collar))) {
    throw new WeSpeakerError("invalid-argument", `collar is ${collar}; it must be a finite number >= 0`);
  }
  const refTurns = turns(reference, "reference");
  const hypTurns = turns(hypothesis, "hypothesis");
  const scored = scoredRegion(refTurns, hypTurns, options.uem, collar, options.skipOverlap ?? false);
  const ref = relabel(crop(refTurns, scored));
  const hyp = relabel(crop(hypTurns, scored));

  const hypToRef = new Int32Array(hyp.labels.length).fill(-1);
  const mapping = new Map<string, string>();
  if (hyp.labels.length > 0 && ref.labels.length > 0) {
    // pyannote renames reference speakers A, B, … and hypothesis speakers 0, 1, … in sorted order, then
    // builds the co-occurrence matrix over the new names sorted as strings ("AA" < "B", "10" < "2"):
    // that order decides which optimal mapping SciPy returns when there are several.
    const rows = order(hyp.labels.length, (k) => String(k));
    const cols = order(ref.labels.length, letters);
    const shared = cooccurrence(hyp.turns, ref.turns, hyp.labels.length, ref.labels.length);
    const matrix = rows.map((h) => cols.map((r) => shared[h][r]));
    const { rows: a, cols: b } = linearSumAssignment(matrix, { maximize: true });
    for (let k = 0; k < a.length; k++) {
      const h = rows[a[k]], r = cols[b[k]];
      if (shared[h][r] > 0) {
        hypToRef[h] = r;
        mapping.set(hyp.labels[h], ref.labels[r]);
      }
    }
  }
  if (!options.timeline) {
    const components = count(ref, hyp, hypToRef);
    return { ...components, der: errorRate(components), mapping };
  }
  const errors: Record<"missed" | "falseAlarm" | "confusion", Interval[]> = {
    missed: [],
    falseAlarm: [],
    confusion: [],
  };
  const components = count(ref, hyp, hypToRef, (start, end, kind) => errors[kind].push({ start, end }));
  const timeline = {
    scored,
    missed: support(errors.missed),
    falseAlarm: support(errors.falseAlarm),
    confusion: support(errors.confusion),
  };
  return { ...components, der: errorRate(components), mapping, timeline };
}

interface Named extends Interval {
  speaker: string;
}

/** Validated turns, those of 1 µs or less dropped (pyannote's `Annotation` never holds them). */
function turns(segments: readonly SpeakerSegment[], side: string): Named[] {
  const out: Named[] = [];
  segments.forEach((s, i) => {
    if (typeof s.speaker !== "string") {
      throw new WeSpeakerError("invalid-argument", `${side} segment ${i}: speaker is not a string`);
    }
    if (!Number.isFinite(s.start) || !Number.isFinite(s.end) || s.end < s.start) {
      throw new WeSpeakerError(
        "invalid-argument",
        `${side} segment ${i}: start ${s.start}, end ${s.end}; need finite times with start <= end`,
      );
    }
    if (nonEmpty(s.start, s.end)) out.push({ speaker: s.speaker, start: s.start, end: s.end });
  });
  return out;
}

/** The region that is scored, as sorted disjoint intervals. */
function scoredRegion(
  ref: readonly Named[],
  hyp: readonly Named[],
  uem: DEROptions["uem"],
  collar: number,
  skipOverlap: boolean,
): Interval[] {
  let base: Interval[];
  if (uem === undefined) {
    const extent = union(extentOf(ref), extentOf(hyp));
    base = extent === undefined ? [] : [extent];
  } else {
    base = uem.map(([start, end], i) => {
      if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) {
        throw new WeSpeakerError(
          "invalid-argument",
          `UEM region ${i}: [${start}, ${end}]; need finite times with start <= end`,
        );
      }
      return { start, end };
    });
  }
  if (collar === 0 && !skipOverlap) return support(base);
  const removed: Interval[] = [];
  if (collar > 0) {
    for (const t of ref) {
      removed.push({ start: t.start - 0.5 * collar, end: t.start + 0.5 * collar });
      removed.push({ start: t.end - 0.5 * collar, end: t.end + 0.5 * collar });
    }
  }
  if (skipOverlap) {
    for (const o of overlaps(ref)) removed.push(o);
  }
  return support(gaps(support(removed), support(base)));
}

function extentOf(turns: readonly Interval[]): Interval | undefined {
  if (turns.length === 0) return undefined;
  let start = Infinity, end = -Infinity;
  for (const t of turns) {
    start = Math.min(start, t.start);
    end = Math.max(end, t.end);
  }
  return { start, end };
}

function union(a: Interval | undefined, b: Interval | undefined): Interval | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return { start: Math.min(a.start, b.start), end: Math.max(a.end, b.end) };
}

interface Group extends Interval {
  labels: number[];
}

/** Turns sorted by time, those with identical times gathered (pyannote's segments and their tracks). */
function grouped<T extends Interval>(turns: readonly T[], label: (t: T) => number): Group[] {
  const groups: Group[] = [];
  for (const t of [...turns].sort(byTime)) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last.start === t.start && last.end === t.end) last.labels.push(label(t));
    else groups.push({ start: t.start, end: t.end, labels: [label(t)] });
  }
  return groups;
}

/** The pairwise intersections of the reference turns (two turns with identical times overlap entirely). */
function overlaps(ref: readonly Named[]): Interval[] {
  const groups = grouped(ref, () => 0);
  const out: Interval[] = [];
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i];
    if (g.labels.length > 1) out.push({ start: g.start, end: g.end });
    for (let j = i + 1; j < groups.length && groups[j].start < g.end; j++) {
      if (intersects(g, groups[j])) out.push({ start: groups[j].start, end: Math.min(g.end, groups[j].end) });
    }
  }
  return out;
}

function crop(turns: readonly Named[], region: readonly Interval[]): Named[] {
  const out: Named[] = [];
  for (const t of turns) {
    cropInterval(t, region, (start, end) => out.push({ speaker: t.speaker, start, end }));
  }
  return out;
}

interface Labelled {
  turns: Turn[];
  /** Speaker names sorted by code point, as Python sorts strings. */
  labels: string[];
}

function relabel(turns: readonly Named[]): Labelled {
  const labels = [...new Set(turns.map((t) => t.speaker))].sort(byCodePoint);
  const index = new Map(labels.map((l, i) => [l, i]));
  return { turns: turns.map((t) => ({ start: t.start, end: t.end, label: index.get(t.speaker)! })), labels };
}

function byCodePoint(a: string, b: string): number {
  for (let i = 0; i < a.length && i < b.length;) {
    const x = a.codePointAt(i)!, y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

/** pyannote's k-th generated string label: A … Z, AA … ZZ, AAA … */
function letters(k: number): string {
  let width = 1, count = 26;
  while (k >= count) {
    k -= count;
    width++;
    count *= 26;
  }
  let name = "";
  for (let i = 0; i < width; i++, k = Math.floor(k / 26)) name = String.fromCharCode(65 + (k % 26)) + name;
  return name;
}

/** Indices `0 … n-1` sorted by `name(index)`. */
function order(n: number, name: (k: number) => string): number[] {
  const names = Array.from({ length: n }, (_, k) => name(k));
  return names.map((_, k) => k).sort((a, b) => names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0);
}

/**
 * Time shared by each hypothesis and reference speaker, summed pair of turns by pair of turns in
 * pyannote's order (so that exact ties between mappings stay exact ties).
 */
function cooccurrence(hyp: readonly Turn[], ref: readonly Turn[], nh: number, nr: number): Float64Array[] {
  const shared = Array.from({ length: nh }, () => new Float64Array(nr));
  const refGroups = grouped(ref, (t) => t.label);
  let longest = 0;
  for (const g of refGroups) longest = Math.max(longest, g.end - g.start);
  for (const g of grouped(hyp, (t) => t.label)) {
    // Reference turns starting earlier than this cannot reach g (1 s of slack against rounding).
    const from = g.start - longest - 1;
    let lo = 0, hi = refGroups.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (refGroups[mid].start > from) hi = mid;
      else lo = mid + 1;
    }
    for (let k = lo; k < refGroups.length && refGroups[k].start < g.end; k++) {
      const G = refGroups[k];
      if (!intersects(g, G)) continue;
      const d = duration(Math.max(g.start, G.start), Math.min(g.end, G.end));
      for (const h of g.labels) for (const r of G.labels) shared[h][r] += d;
    }
  }
  return shared;
}

/**
 * Sweeps the elementary intervals between consecutive turn boundaries, counting speakers on each; `emit`
 * hears of each interval with an error of each kind.
 */
function count(
  ref: Labelled,
  hyp: Labelled,
  hypToRef: Int32Array,
  emit?: (start: number, end: number, kind: "missed" | "falseAlarm" | "confusion") => void,
): DERComponents {
  const refToHyp = new Int32Array(ref.labels.length).fill(-1);
  hypToRef.forEach((r, h) => {
    if (r >= 0) refToHyp[r] = h;
  });
  const refCount = new Int32Array(ref.labels.length);
  const hypCount = new Int32Array(hyp.labels.length);
  // Events: time, +1/-1, label, side; correct = sum over reference speakers of min(its count, the
  // count of the hypothesis speaker mapped to it), kept up to date as counts change.
  const events: Array<[number, number, number, boolean]> = [];
  for (const t of ref.turns) events.push([t.start, 1, t.label, true], [t.end, -1, t.label, true]);
  for (const t of hyp.turns) events.push([t.start, 1, t.label, false], [t.end, -1, t.label, false]);
  events.sort((a, b) => a[0] - b[0]);
  let nRef = 0, nHyp = 0, nCorrect = 0;
  const pairCorrect = (r: number) =>
    r < 0 || refToHyp[r] < 0 ? 0 : Math.min(refCount[r], hypCount[refToHyp[r]]);
  const c: DERComponents = { total: 0, correct: 0, missedDetection: 0, falseAlarm: 0, confusion: 0 };
  for (let e = 0; e < events.length;) {
    const t = events[e][0];
    for (; e < events.length && events[e][0] === t; e++) {
      const [, delta, label, isRef] = events[e];
      const r = isRef ? label : hypToRef[label];
      const before = pairCorrect(r);
      if (isRef) {
        refCount[label] += delta;
        nRef += delta;
      } else {
        hypCount[label] += delta;
        nHyp += delta;
      }
      nCorrect += pairCorrect(r) - before;
    }
    if (e === events.length || nRef + nHyp === 0 || !nonEmpty(t, events[e][0])) continue;
    const d = events[e][0] - t;
    c.total += d * nRef;
    c.correct += d * nCorrect;
    c.confusion += d * (Math.min(nRef, nHyp) - nCorrect);
    c.missedDetection += d * Math.max(0, nRef - nHyp);
    c.falseAlarm += d * Math.max(0, nHyp - nRef);
    if (emit) {
      const end = events[e][0];
      if (nRef > nHyp) emit(t, end, "missed");
      if (nHyp > nRef) emit(t, end, "falseAlarm");
      if (Math.min(nRef, nHyp) > nCorrect) emit(t, end, "confusion");
    }
  }
  return c;
}
