/**
 * What a `RedisStorage` does for operators (the CLI, the dashboard, `Fleet`): it keeps every
 * circuit it holds listed in the registry (`RegistryListing`: the names of one turn in one ZADD),
 * and acts on a circuit by name, held by this process or not, only if Redis holds it
 * (`Operators`: an operator's tool never creates a circuit), besides the reads of `inspect.ts`.
 * `RedisStorage`'s public methods for operators are these.
 * @module
 */
import type { CircuitConfig } from "../../core/circuit.js";
import type { ControlAction } from "../../core/machine.js";
import { encodeConfig, isReplyError, type ScriptReply } from "./codec.js";
import { inspectCircuits, listCircuits, pruneRegistry, type CircuitInfo } from "./inspect.js";
import type { RedisKeys } from "./keys.js";
import type { RedisClient } from "./options.js";
import { newReplicaCircuit, type ReplicaCircuit } from "./replica-circuit.js";
import { MISSING, type ScriptCall, type ScriptCaller } from "./script-call.js";

/** What the registry's listing needs from its storage. */
export interface RegistryListingOptions {
  /** The registry's key (`RedisKeys.registry`). */
  readonly registry: string;
  /** The transport, which adds `[score, name]` pairs to the sorted set `key` in one command. */
  readonly transport: { zadd(key: string, entries: readonly (readonly [number, string])[]): Promise<void> };
  /** Redis refused the listing of `name` (an ACL without the registry key): operators would not see it. */
  readonly refused: (name: string, error: unknown) => void;
}

/**
 * The registry's listing of the circuits a storage holds. A listing lost with the connection (the
 * circuit's key was written, its name never reached the registry) is sent again when Redis
 * answers again (`retry`): every later read of the circuit finds its key, creates nothing, and so
 * would never list it, and operators would never see it.
 */
export class RegistryListing {
  readonly #options: RegistryListingOptions;
  /** Names to add to the registry, in one ZADD per turn of the event loop. */
  #due: [number, string][] = [];
  /**
   * Names whose ZADD was lost with the connection, or whose key a script may have written
   * unanswered: listed at the next `retry`.
   */
  readonly #lost = new Set<string>();

  /** Nothing is written before the first `list`. */
  constructor(options: RegistryListingOptions) {
    this.#options = options;
  }

  /** Adds `name` to the registry, scored `score` (Redis time): the names of one turn go in one ZADD. */
  list(score: number, name: string): void {
    if (this.#due.length === 0) {
      queueMicrotask(() => {
        const entries = this.#due.splice(0);
        this.#options.transport.zadd(this.#options.registry, entries).catch((error: unknown) => {
          // Lost with the connection: sent again once Redis answers (the outage is already reported).
          if (!isReplyError(error)) {
            for (const [, listed] of entries) this.#lost.add(listed);
            return;
          }
          // Refused: said once per name.
          for (const [, listed] of entries) this.#options.refused(listed, error);
        });
      });
    }
    this.#lost.delete(name);
    this.#due.push([score, name]);
  }

  /**
   * A script on `name` went unanswered: it may have written the key anew (and would have said so),
   * so `name` is listed at the next `retry`.
   */
  unsure(name: string): void {
    this.#lost.add(name);
  }

  /** The storage forgot `name`: its listing, if lost, is not sent again. */
  forget(name: string): void {
    this.#lost.delete(name);
  }

  /** Redis answers again: lists anew, scored `score`, the names whose listing was lost. */
  retry(score: number): void {
    const names = [...this.#lost];
    this.#lost.clear();
    for (const name of names) this.list(score, name);
  }
}

/** What the operators' actions and reads need from their storage. */
export interface OperatorsOptions {
  readonly keys: RedisKeys;
  /** Connects the storage (`RedisStorage.initialize`). */
  readonly initialize: () => Promise<void>;
  /** The command client, once started. */
  readonly client: () => RedisClient;
  /** The storage's script calls. */
  readonly scripts: ScriptCaller;
  /** The circuit `name` as this process holds it, if it does. */
  readonly held: (name: string) => ReplicaCircuit | undefined;
  /** The factory's clock (ms). */
  readonly clock: () => number;
}

/** The operators' actions and reads through a storage (`RedisStorage`'s methods of the same names). */
export class Operators {
  readonly #options: OperatorsOptions;

  /** Nothing is read or written before the first call. */
  constructor(options: OperatorsOptions) {
    this.#options = options;
  }

  /** `action` on circuit `name`, fleet-wide and atomic, only if Redis holds it: `false` when it does not. */
  async controlExisting(name: string, action: ControlAction): Promise<boolean> {
    await this.#options.initialize();
    return this.#operate(name, "control", { argument: action, now: this.#options.clock() }, action);
  }

  /** Replaces the config of circuit `name` fleet-wide, only if Redis holds it: `false` when it does not. */
  async configureExisting(name: string, config: CircuitConfig): Promise<boolean> {
    await this.#options.initialize();
    return this.#operate(name, "configure", { config: encodeConfig(config) }, "reconfigure");
  }

  /** Every circuit the registry lists, sorted. */
  async listCircuits(): Promise<string[]> {
    await this.#options.initialize();
    return listCircuits(this.#options.client(), this.#options.keys);
  }

  /** Drops from the registry the names whose keys are gone; resolves with them. */
  async pruneRegistry(): Promise<string[]> {
    await this.#options.initialize();
    return pruneRegistry(this.#options.client(), this.#options.keys);
  }

  /** What Redis holds for circuits `names` (default: every circuit the registry lists). */
  async inspect(names?: readonly string[]): Promise<CircuitInfo[]> {
    await this.#options.initialize();
    const { keys } = this.#options;
    const client = this.#options.client();
    return inspectCircuits(client, keys, names ?? (await listCircuits(client, keys)));
  }

  async #operate(name: string, script: "control" | "configure", call: ScriptCall, what: string): Promise<boolean> {
    // A circuit this process does not hold is run through a record of its own, never kept.
    const circuit = this.#options.held(name) ?? newReplicaCircuit(name, { threshold: 1, ttl: 1, halfOpenMaxCalls: 1 });
    let reply: ScriptReply | undefined;
    try {
      reply = await this.#options.scripts.run(script, circuit, {
        ...call,
        existing: true,
        learning: "internal",
        rethrow: true,
      });
    } catch (error) {
      if (error === MISSING) return false;
      throw error;
    }
    if (reply !== undefined) return true;
    throw new Error(`Redis is unavailable: cannot ${what} circuit ${name} fleet-wide`);
  }
}
