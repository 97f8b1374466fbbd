/**
 * The dashboard's watch of the fleet's traffic (a `TrafficWatch`, `Fleet.watchTraffic`), held only
 * while somebody looks: it starts when the first page connects (or `GET /api/traffic` is read),
 * and is closed `lingerMs` after the last page left (a reload keeps it, and its history) or once
 * the API's lease ran out. While nobody looks, the processes report nothing: a dashboard nobody
 * looks at costs the fleet nothing.
 *
 * Each second of the watch becomes one `traffic` event (`traffic-wire.ts`), serialised once for
 * every stream; a page that connects gets the histories kept so far (`traffic-history`), and every
 * page hears the watch's state (`traffic-status`: starting, on, failed and why).
 * @module
 */
import type { TrafficSnapshot, TrafficWatchOptions } from "../storage/redis/traffic-watch.js";
import { encodeFrame, encodeHistory, type TotalsPoint, type WireLimits } from "./traffic-wire.js";

/** What the dashboard needs of a traffic watch (a `TrafficWatch` is one). */
export interface DashboardTrafficWatch {
  snapshot(): TrafficSnapshot;
  onUpdate(listener: (snapshot: TrafficSnapshot) => void): () => void;
  close(): Promise<void>;
}

/** Starts a watch of the fleet's traffic (`(options) => fleet.watchTraffic(options)`). */
export type StartTraffic = (options: TrafficWatchOptions) => Promise<DashboardTrafficWatch>;

/** The watch's state, as the pages are told it. */
export interface TrafficStatus {
  readonly state: "idle" | "starting" | "on" | "failed" | "unsupported";
  /** Why it failed to start, in the fleet's words (`failed` only). */
  readonly error: string | null;
}

/** Options of the dashboard's traffic. */
export interface TrafficOptions extends WireLimits {
  /** Milliseconds the watch outlives the last page (a reload keeps it). Default 2000. */
  readonly lingerMs?: number;
  /** Milliseconds a `GET /api/traffic` keeps the watch (a script polling it keeps it on). Default 30 000. */
  readonly leaseMs?: number;
  /** Milliseconds before trying again after the watch failed to start. Default 10 000. */
  readonly retryMs?: number;
  /** The watch's own options (its history, announcements, grace). */
  readonly watch?: TrafficWatchOptions;
}

/** What the feed tells the server. */
export interface TrafficHooks {
  /** Redis's time now (epoch ms). */
  now(): number;
  /** A `traffic` event's data, serialised once: to write to every stream. */
  frame(json: string): void;
  /** The watch's state changed: to tell every stream. */
  status(status: TrafficStatus): void;
}

/** What the feed did, for tests and the report of bytes a second. */
export interface TrafficStats {
  readonly state: TrafficStatus["state"];
  /** Watches started so far. */
  readonly started: number;
  /** `traffic` events serialised so far, and their bytes. */
  readonly frames: number;
  readonly frameBytes: number;
}

/** The dashboard's traffic watch and its events. */
export class TrafficFeed {
  readonly #start: StartTraffic | undefined;
  readonly #options: TrafficOptions;
  readonly #hooks: TrafficHooks;
  readonly #lingerMs: number;
  readonly #leaseMs: number;
  readonly #retryMs: number;
  #status: TrafficStatus;
  /** Pages connected (event streams). */
  #holders = 0;
  /** When the last page left (epoch ms of this machine). */
  #leftAt = 0;
  /** Until when an API read keeps the watch (epoch ms of this machine). */
  #leaseUntil = 0;
  #watch: DashboardTrafficWatch | undefined;
  #unsubscribe: (() => void) | undefined;
  /** The watch being started. */
  #starting: Promise<void> | undefined;
  #stopTimer: ReturnType<typeof setTimeout> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** The fleet's totals, one a second, since the watch started (for the pages that connect). */
  #totals: TotalsPoint[] = [];
  #latest: TrafficSnapshot | undefined;
  /** The latest `traffic-history` made, by the second it ends at. */
  #history: { t: number; json: string } | undefined;
  #started = 0;
  #frames = 0;
  #frameBytes = 0;

  constructor(start: StartTraffic | undefined, options: TrafficOptions, hooks: TrafficHooks) {
    this.#start = start;
    this.#options = options;
    this.#hooks = hooks;
    this.#lingerMs = options.lingerMs ?? 2000;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#retryMs = options.retryMs ?? 10_000;
    this.#status = { state: start === undefined ? "unsupported" : "idle", error: null };
  }

  get status(): TrafficStatus {
    return this.#status;
  }

