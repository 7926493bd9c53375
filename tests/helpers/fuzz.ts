// Seeded mutation fuzzing shared by the parsers' fuzz tests: a deterministic PRNG and a text mutator.

/** A small deterministic PRNG: the same mutations on every run and runtime. `next(n)` is in [0, n). */
export function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** Pieces that break text parsers: separators, signs, number parts, odd spaces, huge fields. */
export const PIECES: readonly string[] = [
  " ",
  "\t",
  "\n",
  "\r\n",
  "\r",
  ";;",
  "#",
  "-",
  "+",
  ".",
  "e",
  "E",
  "e-",
  "e+999",
  "0",
  "9",
  "1e308",
  "NaN",
  "Infinity",
  "inf",
  "<NA>",
  "SPEAKER",
  "SPKR-INFO",
  "\u00a0",
  "\u2028",
  "\ufeff",
  "0x1f",
  "１",
  "1".repeat(5000),
  "9".repeat(400) + ".",
  ".".repeat(300),
  "e".repeat(300),
  "é",
  "\u0000",
];

/** 1 to 5 seeded edits of `text`: replace, insert, delete, truncate, duplicate, random characters. */
export function mutateText(
  text: string,
  next: (n: number) => number,
  pieces: readonly string[] = PIECES,
): string {
  let out = text;
  for (let k = 1 + next(5); k > 0; k--) {
    const at = next(out.length + 1);
    switch (next(6)) {
      case 0: // replace a character
        out = out.slice(0, at) + pieces[next(pieces.length)] + out.slice(at + 1);
        break;
      case 1: // insert
        out = out.slice(0, at) + pieces[next(pieces.length)] + out.slice(at);
        break;
      case 2: // delete a stretch
        out = out.slice(0, at) + out.slice(at + 1 + next(12));
        break;
      case 3: // truncate
        out = out.slice(0, at);
        break;
      case 4: { // duplicate a stretch
        const end = Math.min(out.length, at + next(80));
        out = out.slice(0, end) + out.slice(at, end) + out.slice(end);
        break;
      }
      default: // a random printable character
        out = out.slice(0, at) + String.fromCharCode(32 + next(95)) + out.slice(at + 1);
    }
  }
  return out;
}
