/**
 * A safe unpickler for the Python pickles inside PyTorch checkpoints (protocols 2–5, the opcodes
 * `torch.save` and PyTorch Lightning produce).
 *
 * Nothing is ever executed. A `GLOBAL` resolves only through an allow-list of constructors written in
 * TypeScript (`collections.OrderedDict`, `builtins.set`/`frozenset`, `_codecs.encode`, plus those a
 * caller supplies, such as torch's tensor rebuilders); any other global becomes an inert
 * {@link PyGlobal}, and calling or instantiating it yields an inert {@link PyObject} that records
 * its arguments and state. So a checkpoint's hyper-parameters, enums and task specifications load as
 * plain data, and a pickled `os.system(...)` is just an object naming `os.system`.
 *
 * Python values map to: `None` → `null`, `bool` → `boolean`, `int` → `number` (or `bigint` beyond
 * ±2^53), `float` → `number`, `str` → `string`, `bytes`/`bytearray` → `Uint8Array`, `list` → array,
 * `tuple` → frozen array, `dict` → `Map`, `set`/`frozenset` → `Set`.
 *
 * Malformed input (unknown opcode, truncation, stack underflow, missing MARK, unknown memo key, …)
 * throws a {@link WeSpeakerError} with code `invalid-weights` naming the opcode (hex and name) and
 * its byte offset. Every length is checked against the remaining bytes before anything is allocated.
 *
 * @module
 */
import { WeSpeakerError } from "../../errors.ts";

/** A Python `dict` (also `OrderedDict`): keys keep their insertion order. */
export type PyDict = Map<PyValue, PyValue>;

/** A value produced by the unpickler. Tuples are frozen arrays. */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyDict
  | Set<PyValue>
  | PyGlobal
  | PyObject
  | PyFunction
  | PyExternal;

/**
 * Base class of the values a caller's {@link PyFunction}s and persistent loader make (tensors,
 * storages…): the unpickler passes them around without looking inside.
 */
export abstract class PyExternal {
  // Makes the type nominal: without a private member any object would pass for a PyExternal.
  #external = true;
}

/** A global (class, function, enum…) that is not on the allow-list: a name, never resolved. */
export class PyGlobal {
  /** The Python module, e.g. `pyannote.audio.core.task`. */
  readonly module: string;
  /** The qualified name inside it, e.g. `Specifications`. */
  readonly name: string;

  /**
   * Names a global without resolving it.
   *
   * @param module the Python module
   * @param name the qualified name inside it
   */
  constructor(module: string, name: string) {
    this.module = module;
    this.name = name;
  }

  /** `module.name`. */
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * What calling or instantiating a {@link PyGlobal} produces: inert data recording the global, the
 * arguments, the state given by `BUILD`, and the items added by `SETITEMS`/`APPENDS`/`ADDITEMS`
 * (for subclasses of `dict`, `list` or `set`).
 */
export class PyObject {
  /** Module of the global that made it. */
  readonly module: string;
  /** Name of the global that made it. */
  readonly name: string;
  /** Positional arguments. */
  readonly args: readonly PyValue[];
  /** Keyword arguments (`NEWOBJ_EX` only). */
  readonly kwargs: PyDict | null;
  /** State set by `BUILD` (usually a dict of attributes), `undefined` when none. */
  state: PyValue | undefined = undefined;
  /** Items added by `SETITEM(S)` (a `dict` subclass). */
  readonly items: PyDict = new Map();
  /** Elements added by `APPEND(S)` or `ADDITEMS` (a `list` or `set` subclass). */
  readonly elements: PyValue[] = [];

  /**
   * Records a call or instantiation of a global, without performing it.
   *
   * @param module module of the global that made it
   * @param name name of the global that made it
   * @param args positional arguments
   * @param kwargs keyword arguments (`NEWOBJ_EX` only)
   */
  constructor(module: string, name: string, args: readonly PyValue[], kwargs: PyDict | null = null) {
    this.module = module;
    this.name = name;
    this.args = args;
    this.kwargs = kwargs;
  }

