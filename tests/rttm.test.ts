// RTTM and UEM reading and writing: the exact text pyannote.core writes
// (tests/fixtures/der/format.json, from scripts/reference/make_der_goldens.py) and strict parsing.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { WeSpeakerError } from "../lib/errors.ts";
import { formatRTTM, parseRTTM, parseUEM } from "../lib/formats/rttm.ts";

const invalid = (pattern: RegExp) => (e: unknown) =>
  e instanceof WeSpeakerError && e.code === "invalid-argument" && pattern.test(e.message);

describe("formatRTTM", () => {
  test("writes what pyannote.core's write_rttm writes, byte for byte", () => {
    const golden = JSON.parse(readFileSync(new URL("./fixtures/der/format.json", import.meta.url), "utf8"));
    assert.equal(formatRTTM(golden.uri, golden.segments), golden.rttm);
  });

  test("rounds the exact binary value half to even, like Python's '%.3f'", () => {
    // Expected strings are Python's '%.3f' % value.
    const cases: Array<[number, string]> = [
      [0.0005, "0.001"],
      [1.0005, "1.000"],
      [2.675, "2.675"],
      [0.0625, "0.062"],
      [0.1875, "0.188"],
      [0.9995, "1.000"],
      [9.9995, "9.999"],
      [123456789.0125, "123456789.013"],
      [4503599627370495.5, "4503599627370495.500"],
      [1e21, "1000000000000000000000.000"],
      [1.5e22, "15000000000000000000000.000"],
      [5e-324, "0.000"],
    ];
    for (const [value, expected] of cases) {
      assert.equal(
        formatRTTM("f", [{ speaker: "s", start: value, end: value }]),
        `SPEAKER f 1 ${expected} 0.000 <NA> <NA> s <NA> <NA>\n`,
        `start ${value}`,
      );
      assert.equal(
        formatRTTM("f", [{ speaker: "s", start: 0, end: value }]),
        `SPEAKER f 1 0.000 ${expected} <NA> <NA> s <NA> <NA>\n`,
        `duration ${value}`,
      );
    }
    assert.equal(
      formatRTTM("", [{ speaker: "s", start: -0, end: 0 }]),
      "SPEAKER <NA> 1 0.000 0.000 <NA> <NA> s <NA> <NA>\n",
    );
    assert.equal(formatRTTM("f", []), "");
  });

  test("round-trips through parseRTTM to the millisecond", () => {
    const segments = [{ speaker: "A", start: 1.25, end: 3.5 }, { speaker: "B", start: 2, end: 2.0625 }];
    const back = parseRTTM(formatRTTM("meeting", segments)).get("meeting")!;
    assert.equal(back.length, 2);
    back.forEach((s, i) => {
      assert.equal(s.speaker, segments[i].speaker);
      assert.ok(Math.abs(s.start - segments[i].start) <= 5e-4 && Math.abs(s.end - segments[i].end) <= 1e-3);
    });
  });

  test("rejects what RTTM cannot hold", () => {
    assert.throws(() => formatRTTM("a b", []), invalid(/URI "a b" contains whitespace/));
    assert.throws(
      () => formatRTTM("f", [{ speaker: "x y", start: 0, end: 1 }]),
      invalid(/segment 0: speaker/),
    );
    assert.throws(() => formatRTTM("f", [{ speaker: "", start: 0, end: 1 }]), invalid(/segment 0: speaker/));
    for (const [start, end] of [[0, NaN], [-1, 1], [2, 1], [0, Infinity]]) {
      assert.throws(
        () => formatRTTM("f", [{ speaker: "s", start: 0, end: 1 }, { speaker: "s", start, end }]),
        invalid(/segment 1: start/),
      );
    }
  });
});

describe("parseRTTM", () => {
  test("reads SPEAKER records by URI and skips comments, blank lines and other record types", () => {
    const text = [
      ";; a comment",
      "# another",
      "SPKR-INFO f1 1 <NA> <NA> <NA> unknown A <NA>",
      "SPEAKER f1 1 0.50 1.25 <NA> <NA> A <NA> <NA>",
      "",
      "  SPEAKER\tf2  1 3 2e-1 <NA> <NA> B <NA> <NA>  \r",
      "SPEAKER f1 2 .5 +0 <NA> <NA> C 0.9 <NA>",
    ].join("\n");
    const turns = parseRTTM(text, "x.rttm");
    assert.deepEqual([...turns.keys()], ["f1", "f2"]);
    assert.deepEqual(turns.get("f1"), [{ speaker: "A", start: 0.5, end: 1.75 }, {
      speaker: "C",
      start: 0.5,
      end: 0.5,
    }]);
    assert.deepEqual(turns.get("f2"), [{ speaker: "B", start: 3, end: 3.2 }]);
    assert.equal(parseRTTM("").size, 0);
  });

  test("names the source and line of each malformed record", () => {
    const line = (onset: string, duration: string) =>
      `SPEAKER f 1 ${onset} ${duration} <NA> <NA> A <NA> <NA>`;
    const cases: Array<[string, RegExp]> = [
      [`${line("0", "1")}\nSPEAKER f 1 0 1 <NA> <NA> A <NA>`, /r\.rttm line 2: .*has 9/],
      [line("-1", "1"), /r\.rttm line 1: onset "-1" is not a non-negative number/],
      [line("0", "-0.5"), /line 1: duration "-0.5"/],
      [line("NaN", "1"), /onset "NaN"/],
      [line("inf", "1"), /onset "inf"/],
      [line("1e400", "1"), /onset "1e400"/],
      [line("0x10", "1"), /onset "0x10"/],
      [line("1", ""), /has 9/],
      [line("1e308", "1e308"), /overflows/],
      ["\n\nSPEAKR f 1 0 1 <NA> <NA> A <NA> <NA>", /r\.rttm line 3: unknown RTTM record type "SPEAKR"/],
    ];
    for (const [text, pattern] of cases) {
      assert.throws(() => parseRTTM(text, "r.rttm"), invalid(pattern), text);
    }
    assert.throws(() => parseRTTM(line("x", "1")), invalid(/^RTTM line 1/));
  });
});

describe("parseUEM", () => {
  test("reads regions by URI in file order", () => {
    const uem = parseUEM(";; scored\nf1 1 0.000 30.000\nf2 NA 5 6\n\nf1 1 40 41.5\n");
    assert.deepEqual([...uem], [["f1", [[0, 30], [40, 41.5]]], ["f2", [[5, 6]]]]);
  });

  test("names the source and line of each malformed line", () => {
    const cases: Array<[string, RegExp]> = [
      ["f1 1 0 30 extra", /u\.uem line 1: a UEM line has 4 fields .* 5/],
      ["f1 1 0", /has 3/],
      ["f1 1 -1 30", /start "-1"/],
      ["f1 1 0 nan", /end "nan"/],
      ["f1 1 0 10\nf1 1 5 4", /u\.uem line 2: end 4 is before start 5/],
    ];
    for (const [text, pattern] of cases) assert.throws(() => parseUEM(text, "u.uem"), invalid(pattern), text);
  });
});
