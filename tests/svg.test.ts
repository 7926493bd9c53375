// SVG timelines: structure (self-contained, escaped, ticks), and real rendering: rsvg-convert (Debian's
// librsvg2-bin, installed by `node scripts/setup.mjs --tests` as root) turns each picture into a PNG whose
// pixels must show each speaker's turns, the overlap and the DER errors where they are. Skipped, with the
// reason, where rsvg-convert is absent.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { DiarizationResult } from "../lib/diarization/result.ts";
import { derSVG } from "../lib/formats/der_svg.ts";
import { clockLabel, diarizationSVG, durationLabel, overlapIntervals, PALETTE } from "../lib/formats/svg.ts";
import { decodePNG, type Image, pixel } from "./helpers/png.ts";

const rsvg = spawnSync("rsvg-convert", ["--version"], { encoding: "utf8" });
const noRenderer = rsvg.status === 0
  ? false
  : "rsvg-convert is not installed (Debian: apt-get install librsvg2-bin)";

function render(svg: string): Image {
  const out = spawnSync("rsvg-convert", ["--format", "png"], { input: svg, maxBuffer: 64 << 20 });
  assert.equal(out.status, 0, `rsvg-convert failed: ${out.stderr}`);
  return decodePNG(new Uint8Array(out.stdout));
}

interface Lane {
  x: number;
  y: number;
  width: number;
}

/** The lanes' background boxes, in drawing order, read from the SVG. */
function lanes(svg: string): Lane[] {
  return [...svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="20" class="lane"\/>/g)]
    .map((m) => ({ x: Number(m[1]), y: Number(m[2]), width: Number(m[3]) }));
}

/** The colour drawn at time `t` of a lane, `depth` pixels above its bottom. */
function at(image: Image, lane: Lane, t: number, duration: number, depth = 10): string {
  return pixel(image, lane.x + (t / duration) * lane.width, lane.y + 20 - depth);
}

const BACKGROUND = "#f3f3f3";
// Alice 0-10 and 20-25, Bob 8-18, "Zoë <&>" 26-29: Alice and Bob overlap over 8-10.
const turns = [
  { speaker: 0, start: 0, end: 10 },
  { speaker: 1, start: 8, end: 18 },
  { speaker: 0, start: 20, end: 25 },
  { speaker: 2, start: 26, end: 29 },
];

