/**
 * The output of the diarization pipeline: speaker turns with stable labels, one representative
 * embedding per speaker, and RTTM / JSON renderings.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import { formatRTTM, type SpeakerSegment } from "../formats/rttm.ts";
import { diarizationSVG, type TimelineOptions } from "../formats/svg.ts";
import type { WeSpeakerModel } from "../model.ts";

/** A speaker turn whose speaker is still a cluster index. */
export interface IndexedSegment {
  /** Global speaker (cluster) index. */
  speaker: number;
  /** Start in seconds. */
  start: number;
  /** End in seconds. */
  end: number;
}

/** How a found speaker was matched against enrolled speakers (see `SpeakerRegistry.nameSpeakers`). */
export interface SpeakerIdentity {
  /** The label diarization gave it: `SPEAKER_00`, … in order of first appearance. */
  label: string;
  /** The enrolled name it was given, or null when none passed the threshold (it keeps its label). */
  name: string | null;
  /**
   * The score of `name`; for a speaker left unnamed, the best score any enrolled speaker reached (how
   * close it came); null for a speaker without an embedding.
   */
  score: number | null;
}

/** Something that names the speakers of a diarization, such as a `SpeakerRegistry`. */
export interface SpeakerNamer {
  /**
   * Returns `result` with enrolled names for the speakers it recognises.
   *
   * @param options.model the embedding model that made the result's speaker embeddings
   */
  nameSpeakers(result: DiarizationResult, options: { model: WeSpeakerModel }): Promise<DiarizationResult>;
}

/** JSON form of a {@link DiarizationResult}. */
export interface DiarizationJSON {
  /** Length of the audio in seconds. */
  duration: number;
  /** Speaker labels in order of first appearance. */
  speakers: string[];
  /** Speaker turns, by start time. */
  segments: SpeakerSegment[];
  /** The exclusive diarization's turns (one speaker at a time), by start time. */
  exclusiveSegments: SpeakerSegment[];
  /** One embedding per speaker (same order as `speakers`); null for a speaker without a centroid. */
  speakerEmbeddings: (number[] | null)[];
  /** Present when the speakers were matched against a registry: one entry per speaker, same order. */
  identities?: SpeakerIdentity[];
}

/**
 * Who spoke when, as returned by `DiarizationPipeline.diarize`: like pyannote.audio 4's output, the
 * diarization, the exclusive diarization and one embedding per speaker.
 */
export class DiarizationResult {
  /** Speaker turns ordered by start time (then end, then speaker); turns of different speakers may overlap. */
  readonly segments: SpeakerSegment[];
  /**
   * The exclusive diarization (pyannote 4's `exclusive_speaker_diarization`): at most one speaker at a
   * time, the most active one where several overlap, which suits aligning with a transcript. Same
   * labels as {@link segments}, same order.
   */
  readonly exclusiveSegments: SpeakerSegment[];
  /** Speaker labels `SPEAKER_00`, `SPEAKER_01`, … numbered in order of first appearance. */
  readonly speakers: string[];
  /**
   * One representative (raw, un-normalised) embedding per speaker, in the order of {@link speakers}: the
   * cluster's centroid (3.1: the mean embedding of its members; community-1: VBx's responsibility-weighted
   * mean, rounded to float32). `null` for a speaker that the per-frame speaker count added beyond the
   * clusters found (pyannote pads those with zeros), or whose centroid is undefined (pyannote's NaN).
   */
  readonly speakerEmbeddings: (Float32Array | null)[];
  /** Length of the audio in seconds. */
  readonly duration: number;
  /**
   * How each speaker (same order as {@link speakers}) was matched against enrolled speakers, or null when
   * the result was not matched against a registry.
   */
  readonly identities: SpeakerIdentity[] | null = null;

