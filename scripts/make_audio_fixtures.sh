#!/usr/bin/env bash
# Writes the small recordings in tests/fixtures/audio/ that the format tests decode.
# Needs espeak-ng, sox and ffmpeg (Debian: apt-get install -y espeak-ng sox ffmpeg).
# Run from the repository root: bash scripts/make_audio_fixtures.sh
set -euo pipefail
out=tests/fixtures/audio
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y -fflags +bitexact "$@"; }

# Two voices: the source of every fixture.
espeak-ng -v en-us -s 150 -w "$tmp/a.wav" "The quick brown fox jumps over the lazy dog near the river bank."
espeak-ng -v en-gb+f3 -s 140 -w "$tmp/b.wav" "She sells sea shells by the sea shore every summer morning."

# 16 kHz 16-bit mono, 2.5 s, and the FLAC made from it (bit-identical samples expected).
sox "$tmp/a.wav" -r 16000 -b 16 -c 1 "$out/speech.wav" trim 0 2.5
ff -i "$out/speech.wav" -compression_level 8 "$out/speech.flac"

# A stereo call: one voice per channel, 24-bit WAVE_FORMAT_EXTENSIBLE, 1.5 s, and its FLAC.
sox "$tmp/a.wav" -r 16000 -c 1 "$tmp/l.wav" trim 0 1.5
sox "$tmp/b.wav" -r 16000 -c 1 "$tmp/r.wav" trim 0 1.5
ff -i "$tmp/l.wav" -i "$tmp/r.wav" -filter_complex "[0:a][1:a]join=inputs=2:channel_layout=stereo[a]" \
  -map "[a]" -c:a pcm_s24le "$out/call_stereo24.wav"
ff -i "$out/call_stereo24.wav" -compression_level 8 "$out/call_stereo24.flac"

# Telephony: 8 kHz G.711 mu-law and A-law, IMA ADPCM.
sox "$tmp/a.wav" -r 8000 -c 1 -e u-law "$out/ulaw.wav" trim 0 1.5
sox "$tmp/a.wav" -r 8000 -c 1 -e a-law "$out/alaw.wav" trim 0 1.5
sox "$tmp/a.wav" -r 8000 -c 1 -e ima-adpcm "$out/ima_adpcm.wav" trim 0 1.5

# Lossy codecs from the 16 kHz WAV.
ff -i "$out/speech.wav" -c:a libmp3lame -b:a 32k "$out/speech.mp3"
ff -i "$out/speech.wav" -c:a libvorbis -q:a 2 "$out/speech.ogg"
ff -i "$out/speech.wav" -c:a libopus -b:a 24k "$out/speech.opus"
ff -i "$out/speech.wav" -c:a libopus -b:a 24k "$out/speech.webm"
ff -i "$out/speech.wav" -c:a libvorbis -q:a 2 "$out/speech_vorbis.webm"
ff -i "$out/speech.wav" -c:a aac -b:a 32k "$out/speech.m4a"
# A video with its audio track, a video without audio, and a Matroska file with two audio tracks.
ff -f lavfi -i "color=c=gray:size=32x24:rate=4" -i "$out/speech.wav" -shortest -c:v libx264 -preset veryslow \
  -crf 51 -c:a aac -b:a 32k "$out/video.mp4"
ff -f lavfi -i "color=c=gray:size=32x24:rate=4" -t 1 -c:v libx264 -crf 51 "$out/video_no_audio.mp4"
ff -i "$out/speech.wav" -i "$tmp/r.wav" -map 0:a -map 1:a -c:a libopus -b:a 16k -metadata:s:a:0 language=eng \
  -metadata:s:a:1 language=fra "$out/two_tracks.mkv"
ls -l "$out"
du -ch "$out" | tail -1
