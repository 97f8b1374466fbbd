/**
 * What a `RedisStorage` says of its own health: once per outage, so that a degraded fleet is never
 * silent, even without a hook. The first failure of an outage is reported `storage_unavailable`
 * (with a process warning naming where Redis is and the policy the circuits follow meanwhile); a
 * refusal of the connection's configuration (an ACL, a missing command) met during it, once, as
 * `storage_error`; the recovery after a reported outage as `storage_recovered` (and a warning).
 * What the circuits do meanwhile (`onStorageError`) is the storage's.
 * @module
 */
import type { CircuitHookArgs } from "../../events.js";
import type { RedisSettings } from "./options.js";
import { RedisConfigurationError } from "./transport.js";

/**
 * A process warning (`process.emitWarning`, where there is a `process`), prefixed with the
 * library's name.
 */
export function processWarning(message: string, code: string): void {
  globalThis.process?.emitWarning?.(`purgatory: ${message}`, { code });
}

/**
 * Where Redis is, for messages: the URL with its password masked, `redis://127.0.0.1:6379` when
 * neither a URL nor a client was given, or "the client passed".
 */
export function redisLocation(settings: Pick<RedisSettings, "url" | "client">): string {
  const { url } = settings;
  if (url === undefined) return settings.client === undefined ? "redis://127.0.0.1:6379" : "the client passed";
  const parsed = new URL(url);
  if (parsed.password !== "") parsed.password = "***";
  return parsed.href;
}

/** What the outage reports need from their storage. */
export interface OutageOptions {
  /** The storage's settings: where Redis is, and the outage policy named in the warning. */
  readonly settings: Pick<RedisSettings, "url" | "client" | "onStorageError">;
  /** Calls the storage's subscribers. */
  readonly emit: (...args: CircuitHookArgs) => void;
  /** Says a process warning (default `processWarning`). */
  readonly warn?: (message: string, code: string) => void;
}

/** The reports of a storage's outages. */
export class Outage {
  readonly #options: OutageOptions;
  readonly #warn: (message: string, code: string) => void;
  #reported = false;
  #refusalReported = false;

  /** Nothing is reported before the first `down`. */
  constructor(options: OutageOptions) {
    this.#options = options;
    this.#warn = options.warn ?? processWarning;
  }

  /** Whether an outage was reported and its recovery not yet. */
  get reported(): boolean {
    return this.#reported;
  }

  /**
   * Redis failed (`error`, as the transport met it): the first failure of an outage is reported,
   * and the first refusal of the configuration during it.
   */
  down(error: unknown): void {
    if (!this.#reported) {
      this.#reported = true;
      this.#refusalReported = error instanceof RedisConfigurationError;
      this.#options.emit("*", "storage_unavailable", { name: "*", storage: "redis", error });
      const cause = error instanceof Error ? error.message : String(error);
      this.#warn(
        `Redis is unavailable at ${redisLocation(this.#options.settings)} (${cause}); circuits go on under ` +
          `onStorageError "${this.#options.settings.onStorageError}" until it answers again`,
        "PURGATORY_STORAGE_UNAVAILABLE",
      );
    } else if (error instanceof RedisConfigurationError && !this.#refusalReported) {
      this.#refusalReported = true;
      this.#options.emit("*", "storage_error", { name: "*", storage: "redis", error });
    }
  }

  /** Redis answers again and the circuits follow it: the recovery of a reported outage is reported. */
  recovered(): void {
    if (!this.#reported) return;
    this.#reported = false;
    this.#refusalReported = false;
    this.#options.emit("*", "storage_recovered", { name: "*", storage: "redis" });
    this.#warn(
      `Redis answers again at ${redisLocation(this.#options.settings)}; circuits follow it again`,
      "PURGATORY_STORAGE_RECOVERED",
    );
  }
}
