/**
 * The storages the behaviour suite runs against. Each kind makes a fresh storage per test and
 * says how time passes for it: the memory kind injects a clock that `advance` moves instantly; a
 * kind over a real server (Redis) leaves `clock` unset and sleeps for real in `advance`, so the
 * behaviour tests use small ttls (0.05 s) and advance by a little more (60 ms).
 *
 * To run the whole behaviour suite over a new storage, append one kind to `storageKinds`.
 */
import { InMemoryStorage, type CircuitStorage } from "../../src/index.js";

/** One storage made for one test. */
export interface StorageHarness {
  /** The storage to give to the factories of the test. */
  readonly storage: CircuitStorage;
  /** The clock to give to the factories (epoch ms); unset means real time (`Date.now`). */
  readonly clock?: () => number;
  /** Lets `ms` milliseconds pass for the storage and the clock. */
  advance(ms: number): Promise<void>;
  /** Releases what `create` made (connections, keys). */
  cleanup(): Promise<void>;
}

/** A storage the behaviour suite runs against. */
export interface StorageKind {
  readonly name: string;
  create(): Promise<StorageHarness>;
}

/** Circuits in this process's memory; time is a number moved by `advance`, never slept. */
export const memoryKind: StorageKind = {
  name: "memory",
  async create() {
    let now = Date.UTC(2030, 0, 1);
    const storage = new InMemoryStorage();
    return {
      storage,
      clock: () => now,
      advance: async (ms) => {
        now += ms;
      },
      cleanup: () => storage.close(),
    };
  },
};

/** Every kind the behaviour suite runs against. */
export const storageKinds: readonly StorageKind[] = [memoryKind];
