/**
 * Timelines as self-contained SVG (no scripts, no external fonts or images): lanes of time intervals over
 * a time axis with readable ticks, grouped in sections, one panel per file. Short recordings draw every
 * interval; long ones (or very many intervals) draw each lane as bars of its share of speech in columns a
 * few pixels wide, which stays readable at 3 hours.
 *
 * @module
 */
import type { Interval } from "./intervals.ts";
import type { SpeakerSegment } from "./rttm.ts";

/** One lane: a label on the left, intervals, and an optional note on the right. */
export interface TimelineLane {
  /** Shown left of the lane. */
  label: string;
  /** The intervals drawn, in seconds (any order; overlaps are fine). */
  intervals: readonly Interval[];
  /** Fill colour (any SVG colour). */
  color: string;
  /** Shown right of the lane (default: the lane's total time). */
  note?: string;
  /** Tooltip of the lane (default: the label). */
  tooltip?: string;
}

/** Lanes under a heading. */
export interface TimelineSection {
  /** Heading above the lanes (none when omitted). */
  heading?: string;
  /** The lanes. */
  lanes: TimelineLane[];
}

/** One timeline with its own axis: a file. */
export interface TimelinePanel {
  /** Title above it. */
  title?: string;
  /** The time span drawn is [0, duration] seconds. */
  duration: number;
  /** Its sections. */
  sections: TimelineSection[];
}

/** Options of {@link timelineSVG}. */
export interface TimelineOptions {
  /** Width of the picture in pixels (default 1000, at least 400). */
  width?: number;
  /**
   * Draw each lane as bars of its share of speech in columns of 4 pixels instead of one rectangle per
   * interval: `true`, `false`, or `"auto"` (default), which aggregates from 30 minutes on or beyond 5000
   * intervals in a panel.
   */
  aggregate?: boolean | "auto";
}

/** Ten colours that stay apart for most eyes (Tableau 10). */
export const PALETTE: readonly string[] = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

const FONT = 12;
const LANE = 20;
const LANE_GAP = 6;
const HEADING = 20;
const AXIS = 28;
const TITLE = 26;
const PAD = 12;
const STEPS = [
  0.1,
  0.2,
  0.5,
  1,
  2,
  5,
  10,
  15,
  30,
  60,
  120,
  300,
  600,
  900,
  1800,
  3600,
  7200,
  10800,
  21600,
  43200,
  86400,
];

/** Text escaped for SVG content and attribute values. */
export function escapeXML(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos" }[c]};`,
  )
    // Characters XML 1.0 does not allow at all.
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "\ufffd");
}

