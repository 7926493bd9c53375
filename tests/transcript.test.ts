// Transcripts with speakers: hand-computed assignments (overlaps, gaps, words spanning a change, exclusive
// against overlapped turns), the Whisper JSON / SRT / WebVTT readers and their line- and field-precise
// errors, and the labelled files written back.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WeSpeakerError } from "../lib/errors.ts";
import {
  assignSpeakers,
  type SpeakerTurns,
  transcriptCues,
  type TranscriptSegment,
} from "../lib/formats/transcript.ts";
import { formatTranscript, parseTranscript } from "../lib/formats/transcript_files.ts";

// Overlapped diarization: A 0-5 and 8-10, B 4-7 (overlapping A over 4-5), C 12-13.
const overlapped = {
  speakers: ["A", "B", "C"],
  segments: [
    { speaker: "A", start: 0, end: 5 },
    { speaker: "B", start: 4, end: 7 },
    { speaker: "A", start: 8, end: 10 },
    { speaker: "C", start: 12, end: 13 },
  ],
};
// The same conversation, exclusive: the overlap 4-5 split at 4.4.
const exclusive = {
  speakers: ["A", "B", "C"],
  segments: [
    { speaker: "A", start: 0, end: 4.4 },
    { speaker: "B", start: 4.4, end: 7 },
    { speaker: "A", start: 8, end: 10 },
    { speaker: "C", start: 12, end: 13 },
  ],
};

function speakerOf(
  start: number,
  end: number,
  turns: SpeakerTurns = overlapped,
  tolerance?: number,
): string | null {
  const t = assignSpeakers({ segments: [{ start, end, text: "w" }] }, turns, { tolerance });
  return t.segments[0].speaker;
}