describe("SVG timelines", () => {
  const result = new DiarizationResult(turns, new Float32Array(3 * 4).fill(1), 4, 30, [])
    .withNames(["Alice", "Bob", 'Zoë <&> "x"'], [0.91, 0.8, 0.77]);
  const svg = result.toSVG();

  test("self-contained and escaped: no script, no external reference, names as text", () => {
    assert.match(
      svg,
      /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/,
    );
    assert.doesNotMatch(svg, /<script|href=|url\(|@import/i);
    assert.match(svg, />Zoë &lt;&amp;&gt; &quot;x&quot;</);
    assert.match(svg, /<title>Alice \(SPEAKER_00, score 0\.910\)<\/title>/);
    assert.equal(lanes(svg).length, 4, "three speakers and the overlap lane");
    // Ticks every 5 s over 30 s.
    assert.deepEqual([...svg.matchAll(/class="axis">([^<]*)</g)].map((m) => m[1]), [
      "0:00",
      "0:05",
      "0:10",
      "0:15",
      "0:20",
      "0:25",
      "0:30",
    ]);
    assert.match(svg, /10\.0 s · 36%/); // Bob: 10 of 28 s of speaking time
  });

  test("labels, durations and overlap", () => {
    assert.equal(clockLabel(3723, 60), "1:02:03");
    assert.equal(clockLabel(90, 30), "1:30");
    assert.equal(clockLabel(1.5, 0.5), "0:01.5");
    assert.equal(durationLabel(12.34), "12.3 s");
    assert.equal(durationLabel(245), "4 min 05 s");
    assert.equal(durationLabel(3720), "1 h 02 min");
    assert.deepEqual(
      overlapIntervals([{ start: 0, end: 10 }, { start: 8, end: 18 }, { start: 9, end: 12 }, {
        start: 20,
        end: 21,
      }]),
      [
        { start: 8, end: 12 },
      ],
    );
  });

  test("30 s rendered: every turn in its lane and colour, silence empty, the overlap marked", {
    skip: noRenderer,
  }, () => {
    const image = render(svg);
    assert.deepEqual([image.width, image.height], [1000, Number(/ height="(\d+)"/.exec(svg)![1])]);
    const [alice, bob, zoe, overlap] = lanes(svg);
    for (const t of [1, 9, 21, 24.5]) assert.equal(at(image, alice, t, 30), PALETTE[0], `Alice at ${t}`);
    for (const t of [12, 19, 26]) assert.equal(at(image, alice, t, 30), BACKGROUND, `no Alice at ${t}`);
    for (const t of [8.5, 17]) assert.equal(at(image, bob, t, 30), PALETTE[1], `Bob at ${t}`);
    assert.equal(at(image, zoe, 27, 30), PALETTE[2]);
    assert.equal(at(image, overlap, 9, 30), "#555555");
    assert.equal(at(image, overlap, 12, 30), BACKGROUND);
  });

  test("3 hours rendered: lanes aggregate into bars of speech share, still one colour per speaker", {
    skip: noRenderer,
  }, () => {
    // A speaks for the first hour, B for the second, both during the third (every other 10 s).
    const segments = [];
    for (let t = 0; t < 3600; t += 10) segments.push({ speaker: "A", start: t, end: t + 10 });
    for (let t = 3600; t < 7200; t += 10) segments.push({ speaker: "B", start: t, end: t + 10 });
    for (let t = 7200; t < 10800; t += 20) {
      segments.push({ speaker: "A", start: t, end: t + 10 }, { speaker: "B", start: t + 10, end: t + 20 });
    }
    const long = diarizationSVG({ segments, duration: 10800 });
    assert.ok(long.length < 60_000, `${long.length} bytes: equal columns must merge`);
    assert.match(long, /bars: share of speech in each/);
    const image = render(long);
    const [a, b] = lanes(long);
    assert.equal(at(image, a, 1800, 10800, 18), PALETTE[0], "A's first hour: full bars");
    assert.equal(at(image, b, 1800, 10800, 2), BACKGROUND, "B silent in the first hour");
    assert.equal(at(image, b, 5400, 10800, 18), PALETTE[1]);
    // Third hour: half bars.
    assert.equal(at(image, a, 9000, 10800, 4), PALETTE[0]);
    assert.equal(at(image, a, 9000, 10800, 16), BACKGROUND);
  });

  test(
    "der --svg rendered: missed speech, false alarm and confusion where they are",
    { skip: noRenderer },
    () => {
      const reference = new Map([["meeting", [
        { speaker: "spk_A", start: 0, end: 10 },
        { speaker: "spk_B", start: 10, end: 20 },
        { speaker: "spk_A", start: 20, end: 30 },
      ]]]);
      // 0-10 right, 10-15 missed, 15-20 right, 20-25 confused (B for A), 25-30 right, 32-35 false alarm.
      const hypothesis = new Map([["meeting", [
        { speaker: "h1", start: 0, end: 10 },
        { speaker: "h2", start: 15, end: 25 },
        { speaker: "h1", start: 25, end: 30 },
        { speaker: "h2", start: 32, end: 35 },
      ]]]);
      const picture = derSVG(reference, hypothesis);
      // Of 30 s of reference speech: 5 s missed, 3 s false alarm, 5 s confused.
      assert.match(picture, /meeting: DER 43\.3% \(missed 16\.7%, false alarm 10\.0%, confusion 16\.7%/);
      assert.match(picture, />h1 → spk_A</);
      const image = render(picture);
      const [refA, refB, hyp1, hyp2, missed, falseAlarm, confusion] = lanes(picture);
      assert.equal(at(image, refA, 5, 35), PALETTE[0]);
      assert.equal(at(image, refB, 12, 35), PALETTE[1]);
      assert.equal(at(image, hyp1, 5, 35), PALETTE[0], "h1 in spk_A's colour");
      assert.equal(at(image, hyp2, 17, 35), PALETTE[1], "h2 in spk_B's colour");
      assert.equal(at(image, missed, 12, 35), "#d62728");
      assert.equal(at(image, missed, 17, 35), BACKGROUND);
      assert.equal(at(image, confusion, 22, 35), "#8c2d9c");
      assert.equal(at(image, confusion, 12, 35), BACKGROUND);
      assert.equal(at(image, falseAlarm, 33, 35), "#ff7f0e");
    },
  );
});
