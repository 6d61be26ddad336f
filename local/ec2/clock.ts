import { MinHeap } from './heap';

interface ScheduledTask {
  at: number;
  order: number;
  run: () => void;
  cancelled: boolean;
}

type ClockMode =
  | { kind: 'manual'; nowMs: number }
  | { kind: 'realTime'; speed: number; realStartMs: number; simStartMs: number; skippedMs: number };

/** How often (real milliseconds) a real-time clock checks for due tasks between requests. */
const REAL_TIME_TICK_MS = 10;

/**
 * The simulated clock of the local EC2 endpoint, and the scheduler of everything that happens on it.
 *
 * Times are `Date`s at the API and epoch milliseconds inside. Two modes:
 * - manual (`SimClock.manual(start)`): time moves only through `advance`/`advanceTo`, which run every task due up to the
 *   new time synchronously, in time order, before returning;
 * - real time (`SimClock.realTime({ speed, start })`): simulated time runs `speed` times faster than the wall clock; due
 *   tasks run on a timer (while `startTicking` is on) and whenever `runDue()` is called. `advance` jumps ahead.
 * While a task runs, `now()` is the task's scheduled time, so whatever it records carries the time of the change.
 */
export class SimClock {
  private readonly queue = new MinHeap<ScheduledTask>((a, b) => a.at < b.at || (a.at === b.at && a.order < b.order));
  private nextOrder = 0;
  private pinnedMs: number | undefined;
  private running = false;
  private ticker: NodeJS.Timeout | undefined;
  private tickers = 0;

  private constructor(private readonly mode: ClockMode) {}

  static manual(start: Date = new Date()): SimClock {
    return new SimClock({ kind: 'manual', nowMs: start.getTime() });
  }

  static realTime(options: { speed?: number; start?: Date } = {}): SimClock {
    const speed = options.speed ?? 1;
    if (!(speed > 0)) throw new RangeError(`speed must be positive, got ${speed}`);
    const realStartMs = Date.now();
    return new SimClock({
      kind: 'realTime',
      speed,
      realStartMs,
      simStartMs: options.start?.getTime() ?? realStartMs,
      skippedMs: 0,
    });
  }

  get isManual(): boolean {
    return this.mode.kind === 'manual';
  }

  now(): Date {
    return new Date(this.nowMs());
  }

  nowMs(): number {
    return this.pinnedMs ?? this.freeNowMs();
  }

  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot advance by ${ms} ms`);
    this.advanceTo(new Date(this.nowMs() + ms));
  }

  advanceTo(time: Date): void {
    const target = time.getTime();
    if (this.pinnedMs !== undefined) throw new Error('the clock cannot be moved from inside a scheduled task');
    if (target < this.freeNowMs()) throw new RangeError(`cannot move the clock back to ${time.toISOString()}`);
    this.runUntil(target);
    const mode = this.mode;
    if (mode.kind === 'manual') mode.nowMs = target;
    else mode.skippedMs += Math.max(0, target - this.freeNowMs());
  }

  /** Runs `run` when the clock reaches `at` (at once on the next move if `at` is past). Returns a cancel function. */
  schedule(at: Date | number, run: () => void): () => void {
    const task: ScheduledTask = {
      at: typeof at === 'number' ? at : at.getTime(),
      order: this.nextOrder++,
      run,
      cancelled: false,
    };
    this.queue.push(task);
    return () => {
      task.cancelled = true;
    };
  }

  /** Runs every task due by now (real-time mode: called before serving each request and by the ticker). */
  runDue(): void {
    if (this.pinnedMs === undefined) this.runUntil(this.freeNowMs());
  }

  /** Real-time mode: run due tasks on a timer until every `startTicking` has been matched by `stopTicking`. */
  startTicking(): void {
    if (this.mode.kind !== 'realTime') return;
    this.tickers += 1;
    if (this.ticker === undefined) {
      this.ticker = setInterval(() => this.runDue(), REAL_TIME_TICK_MS);
      this.ticker.unref();
    }
  }

  stopTicking(): void {
    if (this.tickers > 0) this.tickers -= 1;
    if (this.tickers === 0 && this.ticker !== undefined) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  private freeNowMs(): number {
    const mode = this.mode;
    if (mode.kind === 'manual') return mode.nowMs;
    return mode.simStartMs + mode.skippedMs + (Date.now() - mode.realStartMs) * mode.speed;
  }

  private runUntil(target: number): void {
    if (this.running) return; // a task that triggers runDue must not recurse into the queue
    this.running = true;
    // Time never goes back: a task already overdue runs at the latest time reached so far.
    let floor = this.freeNowMs();
    try {
      for (let task = this.queue.peek(); task !== undefined && task.at <= target; task = this.queue.peek()) {
        this.queue.pop();
        if (task.cancelled) continue;
        floor = Math.max(floor, task.at);
        this.pinnedMs = floor;
        try {
          task.run();
        } finally {
          this.pinnedMs = undefined;
        }
      }
    } finally {
      this.running = false;
    }
  }
}