function invalid(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WeSpeakerError, String(e));
    assert.equal(e.code, "invalid-transcript", e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

describe("assigning speakers", () => {
  test("inside one turn; most overlap wins; an exact tie goes to the first speaker", () => {
    assert.equal(speakerOf(1, 2), "A");
    // 4.5-5.5: A 0.5 s, B 1.0 s.
    assert.equal(speakerOf(4.5, 5.5), "B");
    // 4.2-4.6, inside both A and B: 0.4 s each, A comes first.
    assert.equal(speakerOf(4.2, 4.6), "A");
    // The order of `speakers` decides ties, not the order of the turns.
    assert.equal(speakerOf(4.2, 4.6, { ...overlapped, speakers: ["B", "A", "C"] }), "B");
  });

  test("a word spanning a speaker change goes to the side it overlaps more", () => {
    const turns = { segments: [{ speaker: "A", start: 0, end: 5 }, { speaker: "B", start: 5, end: 7 }] };
    assert.equal(speakerOf(4.8, 5.4, turns), "B"); // A 0.2, B 0.4
    assert.equal(speakerOf(4.6, 5.1, turns), "A"); // A 0.4, B 0.1
    assert.equal(speakerOf(5, 5.3, turns), "B"); // touching A's end is no overlap
  });

  test("exclusive against overlapped diarization", () => {
    // 4.3-4.7: overlapped, A and B 0.4 s each (tie: A); exclusive, A 0.1 s and B 0.3 s.
    assert.equal(speakerOf(4.3, 4.7, overlapped), "A");
    assert.equal(speakerOf(4.3, 4.7, exclusive), "B");
    // A segment 3-7: overlapped, A 2 s and B 3 s; exclusive, A 1.4 s and B 2.6 s: B both times.
    assert.equal(speakerOf(3, 7, overlapped), "B");
    assert.equal(speakerOf(3, 7, exclusive), "B");
  });

  test("gaps: the nearest turn within the tolerance, else no speaker", () => {
    // 7.2-7.5: B ended 0.2 s before, A starts 0.5 s after.
    assert.equal(speakerOf(7.2, 7.5), "B");
    // 10.6-11.0: A 0.6 s away, C 1.0 s away.
    assert.equal(speakerOf(10.6, 11), null);
    assert.equal(speakerOf(10.6, 11, overlapped, 0.6), "A");
    // A zero-length word 1 s from both A and C: the first speaker.
    assert.equal(speakerOf(11, 11, overlapped, 1), "A");
    // A zero-length word inside a turn is at distance 0 from it.
    assert.equal(speakerOf(9, 9), "A");
    assert.equal(speakerOf(20, 21, overlapped, 100), "C");
    assert.equal(speakerOf(1, 2, { segments: [] }), null);
    assert.throws(() => speakerOf(1, 2, overlapped, -1), WeSpeakerError);
  });

  test("words get their own speakers, untimed words their segment's; cues split where the speaker changes", () => {
    const segment: TranscriptSegment = {
      start: 3,
      end: 7,
      text: " Yes I agree.",
      words: [
        { text: " Yes", start: 3.0, end: 3.5 }, // A
        { text: " I", start: 5.2, end: 5.4 }, // B
        { text: " 42", start: null, end: null }, // untimed: the segment's (B)
        { text: " agree.", start: 5.5, end: 6.2 }, // B
      ],
    };
    const labelled = assignSpeakers({ segments: [segment] }, overlapped);
    assert.deepEqual(labelled.speakers, ["A", "B", "C"]);
    assert.equal(labelled.segments[0].speaker, "B");
    assert.deepEqual(labelled.segments[0].words!.map((w) => w.speaker), ["A", "B", "B", "B"]);
    assert.deepEqual(transcriptCues(labelled), [
      { start: 3, end: 3.5, speaker: "A", text: "Yes" },
      { start: 5.2, end: 6.2, speaker: "B", text: "I 42 agree." },
    ]);
    // Words without their own spaces are joined with one.
    const bare = assignSpeakers({
      segments: [{
        start: 0,
        end: 2,
        text: "a b",
        words: [{ text: "a", start: 0, end: 1 }, { text: "b", start: 1, end: 2 }],
      }],
    }, overlapped);
    assert.equal(transcriptCues(bare)[0].text, "a b");
  });
});

describe("reading transcripts", () => {
  test("Whisper JSON (openai-whisper / faster-whisper / WhisperX), whisper.cpp, a bare array", () => {
    const openai = JSON.stringify({
      text: " Hello there. Bye.",
      language: "en",
      segments: [
        {
          id: 0,
          seek: 0,
          start: 0.0,
          end: 1.5,
          text: " Hello there.",
          tokens: [1, 2],
          words: [{ word: " Hello", start: 0, end: 0.6, probability: 0.9 }, {
            word: " there.",
            start: 0.6,
            end: 1.5,
            probability: 0.8,
          }],
        },
        { id: 1, start: 2.0, end: 2.4, text: " Bye." },
      ],
    });
    const t = parseTranscript(openai, "a.json");
    assert.equal(t.format, "json");
    assert.deepEqual(t.segments, [
      {
        start: 0,
        end: 1.5,
        text: " Hello there.",
        words: [{ text: " Hello", start: 0, end: 0.6 }, { text: " there.", start: 0.6, end: 1.5 }],
      },
      { start: 2, end: 2.4, text: " Bye." },
    ]);
    const whisperx = JSON.stringify({
      segments: [{
        start: 1,
        end: 2,
        text: "It is 42",
        words: [{ word: "It", start: 1, end: 1.2, score: 0.9 }, { word: "is", start: 1.2, end: 1.4 }, {
          word: "42",
        }],
      }],
    });
    assert.deepEqual(parseTranscript(whisperx).segments[0].words![2], { text: "42", start: null, end: null });
    const cpp = JSON.stringify({
      transcription: [{
        timestamps: { from: "00:00:00,000", to: "00:00:01,500" },
        offsets: { from: 0, to: 1500 },
        text: " Hi.",
      }],
    });
    assert.deepEqual(parseTranscript(cpp).segments, [{ start: 0, end: 1.5, text: " Hi." }]);
    assert.deepEqual(parseTranscript('\ufeff[{"start": 1, "end": 2, "text": "x"}]').segments, [{
      start: 1,
      end: 2,
      text: "x",
    }]);
  });

  test("Whisper JSON errors give the line and column, or the field", () => {
    invalid(
      () =>
        parseTranscript(
          '{"segments": [\n  {"start": 0, "end": 1, "text": "a"},\n  {"start": 1 "end": 2}\n]}',
          "t.json",
        ),
      /^t\.json: not valid JSON: line 3 column 15: expected "," or "}"/,
    );
    invalid(
      () =>
        parseTranscript(
          '{"segments": [{"start": 0, "end": 1, "text": "a"}, {"start": 2, "end": -1, "text": "b"}]}',
          "t.json",
        ),
      /^t\.json: segments\[1\]\.end: -1 is not a time >= 0 in seconds/,
    );
    invalid(
      () => parseTranscript('{"segments": [{"start": 3, "end": 1, "text": "b"}]}', "t.json"),
      /^t\.json: segments\[0\]: end 1 s is before start 3 s/,
    );
    invalid(
      () =>
        parseTranscript(
          '{"segments": [{"start": 0, "end": 1, "text": "a", "words": [{"word": "a", "start": 0}]}]}',
          "t.json",
        ),
      /^t\.json: segments\[0\]\.words\[0\]\.end: missing is not a time/,
    );
    invalid(
      () => parseTranscript('{"segments": [{"start": 0, "end": 1, "text": 7}]}', "t.json"),
      /segments\[0\]\.text: 7 is not a string/,
    );
    invalid(() => parseTranscript('{"results": []}', "t.json"), /^t\.json: expected Whisper JSON/);
    invalid(
      () =>
        parseTranscript('{"transcription": [{"offsets": {"from": 0, "to": "1"}, "text": "a"}]}', "t.json"),
      /transcription\[0\]\.offsets\.to: "1" is not a time >= 0 in milliseconds/,
    );
  });

  test("SRT: numbered cues, CRLF, missing numbers, '.' decimals, multi-line text", () => {
    const srt =
      "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\nHello\r\nthere\r\n\r\n2\r\n00:00:03,1 --> 00:01:04.250 X1:10 X2:20\r\nBye\r\n\r\n" +
      "00:02:00,000 --> 01:00:00,000\n(no number)\n";
    const t = parseTranscript(srt, "a.srt");
    assert.equal(t.format, "srt");
    assert.deepEqual(t.segments, [
      { start: 1, end: 2.5, text: "Hello\nthere" },
      { start: 3.1, end: 64.25, text: "Bye" },
      { start: 120, end: 3600, text: "(no number)" },
    ]);
  });

  test("SRT errors name the line", () => {
    invalid(
      () => parseTranscript("1\n00:00:01,000 -> 00:00:02,000\nx\n", "a.srt"),
      /^a\.srt line 2: expected a timing line such as "00:00:01,000 --> 00:00:02,500", found "00:00:01,000 -> 00:00:02,000"/,
    );
    invalid(
      () =>
        parseTranscript(
          "1\n00:00:01,000 --> 00:00:02,000\nx\n\n2\n00:00:05,000 --> 00:00:04,000\ny\n",
          "a.srt",
        ),
      /^a\.srt line 6: end 00:00:04,000 is before start 00:00:05,000/,
    );
    invalid(
      () => parseTranscript("1\n00:00:01,000 --> 00:61:02,000\nx\n", "a.srt"),
      /^a\.srt line 2: end "00:61:02,000" is not a time/,
    );
    invalid(
      () =>
        parseTranscript(
          "1\n00:00:01,000 --> 00:00:02,000\nx\n2\n00:00:03,000 --> 00:00:04,000\ny\n",
          "a.srt",
        ),
      /^a\.srt line 5: .*blank line is missing/,
    );
    invalid(
      () => parseTranscript("Hello\n", "a.srt"),
      /^a\.srt line 1: expected a cue number or a timing line, found "Hello"/,
    );
    invalid(() => parseTranscript("\n\n7\n\n", "a.srt"), /^a\.srt line 4: expected the timing line/);
  });

  test("WebVTT: header, NOTE/STYLE blocks, identifiers, settings, voice tags, entities, inline times", () => {
    const vtt =
      "WEBVTT - a meeting\nKind: captions\n\nNOTE a note\nspanning lines\n\nSTYLE\n::cue { color: red }\n\n" +
      "intro\n00:01.000 --> 00:02.500 align:start position:10%\n<v Bob>Hello &amp; <b>welcome</b>\n\n" +
      "01:00:00.000 --> 01:00:03.000\n<c.x>one</c> <01:00:01.000>two <01:00:02.500>three\n";
    const t = parseTranscript(vtt, "a.vtt");
    assert.equal(t.format, "vtt");
    assert.deepEqual(t.segments, [
      { start: 1, end: 2.5, text: "Hello & welcome" },
      {
        start: 3600,
        end: 3603,
        text: "one two three",
        words: [
          { text: "one ", start: 3600, end: 3601 },
          { text: "two ", start: 3601, end: 3602.5 },
          { text: "three", start: 3602.5, end: 3603 },
        ],
      },
    ]);
  });

  test("WebVTT errors name the line", () => {
    invalid(
      () => parseTranscript("WEBVTTX\n", "a.vtt", "vtt"),
      /^a\.vtt line 1: a WebVTT file starts with "WEBVTT"/,
    );
    invalid(
      () => parseTranscript("WEBVTT\n00:01.000 --> 00:02.000\nx\n", "a.vtt"),
      /^a\.vtt line 2: a blank line must separate the header/,
    );
    invalid(
      () => parseTranscript("WEBVTT\n\n00:01,000 --> 00:02.000\nx\n", "a.vtt"),
      /^a\.vtt line 3: start "00:01,000" is not a time like 00:01\.000/,
    );
    invalid(
      () => parseTranscript("WEBVTT\n\n00:01.000 --> 00:02.000\none <00:03.000>two\n", "a.vtt"),
      /^a\.vtt line 4: inline time <00:03\.000> is outside its cue/,
    );
    invalid(
      () => parseTranscript("WEBVTT\n\n00:01.000 --> 00:02.000\n<v Bob\n", "a.vtt"),
      /^a\.vtt line 4: unclosed tag "<v Bob"/,
    );
    invalid(
      () => parseTranscript("WEBVTT\n\nid\nnot a timing\n", "a.vtt"),
      /^a\.vtt line 4: expected the timing line of the cue named/,
    );
  });
});

describe("writing labelled transcripts", () => {
  const transcript = parseTranscript(JSON.stringify({
    segments: [
      {
        start: 0.5,
        end: 2,
        text: " Hi all.",
        words: [{ word: " Hi", start: 0.5, end: 1 }, { word: " all.", start: 1, end: 2 }],
      },
      {
        start: 4.3,
        end: 6.0,
        text: " Sure <now> & then",
        words: [{ word: " Sure", start: 4.3, end: 4.7 }, { word: " <now>", start: 5.2, end: 5.6 }, {
          word: " & then",
          start: 5.6,
          end: 6,
        }],
      },
      { start: 10.6, end: 11, text: " Hm." },
    ],
  }));
  const labelled = assignSpeakers(transcript, {
    ...overlapped,
    speakers: ["A", "B", "Carol Smith"],
    segments: overlapped.segments.map((s) => s.speaker === "C" ? { ...s, speaker: "Carol Smith" } : s),
  });

  test("SRT: one cue per run of one speaker's words, 'Name: ' before the text", () => {
    assert.equal(
      formatTranscript(labelled, "srt"),
      "1\n00:00:00,500 --> 00:00:02,000\nA: Hi all.\n\n2\n00:00:04,300 --> 00:00:04,700\nA: Sure\n\n" +
        "3\n00:00:05,200 --> 00:00:06,000\nB: <now> & then\n\n4\n00:00:10,600 --> 00:00:11,000\nHm.\n",
    );
  });

  test("WebVTT: voice tags, text escaped; it reads back", () => {
    const vtt = formatTranscript(labelled, "vtt");
    assert.equal(
      vtt,
      "WEBVTT\n\n00:00:00.500 --> 00:00:02.000\n<v A>Hi all.\n\n00:00:04.300 --> 00:00:04.700\n<v A>Sure\n\n" +
        "00:00:05.200 --> 00:00:06.000\n<v B>&lt;now&gt; &amp; then\n\n00:00:10.600 --> 00:00:11.000\nHm.\n",
    );
    assert.deepEqual(parseTranscript(vtt).segments.map((s) => s.text), [
      "Hi all.",
      "Sure",
      "<now> & then",
      "Hm.",
    ]);
  });

  test("JSON: WhisperX's shape with speakers on segments and words", () => {
    const json = JSON.parse(formatTranscript(labelled, "json"));
    assert.deepEqual(json.speakers, ["A", "B", "Carol Smith"]);
    assert.deepEqual(json.segments[1], {
      start: 4.3,
      end: 6,
      text: " Sure <now> & then",
      speaker: "B",
      words: [
        { word: " Sure", start: 4.3, end: 4.7, speaker: "A" },
        { word: " <now>", start: 5.2, end: 5.6, speaker: "B" },
        { word: " & then", start: 5.6, end: 6, speaker: "B" },
      ],
    });
    assert.equal(json.segments[2].speaker, null);
    // What was written reads back with the same times and texts.
    assert.deepEqual(parseTranscript(formatTranscript(labelled, "json")).segments, transcript.segments);
  });
});