  /** `module.name(...)`. */
  toString(): string {
    return `${this.module}.${this.name}(...)`;
  }
}

/**
 * An allow-listed global implemented in TypeScript. `call` gets the positional and keyword arguments
 * of `REDUCE`/`NEWOBJ`/`NEWOBJ_EX`; whatever it throws becomes an `invalid-weights` error naming the
 * opcode and offset, so it may throw plain `Error`s describing bad arguments.
 */
export class PyFunction {
  /** The Python module it stands for. */
  readonly module: string;
  /** The name inside that module. */
  readonly name: string;
  /** The implementation. */
  readonly call: (args: readonly PyValue[], kwargs: PyDict | null) => PyValue;

  /**
   * Registers a TypeScript implementation under a Python name.
   *
   * @param module the Python module it stands for
   * @param name the name inside that module
   * @param call the implementation
   */
  constructor(
    module: string,
    name: string,
    call: (args: readonly PyValue[], kwargs: PyDict | null) => PyValue,
  ) {
    this.module = module;
    this.name = name;
    this.call = call;
  }

  /** `module.name`. */
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Options of {@link unpickle}. */
export interface UnpickleOptions {
  /** Byte offset where the pickle starts (default 0); several pickles may follow one another. */
  offset?: number;
  /** Resolves globals beyond the built-in allow-list; `undefined` leaves a {@link PyGlobal}. */
  resolveGlobal?: (module: string, name: string) => PyValue | undefined;
  /** Turns the id of `BINPERSID` into a value; without it, a persistent id is an error. */
  persistentLoad?: (pid: PyValue) => PyValue;
}

/** What {@link unpickle} returns. */
export interface UnpickleResult {
  /** The unpickled object. */
  value: PyValue;
  /** Offset just past the `STOP` opcode. */
  end: number;
}

/** Python's opcode names, for error messages (including opcodes this reader does not support). */
const OPCODE_NAMES: Readonly<Record<number, string>> = {
  0x28: "MARK",
  0x29: "EMPTY_TUPLE",
  0x2e: "STOP",
  0x30: "POP",
  0x31: "POP_MARK",
  0x32: "DUP",
  0x42: "BINBYTES",
  0x43: "SHORT_BINBYTES",
  0x46: "FLOAT",
  0x47: "BINFLOAT",
  0x49: "INT",
  0x4a: "BININT",
  0x4b: "BININT1",
  0x4c: "LONG",
  0x4d: "BININT2",
  0x4e: "NONE",
  0x50: "PERSID",
  0x51: "BINPERSID",
  0x52: "REDUCE",
  0x53: "STRING",
  0x54: "BINSTRING",
  0x55: "SHORT_BINSTRING",
  0x56: "UNICODE",
  0x58: "BINUNICODE",
  0x5d: "EMPTY_LIST",
  0x61: "APPEND",
  0x62: "BUILD",
  0x63: "GLOBAL",
  0x64: "DICT",
  0x65: "APPENDS",
  0x67: "GET",
  0x68: "BINGET",
  0x69: "INST",
  0x6a: "LONG_BINGET",
  0x6c: "LIST",
  0x6f: "OBJ",
  0x70: "PUT",
  0x71: "BINPUT",
  0x72: "LONG_BINPUT",
  0x73: "SETITEM",
  0x74: "TUPLE",
  0x75: "SETITEMS",
  0x7d: "EMPTY_DICT",
  0x80: "PROTO",
  0x81: "NEWOBJ",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
  0x85: "TUPLE1",
  0x86: "TUPLE2",
  0x87: "TUPLE3",
  0x88: "NEWTRUE",
  0x89: "NEWFALSE",
  0x8a: "LONG1",
  0x8b: "LONG4",
  0x8c: "SHORT_BINUNICODE",
  0x8d: "BINUNICODE8",
  0x8e: "BINBYTES8",
  0x8f: "EMPTY_SET",
  0x90: "ADDITEMS",
  0x91: "FROZENSET",
  0x92: "NEWOBJ_EX",
  0x93: "STACK_GLOBAL",
  0x94: "MEMOIZE",
  0x95: "FRAME",
  0x96: "BYTEARRAY8",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
};

/** Highest pickle protocol this reader understands. */
const MAX_PROTOCOL = 5;

function iterableItems(value: PyValue | undefined, what: string): PyValue[] {
  if (Array.isArray(value)) return value;
  if (value instanceof Set) return [...value];
  if (value instanceof Map) return [...value.keys()];
  throw new Error(`${what} expects a list, tuple or set, got ${pyTypeName(value)}`);
}

function makeSet(module: string, name: string): PyFunction {
  return new PyFunction(
    module,
    name,
    (args) => new Set(args.length === 0 ? [] : iterableItems(args[0], name)),
  );
}

/** The globals every pickle may use: containers from the standard library, as TypeScript values. */
const BUILTIN_GLOBALS: ReadonlyMap<string, PyFunction> = new Map(
  [
    new PyFunction("collections", "OrderedDict", (args) => {
      const out: PyDict = new Map();
      if (args.length === 0) return out;
      if (args[0] instanceof Map) return new Map(args[0]);
      for (const pair of iterableItems(args[0], "OrderedDict")) {
        if (!Array.isArray(pair) || pair.length !== 2) {
          throw new Error("OrderedDict expects (key, value) pairs");
        }
        out.set(pair[0], pair[1]);
      }
      return out;
    }),
    makeSet("builtins", "set"),
    makeSet("builtins", "frozenset"),
    makeSet("__builtin__", "set"),
    makeSet("__builtin__", "frozenset"),
    // How protocol 2 pickles `bytes`: _codecs.encode(<latin-1 text>, "latin1").
    new PyFunction("_codecs", "encode", (args) => {
      const [text, encoding] = args;
      if (typeof text !== "string" || (encoding !== "latin1" && encoding !== "latin-1")) {
        throw new Error("_codecs.encode expects (str, 'latin1')");
      }
      const out = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c > 0xff) throw new Error(`_codecs.encode: character U+${c.toString(16)} is not latin-1`);
        out[i] = c;
      }
      return out;
    }),
  ].map((f) => [`${f.module}.${f.name}`, f]),
);

