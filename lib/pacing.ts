/**
 * Client-side pacing of EC2's rate-limited actions, adapted to what EC2 answers. EC2 refills each action's token
 * bucket at a fixed rate (CreateImage 5 a second) per account and Region, and every client of the account draws from
 * it: other tools may take part of it all night. So each action's pace is additive-increase/multiplicative-decrease:
 * it starts at EC2's documented refill rate, drops to {@link AIMD}.decrease of itself when EC2 answers
 * RequestLimitExceeded, creeps back up while calls pass, and never goes above the documented rate. Below the rate EC2
 * gives it, the service leaves tokens in EC2's bucket; above, it takes them back until the bucket is empty and EC2
 * throttles one call: so on average it gets what is left to it, at the cost of about one throttled call a cycle.
 *
 * The SDK's `adaptive` retry mode (`DefaultRateLimiter`) was not used: it keeps one rate per client, so a throttled
 * CreateImage would slow every other action though each has its own bucket; it sends without limit until the first
 * throttle; and its cubic growth overshoots a share held steadily by another client within seconds.
 *
 * The decisions are pure functions over {@link PaceState}; {@link Pacer} keeps the state and waits with the global
 * clock and timers (`Date.now`, `setTimeout`), so a benchmark in virtual time counts its waits.
 */

export interface Rate {
  readonly perSecond: number;
  /** Calls that may go at once after a pause. */
  readonly burst: number;
}

/** EC2's documented refill rates and bucket sizes (EC2 developer guide, "Request throttling"): the ceilings. */
export const EC2_RATES: Readonly<Record<string, Rate>> = {
  CreateImage: { perSecond: 5, burst: 50 },
  CreateTags: { perSecond: 10, burst: 100 },
  DeleteTags: { perSecond: 10, burst: 100 },
  DeregisterImage: { perSecond: 5, burst: 100 },
  DeleteSnapshot: { perSecond: 5, burst: 100 },
  // Its own bucket, in the destination Region (the call is made there): 100 calls, refilled at 1 a second.
  CopyImage: { perSecond: 1, burst: 100 },
};

export interface Aimd {
  /** The share of its pace an action keeps when EC2 throttles it. */
  readonly decrease: number;
  /** The share of the ceiling an action gains for each second of calls passing at its pace. */
  readonly increase: number;
  /** The share of the ceiling below which a pace never drops. */
  readonly floor: number;
}

/** From 70% back to 100% of the ceiling in 150 s of calls: slow enough that EC2's bucket never overflows meanwhile. */
export const AIMD: Aimd = { decrease: 0.7, increase: 0.002, floor: 0.02 };

export interface PaceState {
  /** The action's pace now, calls a second. */
  readonly perSecond: number;
  /** Calls that may go now; negative when callers hold reservations ahead. */
  readonly tokens: number;
  readonly updatedAtMs: number;
  /** When the pace last dropped: a call reserved before then was throttled at the old pace, and counts no more. */
  readonly decreasedAtMs: number;
}

/**
 * The pace at rest: at the ceiling with a full bucket, one call short of EC2's, so that a call arriving a moment
 * early (rounding, latency) still finds a token there.
 */
export function initialPace(ceiling: Rate, nowMs: number): PaceState {
  return {
    perSecond: ceiling.perSecond,
    tokens: ceiling.burst - 1,
    updatedAtMs: nowMs,
    decreasedAtMs: Number.NEGATIVE_INFINITY,
  };
}

/** The state at `nowMs`: the bucket refilled at the pace, up to the burst. */
function refilled(state: PaceState, ceiling: Rate, nowMs: number): PaceState {
  const elapsedSeconds = Math.max(0, nowMs - state.updatedAtMs) / 1000;
  return {
    ...state,
    tokens: Math.min(ceiling.burst - 1, state.tokens + elapsedSeconds * state.perSecond),
    updatedAtMs: Math.max(state.updatedAtMs, nowMs),
  };
}

/** A call's reservation: the state with its token taken, and how long the caller waits for it. */
export function reserve(state: PaceState, ceiling: Rate, nowMs: number): { state: PaceState; waitMs: number } {
  const current = refilled(state, ceiling, nowMs);
  const tokens = current.tokens - 1;
  // Rounded up: a call never goes before its token is there.
  const waitMs = tokens >= 0 ? 0 : Math.ceil((-tokens / current.perSecond) * 1000);
  return { state: { ...current, tokens }, waitMs };
}

/** A call passed: the pace grows by `increase` of the ceiling per second of calls at that pace, up to the ceiling. */
export function afterPass(state: PaceState, ceiling: Rate, nowMs: number, aimd: Aimd = AIMD): PaceState {
  const current = refilled(state, ceiling, nowMs);
  const perSecond = Math.min(
    ceiling.perSecond,
    current.perSecond + (aimd.increase * ceiling.perSecond) / current.perSecond,
  );
  return { ...current, perSecond };
}

/**
 * EC2 throttled a call reserved at `reservedAtMs`: its bucket is empty, so the saved burst goes and the pace drops by
 * `decrease`, once for the calls reserved at one pace (those reserved before the last drop change nothing).
 */
export function afterThrottle(
  state: PaceState,
  ceiling: Rate,
  reservedAtMs: number,
  nowMs: number,
  aimd: Aimd = AIMD,
): PaceState {
  const current = refilled(state, ceiling, nowMs);
  if (reservedAtMs < current.decreasedAtMs) return current;
  return {
    ...current,
    perSecond: Math.max(aimd.floor * ceiling.perSecond, current.perSecond * aimd.decrease),
    tokens: Math.min(0, current.tokens),
    decreasedAtMs: nowMs,
  };
}

/** One action's pace, kept between the calls of every invocation of a warm function. */
export class Pacer {
  private state: PaceState;

  constructor(
    private readonly ceiling: Rate,
    private readonly aimd: Aimd = AIMD,
  ) {
    this.state = initialPace(ceiling, Date.now());
  }

  /** Resolves when the caller may make its call, with the time of its reservation (for {@link throttled}). */
  async take(): Promise<number> {
    const reservedAtMs = Date.now();
    const { state, waitMs } = reserve(this.state, this.ceiling, reservedAtMs);
    this.state = state;
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    return reservedAtMs;
  }

  passed(): void {
    this.state = afterPass(this.state, this.ceiling, Date.now(), this.aimd);
  }

  throttled(reservedAtMs: number): void {
    this.state = afterThrottle(this.state, this.ceiling, reservedAtMs, Date.now(), this.aimd);
  }
}

/** One pacer per rate-limited action, made on first use. */
export class Pacers {
  private readonly pacers = new Map<string, Pacer>();

  constructor(
    private readonly ceilings: Readonly<Record<string, Rate>> = EC2_RATES,
    private readonly aimd: Aimd = AIMD,
  ) {}

  /** The action's pacer, or undefined when the action is not paced. */
  of(action: string): Pacer | undefined {
    const ceiling = this.ceilings[action];
    if (ceiling === undefined) return undefined;
    let pacer = this.pacers.get(action);
    if (pacer === undefined) {
      pacer = new Pacer(ceiling, this.aimd);
      this.pacers.set(action, pacer);
    }
    return pacer;
  }
}