/** A clock time for an axis tick: `0:30`, `1:05:00`, `0:01.5`. */
export function clockLabel(seconds: number, step: number): string {
  const decimals = step < 1 ? 1 : 0;
  const whole = Math.floor(seconds + 1e-9);
  const h = Math.floor(whole / 3600), m = Math.floor(whole / 60) % 60;
  const s = decimals
    ? (seconds - h * 3600 - m * 60).toFixed(1).padStart(4, "0")
    : String(whole % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** A duration for notes: `12.3 s`, `4 min 05 s`, `1 h 02 min`. */
export function durationLabel(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
  return `${Math.floor(whole / 3600)} h ${String(Math.floor(whole / 60) % 60).padStart(2, "0")} min`;
}

/** Total time covered by `intervals` (overlaps counted once). */
export function coveredTime(intervals: readonly Interval[]): number {
  let total = 0, reach = -Infinity;
  for (const { start, end } of [...intervals].sort((a, b) => a.start - b.start)) {
    if (end <= reach) continue;
    total += end - Math.max(start, reach);
    reach = end;
  }
  return total;
}

/** A rough width of `text` at the font size used, in pixels (no font metrics in a library). */
function textWidth(text: string): number {
  return [...text].length * FONT * 0.6;
}

function fit(text: string, pixels: number): string {
  const chars = [...text];
  const max = Math.floor(pixels / (FONT * 0.6) + 1e-9);
  return chars.length <= max ? text : chars.slice(0, Math.max(1, max - 1)).join("") + "…";
}

const num = (x: number) => String(Math.round(x * 100) / 100);

/** Per column of `per` seconds, the fraction of it covered by `intervals`. */
function coverage(
  intervals: readonly Interval[],
  columns: number,
  per: number,
  duration: number,
): Float64Array {
  const out = new Float64Array(columns);
  for (const { start, end } of intervals) {
    const a = Math.max(0, start) / per, b = Math.min(duration, end) / per;
    if (!(b > a)) continue;
    for (let c = Math.floor(a); c < Math.min(columns, Math.ceil(b)); c++) {
      out[c] += Math.min(b, c + 1) - Math.max(a, c);
    }
  }
  return out.map((v) => Math.min(1, v));
}

function laneShapes(
  lane: TimelineLane,
  x0: number,
  y: number,
  plot: number,
  duration: number,
  aggregate: boolean,
) {
  const parts: string[] = [];
  if (!aggregate) {
    for (const { start, end } of lane.intervals) {
      const a = Math.max(0, start), b = Math.min(duration, end);
      if (!(b > a)) continue;
      const x = x0 + (a / duration) * plot;
      const w = Math.max(1, ((b - a) / duration) * plot);
      parts.push(`<rect x="${num(x)}" y="${y}" width="${num(w)}" height="${LANE}"/>`);
    }
    return parts.join("");
  }
  // Columns of COLUMN whole pixels (no seams between them); equal neighbouring heights as one rectangle.
  const columns = Math.ceil(plot / COLUMN);
  const levels = coverage(lane.intervals, columns, columnSeconds(duration, plot), duration)
    .map((v) => Math.round(v * LANE));
  for (let c = 0; c < columns;) {
    const h = levels[c];
    let d = c + 1;
    while (d < columns && levels[d] === h) d++;
    if (h > 0) {
      const w = Math.min(d * COLUMN, plot) - c * COLUMN;
      parts.push(`<rect x="${x0 + c * COLUMN}" y="${y + LANE - h}" width="${w}" height="${h}"/>`);
    }
    c = d;
  }
  return parts.join("");
}

/** Width in pixels of an aggregated column: wide enough to average a few turns, narrow enough to see. */
const COLUMN = 4;

/** The time one aggregated column stands for. */
function columnSeconds(duration: number, plot: number): number {
  return (duration * COLUMN) / plot;
}

/**
 * Draws panels of lanes as one SVG document.
 *
 * @returns the SVG text (UTF-8, standalone)
 */
export function timelineSVG(panels: readonly TimelinePanel[], options: TimelineOptions = {}): string {
  const width = Math.max(400, Math.round(options.width ?? 1000));
  const labels = panels.flatMap((p) => p.sections.flatMap((s) => s.lanes.map((l) => l.label)));
  // Whole pixels, so that aggregated columns fall on pixel boundaries.
  const left = Math.ceil(Math.min(220, Math.max(70, ...labels.map(textWidth)))) + PAD + 8;
  const notes = panels.flatMap((p) => p.sections.flatMap((s) => s.lanes.map((l) => l.note ?? "00 min 00 s")));
  const right = Math.ceil(Math.min(200, Math.max(...notes.map(textWidth), 60))) + PAD + 8;
  const plot = width - left - right;
  const body: string[] = [];
  let y = PAD;
  for (const panel of panels) {
    const duration = panel.duration > 0 && Number.isFinite(panel.duration) ? panel.duration : 1;
    const intervals = panel.sections.reduce(
      (n, s) => n + s.lanes.reduce((m, l) => m + l.intervals.length, 0),
      0,
    );
    const aggregate = options.aggregate === "auto" || options.aggregate === undefined
      ? duration >= 1800 || intervals > 5000
      : options.aggregate;
    const explain = aggregate
      ? `bars: share of speech in each ${durationLabel(columnSeconds(duration, plot))}`
      : "";
    if (panel.title !== undefined || aggregate) {
      body.push(
        `<text x="${PAD}" y="${y + 16}" class="title">${escapeXML(panel.title ?? "")}</text>`,
        `<text x="${width - PAD}" y="${y + 16}" class="note end">${escapeXML(explain)}</text>`,
      );
      y += TITLE;
    }
    const top = y;
    const lanes: string[] = [];
    for (const section of panel.sections) {
      if (section.heading !== undefined) {
        lanes.push(`<text x="${PAD}" y="${y + 14}" class="heading">${escapeXML(section.heading)}</text>`);
        y += HEADING;
      }
      for (const lane of section.lanes) {
        const note = lane.note ?? durationLabel(coveredTime(lane.intervals));
        lanes.push(
          `<g><title>${escapeXML(lane.tooltip ?? lane.label)}</title>` +
            `<rect x="${left}" y="${y}" width="${num(plot)}" height="${LANE}" class="lane"/>` +
            `<text x="${left - 8}" y="${y + 14}" class="label">${
              escapeXML(fit(lane.label, left - PAD - 8))
            }</text>` +
            `<g fill="${escapeXML(lane.color)}">${laneShapes(lane, left, y, plot, duration, aggregate)}</g>` +
            `<text x="${left + plot + 8}" y="${y + 14}" class="note">${
              escapeXML(fit(note, right - PAD - 8))
            }</text></g>`,
        );
        y += LANE + LANE_GAP;
      }
    }
    // Ticks at least ~90 px apart, under the lanes and across them as a light grid.
    const step = STEPS.find((s) => (s / duration) * plot >= 90) ?? STEPS[STEPS.length - 1];
    const ticks: string[] = [];
    for (let k = 0; k * step <= duration + 1e-9; k++) {
      const x = num(left + ((k * step) / duration) * plot);
      ticks.push(
        `<line x1="${x}" y1="${top}" x2="${x}" y2="${y}" class="grid"/>` +
          `<line x1="${x}" y1="${y}" x2="${x}" y2="${y + 5}" class="tick"/>` +
          `<text x="${x}" y="${y + 18}" class="axis">${clockLabel(k * step, step)}</text>`,
      );
    }
    body.push(
      `<g>${ticks.join("")}</g>`,
      ...lanes,
      `<line x1="${left}" y1="${y}" x2="${num(left + plot)}" y2="${y}" class="tick"/>`,
    );
    y += AXIS + PAD;
  }
  const height = y;
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${
    escapeXML(panels.map((p) => p.title ?? "timeline").join("; "))
  }">
<style>
text { font-family: "DejaVu Sans", "Helvetica", "Arial", sans-serif; font-size: ${FONT}px; fill: #222; }
.title { font-size: 14px; font-weight: bold; }
.heading { font-weight: bold; fill: #555; }
.label { text-anchor: end; }
.note { fill: #555; }
.axis { text-anchor: middle; fill: #555; font-size: 11px; }
.end { text-anchor: end; }
.lane { fill: #f3f3f3; }
.grid { stroke: #e2e2e2; stroke-width: 1; }
.tick { stroke: #888; stroke-width: 1; }
</style>
<rect width="100%" height="100%" fill="#ffffff"/>
${body.join("\n")}
</svg>
`;
}

/** What {@link diarizationSVG} draws: a diarization (a `DiarizationResult` has all of it). */
export interface DiarizationPicture {
  /** Speaker turns. */
  segments: readonly SpeakerSegment[];
  /** Speakers in lane order (default: order of first appearance). */
  speakers?: readonly string[];
  /** Length of the recording in seconds (default: the last turn's end). */
  duration?: number;
  /** Match scores of identified speakers, shown in the tooltips. */
  identities?: readonly { label: string; name: string | null; score: number | null }[] | null;
}

/** The intervals where at least two of `segments` overlap. */
export function overlapIntervals(segments: readonly Interval[]): Interval[] {
  const events = segments.flatMap((s) => s.end > s.start ? [[s.start, 1], [s.end, -1]] : []).sort((a, b) =>
    a[0] - b[0] || a[1] - b[1]
  );
  const out: Interval[] = [];
  let active = 0, from = 0;
  for (const [t, delta] of events) {
    if (active >= 2 && t > from) {
      const last = out[out.length - 1];
      if (last && last.end === from) last.end = t;
      else out.push({ start: from, end: t });
    }
    active += delta;
    from = t;
  }
  return out;
}

/**
 * A diarization as SVG: one lane per speaker (its name when it was identified), with its speaking time and
 * its share of all speaking time on the right, and a lane marking where speakers overlap.
 */
export function diarizationSVG(
  result: DiarizationPicture,
  options: TimelineOptions & { title?: string } = {},
): string {
  const speakers = result.speakers ?? [...new Set(result.segments.map((s) => s.speaker))];
  const duration = result.duration ?? Math.max(0, ...result.segments.map((s) => s.end));
  const times = speakers.map((speaker) => coveredTime(result.segments.filter((s) => s.speaker === speaker)));
  const total = times.reduce((a, b) => a + b, 0);
  const lanes: TimelineLane[] = speakers.map((speaker, k) => {
    const intervals = result.segments.filter((s) => s.speaker === speaker);
    const time = times[k];
    const identity = result.identities?.[k];
    const score = identity?.score == null ? "" : `, score ${identity.score.toFixed(3)}`;
    return {
      label: speaker,
      intervals,
      color: PALETTE[k % PALETTE.length],
      note: `${durationLabel(time)} · ${total > 0 ? Math.round((100 * time) / total) : 0}%`,
      tooltip: identity?.name != null
        ? `${speaker} (${identity.label}${score})`
        : `${speaker}${score ? ` (best${score})` : ""}`,
    };
  });
  const overlap = overlapIntervals(result.segments);
  lanes.push({
    label: "overlap",
    intervals: overlap,
    color: "#555555",
    note: durationLabel(coveredTime(overlap)),
    tooltip: "two or more speakers at once",
  });
  const title = options.title ??
    `${speakers.length} speaker${speakers.length === 1 ? "" : "s"}, ${durationLabel(duration)}`;
  return timelineSVG([{ title, duration, sections: [{ lanes }] }], options);
}
