/**
 * What a process hands over to Redis without a call outcome to carry it: the counts of its
 * circuits' rate windows (a success costs no command; the counts go at most every `flushInterval`)
 * and, for a circuit with a quorum, that this process calls it (its presence as an active caller,
 * with whether it is open for itself): at once (in the next turn of the event loop) for a circuit
 * Redis has not heard it call yet, so that a sick process's failures never find the healthy
 * callers unknown for a flush interval; then renewed, with the next hand-over, every quarter of
 * the caller horizon. One timer for the hand-overs, one for the renewals, none per circuit. The
 * scripts that carry calls say the presence too (`presence`).
 * @module
 */
import type { CircuitConfig } from "../../core/circuit.js";
import { callerHorizonMs } from "../../core/quorum.js";
import { openForMs, type OwnCircuit } from "./own.js";

/** What the hand-overs read and mark on a circuit. */
export interface HandedCircuit {
  readonly config: CircuitConfig;
  readonly forgotten: boolean;
  readonly own: OwnCircuit | null;
  queued: boolean;
  announced: boolean;
  announcedAt: number;
  openSaid: boolean;
}

/** ARGV 11 to 13 of a script: the caller's process name, its caller horizon (ms), its own opening. */
export type Presence = readonly [processName: string, horizonMs: number, opening: string];

/** A script that carries no call of a circuit with a quorum says nothing of this process. */
export const NO_PRESENCE: Presence = ["", 0, ""];

/** What the hand-overs need from their storage. */
export interface HandOverOptions<C> {
  /** Milliseconds between a first queued circuit and the hand-over. */
  readonly flushInterval: number;
  /** The storage's `callerHorizon`, ms. */
  readonly callerHorizon: number;
  /** This process's name in the fleet. */
  readonly processName: string;
  /** The factory's clock (ms). */
  readonly clock: () => number;
  /** The circuits the storage holds, for the renewals. */
  readonly circuits: () => Iterable<C>;
  /** Hands over what `circuit` gathered (one script); never rejects. */
  readonly send: (circuit: C) => Promise<void>;
}

/** A storage's hand-overs. */
export class HandOver<C extends HandedCircuit> {
  readonly #options: HandOverOptions<C>;
  #due: C[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Whether the armed hand-over is the one of the next turn (not `flushInterval` away). */
  #soon = false;
  #renewal: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /** No timer runs before the first `queue` (or a circuit with a quorum). */
  constructor(options: HandOverOptions<C>) {
    this.#options = options;
  }

  /**
   * Adds a circuit to the next hand-over (window counts, presence), at most `flushInterval` away,
   * or `soon` (the next turn of the event loop, with everything due).
   */
  queue(circuit: C, soon = false): void {
    if (!circuit.queued) {
      circuit.queued = true;
      this.#due.push(circuit);
    }
    if (this.#closed || (this.#timer !== undefined && (!soon || this.#soon))) return;
    clearTimeout(this.#timer);
    this.#soon = soon;
    this.#timer = setTimeout(() => void this.#flush(), soon ? 0 : this.#options.flushInterval);
    this.#timer.unref?.();
  }

  /**
   * With a quorum: a hand-over tells Redis that this process calls the circuit, at once when Redis
   * has not heard it yet (a first call, a new incarnation, the end of an outage), else with the
   * next one.
   */
  announce(circuit: C): void {
    circuit.announced = true;
    this.queue(circuit, circuit.announcedAt === 0);
  }

  /** Redis may not know that this process calls the circuit (or is open for itself): said at the next call. */
  renounce(circuit: C): void {
    circuit.announced = false;
    circuit.announcedAt = 0;
    circuit.openSaid = false;
  }

  /**
   * A circuit's quorum appeared: every quarter of its caller horizon, a circuit with a quorum that
   * this process keeps calling says so again (at its next call). One timer for every circuit.
   */
  watchRenewals(): void {
    if (this.#renewal !== undefined || this.#closed) return;
    this.#renewal = setInterval(() => this.#renew(), this.#options.callerHorizon / 4);
    this.#renewal.unref?.();
  }

  /** The caller horizon (ms) of `circuit`: the storage's, or its rate window if longer. */
  horizon(circuit: C): number {
    return callerHorizonMs(circuit.config, this.#options.callerHorizon);
  }

  /**
   * What a script carrying this process's calls of `circuit` says of it (ARGV 11 to 13,
   * scripts/prologue.lua): its name, how long it counts as an active caller, and whether it is
   * open for itself at `redisNow` (the ms it stays so, `+` first when the failure it carries opened
   * it, `-1` once closed again after Redis heard it open, `''` nothing new).
   */
  presence(circuit: C, redisNow: number, tentative: boolean): Presence {
    if (circuit.own === null) return NO_PRESENCE;
    const openMs = openForMs(circuit.own, redisNow);
    const opening = openMs !== null ? `${tentative ? "+" : ""}${Math.round(openMs)}` : circuit.openSaid ? "-1" : "";
    return [this.#options.processName, this.horizon(circuit), opening];
  }

  /** Redis heard `presence` (sent at `now`): the process counts as an active caller from then on. */
  presented(circuit: C, presence: Presence, now: number): void {
    circuit.announcedAt = now;
    const opening = presence[2];
    if (opening !== "") circuit.openSaid = opening !== "-1";
  }

  /** Stops both timers; what is queued is not handed over. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#renewal);
  }

  async #flush(): Promise<void> {
    this.#timer = undefined;
    this.#soon = false;
    const due = this.#due;
    this.#due = [];
    await Promise.all(
      due.map((circuit) => {
        circuit.queued = false;
        return circuit.forgotten ? Promise.resolve() : this.#options.send(circuit);
      }),
    );
  }

  #renew(): void {
    const now = this.#options.clock();
    for (const circuit of this.#options.circuits()) {
      if (circuit.own === null || !circuit.announced) continue;
      if (now - circuit.announcedAt >= this.horizon(circuit) / 4) circuit.announced = false;
    }
  }
}
