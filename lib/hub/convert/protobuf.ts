/**
 * A minimal Protocol Buffers wire-format reader and writer: enough to read and write ONNX files
 * without a schema compiler.
 *
 * The reader checks a message's framing once ({@link ProtoMessage.decode}) and offers typed lookups
 * by field number. Every length is checked against the bytes that remain before anything is sliced
 * or allocated, and fields are scanned rather than stored, so a hostile file costs time proportional
 * to its size and memory proportional to what the caller asks for; every problem is a
 * `WeSpeakerError` with code `invalid-weights` naming the message being read. Payloads are views into
 * the input, never copies.
 *
 * Semantics follow the protobuf specification where ONNX needs them: a repeated scalar may arrive
 * packed (one length-delimited field) or not (one field per value), and both are accepted; for a
 * singular field that occurs more than once, the last occurrence wins. Unknown fields are kept and
 * ignored by the typed lookups.
 *
 * @module
 */
import { WeSpeakerError } from "../../errors.ts";

/** Wire type of a varint field (int32, int64, uint64, bool, enum). */
export const WIRE_VARINT = 0;
/** Wire type of a 64-bit field (fixed64, sfixed64, double). */
export const WIRE_I64 = 1;
/** Wire type of a length-delimited field (string, bytes, embedded message, packed repeated scalars). */
export const WIRE_LEN = 2;
/** Wire type of a 32-bit field (fixed32, sfixed32, float). */
export const WIRE_I32 = 5;

/** The four wire types in use (3 and 4, the deprecated groups, are rejected). */
export type WireType = typeof WIRE_VARINT | typeof WIRE_I64 | typeof WIRE_LEN | typeof WIRE_I32;

/** One field of a message as it appears on the wire. */
export interface ProtoField {
  /** Field number (1 to 2^29 − 1). */
  readonly number: number;
  /** How the value is encoded. */
  readonly wireType: WireType;
  /** Low 32 bits of a varint (unsigned); 0 for other wire types. */
  readonly lo: number;
  /** High 32 bits of a varint (unsigned); 0 for other wire types. */
  readonly hi: number;
  /** The payload of a length-delimited, 32-bit or 64-bit field (a view, not a copy); empty for varints. */
  readonly data: Uint8Array;
}

const TWO_32 = 4294967296;
const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder("utf-8", { fatal: true });

const WIRE_NAMES: Record<number, string> = {
  [WIRE_VARINT]: "varint",
  [WIRE_I64]: "64-bit",
  [WIRE_LEN]: "length-delimited",
  [WIRE_I32]: "32-bit",
};

function fail(context: string, problem: string): never {
  throw new WeSpeakerError("invalid-weights", `${context}: ${problem}`);
}

/**
 * Reads a varint at `pos` as two unsigned 32-bit halves, so that 64-bit values need no BigInt.
 * Returns the position after it in `out[2]`.
 */
function readVarint(bytes: Uint8Array, pos: number, end: number, context: string, out: number[]): void {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) fail(context, `truncated varint at byte ${pos}`);
    const b = bytes[pos++];
    const bits = b & 0x7f;
    if (i < 4) {
      lo |= bits << (7 * i);
    } else if (i === 4) {
      lo |= (bits & 0x0f) << 28;
      hi = bits >>> 4;
    } else if (i < 9) {
      hi |= bits << (7 * i - 32);
    } else if (bits > 1) {
      fail(context, `varint at byte ${pos - 10} does not fit in 64 bits`);
    } else {
      hi |= bits << 31;
    }
    if (b < 0x80) {
      out[0] = lo >>> 0;
      out[1] = hi >>> 0;
      out[2] = pos;
      return;
    }
  }
  fail(context, `varint at byte ${pos - 10} is longer than 10 bytes`);
}

/** A 64-bit two's complement value (int64, int32, enum) as a number, when it is a safe integer. */
function toSafeInteger(lo: number, hi: number, context: string): number {
  // Negative: −(2^64 − v), computed on the halves as the bitwise complement plus one.
  const value = hi >= 0x80000000 ? -((~hi >>> 0) * TWO_32 + (~lo >>> 0) + 1) : hi * TWO_32 + lo;
  if (!Number.isSafeInteger(value)) fail(context, `integer ${value} is out of range`);
  return value;
}

/**
 * A checked message with typed lookups by field number. Fields are not stored: each lookup scans the
 * message again (skipping payloads is cheap), so a message costs no memory beyond its bytes however
 * many fields it holds; only what a lookup returns is allocated.
 */
export class ProtoMessage {
  /** What this message is, for error messages (e.g. `model.onnx: TensorProto 'conv1.weight'`). */
  readonly context: string;
  readonly #bytes: Uint8Array;

  private constructor(bytes: Uint8Array, context: string) {
    this.#bytes = bytes;
    this.context = context;
  }

