/**
 * The lifetime of a native model handle, shared by the model classes: closing is idempotent, a closed
 * model refuses calls, a handle closed while asynchronous calls still use it is freed after the last of
 * them, and a model garbage-collected without `close()` is freed by a FinalizationRegistry.
 *
 * @module
 */
import { WeSpeakerError } from "../errors.ts";
import type { Handle } from "./runtime.ts";

const leaked = new FinalizationRegistry<{ handle: Handle; free(handle: Handle): void }>(
  ({ handle, free }) => free(handle),
);

/** A model owning one native handle. */
export abstract class NativeModel implements Disposable {
  #handle: Handle | null;
  // Async calls still running, and the handle close() left for the last of them to free.
  #inFlight = 0;
  #freeWhenIdle: Handle | null = null;
  readonly #path: string;
  readonly #free: (handle: Handle) => void;
  readonly #what: string;

  /**
   * Takes ownership of a loaded handle.
   *
   * @param handle the loaded handle, owned from now on
   * @param path the weights file it came from
   * @param free the native function releasing it
   * @param what names the model in errors ("model", "segmentation model")
   */
  protected constructor(handle: Handle, path: string, free: (handle: Handle) => void, what: string) {
    this.#handle = handle;
    this.#path = path;
    this.#free = free;
    this.#what = what;
    leaked.register(this, { handle, free }, this);
  }

  /** The weights file this model was loaded from. */
  get path(): string {
    return this.#path;
  }

  /** Whether {@link close} has been called. */
  get closed(): boolean {
    return this.#handle === null;
  }

  /** The handle, for a call now. @throws {WeSpeakerError} `closed` */
  protected live(): Handle {
    if (this.#handle === null) {
      throw new WeSpeakerError("closed", `${this.#what} ${this.#path} is closed: load it again to use it`);
    }
    return this.#handle;
  }

  /** Runs an asynchronous native call, keeping the handle alive until it settles even if closed meanwhile. */
  protected async whileLive<T>(call: (handle: Handle) => Promise<T>): Promise<T> {
    const handle = this.live();
    this.#inFlight++;
    try {
      return await call(handle);
    } finally {
      if (--this.#inFlight === 0 && this.#freeWhenIdle !== null) {
        this.#free(this.#freeWhenIdle);
        this.#freeWhenIdle = null;
      }
    }
  }

  /** Frees the native model. Idempotent; any later call on this model throws `closed`. */
  close(): void {
    if (this.#handle === null) return;
    const handle = this.#handle;
    this.#handle = null;
    leaked.unregister(this);
    if (this.#inFlight > 0) this.#freeWhenIdle = handle;
    else this.#free(handle);
  }

  /** Same as {@link close}, for `using model = …`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
