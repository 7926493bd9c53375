/**
 * A picture of a diarization error rate: per file, the reference and hypothesis speakers as lanes (a
 * hypothesis speaker in the colour of the reference speaker it is mapped to) and lanes marking missed
 * speech, false alarm and speaker confusion, as pyannote.metrics counts them.
 *
 * @module
 */
import { diarizationErrorRate } from "./der.ts";
import type { CorpusOptions } from "./der_report.ts";
import { WeSpeakerError } from "../errors.ts";
import type { SpeakerSegment } from "./rttm.ts";
import {
  durationLabel,
  PALETTE,
  type TimelineLane,
  type TimelineOptions,
  type TimelinePanel,
  timelineSVG,
} from "./svg.ts";

const UNMAPPED = "#9a9a9a";

function firstAppearance(turns: readonly SpeakerSegment[]): string[] {
  return [...new Set([...turns].sort((a, b) => a.start - b.start || a.end - b.end).map((t) => t.speaker))];
}

function percent(part: number, total: number): string {
  return total > 0 ? `${((100 * part) / total).toFixed(1)}%` : "–";
}

/**
 * Draws the scoring of `hypothesis` against `reference` (turns by file URI, as `parseRTTM` returns them),
 * one panel per file, with the same options as `evaluateCorpus`.
 *
 * @throws {WeSpeakerError} `invalid-argument` when `uem` lacks a file, or for invalid turns
 */
export function derSVG(
  reference: ReadonlyMap<string, readonly SpeakerSegment[]>,
  hypothesis: ReadonlyMap<string, readonly SpeakerSegment[]>,
  options: CorpusOptions & TimelineOptions = {},
): string {
  const uris = [...new Set([...reference.keys(), ...hypothesis.keys()])];
  const panels: TimelinePanel[] = uris.map((uri) => {
    const ref = reference.get(uri) ?? [], hyp = hypothesis.get(uri) ?? [];
    const uem = options.uem?.get(uri);
    if (options.uem !== undefined && uem === undefined) {
      throw new WeSpeakerError("invalid-argument", `the UEM has no entry for file "${uri}"`);
    }
    const result = diarizationErrorRate(ref, hyp, {
      uem,
      collar: options.collar,
      skipOverlap: options.skipOverlap,
      timeline: true,
    });
    const timeline = result.timeline!;
    const refSpeakers = firstAppearance(ref);
    const color = new Map(refSpeakers.map((s, k) => [s, PALETTE[k % PALETTE.length]]));
    const lane = (
      label: string,
      turns: readonly SpeakerSegment[],
      fill: string,
      tooltip: string,
    ): TimelineLane => ({
      label,
      intervals: turns,
      color: fill,
      tooltip,
    });
    const duration = Math.max(
      0,
      ...ref.map((t) => t.end),
      ...hyp.map((t) => t.end),
      ...timeline.scored.map((r) => r.end),
    );
    const total = result.total;
    return {
      title: `${uri}: DER ${percent(result.missedDetection + result.falseAlarm + result.confusion, total)} ` +
        `(missed ${percent(result.missedDetection, total)}, false alarm ${
          percent(result.falseAlarm, total)
        }, ` +
        `confusion ${percent(result.confusion, total)} of ${durationLabel(total)} of reference speech)`,
      duration,
      sections: [
        {
          heading: "reference",
          lanes: refSpeakers.map((s) =>
            lane(s, ref.filter((t) => t.speaker === s), color.get(s)!, `reference ${s}`)
          ),
        },
        {
          heading: "hypothesis (colour of the mapped reference speaker)",
          lanes: firstAppearance(hyp).map((s) => {
            const mapped = result.mapping.get(s);
            return lane(
              mapped === undefined ? `${s} (unmapped)` : `${s} → ${mapped}`,
              hyp.filter((t) => t.speaker === s),
              mapped === undefined ? UNMAPPED : color.get(mapped)!,
              mapped === undefined
                ? `hypothesis ${s}, mapped to no reference speaker`
                : `hypothesis ${s}, mapped to ${mapped}`,
            );
          }),
        },
        {
          heading: "errors",
          lanes: [
            {
              label: "missed",
              intervals: timeline.missed,
              color: "#d62728",
              tooltip: "reference speech without enough hypothesis speech",
            },
            {
              label: "false alarm",
              intervals: timeline.falseAlarm,
              color: "#ff7f0e",
              tooltip: "hypothesis speech beyond the reference speech",
            },
            {
              label: "confusion",
              intervals: timeline.confusion,
              color: "#8c2d9c",
              tooltip: "reference speech given to another speaker",
            },
            {
              label: "scored",
              intervals: timeline.scored,
              color: "#c9c9c9",
              tooltip: "the scored region (UEM, minus collars and skipped overlap)",
            },
          ],
        },
      ],
    };
  });
  return timelineSVG(panels, options);
}
