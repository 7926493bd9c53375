// PyTorch checkpoint → MLX safetensors, in TypeScript: the safe unpickler, the zip and legacy readers
// (against checkpoints written by Python's own pickler in torch's layout, tests/fixtures/torch/, made by
// scripts/reference/make_checkpoints.py) and the converter (full-size checkpoints built at test time by
// tests/helpers/torch_writer.ts, checked against the unfused float64 reference, tests/fixtures/unfused.json).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { WeSpeakerError, WeSpeakerModel } from "../mod.ts";
import type { Tensor } from "../lib/hub/convert/fuse.ts";
import { convertTorchCheckpoint, readTorchCheckpoint } from "../lib/hub/convert/torch.ts";
import { PyGlobal, PyObject, type PyValue, unpickle } from "../lib/hub/convert/unpickle.ts";
import { ZipArchive } from "../lib/hub/convert/zip.ts";
import type { F32Tensor } from "../lib/hub/safetensors.ts";
import { Rng, syntheticFeatures } from "../scripts/generate_weights.ts";
import {
  encodeTorchZip,
  encodeZip,
  generateStateDict,
  type PickleValue,
  pyannoteCheckpoint,
  TensorValue,
  wespeakerCheckpoint,
} from "./helpers/torch_writer.ts";
import { tensorsOf, writeScratch } from "./helpers/weights.ts";

const fixtures = new URL("./fixtures/torch/", import.meta.url);
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(name, fixtures)));
const expected = tensorsOf(fixture("expected.safetensors"));
const pickles: { name: string; hex: string; expected: unknown }[] = JSON.parse(
  readFileSync(new URL("pickles.json", fixtures), "utf8"),
).cases;
const golden: {
  stateDictSeed: number;
  checkpoints: Record<string, { sha256: string; bytes: number }>;
  cases: { name: string; featureSeed: number; frames: number; normalized: number[]; raw: number[] }[];
} = JSON.parse(readFileSync(new URL("./fixtures/unfused.json", import.meta.url), "utf8"));

/** Bytes from a string of \xNN escapes and ASCII, as Python writes `b"..."`. */
function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function hex(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
}

function hexBytes(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The JSON form make_checkpoints.py's `describe` gives the same Python value. */
function describePy(v: PyValue | undefined): unknown {
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "bigint") return { int: String(v) };
  if (typeof v === "number") {
    return Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? { int: String(v) } : { float: v };
  }
  if (v instanceof Uint8Array) return { bytes: hex(v) };
  if (Array.isArray(v)) {
    return Object.isFrozen(v) ? { tuple: v.map(describePy) } : { list: v.map(describePy) };
  }
  if (v instanceof Map) return { dict: [...v].map(([k, x]) => [describePy(k), describePy(x)]) };
  if (v instanceof Set) {
    return { set: [...v].map(describePy).sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1) };
  }
  if (v instanceof PyGlobal) return { global: String(v) };
  if (v instanceof PyObject) {
    const out: Record<string, unknown> = { object: `${v.module}.${v.name}`, args: v.args.map(describePy) };
    if (v.kwargs) out.kwargs = describePy(v.kwargs);
    if (v.state !== undefined) out.state = describePy(v.state);
    if (v.items.size > 0) out.items = describePy(v.items);
    if (v.elements.length > 0) out.elements = v.elements.map(describePy);
    return out;
  }
  return { opaque: v?.constructor.name };
}

function isInvalidWeights(err: unknown, message?: RegExp): true {
  assert.ok(err instanceof WeSpeakerError, `expected a WeSpeakerError, got ${err}`);
  assert.equal(err.code, "invalid-weights", err.message);
  if (message) assert.match(err.message, message);
  return true;
}

const throwsInvalid = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (e) => isInvalidWeights(e, message));
const rejectsInvalid = (p: Promise<unknown>, message: RegExp) =>
  assert.rejects(p, (e) => isInvalidWeights(e, message));

/** Bit-exact comparison (so -0, subnormals and float16/bfloat16 rounding all count). */
function assertSameTensor(
  actual: Tensor | undefined,
  want: F32Tensor | Tensor | undefined,
  what: string,
): void {
  assert.ok(actual && want, `${what}: missing`);
  assert.deepEqual(actual.shape, want.shape, `${what}: shape`);
  assert.equal(actual.data.length, want.data.length, `${what}: length`);
  const a = new Uint32Array(Float32Array.from(actual.data).buffer);
  const b = new Uint32Array(Float32Array.from(want.data).buffer);
  const bad = a.findIndex((bits, i) => bits !== b[i]);
  assert.equal(bad, -1, `${what}: element ${bad} is ${actual.data[bad]}, expected ${want.data[bad]}`);
}

