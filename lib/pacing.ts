/**
 * Client-side pacing of EC2's rate-limited actions. EC2 refills each action's token bucket at a fixed rate
 * (CreateImage about 5 a second); a Lambda that fires faster only collects RequestLimitExceeded errors and retries,
 * spending the account's budget that other tools share. So each action is paced a little under EC2's rate, with a
 * burst under the bucket's size; the SDK's retries remain for the throttling that other callers cause.
 *
 * Uses the global clock and timers (`Date.now`, `setTimeout`), so a benchmark in virtual time counts its waits.
 */

export interface Rate {
  readonly perSecond: number;
  readonly burst: number;
}

/** 90% of EC2's documented refill rates and bucket sizes (EC2 developer guide, "Request throttling"). */
export const EC2_PACE: Readonly<Record<string, Rate>> = {
  CreateImage: { perSecond: 4.5, burst: 45 },
  CreateTags: { perSecond: 9, burst: 90 },
  DeleteTags: { perSecond: 9, burst: 90 },
  DeregisterImage: { perSecond: 4.5, burst: 90 },
  DeleteSnapshot: { perSecond: 4.5, burst: 90 },
};

/** A token bucket as a schedule of reservations: each caller gets the next free slot and waits for it. */
export class Pacer {
  private readonly intervalMs: number;
  private readonly toleranceMs: number;
  /** When the bucket would be full again if no one took more (the "theoretical arrival time"). */
  private theoreticalArrival = Number.NEGATIVE_INFINITY;

  constructor(rate: Rate) {
    this.intervalMs = 1000 / rate.perSecond;
    this.toleranceMs = (rate.burst - 1) * this.intervalMs;
  }

  /** Resolves when the caller may make its call. */
  async take(): Promise<void> {
    const now = Date.now();
    this.theoreticalArrival = Math.max(this.theoreticalArrival, now);
    const waitMs = this.theoreticalArrival - this.toleranceMs - now;
    this.theoreticalArrival += this.intervalMs;
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

/** One pacer per action, made on first use. */
export class Pacers {
  private readonly pacers = new Map<string, Pacer>();

  constructor(private readonly rates: Readonly<Record<string, Rate>> = EC2_PACE) {}

  take(action: string): Promise<void> {
    const rate = this.rates[action];
    if (rate === undefined) return Promise.resolve();
    let pacer = this.pacers.get(action);
    if (pacer === undefined) {
      pacer = new Pacer(rate);
      this.pacers.set(action, pacer);
    }
    return pacer.take();
  }
}