/** Python's name for the type of a value, for error messages. */
export function pyTypeName(value: PyValue | undefined): string {
  if (value === undefined) return "nothing";
  if (value === null) return "None";
  if (typeof value === "boolean") return "bool";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  if (typeof value === "bigint") return "int";
  if (typeof value === "string") return "str";
  if (value instanceof Uint8Array) return "bytes";
  if (Array.isArray(value)) return Object.isFrozen(value) ? "tuple" : "list";
  if (value instanceof Map) return "dict";
  if (value instanceof Set) return "set";
  if (value instanceof PyGlobal || value instanceof PyFunction) return `global ${value}`;
  if (value instanceof PyObject) return `${value.module}.${value.name} object`;
  return value.constructor.name;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Little-endian two's complement, as LONG1/LONG4 store it. */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let hex = "";
  for (let i = bytes.length - 1; i >= 0; i--) hex += bytes[i].toString(16).padStart(2, "0");
  let value = BigInt(`0x${hex}`);
  if (bytes[bytes.length - 1] & 0x80) value -= 1n << BigInt(8 * bytes.length);
  return toInt(value);
}

function toInt(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}

class Machine {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #source: string;
  readonly #options: UnpickleOptions;
  #pos: number;
  #opStart = 0;
  #op = 0;
  #stack: PyValue[] = [];
  readonly #metastack: PyValue[][] = [];
  readonly #memo = new Map<number, PyValue>();

  constructor(bytes: Uint8Array, source: string, options: UnpickleOptions) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#source = source;
    this.#options = options;
    this.#pos = options.offset ?? 0;
    if (!Number.isSafeInteger(this.#pos) || this.#pos < 0 || this.#pos > bytes.length) {
      throw new WeSpeakerError(
        "invalid-weights",
        `${source}: pickle offset ${this.#pos} is outside the data`,
      );
    }
  }