/** A tensor read back from a checkpoint, as the TS writer's input (counters as int64, like torch). */
function toTensorValue(name: string, t: Tensor): TensorValue {
  return name.endsWith("num_batches_tracked")
    ? new TensorValue("int64", t.shape, BigInt64Array.from(t.data, (v) => BigInt(v)))
    : new TensorValue("float32", t.shape, t.data);
}

describe("unpickler", () => {
  for (const c of pickles) {
    test(`Python's pickler, ${c.name}`, () => {
      const { value, end } = unpickle(hexBytes(c.hex), c.name);
      assert.equal(end, c.hex.length / 2);
      assert.deepEqual(describePy(value), c.expected);
      if (value instanceof Map) {
        assert.equal(value.get("shared"), value.get("shared again"), "memo keeps identity");
      }
    });
  }

  test("a pickled os.system call is an inert placeholder: nothing runs", () => {
    const evil = pickles.find((c) => c.name === "os.system call")!;
    const { value } = unpickle(hexBytes(evil.hex), "evil.pkl");
    assert.ok(value instanceof PyObject);
    assert.equal(value.module, "posix");
    assert.equal(value.name, "system");
    assert.deepEqual(value.args, ["touch wespeaker-unpickled-me"]);
    // The same by hand with the os module, with eval and with builtins.exec.
    for (const [module, name] of [["os", "system"], ["builtins", "eval"], ["builtins", "exec"]]) {
      const call = unpickle(bytes(`\x80\x02c${module}\n${name}\nX\x04\x00\x00\x00boom\x85R.`), "evil").value;
      assert.deepEqual(describePy(call), { object: `${module}.${name}`, args: ["boom"] });
    }
  });

  // One stream per supported opcode (besides those Python's pickler emitted above), with what it
  // must produce.
  const opcodeCases: [string, string, unknown][] = [
    ["PROTO", "\x80\x05N.", null],
    ["FRAME", "\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N.", null],
    ["STOP", "K\x01.", { int: "1" }],
    ["MARK + TUPLE", "(K\x01K\x02K\x03K\x04t.", { tuple: [1, 2, 3, 4].map((i) => ({ int: String(i) })) }],
    ["POP", "K\x01K\x020.", { int: "1" }],
    ["POP on an empty stack pops the mark", "K\x01(0.", { int: "1" }],
    ["POP_MARK", "K\x01(K\x02K\x031.", { int: "1" }],
    ["DUP", "K\x072\x86.", { tuple: [{ int: "7" }, { int: "7" }] }],
    ["NONE, NEWTRUE, NEWFALSE, TUPLE3", "N\x88\x89\x87.", { tuple: [null, true, false] }],
    ["BININT", "J\xfe\xff\xff\xff.", { int: "-2" }],
    ["BININT1", "K\xff.", { int: "255" }],
    ["BININT2", "M\x01\x02.", { int: "513" }],
    ["LONG1", "\x8a\x01\xff.", { int: "-1" }],
    ["LONG1 of length 0", "\x8a\x00.", { int: "0" }],
    ["LONG4", "\x8b\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01.", { int: String(2n ** 64n) }],
    ["BINFLOAT", "G?\xf8\x00\x00\x00\x00\x00\x00.", { float: 1.5 }],
    ["SHORT_BINUNICODE", "\x8c\x03h\xc3\xa9.", "hé"],
    ["BINUNICODE", "X\x02\x00\x00\x00hi.", "hi"],
    ["BINUNICODE8", "\x8d\x02\x00\x00\x00\x00\x00\x00\x00hi.", "hi"],
    ["SHORT_BINSTRING", "U\x02\xe9a.", "éa"],
    ["BINSTRING", "T\x01\x00\x00\x00z.", "z"],
    ["SHORT_BINBYTES", "C\x02\x00\xff.", { bytes: "00ff" }],
    ["BINBYTES", "B\x01\x00\x00\x00\x7f.", { bytes: "7f" }],
    ["BINBYTES8", "\x8e\x01\x00\x00\x00\x00\x00\x00\x00\x01.", { bytes: "01" }],
    ["BYTEARRAY8", "\x96\x01\x00\x00\x00\x00\x00\x00\x00\x02.", { bytes: "02" }],
    ["EMPTY_TUPLE", ").", { tuple: [] }],
    ["TUPLE1", "K\x01\x85.", { tuple: [{ int: "1" }] }],
    ["TUPLE2", "K\x01K\x02\x86.", { tuple: [{ int: "1" }, { int: "2" }] }],
    ["EMPTY_LIST + APPEND", "]K\x01a.", { list: [{ int: "1" }] }],
    ["APPENDS", "](K\x01K\x02e.", { list: [{ int: "1" }, { int: "2" }] }],
    ["LIST", "(K\x01l.", { list: [{ int: "1" }] }],
    ["EMPTY_DICT + SETITEM", "}K\x01K\x02s.", { dict: [[{ int: "1" }, { int: "2" }]] }],
    ["SETITEMS", "}(K\x01K\x02K\x03K\x04u.", {
      dict: [[{ int: "1" }, { int: "2" }], [{ int: "3" }, { int: "4" }]],
    }],
    ["DICT", "(K\x01K\x02d.", { dict: [[{ int: "1" }, { int: "2" }]] }],
    ["EMPTY_SET + ADDITEMS", "\x8f(K\x01K\x01\x90.", { set: [{ int: "1" }] }],
    ["FROZENSET", "(K\x01\x91.", { set: [{ int: "1" }] }],
    ["BINPUT + BINGET", "K\x05q\x030h\x03.", { int: "5" }],
    ["LONG_BINPUT + LONG_BINGET", "K\x05r\x00\x01\x00\x000j\x00\x01\x00\x00.", { int: "5" }],
    ["MEMOIZE", "K\x05\x940h\x00.", { int: "5" }],
    ["GLOBAL", "cpyannote.audio.core.task\nProblem\n.", { global: "pyannote.audio.core.task.Problem" }],
    ["STACK_GLOBAL", "\x8c\x02os\x8c\x06system\x93.", { global: "os.system" }],
    ["REDUCE", "cm\nf\nK\x01\x85R.", { object: "m.f", args: [{ int: "1" }] }],
    ["NEWOBJ", "cm\nC\n)\x81.", { object: "m.C", args: [] }],
    ["NEWOBJ_EX", "cm\nC\n)}\x8c\x01kK\x01s\x92.", {
      object: "m.C",
      args: [],
      kwargs: { dict: [["k", { int: "1" }]] },
    }],
    ["BUILD", "cm\nC\n)\x81}\x8c\x01aK\x01sb.", {
      object: "m.C",
      args: [],
      state: { dict: [["a", { int: "1" }]] },
    }],
    ["BUILD on a dict (attributes ignored)", "}}b.", { dict: [] }],
    ["SETITEMS on an object (dict subclass)", "cm\nD\n)\x81(K\x01K\x02u.", {
      object: "m.D",
      args: [],
      items: { dict: [[{ int: "1" }, { int: "2" }]] },
    }],
    ["APPENDS on an object (list subclass)", "cm\nL\n)\x81(K\x01e.", {
      object: "m.L",
      args: [],
      elements: [{ int: "1" }],
    }],
    ["collections.OrderedDict from pairs", "ccollections\nOrderedDict\n]K\x01K\x02\x86a\x85R.", {
      dict: [[{ int: "1" }, { int: "2" }]],
    }],
  ];
  for (const [name, stream, want] of opcodeCases) {
    test(`opcode ${name}`, () => assert.deepEqual(describePy(unpickle(bytes(stream), name).value), want));
  }

  test("BINPERSID goes through the persistent loader, and is an error without one", () => {
    const stream = bytes("\x8c\x03pid\x85Q.");
    const { value } = unpickle(stream, "p", { persistentLoad: (pid) => ["loaded", pid] });
    assert.deepEqual(describePy(value), { list: ["loaded", { tuple: ["pid"] }] });
    throwsInvalid(
      () => unpickle(stream, "p.pkl"),
      /p\.pkl: pickle opcode 0x51 \(BINPERSID\) at byte 6: persistent id/,
    );
  });

  test("offset: pickles back to back", () => {
    const two = bytes("K\x01.K\x02.");
    const first = unpickle(two, "two");
    assert.deepEqual([first.value, unpickle(two, "two", { offset: first.end }).value], [1, 2]);
  });

  const errorCases: [string, string, RegExp][] = [
    ["unknown opcode", "\x80\x02\xff", /bad\.pkl: pickle opcode 0xff \(unknown\) at byte 2: unknown opcode/],
    ["unsupported opcode", "K\x01I1\n.", /opcode 0x49 \(INT\) at byte 2: opcode not supported/],
    ["unsupported protocol", "\x80\x06N.", /0x80 \(PROTO\) at byte 0: unsupported protocol 6/],
    [
      "truncated argument",
      "X\x05\x00\x00\x00ab",
      /0x58 \(BINUNICODE\) at byte 0: truncated: needs 5 bytes, 2 remain/,
    ],
    ["truncated opcode argument", "N\x4a\x01", /0x4a \(BININT\) at byte 1: truncated/],
    ["truncated GLOBAL", "cos\nsys", /0x63 \(GLOBAL\) at byte 0: truncated: no newline/],
    ["no STOP", "N", /bad\.pkl: pickle truncated at byte 1: no STOP/],
    ["empty", "", /pickle truncated at byte 0: no STOP/],
    ["stack underflow", "K\x01a", /0x61 \(APPEND\) at byte 2: stack underflow/],
    [
      "stack underflow in TUPLE2",
      "K\x01\x86.",
      /0x86 \(TUPLE2\) at byte 2: stack underflow \(needs 2 items, has 1\)/,
    ],
    ["stack underflow at STOP", ".", /0x2e \(STOP\) at byte 0: stack underflow/],
    ["missing MARK", "K\x01t.", /0x74 \(TUPLE\) at byte 2: no MARK/],
    ["missing MARK in SETITEMS", "}u.", /0x75 \(SETITEMS\) at byte 1: no MARK/],
    ["unknown memo key", "h\x03.", /0x68 \(BINGET\) at byte 0: memo key 3 was never stored/],
    [
      "length past the end",
      "\x8d\xff\xff\xff\xff\xff\xff\xff\x7f",
      /0x8d \(BINUNICODE8\) at byte 0: length \d+ exceeds the 0 remaining/,
    ],
    ["negative LONG4 length", "\x8b\xff\xff\xff\xff", /0x8b \(LONG4\) at byte 0: negative length -1/],
    ["calling a non-callable", "K\x01)R.", /0x52 \(REDUCE\) at byte 3: cannot call int/],
    ["arguments not a tuple", "cm\nf\nK\x01R.", /REDUCE.*arguments must be a tuple, got int/],
    ["SETITEMS on a list", "](K\x01K\x02u.", /SETITEMS.*cannot set items on list/],
    ["odd SETITEMS", "}(K\x01u.", /SETITEMS.*odd number of keys and values/],
    ["APPEND to a tuple", ")K\x01a.", /APPEND.*cannot append to tuple/],
    ["BUILD on an int", "K\x01Nb.", /BUILD.*cannot set the state of int/],
    ["invalid UTF-8", "\x8c\x01\xff.", /SHORT_BINUNICODE.*not valid UTF-8/],
    ["STACK_GLOBAL of non-strings", "K\x01K\x02\x93.", /STACK_GLOBAL.*must be str/],
    [
      "bad OrderedDict arguments",
      "ccollections\nOrderedDict\nK\x01\x85R.",
      /REDUCE.*collections\.OrderedDict: .*expects/,
    ],
  ];
  for (const [name, stream, message] of errorCases) {
    test(`error: ${name}`, () => throwsInvalid(() => unpickle(bytes(stream), "bad.pkl"), message));
  }
});

