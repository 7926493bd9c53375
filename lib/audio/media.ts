/**
 * Containers read through `mediabunny` (MP4/MOV/M4A, WebM/Matroska, Ogg): it finds the audio tracks and
 * their packets, reading the file where it needs to (never whole); the packets go to the codec's decoder
 * (`codecs.ts`), or the file to ffmpeg for codecs without one (AAC). Byte-stream formats (MP3, Ogg
 * Vorbis) go to their decoders directly.
 *
 * @module
 */
// An npm: specifier, as in lib/hub/hub.ts (why: there).
// deno-lint-ignore no-import-prefix
import { ALL_FORMATS, CustomSource, EncodedPacketSink, Input } from "npm:mediabunny@1.61.0";
// deno-lint-ignore no-import-prefix
import type { InputAudioTrack } from "npm:mediabunny@1.61.0";
import { WeSpeakerError } from "../errors.ts";
import { type ByteSource, sequentialBytes } from "./byte_source.ts";
import type { AudioInfo, Opened, Selection } from "./audio_stream.ts";
import {
  type ByteDecoder,
  mp3Decoder,
  oggPages,
  opusDecoder,
  type PacketDecoder,
  parseOpusHead,
  vorbisDecoder,
} from "./codecs.ts";
import { openFfmpeg } from "./ffmpeg.ts";

/** Turns what a demuxer or a WebAssembly decoder throws into an error naming the file and format. */
export function describeFailure(name: string, format: string): (err: unknown) => unknown {
  return (err) => {
    if (err instanceof WeSpeakerError) return err;
    const why = err instanceof Error ? err.message : String(err);
    return new WeSpeakerError("invalid-audio", `${name}: ${format}: cannot decode: ${why}`, { cause: err });
  };
}

/**
 * A byte-stream decoder (MP3, Ogg Vorbis) over `bytes`: decoded up to its first samples now, to learn the
 * rate and channel count, and on as the stream is iterated.
 */
export async function openByteStream(
  bytes: AsyncGenerator<Uint8Array>,
  decoder: ByteDecoder,
  facts: { container: string; codec: string; decoder: string; channels?: number },
  name: string,
): Promise<Opened> {
  const format = `${facts.container} (${facts.codec})`;
  const first: Float32Array[] = [];
  let sampleRate = 0;
  let channels = 0;
  let ended = false;
  try {
    while (sampleRate === 0) {
      const next = await bytes.next();
      const decoded = next.done ? await decoder.flush() : await decoder.push(next.value);
      // Before its first samples a decoder's rate and channel count are not yet meaningful.
      if (decoded.samples.length > 0) {
        first.push(decoded.samples);
        sampleRate = decoded.sampleRate;
        channels = facts.channels ?? decoded.channels;
      }
      if (next.done) {
        ended = true;
        break;
      }
    }
  } catch (err) {
    decoder.free();
    throw describeFailure(name, format)(err);
  }
  if (sampleRate === 0) {
    decoder.free();
    throw noAudio(`${name}: ${format}`);
  }
  return {
    info: { ...facts, sampleRate, channels, frames: undefined } satisfies AudioInfo,
    async *chunks() {
      yield* first;
      if (ended) return;
      for await (const piece of bytes) yield (await decoder.push(piece)).samples;
      yield (await decoder.flush()).samples;
    },
    release: () => decoder.free(),
  };
}

function noAudio(what: string): WeSpeakerError {
  return new WeSpeakerError(
    "invalid-audio",
    `${what}: no audio could be decoded (the file is truncated, unfinished or corrupt, or holds no sound)`,
  );
}

function trackList(tracks: InputAudioTrack[]): string {
  return tracks.map((t, i) =>
    `${i}: ${t.codec ?? "unknown codec"}${t.languageCode !== "und" ? ` '${t.languageCode}'` : ""}`
  )
    .join(", ");
}

