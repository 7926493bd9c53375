/**
 * JSON files read with errors that say where: `JSON.parse` does the parsing; when it fails, a small
 * scanner finds the line and column of the first error, since the runtimes' own messages differ (V8
 * gives a position, JavaScriptCore none).
 *
 * @module
 */
import { WeSpeakerError, type WeSpeakerErrorCode } from "../errors.ts";

/** Where a JSON text first breaks the grammar (RFC 8259), and what was expected there. */
export interface JSONSyntaxError {
  /** 1-based line. */
  line: number;
  /** 1-based column, in UTF-16 code units. */
  column: number;
  /** What is wrong. */
  message: string;
}

/** The first syntax error of `text`, or null when it is valid JSON. Iterative: deep nesting is fine. */
export function findJSONSyntaxError(text: string): JSONSyntaxError | null {
  let i = 0;
  const fail = (message: string): JSONSyntaxError => {
    let line = 1, start = 0;
    for (let k = 0; k < i && k < text.length; k++) {
      if (text.charCodeAt(k) === 10) {
        line++;
        start = k + 1;
      }
    }
    return { line, column: i - start + 1, message };
  };
  const found = (): string => i >= text.length ? "the end of the text" : JSON.stringify(text[i]);
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  // Containers still open: "{" or "["; `first`: one was just opened and its first member comes next.
  const stack: string[] = [];
  let first = false;
  const value = (): JSONSyntaxError | null => {
    space();
    const c = text[i];
    if (c === "{" || c === "[") {
      i++;
      space();
      if (text[i] === (c === "{" ? "}" : "]")) i++;
      else {
        stack.push(c);
        first = true;
      }
      return null;
    }
    if (c === '"') return string();
    if (c === "-" || (c >= "0" && c <= "9")) {
      const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      if (!m) return fail(`invalid number at ${found()}`);
      i += m[0].length;
      if (m[0].length === 400) return fail("number too long");
      return null;
    }
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return null;
      }
    }
    return fail(`expected a value, found ${found()}`);
  };
  const string = (): JSONSyntaxError | null => {
    i++;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return null;
      }
      if (c < 32) return fail("control character in a string (escape it)");
      if (c === 92) {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            i++;
            return fail("\\u needs four hex digits");
          }
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) {
          i++;
          return fail(`invalid escape \\${e ?? ""}`);
        }
        i += 2;
        continue;
      }
      i++;
    }
    return fail("unterminated string");
  };
  const key = (): JSONSyntaxError | null => {
    space();
    if (text[i] !== '"') return fail(`expected a quoted key, found ${found()}`);
    const err = string();
    if (err) return err;
    space();
    if (text[i] !== ":") return fail(`expected ":" after a key, found ${found()}`);
    i++;
    return value();
  };
  let err = value();
  while (err === null) {
    space();
    if (stack.length === 0) {
      return i < text.length ? fail(`unexpected ${found()} after the end of the JSON value`) : null;
    }
    const open = stack[stack.length - 1];
    const close = open === "{" ? "}" : "]";
    if (first) first = false;
    else if (text[i] === close) {
      stack.pop();
      i++;
      continue;
    } else if (text[i] === ",") i++;
    else return fail(`expected "," or "${close}", found ${found()}`);
    err = open === "{" ? key() : value();
  }
  return err;
}

/**
 * Parses JSON (after a leading byte-order mark, if any), naming `source`, the line and the column of a
 * syntax error.
 *
 * @throws {WeSpeakerError} with `code` when the text is not valid JSON
 */
export function parseJSONText(text: string, source: string, code: WeSpeakerErrorCode): unknown {
  // A byte-order mark is no part of the JSON, but editors on Windows write one.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (err) {
    const at = findJSONSyntaxError(text);
    const where = at ? `line ${at.line} column ${at.column}: ${at.message}` : (err as Error).message;
    throw new WeSpeakerError(code, `${source}: not valid JSON: ${where}`, { cause: err });
  }
}

/** `path` and a key or index appended in JavaScript notation: `segments[3].words[0].start`. */
export function jsonPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;
}