  /**
   * Names the speakers (in order of first appearance) and picks their embeddings.
   *
   * @param segments turns with cluster indices, in pyannote's order
   * @param centroids cluster centroids, row-major `[numClusters, dim]`
   * @param dim embedding size
   * @param duration length of the audio in seconds
   * @param exclusiveSegments the exclusive diarization's turns (their speakers are among `segments`')
   */
  constructor(
    segments: readonly IndexedSegment[],
    centroids: Float32Array,
    dim: number,
    duration: number,
    exclusiveSegments: readonly IndexedSegment[],
  ) {
    const sorted = (turns: readonly IndexedSegment[]) =>
      [...turns].sort((a, b) => a.start - b.start || a.end - b.end || a.speaker - b.speaker);
    const order = sorted(segments);
    const labelOf = new Map<number, string>();
    for (const { speaker } of [...order, ...sorted(exclusiveSegments)]) {
      if (!labelOf.has(speaker)) labelOf.set(speaker, `SPEAKER_${String(labelOf.size).padStart(2, "0")}`);
    }
    const named = (turns: IndexedSegment[]) =>
      turns.map(({ speaker, start, end }) => ({ speaker: labelOf.get(speaker)!, start, end }));
    this.segments = named(order);
    this.exclusiveSegments = named(sorted(exclusiveSegments));
    this.speakers = [...labelOf.values()];
    const numCentroids = centroids.length / dim;
    this.speakerEmbeddings = [...labelOf.keys()].map((k) => {
      const row = k < numCentroids ? centroids.slice(k * dim, (k + 1) * dim) : null;
      return row && row.every(Number.isFinite) ? row : null;
    });
    this.duration = duration;
  }

  /**
   * A copy with speaker `k` renamed `names[k]` (kept as it is where null); turns, order and embeddings
   * are unchanged. `SpeakerRegistry.nameSpeakers` calls this.
   *
   * @param names one name or null per speaker, no two alike, none equal to another speaker's label
   * @param scores the score behind each name (see {@link SpeakerIdentity})
   * @throws {WeSpeakerError} `invalid-argument` for a wrong count, an empty or repeated name
   */
  withNames(names: readonly (string | null)[], scores: readonly (number | null)[]): DiarizationResult {
    const labels = this.identities?.map((i) => i.label) ?? this.speakers;
    if (names.length !== labels.length || scores.length !== labels.length) {
      throw new WeSpeakerError(
        "invalid-argument",
        `${labels.length} speakers, but ${names.length} names and ${scores.length} scores`,
      );
    }
    const renamed = labels.map((label, k) => names[k] ?? label);
    const twin = renamed.findIndex((name, k) => name === "" || renamed.indexOf(name) !== k);
    if (twin >= 0) {
      throw new WeSpeakerError(
        "invalid-argument",
        `speaker name ${JSON.stringify(renamed[twin])} is empty or repeated`,
      );
    }
    const byLabel = new Map(this.speakers.map((s, k) => [s, renamed[k]]));
    const named = Object.create(DiarizationResult.prototype) as DiarizationResult;
    Object.assign(named, {
      segments: this.segments.map((s) => ({ ...s, speaker: byLabel.get(s.speaker)! })),
      exclusiveSegments: this.exclusiveSegments.map((s) => ({ ...s, speaker: byLabel.get(s.speaker)! })),
      speakers: renamed,
      speakerEmbeddings: this.speakerEmbeddings,
      duration: this.duration,
      identities: labels.map((label, k) => ({ label, name: names[k], score: scores[k] })),
    });
    return named;
  }

  /**
   * The turns as RTTM lines, as pyannote writes them. White space inside a speaker's name (an enrolled
   * name such as "Alice Smith") is written as `_`: RTTM fields cannot hold it.
   *
   * @param uri the file identifier written in every line (default `<NA>`); no whitespace
   * @param options `exclusive: true` for the exclusive diarization's turns
   */
  toRTTM(uri = "", options: { exclusive?: boolean } = {}): string {
    const turns = options.exclusive ? this.exclusiveSegments : this.segments;
    const segments = this.identities === null
      ? turns
      : turns.map((s) => ({ ...s, speaker: s.speaker.replace(/\s/g, "_") }));
    return formatRTTM(uri, segments);
  }

  /**
   * The turns as a self-contained SVG timeline: one lane per speaker (names when identified) with its
   * share of speech, a lane where speakers overlap, a time axis; from 30 minutes on, each lane shows bars of
   * its share of speech in columns a few pixels wide.
   */
  toSVG(options: TimelineOptions & { title?: string } = {}): string {
    return diarizationSVG(this, options);
  }

  /** A plain object for `JSON.stringify`. */
  toJSON(): DiarizationJSON {
    return {
      duration: this.duration,
      speakers: this.speakers,
      segments: this.segments,
      exclusiveSegments: this.exclusiveSegments,
      speakerEmbeddings: this.speakerEmbeddings.map((e) => (e ? Array.from(e) : null)),
      ...(this.identities === null ? {} : { identities: this.identities }),
    };
  }
}
