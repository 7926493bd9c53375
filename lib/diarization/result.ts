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
  /** One embedding per speaker (same order as `speakers`); null for a speaker without a centroid. */
  speakerEmbeddings: (number[] | null)[];
}

/** Who spoke when, as returned by `DiarizationPipeline.diarize`. */
export class DiarizationResult {
  /**
   * Speaker turns ordered by start time (then end, then speaker). Without `exclusive`, turns of
   * different speakers may overlap.
   */
  readonly segments: SpeakerSegment[];
  /** Speaker labels `SPEAKER_00`, `SPEAKER_01`, … numbered in order of first appearance. */
  readonly speakers: string[];
  /**
   * One representative (raw, un-normalised) embedding per speaker, in the order of {@link speakers}: the
   * mean embedding of the cluster. `null` for a speaker that the per-frame speaker count added beyond the
   * clusters found (pyannote pads those with zeros).
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
   */
  constructor(segments: readonly IndexedSegment[], centroids: Float32Array, dim: number, duration: number) {
    const order = [...segments].sort((a, b) => a.start - b.start || a.end - b.end || a.speaker - b.speaker);
    const labelOf = new Map<number, string>();
    for (const { speaker } of order) {
      if (!labelOf.has(speaker)) labelOf.set(speaker, `SPEAKER_${String(labelOf.size).padStart(2, "0")}`);
    }
    this.segments = order.map(({ speaker, start, end }) => ({ speaker: labelOf.get(speaker)!, start, end }));
    this.speakers = [...labelOf.values()];
    const numCentroids = centroids.length / dim;
    this.speakerEmbeddings = [...labelOf.keys()].map((k) =>
      k < numCentroids ? centroids.slice(k * dim, (k + 1) * dim) : null
    );
    this.duration = duration;
  }

  /**
   * The turns as RTTM lines, as pyannote writes them.
   *
   * @param uri the file identifier written in every line (default `<NA>`); no whitespace
   */
  toRTTM(uri = ""): string {
    return formatRTTM(uri, this.segments);
  }

  /** A plain object for `JSON.stringify`. */
  toJSON(): DiarizationJSON {
    return {
      duration: this.duration,
      speakers: this.speakers,
      segments: this.segments,
      speakerEmbeddings: this.speakerEmbeddings.map((e) => (e ? Array.from(e) : null)),
    };
  }
}