/** Opens an MP4, Matroska or Ogg file: its audio track found now, its packets decoded as it is iterated. */
export async function openContainer(
  source: ByteSource,
  selection: Selection,
  sniffed: string,
): Promise<Opened> {
  const name = source.name;
  const input = new Input({
    formats: ALL_FORMATS,
    source: new CustomSource({
      getSize: () => source.size,
      read: (start, end) => source.read(start, end - start),
      maxCacheSize: 4 << 20,
    }),
  });
  let release = true;
  try {
    const describe = describeFailure(name, sniffed);
    let container: string;
    let tracks: InputAudioTrack[];
    let videoTracks: number;
    try {
      container = (await input.getFormat()).name;
      tracks = await input.getAudioTracks();
      videoTracks = (await input.getVideoTracks()).length;
    } catch (err) {
      throw describe(err);
    }
    if (tracks.length === 0) {
      throw new WeSpeakerError(
        "invalid-audio",
        `${name}: ${container} has no audio track` +
          (videoTracks
            ? ` (only ${videoTracks} video track(s))`
            : " (no track at all: the file is truncated, unfinished or corrupt)"),
      );
    }
    const { track: wanted } = selection;
    if (wanted === undefined && tracks.length > 1) {
      throw new WeSpeakerError(
        "invalid-audio",
        `${name}: ${container} has ${tracks.length} audio tracks (${trackList(tracks)}); choose one with ` +
          `the track option (CLI: --track N)`,
      );
    }
    const index = wanted ?? 0;
    if (!Number.isSafeInteger(index) || index < 0 || index >= tracks.length) {
      throw new WeSpeakerError(
        "invalid-argument",
        `${name}: track ${index} does not exist; ${container} has ${tracks.length} audio track(s) (${
          trackList(tracks)
        })`,
      );
    }
    const track = tracks[index];
    const codec = track.codec ?? "unknown codec";
    const facts = { container, codec };
    let opened: Opened;
    if (codec === "opus") {
      opened = await opusTrack({ name, track, selection, facts, describe });
    } else if (codec === "vorbis" && sniffed === "Ogg") {
      release = false;
      input.dispose();
      const decoder = await vorbisDecoder(selection.channel, `${name}: Ogg (vorbis)`);
      const ogg = { ...facts, decoder: "@wasm-audio-decoders/ogg-vorbis" };
      return await openByteStream(sequentialBytes(source), decoder, ogg, name);
    } else if (codec === "vorbis" || codec === "mp3") {
      opened = await packetsAsBytes({ name, track, selection, facts, describe });
    } else {
      release = false;
      input.dispose();
      const frames = await track.computeDuration().then(
        (d) => Math.round(d * track.sampleRate),
        () => undefined,
      );
      return await openFfmpeg(source, selection, { ...facts, frames });
    }
    release = false;
    return {
      ...opened,
      release: async () => {
        try {
          await opened.release?.();
        } finally {
          input.dispose();
        }
      },
    };
  } finally {
    if (release) input.dispose();
  }
}

/** An audio track to decode: the file's name, the track, what to take from it, and its facts. */
interface TrackArgs {
  name: string;
  track: InputAudioTrack;
  selection: Selection;
  facts: { container: string; codec: string };
  describe: (err: unknown) => unknown;
}

/** Opus packets to libopus: pre-skip dropped, the end trimmed to the last packet's end when it has one. */
async function opusTrack({ name, track, selection, facts, describe }: TrackArgs): Promise<Opened> {
  const what = `${name}: ${facts.container} (opus)`;
  const config = await track.getDecoderConfig().catch((err) => Promise.reject(describe(err)));
  const description = config?.description;
  if (!description) throw new WeSpeakerError("invalid-audio", `${what}: no OpusHead`);
  const head = parseOpusHead(toBytes(description), what);
  const decoder: PacketDecoder = await opusDecoder(head, selection.channel, what);
  const rate = 48000;
  return {
    info: {
      ...facts,
      decoder: "opus-decoder",
      sampleRate: rate,
      channels: head.channels,
      frames: undefined,
    } satisfies AudioInfo,
    async *chunks() {
      let skip = head.preSkip;
      let emitted = 0;
      const packets = new EncodedPacketSink(track).packets()[Symbol.asyncIterator]();
      let current = await packets.next();
      while (!current.done) {
        const next = await packets.next();
        let samples = decoder.decode(current.value.data);
        const dropped = Math.min(skip, samples.length);
        skip -= dropped;
        samples = samples.subarray(dropped);
        if (next.done && current.value.duration > 0) {
          const end = Math.round((current.value.timestamp + current.value.duration) * rate);
          samples = samples.subarray(0, Math.max(0, Math.min(samples.length, end - emitted)));
        }
        emitted += samples.length;
        yield samples;
        current = next;
      }
      if (emitted === 0) throw noAudio(what);
    },
    release: () => decoder.free(),
  };
}