/** A random corruption: flipped bytes, a truncation, an extreme byte, or a duplicated span. */
function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  const at = rng.nextU32() % input.length;
  switch (rng.nextU32() % 4) {
    case 0: {
      const out = Uint8Array.from(input);
      for (let n = 1 + (rng.nextU32() % 4); n > 0; n--) {
        out[rng.nextU32() % out.length] = rng.nextU32() & 0xff;
      }
      return out;
    }
    case 1:
      return input.slice(0, at);
    case 2: {
      const out = Uint8Array.from(input);
      out[at] = [0x00, 0xff, 0x7f, 0x80][rng.nextU32() % 4];
      return out;
    }
    default: {
      const length = 1 + (rng.nextU32() % 16);
      return Uint8Array.from([...input.subarray(0, at + length), ...input.subarray(at)]);
    }
  }
}

async function fuzz(
  seed: string,
  rounds: number,
  input: Uint8Array,
  run: (bytes: Uint8Array) => unknown,
): Promise<{ parsed: number; rejected: number }> {
  const rng = new Rng(1, seed);
  let parsed = 0;
  for (let i = 0; i < rounds; i++) {
    const mutated = mutate(rng, input);
    try {
      await run(mutated);
      parsed++;
    } catch (err) {
      if (!(err instanceof WeSpeakerError) || err.code !== "invalid-weights") {
        throw new Error(`${seed} round ${i}: threw ${err} instead of a WeSpeakerError`, { cause: err });
      }
    }
  }
  return { parsed, rejected: rounds - parsed };
}

