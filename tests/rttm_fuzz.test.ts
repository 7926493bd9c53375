// Hostile RTTM and UEM text: thousands of seeded mutations of valid files through the parsers. Each input
// is either read into well-formed turns (finite times, start <= end) or rejected with a WeSpeakerError:
// no other exception, and no input that takes long (no regular-expression blow-up on long fields).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WeSpeakerError } from "../lib/errors.ts";
import { formatRTTM, parseRTTM, parseUEM } from "../lib/formats/rttm.ts";
import { mutateText as mutate, rng } from "./helpers/fuzz.ts";

function check<T>(parse: () => Map<string, T[]>, wellFormed: (item: T) => boolean): "ok" | "rejected" {
  try {
    const parsed = parse();
    for (const [uri, items] of parsed) {
      assert.ok(uri.length > 0 && !/\s/.test(uri), `bad uri ${JSON.stringify(uri)}`);
      for (const item of items) assert.ok(wellFormed(item), JSON.stringify(item));
    }
    return "ok";
  } catch (err) {
    if (!(err instanceof WeSpeakerError)) throw err;
    assert.equal(err.code, "invalid-argument");
    return "rejected";
  }
}

describe("hostile RTTM and UEM text", () => {
  const rttm = formatRTTM("meeting_01", [
    { speaker: "spk_0", start: 0, end: 1.5 },
    { speaker: "spk_1", start: 1.2, end: 4.75 },
    { speaker: "spk_0", start: 5, end: 5.001 },
  ]) + ";; comment\nSPKR-INFO meeting_01 1 <NA> <NA> <NA> unknown spk_0 <NA>\n" +
    formatRTTM("meeting_02", [{ speaker: "A", start: 12.345, end: 20 }]);
  const uem = "meeting_01 1 0.000 30.000\nmeeting_02 NA 5 60.5\n;; end\n";

  test("3000 mutated RTTM files: well-formed turns or WeSpeakerError", () => {
    const next = rng(1);
    const outcomes = { ok: 0, rejected: 0 };
    for (let i = 0; i < 3000; i++) {
      const text = mutate(rttm, next);
      outcomes[
        check(
          () => parseRTTM(text, "fuzz.rttm"),
          (s) =>
            typeof s.speaker === "string" && s.speaker.length > 0 && !/\s/.test(s.speaker) &&
            Number.isFinite(s.start) && Number.isFinite(s.end) && 0 <= s.start && s.start <= s.end,
        )
      ]++;
    }
    // Both outcomes must be common, or the mutations are not exercising the parser.
    assert.ok(outcomes.ok > 300 && outcomes.rejected > 300, JSON.stringify(outcomes));
  });

  test("3000 mutated UEM files: well-formed regions or WeSpeakerError", () => {
    const next = rng(2);
    const outcomes = { ok: 0, rejected: 0 };
    for (let i = 0; i < 3000; i++) {
      const text = mutate(uem, next);
      outcomes[
        check(
          () => parseUEM(text, "fuzz.uem"),
          ([start, end]) => Number.isFinite(start) && Number.isFinite(end) && 0 <= start && start <= end,
        )
      ]++;
    }
    assert.ok(outcomes.ok > 300 && outcomes.rejected > 300, JSON.stringify(outcomes));
  });

  test("100 000-digit fields and 100 000 fields on a line are rejected", () => {
    const digits = "1".repeat(100_000);
    for (const time of [`${digits}x`, `${digits}.${digits}e${digits}`, `${digits}.${digits}.`]) {
      const rttm = `SPEAKER f 1 ${time} 1 <NA> <NA> A <NA> <NA>`;
      assert.equal(check(() => parseRTTM(rttm), () => true), "rejected");
      assert.equal(check(() => parseUEM(`f 1 0 ${time}`), () => true), "rejected");
    }
    const wide = `SPEAKER f 1 0 1 <NA> <NA> A <NA> <NA>${" x".repeat(100_000)}`;
    assert.equal(check(() => parseRTTM(wide), () => true), "rejected");
    assert.equal(check(() => parseUEM(wide.slice(8)), () => true), "rejected");
  });
});