  /**
   * Checks every tag, varint and length of `bytes`, so that later lookups cannot fail on the framing.
   *
   * @param bytes the serialized message (not copied)
   * @param context what the message is, used as the prefix of error messages
   * @throws {WeSpeakerError} `invalid-weights` on a malformed tag, varint or length
   */
  static decode(bytes: Uint8Array, context: string): ProtoMessage {
    const message = new ProtoMessage(bytes, context);
    for (const _ of message);
    return message;
  }

  /** Every field, in wire order. */
  *[Symbol.iterator](): Iterator<ProtoField> {
    const bytes = this.#bytes;
    const context = this.context;
    const end = bytes.length;
    const v = [0, 0, 0];
    let pos = 0;
    while (pos < end) {
      const tagAt = pos;
      readVarint(bytes, pos, end, context, v);
      pos = v[2];
      if (v[1] !== 0) fail(context, `tag at byte ${tagAt} is out of range`);
      const number = v[0] >>> 3;
      const wireType = v[0] & 7;
      if (number === 0) fail(context, `field number 0 at byte ${tagAt}`);
      switch (wireType) {
        case WIRE_VARINT:
          readVarint(bytes, pos, end, context, v);
          pos = v[2];
          yield { number, wireType, lo: v[0], hi: v[1], data: EMPTY };
          break;
        case WIRE_I64:
        case WIRE_I32: {
          const size = wireType === WIRE_I64 ? 8 : 4;
          if (end - pos < size) {
            fail(context, `field ${number} at byte ${tagAt}: truncated ${size}-byte value`);
          }
          pos += size;
          yield { number, wireType, lo: 0, hi: 0, data: bytes.subarray(pos - size, pos) };
          break;
        }
        case WIRE_LEN: {
          readVarint(bytes, pos, end, context, v);
          pos = v[2];
          const length = v[1] * TWO_32 + v[0];
          if (length > end - pos) {
            fail(
              context,
              `field ${number} at byte ${tagAt}: length ${length} runs past the end (${end - pos} left)`,
            );
          }
          pos += length;
          yield { number, wireType, lo: 0, hi: 0, data: bytes.subarray(pos - length, pos) };
          break;
        }
        default:
          fail(context, `field ${number} at byte ${tagAt} has unsupported wire type ${wireType}`);
      }
    }
  }

  /** Every occurrence of field `number`, in wire order. */
  all(number: number): ProtoField[] {
    const out: ProtoField[] = [];
    for (const f of this) if (f.number === number) out.push(f);
    return out;
  }

  /** How many times field `number` occurs (a repeated field's length, before anything is decoded). */
  count(number: number): number {
    let n = 0;
    for (const f of this) if (f.number === number) n++;
    return n;
  }

  /** Whether field `number` occurs at all. */
  has(number: number): boolean {
    for (const f of this) if (f.number === number) return true;
    return false;
  }