describe("fuzzing: corrupt input parses or throws WeSpeakerError, nothing else", () => {
  test("unpickler on pyannote_small.bin's data.pkl (3000 mutations)", async () => {
    const pkl = await new ZipArchive(fixture("pyannote_small.bin"), "f").read("pytorch_model/data.pkl");
    const result = await fuzz(
      "pickle",
      3000,
      pkl,
      (b) => unpickle(b, "fuzz", { persistentLoad: (pid) => pid }),
    );
    assert.ok(result.rejected > 0 && result.parsed > 0, JSON.stringify(result));
  });

  test("checkpoint reader on views.pt with a mutated data.pkl (1000 mutations, valid zip)", async () => {
    const zip = new ZipArchive(fixture("views.pt"), "views.pt");
    const entries = await Promise.all(
      [...zip.entries.keys()].map(async (name) => ({ name, data: await zip.read(name) })),
    );
    const pkl = entries.find((e) => e.name === "archive/data.pkl")!;
    await fuzz("views pickle", 1000, pkl.data, async (mutated) => {
      const archive = await encodeZip(entries.map((e) => (e === pkl ? { name: e.name, data: mutated } : e)));
      return await readTorchCheckpoint(archive, "fuzz.pt");
    });
  });

  test("checkpoint reader on views.pt and views_legacy.pt bytes (1000 mutations each)", async () => {
    for (const name of ["views.pt", "views_legacy.pt"]) {
      await fuzz(name, 1000, fixture(name), (b) => readTorchCheckpoint(b, "fuzz.pt"));
    }
  });
});

