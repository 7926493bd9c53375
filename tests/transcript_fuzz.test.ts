// Hostile transcripts: seeded mutations of valid Whisper JSON, SRT and WebVTT files through the readers.
// Each input is either read into well-formed segments (finite times, start <= end, words inside their
// ranges), which then get speakers and are written in all three formats and read back, or rejected with an
// `invalid-transcript` error: no other exception, and no input that takes long.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WeSpeakerError } from "../lib/errors.ts";
import { assignSpeakers, type TranscriptSegment } from "../lib/formats/transcript.ts";
import { formatTranscript, parseTranscript } from "../lib/formats/transcript_files.ts";
import { mutateText, PIECES, rng } from "./helpers/fuzz.ts";

const EXTRA = [
  "-->",
  " --> ",
  "00:00:01,000",
  "00:01.000",
  "<v A>",
  "<00:00:01.500>",
  "&amp;",
  "&#x1F600;",
  "&#0;",
  "WEBVTT",
  "NOTE",
  '"start"',
  '"end"',
  "{",
  "}",
  "[",
  "]",
  ":",
  ",",
  "null",
  "\u2028",
  "<",
  ">",
];
const pieces = [...PIECES, ...EXTRA];

const turns = {
  segments: [
    { speaker: "A", start: 0, end: 2.2 },
    { speaker: "B", start: 2, end: 5 },
    { speaker: "A", start: 6, end: 9 },
  ],
};

const files: Record<string, string> = {
  json: JSON.stringify(
    {
      segments: [
        {
          start: 0.5,
          end: 2.5,
          text: " Hello there.",
          words: [{ word: " Hello", start: 0.5, end: 1 }, { word: " there.", start: 1.1, end: 2.5 }],
        },
        { start: 3, end: 4, text: " Yes." },
        {
          start: 6.5,
          end: 8,
          text: "It is 42",
          words: [{ word: "It", start: 6.5, end: 6.7 }, { word: "is", start: 6.8, end: 7 }, { word: "42" }],
        },
      ],
    },
    null,
    1,
  ),
  srt:
    "1\r\n00:00:00,500 --> 00:00:02,500\r\nHello there.\r\nSecond line\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\n<i>Yes.</i>\r\n\r\n3\r\n00:00:06,500 --> 00:00:08,000\r\nIt is 42\r\n",
  vtt:
    "WEBVTT Kind: captions\n\nNOTE hello\n\ncue-1\n00:00.500 --> 00:02.500 align:start\n<v Bob>Hello &amp; there.\n\n00:03.000 --> 00:04.000\nYes.\n\n" +
    "00:06.500 --> 00:08.000\nIt <00:06.800>is <00:07.000>42\n",
};

function wellFormed(segments: TranscriptSegment[]): void {
  for (const s of segments) {
    assert.ok(
      Number.isFinite(s.start) && Number.isFinite(s.end) && 0 <= s.start && s.start <= s.end,
      JSON.stringify(s),
    );
    assert.equal(typeof s.text, "string");
    for (const w of s.words ?? []) {
      assert.equal(typeof w.text, "string");
      if (w.start !== null) {
        assert.ok(
          Number.isFinite(w.start) && Number.isFinite(w.end!) && 0 <= w.start && w.start <= w.end!,
          JSON.stringify(w),
        );
      }
    }
  }
}

describe("hostile transcripts", () => {
  for (const [format, text] of Object.entries(files)) {
    test(`2000 mutated ${format} files: labelled and written back, or invalid-transcript`, () => {
      const next = rng(format.length * 101);
      const outcomes = { ok: 0, rejected: 0 };
      for (let i = 0; i < 2000; i++) {
        const mutated = mutateText(text, next, pieces);
        let parsed;
        try {
          parsed = parseTranscript(mutated, `fuzz.${format}`);
        } catch (err) {
          if (!(err instanceof WeSpeakerError)) throw err;
          assert.equal(err.code, "invalid-transcript", err.message);
          assert.ok(err.message.startsWith(`fuzz.${format}`), err.message);
          outcomes.rejected++;
          continue;
        }
        wellFormed(parsed.segments);
        const labelled = assignSpeakers(parsed, turns);
        for (const out of ["json", "srt", "vtt"] as const) {
          const written = formatTranscript(labelled, out);
          const back = parseTranscript(written, `written.${out}`);
          assert.equal(back.format, out);
          wellFormed(back.segments);
        }
        outcomes.ok++;
      }
      // JSON breaks more easily than subtitles: fewer survive.
      assert.ok(
        outcomes.ok > (format === "json" ? 30 : 200) && outcomes.rejected > 200,
        JSON.stringify(outcomes),
      );
    });
  }

  test("100 000-character lines and fields are read or rejected quickly", () => {
    const long = "9".repeat(100_000);
    for (
      const text of [
        `1\n${long}:00:01,000 --> 00:00:02,000\nx\n`,
        `WEBVTT\n\n00:01.000 --> 00:02.000\n${"<".repeat(100_000)}\n`,
        `WEBVTT\n\n00:01.000 --> 00:02.000\n${"<b>".repeat(30_000)}x\n`,
        `{"segments": [{"start": ${long}, "end": 1, "text": "x"}]}`,
        `${"[".repeat(100_000)}`,
      ]
    ) {
      try {
        wellFormed(parseTranscript(text, "long").segments);
      } catch (err) {
        assert.ok(err instanceof WeSpeakerError && err.code === "invalid-transcript", String(err));
      }
    }
  });
});