  #last(number: number, wireType: WireType): ProtoField | undefined {
    let last: ProtoField | undefined;
    for (const f of this) if (f.number === number) last = f;
    if (last) this.#expect(last, wireType);
    return last;
  }

  #expect(f: ProtoField, wireType: WireType): void {
    if (f.wireType !== wireType) {
      fail(
        this.context,
        `field ${f.number} is ${WIRE_NAMES[f.wireType]}, expected ${WIRE_NAMES[wireType]}`,
      );
    }
  }

  /**
   * A varint field as a safe integer: int64/int32/enum values are read as two's complement, so
   * negative numbers come back negative.
   *
   * @returns the last occurrence's value, or `fallback` when the field is absent
   */
  int(number: number, fallback = 0): number {
    const f = this.#last(number, WIRE_VARINT);
    return f ? toSafeInteger(f.lo, f.hi, `${this.context}: field ${number}`) : fallback;
  }

  /** A `float` field (32-bit), or `fallback` when absent. */
  float32(number: number, fallback = 0): number {
    const f = this.#last(number, WIRE_I32);
    return f ? new DataView(f.data.buffer, f.data.byteOffset, 4).getFloat32(0, true) : fallback;
  }

  /** A `bytes` field (a view into the input), or `undefined` when absent. */
  bytes(number: number): Uint8Array | undefined {
    return this.#last(number, WIRE_LEN)?.data;
  }

  /** A `string` field (strict UTF-8), or `fallback` when absent. */
  string(number: number, fallback = ""): string {
    const data = this.bytes(number);
    return data === undefined ? fallback : this.#utf8(data, number);
  }

  /** Every occurrence of a repeated `string` field. */
  strings(number: number): string[] {
    return this.all(number).map((f) => {
      this.#expect(f, WIRE_LEN);
      return this.#utf8(f.data, number);
    });
  }

  #utf8(data: Uint8Array, number: number): string {
    try {
      return utf8.decode(data);
    } catch {
      return fail(this.context, `field ${number} is not valid UTF-8`);
    }
  }

  /** An embedded message field (the last occurrence), decoded, or `undefined` when absent. */
  message(number: number, context: string): ProtoMessage | undefined {
    const data = this.bytes(number);
    return data === undefined ? undefined : ProtoMessage.decode(data, context);
  }

  /** Every occurrence of a repeated message field, decoded; `context(i)` names the i-th for errors. */
  messages(number: number, context: (index: number) => string): ProtoMessage[] {
    return this.all(number).map((f, i) => {
      this.#expect(f, WIRE_LEN);
      return ProtoMessage.decode(f.data, context(i));
    });
  }

  /** A repeated int64/int32/enum field, packed or not, as safe integers (two's complement). */
  ints(number: number): number[] {
    const out: number[] = [];
    const v = [0, 0, 0];
    const context = `${this.context}: field ${number}`;
    for (const f of this.all(number)) {
      if (f.wireType === WIRE_VARINT) {
        out.push(toSafeInteger(f.lo, f.hi, context));
        continue;
      }
      this.#expect(f, WIRE_LEN);
      for (let pos = 0; pos < f.data.length; pos = v[2]) {
        readVarint(f.data, pos, f.data.length, context, v);
        out.push(toSafeInteger(v[0], v[1], context));
      }
    }
    return out;
  }

  /** A repeated `float` field, packed or not. */
  float32s(number: number): Float32Array {
    return this.#fixed(number, WIRE_I32, 4, (view, at) => view.getFloat32(at, true), Float32Array);
  }

  /** A repeated `double` field, packed or not. */
  float64s(number: number): Float64Array {
    return this.#fixed(number, WIRE_I64, 8, (view, at) => view.getFloat64(at, true), Float64Array);
  }

  #fixed<T extends Float32Array | Float64Array>(
    number: number,
    wireType: WireType,
    size: number,
    get: (view: DataView, at: number) => number,
    Ctor: new (length: number) => T,
  ): T {
    const fields = this.all(number);
    let count = 0;
    for (const f of fields) {
      if (f.wireType === WIRE_LEN && f.data.length % size !== 0) {
        fail(this.context, `packed field ${number} holds ${f.data.length} bytes, not a multiple of ${size}`);
      }
      if (f.wireType !== WIRE_LEN) this.#expect(f, wireType);
      count += f.data.length / size;
    }
    const out = new Ctor(count);
    let i = 0;
    for (const f of fields) {
      const view = new DataView(f.data.buffer, f.data.byteOffset, f.data.length);
      for (let at = 0; at < f.data.length; at += size) out[i++] = get(view, at);
    }
    return out;
  }
}

/**
 * Builds a message field by field. Large payloads (tensor data, embedded messages) are kept by
 * reference and copied once, by {@link ProtoWriter.finish}; small fields go through a byte buffer.
 */
export class ProtoWriter {
  #parts: Uint8Array[] = [];
  #pending: number[] = [];
  #length = 0;

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  #byte(b: number): void {
    this.#pending.push(b);
    this.#length++;
  }

  #flush(): void {
    if (this.#pending.length > 0) {
      this.#parts.push(Uint8Array.from(this.#pending));
      this.#pending = [];
    }
  }

  #rawVarint(value: number): void {
    if (!Number.isSafeInteger(value)) {
      throw new WeSpeakerError("invalid-argument", `protobuf: ${value} is not a safe integer`);
    }
    // Negative values are written as 64-bit two's complement (10 bytes), as protobuf does for int64.
    let hi = Math.floor(value / TWO_32) >>> 0;
    let lo = (value - Math.floor(value / TWO_32) * TWO_32) >>> 0;
    while (hi !== 0 || lo > 0x7f) {
      this.#byte((lo & 0x7f) | 0x80);
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.#byte(lo);
  }

  #tag(number: number, wireType: WireType): void {
    this.#rawVarint(number * 8 + wireType);
  }

  #append(data: Uint8Array): void {
    this.#flush();
    this.#parts.push(data);
    this.#length += data.length;
  }

  /** An int64/int32/enum/bool field (negative values as two's complement). */
  int(number: number, value: number): this {
    this.#tag(number, WIRE_VARINT);
    this.#rawVarint(value);
    return this;
  }

  /** A `float` field. */
  float32(number: number, value: number): this {
    this.#tag(number, WIRE_I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    for (const x of b) this.#byte(x);
    return this;
  }

  /** A `bytes` field; `data` is kept by reference until {@link finish}. */
  bytes(number: number, data: Uint8Array): this {
    this.#tag(number, WIRE_LEN);
    this.#rawVarint(data.length);
    this.#append(data);
    return this;
  }

  /** A `string` field, UTF-8 encoded. */
  string(number: number, value: string): this {
    return this.bytes(number, new TextEncoder().encode(value));
  }

  /** An embedded message field; `message` must not be written to afterwards. */
  message(number: number, message: ProtoWriter): this {
    this.#tag(number, WIRE_LEN);
    this.#rawVarint(message.length);
    message.#flush();
    for (const part of message.#parts) this.#append(part);
    return this;
  }

  /** The message's bytes. */
  finish(): Uint8Array {
    this.#flush();
    const out = new Uint8Array(this.#length);
    let at = 0;
    for (const part of this.#parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}