/**
 * Vorbis or MP3 packets from Matroska/MP4 to the byte-stream decoders: Vorbis as Ogg pages (its three
 * headers from the codec private data first), MP3 frames as they are.
 */
async function packetsAsBytes({ name, track, selection, facts }: TrackArgs): Promise<Opened> {
  const what = `${name}: ${facts.container} (${facts.codec})`;
  const vorbis = facts.codec === "vorbis";
  const decoder = vorbis
    ? await vorbisDecoder(selection.channel, what)
    : await mp3Decoder(selection.channel, what);
  const packets = new EncodedPacketSink(track).packets();
  async function* bytes(): AsyncGenerator<Uint8Array> {
    let sequence = 0;
    if (vorbis) {
      const config = await track.getDecoderConfig();
      const description = config?.description;
      const headers = description ? xiphLaced(toBytes(description), what) : [];
      checkVorbisHeaders(headers, what);
      for (const [i, header] of headers.entries()) {
        for (const page of oggPages(header, sequence, i === 0)) {
          sequence++;
          yield page;
        }
      }
    }
    for await (const packet of packets) {
      if (!vorbis) {
        yield packet.data;
        continue;
      }
      for (const page of oggPages(packet.data, sequence, false)) {
        sequence++;
        yield page;
      }
    }
  }
  const decoderName = vorbis ? "@wasm-audio-decoders/ogg-vorbis" : "mpg123-decoder";
  return await openByteStream(bytes(), decoder, { ...facts, decoder: decoderName }, name);
}

// A WebCodecs `AllowSharedBufferSource`, spelled without the DOM types (absent under Node).
function toBytes(d: ArrayBufferLike | ArrayBufferView): Uint8Array {
  return d instanceof Uint8Array
    ? d
    : ArrayBuffer.isView(d)
    ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
    : new Uint8Array(d);
}

/**
 * The three Vorbis headers as the specification requires them, checked before libvorbis sees them:
 * Matroska has no checksum, and libvorbis spends many seconds on some corrupt setups.
 */
function checkVorbisHeaders(headers: Uint8Array[], what: string): void {
  const bad = (problem: string): never => {
    throw new WeSpeakerError("invalid-audio", `${what}: corrupt Vorbis headers: ${problem}`);
  };
  if (headers.length !== 3) bad(`${headers.length} headers, needs 3`);
  headers.forEach((h, i) => {
    const type = [1, 3, 5][i];
    if (h.length < 7 || h[0] !== type || new TextDecoder().decode(h.subarray(1, 7)) !== "vorbis") {
      bad(`header ${i + 1} is not a Vorbis header of type ${type}`);
    }
  });
  const id = headers[0];
  if (id.length !== 30) bad(`identification header of ${id.length} bytes, needs 30`);
  const view = new DataView(id.buffer, id.byteOffset, id.byteLength);
  const small = id[28] & 15, large = id[28] >> 4;
  if (view.getUint32(7, true) !== 0 || id[11] === 0 || view.getUint32(12, true) === 0) {
    bad("version, channels or rate out of range");
  }
  if (small < 6 || large > 13 || small > large || (id[29] & 1) === 0) {
    bad("block sizes or framing bit out of range");
  }
  // The setup header's framing bit is its last bit written; bits pack from the low end, so it is the last
  // byte's highest set bit: that byte is never 0.
  if (headers[2][headers[2].length - 1] === 0) bad("setup header's framing bit missing");
}

/** Splits Xiph-laced packets (a count byte minus one, lacing sizes, then the packets). */
function xiphLaced(data: Uint8Array, what: string): Uint8Array[] {
  const bad = (): never => {
    throw new WeSpeakerError("invalid-audio", `${what}: malformed Vorbis headers in the codec private data`);
  };
  if (data.length < 1) bad();
  const count = data[0] + 1;
  let at = 1;
  const sizes: number[] = [];
  for (let i = 0; i < count - 1; i++) {
    let size = 0;
    for (;;) {
      if (at >= data.length) bad();
      const b = data[at++];
      size += b;
      if (b < 255) break;
    }
    sizes.push(size);
  }
  const out: Uint8Array[] = [];
  for (const size of sizes) {
    if (at + size > data.length) bad();
    out.push(data.subarray(at, at + size));
    at += size;
  }
  out.push(data.subarray(at));
  return out;
}
