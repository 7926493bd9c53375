/**
 * Stereo call recordings, where each party has a channel of their own: every channel embedded or
 * diarized on its own, the result labelled by channel.
 *
 * @module
 */
import { type AudioInput, type FileOptions, probeAudio } from "./audio/open.ts";
import type { DiarizationPipeline, DiarizeOptions } from "./diarization/pipeline.ts";
import type { DiarizationJSON, DiarizationResult } from "./diarization/result.ts";
import { formatRTTM, type SpeakerSegment } from "./formats/rttm.ts";
import type { EmbedOptions, WeSpeakerModel } from "./model.ts";

/** The embedding of each channel of a file, in channel order. */
export async function embedChannels(
  model: WeSpeakerModel,
  input: AudioInput,
  options: EmbedOptions & Omit<FileOptions, "channel"> = {},
): Promise<Float32Array[]> {
  const { channels } = await probeAudio(input, options);
  const out: Float32Array[] = [];
  for (let channel = 0; channel < channels; channel++) {
    out.push(await model.embedFile(input, { ...options, channel }));
  }
  return out;
}

/** Per-channel diarization: each channel's result, and their turns together with speakers named by channel. */
export class ChannelDiarization {
  /** The result of each channel, in channel order. */
  readonly channels: DiarizationResult[];
  /**
   * Every channel's turns by start time, speakers named `CH<N>_SPEAKER_<K>` (channel N's SPEAKER_K): the
   * parties of a call never share a label.
   */
  readonly segments: SpeakerSegment[];
  /** The channels' exclusive diarizations together, named as {@link segments}. */
  readonly exclusiveSegments: SpeakerSegment[];

  /** Joins per-channel results, in channel order. */
  constructor(channels: DiarizationResult[]) {
    this.channels = channels;
    const joined = (turns: (r: DiarizationResult) => SpeakerSegment[]) =>
      channels
        .flatMap((r, channel) => turns(r).map((s) => ({ ...s, speaker: `CH${channel}_${s.speaker}` })))
        .sort((a, b) => a.start - b.start || a.end - b.end || (a.speaker < b.speaker ? -1 : 1));
    this.segments = joined((r) => r.segments);
    this.exclusiveSegments = joined((r) => r.exclusiveSegments);
  }

  /**
   * The joined turns as RTTM lines (see {@link segments}).
   *
   * @param options `exclusive: true` for the exclusive diarizations' turns
   */
  toRTTM(uri = "", options: { exclusive?: boolean } = {}): string {
    return formatRTTM(uri, options.exclusive ? this.exclusiveSegments : this.segments);
  }

  /** `{ channels: [{ channel, duration, speakers, segments, speakerEmbeddings }] }`. */
  toJSON(): { channels: (DiarizationJSON & { channel: number })[] } {
    return { channels: this.channels.map((r, channel) => ({ channel, ...r.toJSON() })) };
  }
}

/**
 * Diarizes each channel of a file on its own (`diarizeFile` with `channel` 0, 1, …).
 *
 * ```ts
 * const call = await diarizeChannels(pipeline, "call.wav", { maxSpeakers: 2 });
 * console.log(call.toRTTM("call")); // CH0_SPEAKER_00, CH1_SPEAKER_00, …
 * ```
 */
export async function diarizeChannels(
  pipeline: DiarizationPipeline,
  input: AudioInput,
  options: Omit<DiarizeOptions, "channel"> = {},
): Promise<ChannelDiarization> {
  const { channels } = await probeAudio(input, options);
  const results: DiarizationResult[] = [];
  for (let channel = 0; channel < channels; channel++) {
    results.push(await pipeline.diarizeFile(input, { ...options, channel }));
  }
  return new ChannelDiarization(results);
}