describe("checkpoint reader", () => {
  const viewNames = [...Object.keys(expected)].filter((k) => k.startsWith("views.pt/")).map((k) =>
    k.slice(9)
  );

  for (const file of ["views.pt", "views_legacy.pt"]) {
    test(`${file}: views, offsets, shared storages, float16/bfloat16/float64/int tensors`, async () => {
      const sd = await readTorchCheckpoint(fixture(file), file);
      assert.deepEqual([...sd.keys()], viewNames);
      for (const name of viewNames) {
        assertSameTensor(sd.get(name), expected[`views.pt/${name}`], `${file} ${name}`);
      }
      // Spot checks that do not depend on the expected file.
      assert.deepEqual([...sd.get("float16")!.data], [1, -2.5, 65504, 2 ** -10, 2 ** -24, -0]);
      assert.deepEqual(sd.get("scalar"), { shape: [], data: Float32Array.of(4.25) });
      assert.deepEqual(sd.get("empty")!.shape, [0, 3]);
      assert.deepEqual([...sd.get("int64")!.data], [0, -1, 2 ** 40, 7]);
    });
  }

  test("pyannote_small.bin (Lightning checkpoint): the state dict, in order", async () => {
    const sd = await readTorchCheckpoint(fixture("pyannote_small.bin"), "pyannote_small.bin");
    const names = Object.keys(expected).filter((k) => k.startsWith("pyannote_small.bin/"));
    assert.deepEqual([...sd.keys()], names.map((k) => k.slice("pyannote_small.bin/".length)));
    assert.equal(sd.size, 218);
    for (const [key, t] of sd) assertSameTensor(t, expected[`pyannote_small.bin/${key}`], key);
  });

  test("avg_model_small.pt (WeSpeaker): the same tensors without prefix, plus the projection head", async () => {
    const pyannote = await readTorchCheckpoint(fixture("pyannote_small.bin"), "pyannote_small.bin");
    const sd = await readTorchCheckpoint(fixture("avg_model_small.pt"), "avg_model_small.pt");
    assert.deepEqual([...sd.keys()], [...[...pyannote.keys()].map((k) => k.slice(7)), "projection.weight"]);
    for (const [key, t] of pyannote) assertSameTensor(sd.get(key.slice(7)), t, key);
    assertSameTensor(
      sd.get("projection.weight"),
      expected["avg_model_small.pt/projection.weight"],
      "projection",
    );
  });

  test("the TypeScript writer reproduces the Python-made pyannote_small.bin byte for byte", async () => {
    const python = fixture("pyannote_small.bin");
    const sd = await readTorchCheckpoint(python, "pyannote_small.bin");
    const unprefixed = new Map([...sd].map(([k, t]) => [k.slice("resnet.".length), toTensorValue(k, t)]));
    const written = await encodeTorchZip(pyannoteCheckpoint(unprefixed), { root: "pytorch_model" });
    assert.equal(sha256(written), sha256(python));
    const pickle = (b: Uint8Array) => new ZipArchive(b, "x").read("pytorch_model/data.pkl");
    const parse = async (b: Uint8Array) =>
      describePy(unpickle(await pickle(b), "x", { persistentLoad: (p) => p }).value);
    assert.deepEqual(await parse(written), await parse(python));
  });

  test("every entry of a torch archive is 64-byte aligned", () => {
    for (const entry of new ZipArchive(fixture("pyannote_small.bin"), "f").entries.values()) {
      assert.equal(entry.dataOffset % 64, 0, entry.name);
    }
  });

  test("big-endian storages (byteorder 'big')", async () => {
    const values = Float32Array.of(1.5, -2, 2 ** -126);
    const little = await encodeTorchZip(new Map([["w", new TensorValue("float32", [3], values)]]));
    const zip = new ZipArchive(little, "little.pt");
    const entries = await Promise.all(
      [...zip.entries.keys()].map(async (name) => ({ name, data: await zip.read(name) })),
    );
    const swapped = (order: string) =>
      encodeZip(entries.map(({ name, data }) => ({
        name,
        data: name.endsWith("byteorder")
          ? bytes(order)
          : name.endsWith("data/0")
          ? data.slice().reverse()
          : data,
      })));
    // Reversing the 12 bytes byte-swaps each float and reverses their order.
    const sd = await readTorchCheckpoint(await swapped("big"), "big.pt");
    assert.deepEqual([...sd.get("w")!.data], [...values].reverse());
    await rejectsInvalid(
      readTorchCheckpoint(await swapped("middle"), "odd.pt"),
      /odd\.pt: unknown byte order 'middle'/,
    );
  });

  test("deflated and ZIP64 archives read the same", async () => {
    const sd = await readTorchCheckpoint(fixture("pyannote_small.bin"), "pyannote_small.bin");
    const value = new Map([...sd].map(([k, t]) => [k, toTensorValue(k, t)]));
    for (const options of [{ deflate: true }, { zip64: true }, { zip64: true, deflate: true }]) {
      const archive = await encodeTorchZip(value, options);
      assert.deepEqual(await readTorchCheckpoint(archive, "variant.pt"), sd, JSON.stringify(options));
    }
  });

  describe("malformed files", () => {
    const pyannote = fixture("pyannote_small.bin");
    const patched = (source: Uint8Array, patch: (view: DataView, bytes: Uint8Array) => void) => {
      const out = Uint8Array.from(source);
      patch(new DataView(out.buffer), out);
      return out;
    };
    // The central directory's offset is in the end record, the last 22 bytes (no comment).
    const firstCentral = (b: Uint8Array) =>
      new DataView(b.buffer, b.byteOffset).getUint32(b.length - 6, true);

    test("not a checkpoint", async () => {
      await rejectsInvalid(
        readTorchCheckpoint(bytes("hello world"), "x.bin"),
        /x\.bin: not a PyTorch checkpoint/,
      );
      const zip = await encodeZip([{ name: "model/weights.npy", data: bytes("x") }]);
      await rejectsInvalid(
        readTorchCheckpoint(zip, "x.zip"),
        /x\.zip: not a PyTorch checkpoint: .*no <root>\/data\.pkl/,
      );
    });

    test("truncated archive", async () => {
      await rejectsInvalid(
        readTorchCheckpoint(pyannote.subarray(0, pyannote.length - 30), "cut.bin"),
        /cut\.bin: not a valid zip archive: no end-of-central-directory record/,
      );
    });

    test("corrupt storage data (CRC-32)", async () => {
      const entry = new ZipArchive(pyannote, "f").entries.get("pytorch_model/data/5")!;
      const bad = patched(pyannote, (_, b) => b[entry.dataOffset] ^= 1);
      await rejectsInvalid(
        readTorchCheckpoint(bad, "crc.bin"),
        /crc\.bin: .*entry 'pytorch_model\/data\/5' is corrupt: CRC-32/,
      );
    });

    test("an entry running past the archive", async () => {
      const bad = patched(pyannote, (v, b) => v.setUint32(firstCentral(b) + 42, b.length, true));
      await rejectsInvalid(
        readTorchCheckpoint(bad, "off.bin"),
        /off\.bin: .*local header of 'pytorch_model\/data\.pkl'.*runs past the end/,
      );
    });

    test("ZIP64 sizes without a ZIP64 record", async () => {
      const bad = patched(pyannote, (v, b) => v.setUint16(b.length - 12, 0xffff, true));
      await rejectsInvalid(readTorchCheckpoint(bad, "z.bin"), /needs ZIP64 but there is no ZIP64 locator/);
    });

    test("a deflated entry claiming an impossible size, or more than it inflates to", async () => {
      const deflated = await encodeZip([{ name: "a/data.pkl", data: bytes("K\x01.") }], { deflate: true });
      const huge = patched(deflated, (v, b) => v.setUint32(firstCentral(b) + 24, 0xfffffffe, true));
      await rejectsInvalid(
        readTorchCheckpoint(huge, "bomb.pt"),
        /entry 'a\/data\.pkl' claims 4294967294 bytes from \d+ deflated/,
      );
      const short = patched(deflated, (v, b) => v.setUint32(firstCentral(b) + 24, 2, true));
      await rejectsInvalid(
        readTorchCheckpoint(short, "short.pt"),
        /short\.pt: entry 'a\/data\.pkl': inflates to more than the 2 bytes/,
      );
      const garbage = patched(
        deflated,
        (_, b) => b.fill(0xff, 30 + "a/data.pkl".length, 30 + "a/data.pkl".length + 2),
      );
      await rejectsInvalid(
        readTorchCheckpoint(garbage, "garbage.pt"),
        /garbage\.pt: entry 'a\/data\.pkl': corrupt DEFLATE data/,
      );
    });

    test("a view reaching outside its storage", async () => {
      // views.pt's "offset_slice" (offset 3, 5 elements of a 10-element storage), moved to offset 6.
      const zip = new ZipArchive(fixture("views.pt"), "views.pt");
      const entries = await Promise.all(
        [...zip.entries.keys()].map(async (name) => ({ name, data: await zip.read(name) })),
      );
      const pkl = entries[0];
      const at = hex(pkl.data).indexOf(hex(bytes("offset_slice"))) / 2;
      const index = pkl.data.indexOf(0x4b, /* BININT1 */ pkl.data.indexOf(0x51, /* BINPERSID */ at));
      assert.equal(pkl.data[index + 1], 3);
      const data = Uint8Array.from(pkl.data);
      data[index + 1] = 6;
      const archive = await encodeZip(entries.map((e) => (e === pkl ? { name: e.name, data } : e)));
      await rejectsInvalid(
        readTorchCheckpoint(archive, "views.pt"),
        /views\.pt: tensor 'offset_slice' \(offset 6, size \[5\], stride \[1\]\) reaches element 10 of storage '2', which holds 10 float32 elements/,
      );
    });

    test("a pickle error names the file, opcode and offset", async () => {
      const value = new Map([["weight", new TensorValue("float32", [1], Float32Array.of(1))]]);
      const archive = await encodeTorchZip(value);
      const entry = new ZipArchive(archive, "a").entries.get("archive/data.pkl")!;
      // Cut the pickle short (the entry's sizes and CRC stay consistent: rebuild the zip).
      const pkl = archive.slice(entry.dataOffset, entry.dataOffset + entry.size - 1);
      const rebuilt = await encodeZip([{ name: "archive/data.pkl", data: pkl }]);
      await rejectsInvalid(
        readTorchCheckpoint(rebuilt, "cut.pt"),
        /cut\.pt: pickle truncated at byte \d+: no STOP/,
      );
    });
  });
});