  stats(): TrafficStats {
    return { state: this.#status.state, started: this.#started, frames: this.#frames, frameBytes: this.#frameBytes };
  }

  /** A page connected: the watch runs until it leaves (and `lingerMs` more). Returns its leaving (idempotent). */
  hold(): () => void {
    this.#holders += 1;
    this.#reconcile();
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#holders -= 1;
      if (this.#holders === 0) this.#leftAt = Date.now();
      this.#reconcile();
    };
  }

  /** An API read: the watch runs for `leaseMs` more. */
  lease(): void {
    this.#leaseUntil = Math.max(this.#leaseUntil, Date.now() + this.#leaseMs);
    this.#reconcile();
  }

  /**
   * The `traffic-history` event's data for a page that connects (made once per second whatever
   * the pages connecting), or `undefined` before the watch's first second.
   */
  historyJson(): string | undefined {
    const latest = this.#latest;
    if (latest === undefined || latest.t === 0) return undefined;
    if (this.#history?.t !== latest.t) {
      const history = encodeHistory(latest, this.#totals, this.#hooks.now(), this.#options);
      this.#history = { t: latest.t, json: JSON.stringify(history) };
    }
    return this.#history.json;
  }

  /** What `GET /api/traffic` answers: the latest second in full (with each circuit's history if asked). */
  api(withHistory: boolean): object {
    const latest = this.#latest;
    const circuits = (latest?.circuits ?? []).map((c) => (withHistory ? c : { ...c, history: undefined }));
    return {
      now: this.#hooks.now(),
      traffic: this.#status,
      t: latest?.t ?? 0,
      processes: latest?.processes ?? 0,
      totals: latest?.totals ?? { calls: 0, errors: 0, rejected: 0, errorRate: 0 },
      circuits,
    };
  }

  /** Stops for good (the dashboard closes). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#stopTimer);
    clearTimeout(this.#retryTimer);
    await this.#starting;
    await this.#stop();
  }

  /**
   * Until when somebody looks (epoch ms of this machine): for ever while a page is open; else
   * `lingerMs` after the last page left, or the API's lease, whichever ends later.
   */
  #until(): number {
    if (this.#holders > 0) return Infinity;
    return Math.max(this.#leftAt + this.#lingerMs, this.#leaseUntil);
  }

  #setStatus(status: TrafficStatus): void {
    if (status.state === this.#status.state && status.error === this.#status.error) return;
    this.#status = status;
    this.#hooks.status(status);
  }

  /** Starts the watch if somebody looks, and plans its end; or ends it if nobody does. */
  #reconcile(): void {
    if (this.#closed || this.#start === undefined) return;
    clearTimeout(this.#stopTimer);
    this.#stopTimer = undefined;
    const until = this.#until();
    if (Date.now() < until) {
      if (this.#watch === undefined && this.#starting === undefined && this.#retryTimer === undefined)
        this.#starting = this.#begin(this.#start).finally(() => (this.#starting = undefined));
      if (until !== Infinity) {
        this.#stopTimer = setTimeout(() => this.#reconcile(), until - Date.now());
        this.#stopTimer.unref?.();
      }
      return;
    }
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#watch !== undefined || this.#starting !== undefined) void this.#stopOnceStarted();
  }

  /** Stops the watch (once started), unless somebody came to look meanwhile. */
  async #stopOnceStarted(): Promise<void> {
    await this.#starting;
    if (Date.now() >= this.#until()) await this.#stop();
    else this.#reconcile();
  }

  async #begin(start: StartTraffic): Promise<void> {
    this.#setStatus({ state: "starting", error: null });
    let watch: DashboardTrafficWatch;
    try {
      watch = await start(this.#options.watch ?? {});
    } catch (error) {
      this.#setStatus({ state: "failed", error: error instanceof Error ? error.message : String(error) });
      if (!this.#closed) {
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#reconcile();
        }, this.#retryMs);
        this.#retryTimer.unref?.();
      }
      return;
    }
    this.#started += 1;
    this.#watch = watch;
    this.#totals = [];
    this.#latest = undefined;
    this.#history = undefined;
    this.#unsubscribe = watch.onUpdate((snapshot) => this.#update(snapshot));
    this.#setStatus({ state: "on", error: null });
    // Nobody looks any more (the page left while the watch started), or the dashboard closed.
    if (this.#closed) await this.#stop();
    else this.#reconcile();
  }

  async #stop(): Promise<void> {
    const watch = this.#watch;
    if (watch === undefined) return;
    this.#watch = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#latest = undefined;
    this.#history = undefined;
    this.#totals = [];
    if (!this.#closed) this.#setStatus({ state: "idle", error: null });
    await watch.close().catch(() => undefined);
  }

  #update(snapshot: TrafficSnapshot): void {
    if (this.#watch === undefined || snapshot.t === 0) return;
    this.#latest = snapshot;
    const { calls, errors, rejected, errorRate } = snapshot.totals;
    const last = this.#totals[this.#totals.length - 1];
    if (last === undefined || snapshot.t > last.t) {
      this.#totals.push({ t: snapshot.t, calls, errors, rejected, errorRate, processes: snapshot.processes });
      const history = this.#options.watch?.historySeconds ?? 300;
      if (this.#totals.length > history) this.#totals.splice(0, this.#totals.length - history);
    }
    const json = JSON.stringify(encodeFrame(snapshot, this.#hooks.now(), this.#options));
    this.#frames += 1;
    this.#frameBytes += Buffer.byteLength(json);
    this.#hooks.frame(json);
  }
}
