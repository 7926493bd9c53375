/**
 * The output of the diarization pipeline: speaker turns with stable labels, one representative
 * embedding per speaker, and RTTM / JSON renderings.
 *
 * @module
 */
import { formatRTTM, type SpeakerSegment } from "../formats/rttm.ts";

/** A speaker turn whose speaker is still a cluster index. */
export interface IndexedSegment {
  /** Global speaker (cluster) index. */
  speaker: number;
  /** Start in seconds. */
  start: number;
  /** End in seconds. */
  end: number;
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
   * The turns as RTTM lines, as pyannote writes them.
   *
   * @param uri the file identifier written in every line (default `<NA>`); no whitespace
   * @param options `exclusive: true` for the exclusive diarization's turns
   */
  toRTTM(uri = "", options: { exclusive?: boolean } = {}): string {
    return formatRTTM(uri, options.exclusive ? this.exclusiveSegments : this.segments);
  }

  /** A plain object for `JSON.stringify`. */
  toJSON(): DiarizationJSON {
    return {
      duration: this.duration,
      speakers: this.speakers,
      segments: this.segments,
      exclusiveSegments: this.exclusiveSegments,
      speakerEmbeddings: this.speakerEmbeddings.map((e) => (e ? Array.from(e) : null)),
    };
  }
}