  #fail(what: string): never {
    const name = OPCODE_NAMES[this.#op] ?? "unknown";
    const hex = this.#op.toString(16).padStart(2, "0");
    throw new WeSpeakerError(
      "invalid-weights",
      `${this.#source}: pickle opcode 0x${hex} (${name}) at byte ${this.#opStart}: ${what}`,
    );
  }

  /** Claims `n` bytes and returns where they start. */
  #take(n: number): number {
    const remaining = this.#bytes.length - this.#pos;
    if (n > remaining) this.#fail(`truncated: needs ${n} bytes, ${remaining} remain`);
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  #u8(): number {
    return this.#bytes[this.#take(1)];
  }

  #u32(): number {
    return this.#view.getUint32(this.#take(4), true);
  }

  /** A length in an 8-byte field, which must fit the remaining bytes. */
  #u64Length(): number {
    const n = this.#view.getBigUint64(this.#take(8), true);
    const remaining = this.#bytes.length - this.#pos;
    if (n > BigInt(remaining)) this.#fail(`length ${n} exceeds the ${remaining} remaining bytes`);
    return Number(n);
  }

  #slice(n: number): Uint8Array {
    const at = this.#take(n);
    return this.#bytes.slice(at, at + n);
  }

  #text(n: number): string {
    const at = this.#take(n);
    try {
      return utf8.decode(this.#bytes.subarray(at, at + n));
    } catch {
      this.#fail("string is not valid UTF-8");
    }
  }

  #latin1(n: number): string {
    const at = this.#take(n);
    let out = "";
    for (let i = at; i < at + n; i++) out += String.fromCharCode(this.#bytes[i]);
    return out;
  }

  #line(): string {
    const end = this.#bytes.indexOf(0x0a, this.#pos);
    if (end < 0) this.#fail("truncated: no newline ends the name");
    return this.#text(end - this.#pos + 1).slice(0, -1);
  }

  #push(value: PyValue): void {
    this.#stack.push(value);
  }

  #pop(): PyValue {
    if (this.#stack.length === 0) this.#fail("stack underflow");
    return this.#stack.pop()!;
  }

  #top(): PyValue {
    if (this.#stack.length === 0) this.#fail("stack underflow");
    return this.#stack[this.#stack.length - 1];
  }

  #popMark(): PyValue[] {
    const outer = this.#metastack.pop();
    if (outer === undefined) this.#fail("no MARK to pop to");
    const items = this.#stack;
    this.#stack = outer;
    return items;
  }

  #get(key: number): PyValue {
    if (!this.#memo.has(key)) this.#fail(`memo key ${key} was never stored`);
    return this.#memo.get(key)!;
  }

  #tuple(items: PyValue[]): PyValue[] {
    return Object.freeze(items) as PyValue[];
  }

  #global(module: string, name: string): PyValue {
    return BUILTIN_GLOBALS.get(`${module}.${name}`) ?? this.#options.resolveGlobal?.(module, name) ??
      new PyGlobal(module, name);
  }

  #call(callee: PyValue, args: PyValue, kwargs: PyDict | null): PyValue {
    if (!Array.isArray(args)) this.#fail(`arguments must be a tuple, got ${pyTypeName(args)}`);
    if (callee instanceof PyFunction) {
      try {
        return callee.call(args, kwargs);
      } catch (error) {
        this.#fail(`${callee}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (callee instanceof PyGlobal || callee instanceof PyObject) {
      return new PyObject(callee.module, callee.name, args, kwargs);
    }
    this.#fail(`cannot call ${pyTypeName(callee)}`);
  }

  #setItems(target: PyValue, items: PyValue[]): void {
    if (items.length % 2 !== 0) this.#fail(`odd number of keys and values (${items.length})`);
    const dict = target instanceof Map ? target : target instanceof PyObject ? target.items : undefined;
    if (!dict) this.#fail(`cannot set items on ${pyTypeName(target)}`);
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  }

  #append(target: PyValue, items: PyValue[]): void {
    const list = Array.isArray(target) && !Object.isFrozen(target)
      ? target
      : target instanceof PyObject
      ? target.elements
      : undefined;
    if (!list) this.#fail(`cannot append to ${pyTypeName(target)}`);
    for (const item of items) list.push(item);
  }

  #addItems(target: PyValue, items: PyValue[]): void {
    if (target instanceof Set) { for (const item of items) target.add(item); }
    else if (target instanceof PyObject) target.elements.push(...items);
    else this.#fail(`cannot add items to ${pyTypeName(target)}`);
  }

  #build(target: PyValue, state: PyValue): void {
    if (target instanceof PyObject) target.state = state;
    else if (target === null || typeof target !== "object") {
      this.#fail(`cannot set the state of ${pyTypeName(target)}`);
    }
    // Attributes of containers and external objects (an OrderedDict's `_metadata`, a Parameter's
    // hooks) carry nothing this reader needs.
  }

  run(): UnpickleResult {
    const view = this.#view;
    for (;;) {
      this.#opStart = this.#pos;
      if (this.#pos >= this.#bytes.length) {
        throw new WeSpeakerError(
          "invalid-weights",
          `${this.#source}: pickle truncated at byte ${this.#pos}: no STOP`,
        );
      }
      this.#op = this.#u8();
      switch (this.#op) {
        case 0x80: { // PROTO
          const protocol = this.#u8();
          if (protocol > MAX_PROTOCOL) this.#fail(`unsupported protocol ${protocol}`);
          break;
        }
        case 0x95: // FRAME: a hint for buffered readers; the frame's opcodes follow inline
          this.#u64Length();
          break;
        case 0x2e: // STOP
          return { value: this.#pop(), end: this.#pos };
        case 0x28: // MARK
          this.#metastack.push(this.#stack);
          this.#stack = [];
          break;
        case 0x30: // POP: like CPython, an empty stack pops the mark instead
          if (this.#stack.length > 0) this.#stack.pop();
          else this.#popMark();
          break;
        case 0x31: // POP_MARK
          this.#popMark();
          break;
        case 0x32: // DUP
          this.#push(this.#top());
          break;
        case 0x4e: // NONE
          this.#push(null);
          break;
        case 0x88: // NEWTRUE
          this.#push(true);
          break;
        case 0x89: // NEWFALSE
          this.#push(false);
          break;
        case 0x4a: // BININT
          this.#push(view.getInt32(this.#take(4), true));
          break;
        case 0x4b: // BININT1
          this.#push(this.#u8());
          break;
        case 0x4d: // BININT2
          this.#push(view.getUint16(this.#take(2), true));
          break;
        case 0x8a: // LONG1
          this.#push(decodeLong(this.#slice(this.#u8())));
          break;
        case 0x8b: { // LONG4
          const n = view.getInt32(this.#take(4), true);
          if (n < 0) this.#fail(`negative length ${n}`);
          this.#push(decodeLong(this.#slice(n)));
          break;
        }
        case 0x47: // BINFLOAT: big-endian, unlike everything else
          this.#push(view.getFloat64(this.#take(8), false));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.#push(this.#text(this.#u8()));
          break;
        case 0x58: // BINUNICODE
          this.#push(this.#text(this.#u32()));
          break;
        case 0x8d: // BINUNICODE8
          this.#push(this.#text(this.#u64Length()));
          break;
        case 0x55: // SHORT_BINSTRING (Python 2 str: Python 3 reads it as text)
          this.#push(this.#latin1(this.#u8()));
          break;
        case 0x54: { // BINSTRING
          const n = view.getInt32(this.#take(4), true);
          if (n < 0) this.#fail(`negative length ${n}`);
          this.#push(this.#latin1(n));
          break;
        }
        case 0x43: // SHORT_BINBYTES
          this.#push(this.#slice(this.#u8()));
          break;
        case 0x42: // BINBYTES
          this.#push(this.#slice(this.#u32()));
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          this.#push(this.#slice(this.#u64Length()));
          break;
        case 0x29: // EMPTY_TUPLE
          this.#push(this.#tuple([]));
          break;
        case 0x74: // TUPLE
          this.#push(this.#tuple(this.#popMark()));
          break;
        case 0x85: // TUPLE1
        case 0x86: // TUPLE2
        case 0x87: { // TUPLE3
          const n = this.#op - 0x84;
          if (this.#stack.length < n) {
            this.#fail(`stack underflow (needs ${n} items, has ${this.#stack.length})`);
          }
          this.#push(this.#tuple(this.#stack.splice(this.#stack.length - n, n)));
          break;
        }
        case 0x5d: // EMPTY_LIST
          this.#push([]);
          break;
        case 0x6c: // LIST
          this.#push(this.#popMark());
          break;
        case 0x61: { // APPEND
          const item = this.#pop();
          this.#append(this.#top(), [item]);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.#popMark();
          this.#append(this.#top(), items);
          break;
        }
        case 0x7d: // EMPTY_DICT
          this.#push(new Map());
          break;
        case 0x64: { // DICT
          const dict: PyDict = new Map();
          this.#setItems(dict, this.#popMark());
          this.#push(dict);
          break;
        }
        case 0x73: { // SETITEM
          const value = this.#pop();
          const key = this.#pop();
          this.#setItems(this.#top(), [key, value]);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.#popMark();
          this.#setItems(this.#top(), items);
          break;
        }
        case 0x8f: // EMPTY_SET
          this.#push(new Set());
          break;
        case 0x90: { // ADDITEMS
          const items = this.#popMark();
          this.#addItems(this.#top(), items);
          break;
        }
        case 0x91: // FROZENSET
          this.#push(new Set(this.#popMark()));
          break;
        case 0x71: // BINPUT
          this.#memo.set(this.#u8(), this.#top());
          break;
        case 0x72: // LONG_BINPUT
          this.#memo.set(this.#u32(), this.#top());
          break;
        case 0x94: // MEMOIZE
          this.#memo.set(this.#memo.size, this.#top());
          break;
        case 0x68: // BINGET
          this.#push(this.#get(this.#u8()));
          break;
        case 0x6a: // LONG_BINGET
          this.#push(this.#get(this.#u32()));
          break;
        case 0x63: { // GLOBAL
          const module = this.#line();
          this.#push(this.#global(module, this.#line()));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.#pop();
          const module = this.#pop();
          if (typeof module !== "string" || typeof name !== "string") {
            this.#fail(`module and name must be str, got ${pyTypeName(module)} and ${pyTypeName(name)}`);
          }
          this.#push(this.#global(module, name));
          break;
        }
        case 0x52: // REDUCE
        case 0x81: { // NEWOBJ
          const args = this.#pop();
          this.#push(this.#call(this.#pop(), args, null));
          break;
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = this.#pop();
          const args = this.#pop();
          if (!(kwargs instanceof Map)) {
            this.#fail(`keyword arguments must be a dict, got ${pyTypeName(kwargs)}`);
          }
          this.#push(this.#call(this.#pop(), args, kwargs));
          break;
        }
        case 0x62: { // BUILD
          const state = this.#pop();
          this.#build(this.#top(), state);
          break;
        }
        case 0x51: { // BINPERSID
          const pid = this.#pop();
          const load = this.#options.persistentLoad;
          if (!load) this.#fail("persistent id, but this pickle is not expected to have any");
          try {
            this.#push(load(pid));
          } catch (error) {
            this.#fail(`persistent id: ${error instanceof Error ? error.message : String(error)}`);
          }
          break;
        }
        default:
          this.#fail(OPCODE_NAMES[this.#op] ? "opcode not supported" : "unknown opcode");
      }
    }
  }
}

/**
 * Unpickles one pickle from `bytes`, executing nothing (see the module documentation).
 *
 * @param bytes the data holding the pickle
 * @param source its name, for error messages
 * @param options start offset, extra allow-listed globals, persistent-id loader
 * @returns the value and the offset just past its `STOP`
 * @throws {WeSpeakerError} `invalid-weights` naming the opcode and byte offset on malformed input
 */
export function unpickle(bytes: Uint8Array, source: string, options: UnpickleOptions = {}): UnpickleResult {
  return new Machine(bytes, source, options).run();
}
