// The tar reader behind the platform package fetched from the npm registry: what it accepts
// (regular files with plain relative names, ustar prefixes, pax and GNU long names) and what it
// refuses (links, devices, names that climb out, truncation, bad checksums), then thousands of
// seeded mutations of a valid archive: each is read into safe names or rejected with a
// WeSpeakerError, nothing else.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WeSpeakerError } from "../lib/errors.ts";
import { readTar } from "../lib/native/tar.ts";
import { paxPath, setField, tar } from "./helpers/tar_writer.ts";

// A small deterministic PRNG: the same mutations on every run and runtime.
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => readTar(bytes, "test.tar"), (err: unknown) => {
    assert.ok(err instanceof WeSpeakerError, String(err));
    assert.equal(err.code, "integrity");
    assert.match(err.message, /^test\.tar: /);
    assert.match(err.message, pattern);
    return true;
  });
}

describe("readTar", () => {
  test("regular files with their modes, directories passed over, long names from every scheme", () => {
    const long = `package/${"d".repeat(90)}/${"f".repeat(80)}.so`;
    const files = readTar(
      tar([
        { name: "package/", type: "5" },
        { name: "package/package.json", data: '{"name":"x"}' },
        { name: "package/libwespeaker.so", data: new Uint8Array(700).fill(7), mode: 0o755 },
        { name: "lib.so", prefix: "package/sub", data: "prefixed" },
        { name: "ignored", type: "x", data: paxPath(long) },
        { name: "truncated-name", data: "pax" },
        { name: "././@LongLink", type: "L", data: "package/gnu/" + "g".repeat(120) },
        { name: "short", data: "gnu" },
        { name: "pax_global_header", type: "g", data: "9 a=b\n" },
        { name: "./package/./dotted//name", data: "dots" },
      ]),
      "test.tar",
    );
    assert.deepEqual(files.map((f) => [f.name, f.mode]), [
      ["package/package.json", 0o644],
      ["package/libwespeaker.so", 0o755],
      ["package/sub/lib.so", 0o644],
      [long, 0o644],
      ["package/gnu/" + "g".repeat(120), 0o644],
      ["package/dotted/name", 0o644],
    ]);
    assert.equal(files[1]!.data.length, 700);
    assert.ok(files[1]!.data.every((b) => b === 7));
    assert.deepEqual(files.slice(2).map((f) => text(f.data)), ["prefixed", "pax", "gnu", "dots"]);
  });

  test("links, devices and names that leave the destination are refused", () => {
    rejects(tar([{ name: "package/link.so", type: "2" }]), /type '2'.*only regular files/);
    rejects(tar([{ name: "package/hard.so", type: "1" }]), /type '1'/);
    rejects(tar([{ name: "package/dev", type: "3" }]), /type '3'/);
    rejects(tar([{ name: "package/../../etc/passwd", data: "x" }]), /refusing entry name/);
    rejects(tar([{ name: "/etc/passwd", data: "x" }]), /refusing entry name/);
    rejects(tar([{ name: "package\\..\\x", data: "x" }]), /refusing entry name/);
    rejects(
      tar([{ name: "x", type: "x", data: paxPath("../escape") }, { name: "x", data: "x" }]),
      /refusing/,
    );
  });

  test("truncation, bad checksums and bad numbers are refused", () => {
    const good = tar([{ name: "package/a", data: "a".repeat(600) }]);
    rejects(good.subarray(0, 700), /claims 600 bytes past the end/);
    rejects(good.subarray(0, 1536), /truncated: no end-of-archive marker/);
    const badSum = good.slice();
    badSum[0] = "b".charCodeAt(0);
    rejects(badSum, /checksum mismatch at byte 0/);
    const badSize = tar([{ name: "package/a", data: "a" }]);
    setField(badSize, 0, 124, "9999");
    rejects(badSize, /size is not an octal number/);
    rejects(tar([{ name: "x", type: "x", data: "99 path=a\n" }]), /malformed pax record/);
  });

  test("5000 mutated archives: safe names or a WeSpeakerError", () => {
    const valid = tar([
      { name: "package/package.json", data: '{"name":"@x/p","version":"1.0.0"}' },
      { name: "x", type: "x", data: paxPath("package/" + "n".repeat(120)) },
      { name: "placeholder", data: "long" },
      { name: "package/libwespeaker.so", data: new Uint8Array(1200).fill(1), mode: 0o755 },
    ]);
    const next = rng(14);
    let accepted = 0;
    for (let i = 0; i < 5000; i++) {
      const bytes = valid.slice(0, next(5) === 0 ? next(valid.length) : valid.length);
      for (let k = 1 + next(6); k > 0 && bytes.length > 0; k--) {
        // Mostly headers (where the parsing is), sometimes anywhere.
        const block = 512 * next(Math.max(1, Math.floor(bytes.length / 512)));
        const at = next(3) === 0 ? next(bytes.length) : Math.min(bytes.length - 1, block + next(512));
        bytes[at] = next(2) === 0 ? "/.0 7\0x2L5\n".charCodeAt(next(11)) : next(256);
      }
      let files;
      try {
        files = readTar(bytes, "fuzz.tar");
      } catch (err) {
        if (!(err instanceof WeSpeakerError)) throw new Error(`mutation ${i}: ${err}`);
        assert.equal(err.code, "integrity");
        continue;
      }
      accepted++;
      for (const f of files) {
        assert.ok(
          !f.name.startsWith("/") && !f.name.split("/").includes("..") && !f.name.includes("\0"),
          f.name,
        );
        assert.ok(f.mode >= 0 && f.mode <= 0o777);
      }
    }
    // Mutations that miss every checked field leave a readable archive.
    assert.ok(accepted > 0 && accepted < 5000, `${accepted} accepted`);
  });
});
