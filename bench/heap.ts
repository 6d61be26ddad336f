/**
 * Each function's peak heap in its largest invocation, measured in the benchmark's process, where every handler runs
 * next to the local EC2 endpoint and the runner.
 *
 * How it is attributed, and why this way:
 * - Before an invocation, a full garbage collection (the `gc` that `--expose-gc` gives, turned on at run time) leaves
 *   only what is live: the endpoint's account, the runner's records, the modules. That is the invocation's baseline,
 *   and what it holds is the live heap above it. A timer would sample at random instants of a process shared with the
 *   endpoint; this follows the invocation itself.
 * - It is sampled at every HTTP request the process makes while an invocation runs (between two EC2 calls a function
 *   holds what it has gathered so far: the describe pages read, the plan being carried out) and when the invocation
 *   returns (with its result). A full collection at each sample would cost more than the night, so one is forced only
 *   when the heap in use, garbage included, is more than {@link SLACK_BYTES} above the live peak measured so far: below
 *   that, the live heap cannot be much more than the peak already known. The figure reported is the most the heap in
 *   use may have held live at a sample: at least the live peak, at most {@link SLACK_BYTES} above it.
 * - What a sample cannot see: a transient between two samples (the SDK's parse tree of one describe page, garbage once
 *   mapped), and the endpoint's own state changing under the invocation (the images it creates or deletes), counted
 *   as the function's. Neither is a page of the function's work.
 * - Invocations that overlap (queue batches side by side, a tick while another runs) share the heap: each is given
 *   everything above the baseline of the first one running, an over-estimate, and is counted as `overlapped`.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isMap, parseDocument } from 'yaml';

export const MIB = 1024 * 1024;
/** How far the heap in use may rise above the live peak known before a sample forces a full collection. */
export const SLACK_BYTES = 8 * MIB;
/** What the framework gives a function whose `memorySize` is set neither on it nor on the provider. */
const FRAMEWORK_DEFAULT_MEMORY_MIB = 1024;

export interface FunctionHeap {
  /** The most live heap above the baseline one invocation may have held, in MiB (its largest invocation). */
  readonly peakHeapMiB: number;
  readonly invocations: number;
  /** Invocations measured while another ran: their figures include the other's. */
  readonly overlapped: number;
}

interface Running {
  readonly functionName: string;
  /** Live heap above the baseline, measured after a full collection. */
  live: number;
  /** The most the heap in use may have held live (see the module's comment). */
  upper: number;
  overlapped: boolean;
}

/** The `gc` function, without starting node with `--expose-gc` (a new context made after the flag has it). */
function exposedGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const heapUsed = (): number => getHeapStatistics().used_heap_size;

export class HeapMeter {
  private readonly gc = exposedGc();
  private readonly running = new Set<Running>();
  private readonly byFunction = new Map<string, { peak: number; invocations: number; overlapped: number }>();
  private baseline = 0;
  /** Full collections forced, and the wall time they took. */
  collections = 0;
  collectionMs = 0;
  private readonly onRequest = (): void => {
    if (this.running.size > 0) this.sample();
  };

  constructor() {
    subscribe('http.client.request.start', this.onRequest);
  }

  /** Runs one invocation of `functionName`, measuring the heap it holds. */
  async measure<T>(functionName: string, invoke: () => Promise<T>): Promise<T> {
    const above = this.collect();
    if (this.running.size === 0) this.baseline += above;
    const entry: Running = { functionName, live: 0, upper: 0, overlapped: this.running.size > 0 };
    for (const other of this.running) other.overlapped = true;
    this.running.add(entry);
    this.update(this.running.size === 1 ? 0 : above, true);
    try {
      return await invoke();
    } finally {
      this.sample();
      this.running.delete(entry);
      const tally = this.byFunction.get(functionName) ?? { peak: 0, invocations: 0, overlapped: 0 };
      this.byFunction.set(functionName, {
        peak: Math.max(tally.peak, entry.upper),
        invocations: tally.invocations + 1,
        overlapped: tally.overlapped + (entry.overlapped ? 1 : 0),
      });
    }
  }

  /** Each function measured: its largest invocation's peak. */
  report(): Record<string, FunctionHeap> {
    return Object.fromEntries(
      [...this.byFunction.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, tally]) => [
          name,
          {
            peakHeapMiB: Math.round((tally.peak / MIB) * 10) / 10,
            invocations: tally.invocations,
            overlapped: tally.overlapped,
          },
        ]),
    );
  }

  stop(): void {
    unsubscribe('http.client.request.start', this.onRequest);
  }

  /** A full collection; the live heap above the baseline after it. */
  private collect(): number {
    const started = performance.now();
    this.gc();
    this.collections += 1;
    this.collectionMs += performance.now() - started;
    return heapUsed() - this.baseline;
  }

  private sample(): void {
    const inUse = heapUsed() - this.baseline;
    const lowest = Math.min(...[...this.running].map((entry) => entry.live));
    if (inUse > lowest + SLACK_BYTES) this.update(this.collect(), true);
    else this.update(inUse, false);
  }

  /** Gives every running invocation a sample: live (after a collection) or the heap in use. */
  private update(bytes: number, live: boolean): void {
    for (const entry of this.running) {
      if (live) entry.live = Math.max(entry.live, bytes);
      entry.upper = Math.max(entry.upper, bytes);
    }
  }
}

/** Each function's `memorySize` in MiB, as the framework reads `serverless.yml`: its own, else the provider's. */
export function memorySizes(file: string): Record<string, number> {
  const document = parseDocument(readFileSync(file, 'utf8'));
  const provider = document.getIn(['provider', 'memorySize']);
  const functions = document.getIn(['functions']);
  const names = isMap(functions) ? functions.items.map((item) => String(item.key)) : [];
  return Object.fromEntries(
    names.map((name) => {
      const own = document.getIn(['functions', name, 'memorySize']);
      const size = Number(own ?? provider ?? FRAMEWORK_DEFAULT_MEMORY_MIB);
      if (!Number.isInteger(size) || size < 128) throw new Error(`serverless.yml: ${name}'s memorySize is not valid`);
      return [name, size];
    }),
  );
}
