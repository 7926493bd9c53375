/**
 * Where a speaker registry keeps its speakers and clips: a small storage interface with two
 * implementations, an SQLite database (`sqlite.ts`, the default, persistent) and memory (here). The
 * registry validates everything before it writes; a store only stores.
 *
 * @module
 */

/** One enrollment clip as stored: its embedding and where it came from. */
export interface ClipRecord {
  /** Name of the model that made the embedding (see `ModelIdentity`). */
  model: string;
  /** Revision of that model: what is compared (see `ModelIdentity`). */
  revision: string;
  /** Where the clip came from (a file path, a label), or null. */
  source: string | null;
  /** When it was added, ISO 8601 UTC. */
  added: string;
  /** The embedding, as the model returned it with `raw: true` (or as given). */
  embedding: Float32Array;
}

/** A stored clip and the speaker it belongs to. */
export interface StoredClip extends ClipRecord {
  /** The speaker's name. */
  speaker: string;
}

/** One stored speaker. */
export interface SpeakerRecord {
  /** Unique name. */
  name: string;
  /** When the speaker was first enrolled, ISO 8601 UTC. */
  created: string;
  /** How many clips it has. */
  clips: number;
}

/** Clips to add to one speaker. */
export interface SpeakerWrite {
  /** The speaker; created (with `created`) when absent. */
  name: string;
  /** Creation time for a new speaker. */
  created: string;
  /** Clips to add. */
  clips: ClipRecord[];
  /** Drop the speaker's earlier clips first. */
  replace: boolean;
}

/** A (model, revision, embedding length) held by a store and how many clips have it. */
export interface ModelCount {
  /** Model name. */
  model: string;
  /** Model revision. */
  revision: string;
  /** Values per embedding. */
  dim: number;
  /** Clips made by it. */
  clips: number;
}

/** Storage behind a `SpeakerRegistry`. Lists are ordered by speaker name (code points), then clip age. */
export interface RegistryStore {
  /** Where it lives, for messages (a path, or "memory"). */
  readonly location: string;
  /** A number that changes whenever the contents change, through this store or another connection. */
  version(): number;
  /** Every speaker. */
  speakers(): SpeakerRecord[];
  /** Whether a speaker of that name exists. */
  has(name: string): boolean;
  /** One speaker, or null. */
  speaker(name: string): SpeakerRecord | null;
  /** The clips of one speaker, or of all speakers. */
  clips(name?: string): StoredClip[];
  /**
   * Calls `fn` with each clip's speaker and embedding, by speaker name then clip age, without holding them
   * all: what a search loads from a registry of 100,000 speakers.
   */
  forEachEmbedding(fn: (speaker: string, embedding: Float32Array) => void): void;
  /** The distinct (model, revision, embedding length) of the stored clips. */
  models(): ModelCount[];
  /** Applies the writes all at once or not at all. */
  write(writes: readonly SpeakerWrite[]): void;
  /** Renames an existing speaker to a free name. */
  rename(from: string, to: string): void;
  /** Removes an existing speaker and its clips. */
  remove(name: string): void;
  /** Releases the store; idempotent. */
  close(): void;
}

/** Compares strings by code point, as SQLite's default collation compares their UTF-8 bytes. */
export function byCodePoint(a: string, b: string): number {
  for (let i = 0; i < a.length && i < b.length;) {
    const x = a.codePointAt(i)!, y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

interface MemorySpeaker {
  created: string;
  clips: ClipRecord[];
}

/** A store in memory: nothing persists beyond the process (export it to keep it). */
export class MemoryStore implements RegistryStore {
  readonly location = "memory";
  #speakers = new Map<string, MemorySpeaker>();
  #version = 0;

  version(): number {
    return this.#version;
  }

  speakers(): SpeakerRecord[] {
    return this.#names().map((name) => {
      const s = this.#speakers.get(name)!;
      return { name, created: s.created, clips: s.clips.length };
    });
  }

  has(name: string): boolean {
    return this.#speakers.has(name);
  }

  speaker(name: string): SpeakerRecord | null {
    const s = this.#speakers.get(name);
    return s ? { name, created: s.created, clips: s.clips.length } : null;
  }

  clips(name?: string): StoredClip[] {
    const names = name === undefined ? this.#names() : this.#speakers.has(name) ? [name] : [];
    return names.flatMap((speaker) =>
      this.#speakers.get(speaker)!.clips.map((c) => ({ ...c, embedding: c.embedding.slice(), speaker }))
    );
  }

  forEachEmbedding(fn: (speaker: string, embedding: Float32Array) => void): void {
    for (const speaker of this.#names()) {
      for (const c of this.#speakers.get(speaker)!.clips) fn(speaker, c.embedding);
    }
  }

  models(): ModelCount[] {
    const counts = new Map<string, ModelCount>();
    for (const { clips } of this.#speakers.values()) {
      for (const { model, revision, embedding } of clips) {
        const key = JSON.stringify([model, revision, embedding.length]);
        const entry = counts.get(key) ?? { model, revision, dim: embedding.length, clips: 0 };
        entry.clips++;
        counts.set(key, entry);
      }
    }
    return [...counts.values()];
  }

  write(writes: readonly SpeakerWrite[]): void {
    const next = new Map(this.#speakers);
    for (const w of writes) {
      const old = next.get(w.name);
      const kept = old && !w.replace ? old.clips : [];
      next.set(w.name, {
        created: old?.created ?? w.created,
        clips: [...kept, ...w.clips.map((c) => ({ ...c, embedding: c.embedding.slice() }))],
      });
    }
    this.#speakers = next;
    this.#version++;
  }

  rename(from: string, to: string): void {
    const speaker = this.#speakers.get(from)!;
    this.#speakers.delete(from);
    this.#speakers.set(to, speaker);
    this.#version++;
  }

  remove(name: string): void {
    this.#speakers.delete(name);
    this.#version++;
  }

  close(): void {}

  #names(): string[] {
    return [...this.#speakers.keys()].sort(byCodePoint);
  }
}