describe("converter: full-size checkpoints vs the unfused float64 reference", () => {
  // Built once, by the first test that needs them (about 27 MB each).
  const stateDict = generateStateDict(golden.stateDictSeed);
  let built: Promise<Record<string, Uint8Array>> | undefined;
  const checkpoints = (): Promise<Record<string, Uint8Array>> =>
    built ??= (async () => ({
      "pytorch_model.bin": await encodeTorchZip(pyannoteCheckpoint(stateDict), { root: "pytorch_model" }),
      "avg_model.pt": await encodeTorchZip(wespeakerCheckpoint(stateDict, golden.stateDictSeed), {
        root: "avg_model",
      }),
    }))();
  const converted = new Map<string, Uint8Array>();

  for (const name of Object.keys(golden.checkpoints)) {
    test(`${name}: the test-time checkpoint is the one the goldens were computed from`, async () => {
      const checkpoint = (await checkpoints())[name];
      assert.equal(checkpoint.length, golden.checkpoints[name].bytes);
      assert.equal(sha256(checkpoint), golden.checkpoints[name].sha256);
    });

    test(`${name} → convertTorchCheckpoint → WeSpeakerModel: cosine ≥ 0.99999, max abs ≤ 1e-4`, async () => {
      const result = await convertTorchCheckpoint((await checkpoints())[name], name);
      converted.set(name, result.safetensors);
      assert.equal(result.config.batchnorm_fused, true);
      assert.equal(Object.keys(result.tensors).length, 74);
      const model = await WeSpeakerModel.load(writeScratch(`${name}.safetensors`, result.safetensors));
      try {
        let minCosine = 1, maxAbs = 0, maxRawRel = 0;
        for (const c of golden.cases) {
          const input = { data: syntheticFeatures(c.featureSeed, c.frames), frames: c.frames, bins: 80 };
          const normalized = model.embedFeatures(input);
          const raw = model.embedFeatures(input, { raw: true });
          let dot = 0, na = 0, nb = 0, abs = 0, rawAbs = 0;
          for (let i = 0; i < 256; i++) {
            dot += normalized[i] * c.normalized[i];
            na += normalized[i] ** 2;
            nb += c.normalized[i] ** 2;
            abs = Math.max(abs, Math.abs(normalized[i] - c.normalized[i]));
            rawAbs = Math.max(rawAbs, Math.abs(raw[i] - c.raw[i]));
          }
          const cosine = dot / Math.sqrt(na * nb);
          const rawRel = rawAbs / Math.max(...c.raw.map(Math.abs));
          assert.ok(cosine >= 0.99999, `${c.name}: cosine ${cosine}`);
          assert.ok(abs <= 1e-4, `${c.name}: max abs diff ${abs}`);
          assert.ok(rawRel <= 1e-4, `${c.name}: raw max abs diff / max |raw| ${rawRel}`);
          [minCosine, maxAbs, maxRawRel] = [
            Math.min(minCosine, cosine),
            Math.max(maxAbs, abs),
            Math.max(maxRawRel, rawRel),
          ];
        }
        console.log(
          `  ${name}: min cosine 1 - ${(1 - minCosine).toExponential(2)}, max abs diff ${
            maxAbs.toExponential(2)
          }, ` +
            `raw max abs diff / max|raw| ${maxRawRel.toExponential(2)}`,
        );
      } finally {
        model.close();
      }
    });
  }

  test("conversion is deterministic, and both packagings of one network give the same bytes", async () => {
    const { "pytorch_model.bin": pyannote, "avg_model.pt": wespeaker } = await checkpoints();
    const again = await convertTorchCheckpoint(pyannote, "again.bin");
    const first = converted.get("pytorch_model.bin") ??
      (await convertTorchCheckpoint(pyannote, "first.bin")).safetensors;
    assert.equal(sha256(again.safetensors), sha256(first));
    const avg = converted.get("avg_model.pt") ??
      (await convertTorchCheckpoint(wespeaker, "avg_model.pt")).safetensors;
    assert.equal(sha256(avg), sha256(first));
  });

  const variant = async (edit: (sd: Map<string, TensorValue>) => void) => {
    const sd = new Map(stateDict);
    edit(sd);
    return await encodeTorchZip(pyannoteCheckpoint(sd), { root: "pytorch_model" });
  };

  test("error: a missing key is named", async () => {
    const bytes = await variant((sd) => sd.delete("layer3.2.bn1.running_var"));
    await rejectsInvalid(
      convertTorchCheckpoint(bytes, "missing.bin"),
      /missing\.bin: missing key 'resnet\.layer3\.2\.bn1\.running_var' \(expected shape \[128\]\)/,
    );
  });

  test("error: a wrong shape is named", async () => {
    const bytes = await variant((sd) =>
      sd.set("seg_1.bias", new TensorValue("float32", [255], new Float32Array(255)))
    );
    await rejectsInvalid(
      convertTorchCheckpoint(bytes, "shape.bin"),
      /shape\.bin: key 'resnet\.seg_1\.bias' has shape \[255\], expected \[256\]/,
    );
  });

  test("error: an unexpected key is named", async () => {
    const bytes = await variant((sd) =>
      sd.set("layer1.0.conv3.weight", new TensorValue("float32", [1], new Float32Array(1)))
    );
    await rejectsInvalid(
      convertTorchCheckpoint(bytes, "extra.bin"),
      /extra\.bin: unexpected key 'resnet\.layer1\.0\.conv3\.weight'/,
    );
    await rejectsInvalid(
      convertTorchCheckpoint((await checkpoints())["avg_model.pt"], "avg_model.pt", { ignorePrefixes: [] }),
      /avg_model\.pt: unexpected key 'projection\.weight'/,
    );
  });

  test("error: a checkpoint without a state dict", async () => {
    const bytes = await encodeTorchZip(
      new Map<string, PickleValue>([["epoch", 3], ["optimizer_states", []]]),
    );
    await rejectsInvalid(
      convertTorchCheckpoint(bytes, "empty.ckpt"),
      /empty\.ckpt: no state dict .* its top-level keys are 'epoch', 'optimizer_states'/,
    );
  });

  test("error: the cut-down fixture is not a ResNet34: the first mismatched key is named", async () => {
    await rejectsInvalid(
      convertTorchCheckpoint(fixture("pyannote_small.bin"), "pyannote_small.bin"),
      /pyannote_small\.bin: key 'resnet\.conv1\.weight' has shape \[2, 1, 3, 3\], expected \[32, 1, 3, 3\]/,
    );
  });
});
