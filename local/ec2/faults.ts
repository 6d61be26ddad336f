/**
 * Faults a test sets on the endpoint, decided per request before it is served: errors (or a connection reset) on the
 * Nth call of an action or with a probability, added latency, and a cut that makes every request fail from some call on until the invocation
 * that made it ends (what a Lambda timeout does to the world: nothing the handler does afterwards reaches AWS).
 * Every decision is made on the endpoint's side, so the unmodified SDK sees exactly what AWS would send it.
 */
import { seededRandom } from './events';
import type { StateReason } from './model';

/** The error a faulty call is answered with: EC2's code and HTTP status (EventBridge gets the same in JSON). */
export interface InjectedError {
  readonly code: string;
  readonly status: number;
  readonly message?: string;
}

export const THROTTLED: InjectedError = {
  code: 'RequestLimitExceeded',
  status: 503,
  message: 'Request limit exceeded.',
};
export const INTERNAL_ERROR: InjectedError = {
  code: 'InternalError',
  status: 500,
  message: 'An internal error has occurred',
};
/** A 4xx the SDK does not retry: the cut costs no backoff time. */
export const CUT_OFF: InjectedError = {
  code: 'InvocationCutOff',
  status: 400,
  message: 'Simulated crash: the invocation was killed after an earlier call',
};

/** The connection is closed without an answer (the request is not served): the SDK sees ECONNRESET, socket hang up. */
export const CONNECTION_RESET = 'reset';

/** Which calls a fault applies to: action names (EC2's, or `PutEvents`), every call but reads, or every call. */
export type CallSelector = readonly string[] | 'mutating' | 'all';

export interface CallFault {
  readonly calls?: CallSelector;
  /** Default {@link THROTTLED}. */
  readonly error?: InjectedError | typeof CONNECTION_RESET;
  /** Fail only the Nth selected call (1-based) after the fault is set. */
  readonly nth?: number;
  /** Fail each selected call with this probability (0–1); seed it for reproducible runs. */
  readonly probability?: number;
  readonly seed?: number;
}

export interface Latency {
  readonly calls?: CallSelector;
  /** Real milliseconds added before the answer. */
  readonly ms: number;
}

/** What the endpoint does with one request: serve it (after a delay), answer with an error, or reset the connection. */
export type FaultVerdict = { readonly delayMs: number; readonly error?: InjectedError; readonly reset?: true };

interface ActiveFault {
  readonly fault: CallFault;
  readonly random: () => number;
  seen: number;
}

const selects = (selector: CallSelector | undefined, action: string): boolean =>
  selector === undefined || selector === 'all'
    ? true
    : selector === 'mutating'
      ? !action.startsWith('Describe')
      : selector.includes(action);

export class FaultInjector {
  private readonly faults = new Set<ActiveFault>();
  private readonly latencies = new Set<Latency>();
  /** Calls still served before the cut, or undefined when no cut is armed (or it has happened). */
  private callsBeforeCut: number | undefined;
  private cutting = false;
  private lastServedBeforeCut: string | undefined;
  private injectedCount = 0;
  private readonly seenActions: string[] = [];

  /** Adds a fault; the returned function removes it. */
  failCalls(fault: CallFault): () => void {
    if (fault.probability !== undefined && !(fault.probability >= 0 && fault.probability <= 1)) {
      throw new RangeError(`fault probability must be in [0, 1], got ${fault.probability}`);
    }
    if (fault.nth !== undefined && !(Number.isInteger(fault.nth) && fault.nth >= 1)) {
      throw new RangeError(`nth must be a whole number ≥ 1, got ${fault.nth}`);
    }
    const active: ActiveFault = {
      fault,
      random: fault.seed === undefined ? Math.random : seededRandom(fault.seed),
      seen: 0,
    };
    this.faults.add(active);
    return () => {
      this.faults.delete(active);
    };
  }

  addLatency(latency: Latency): () => void {
    this.latencies.add(latency);
    return () => {
      this.latencies.delete(latency);
    };
  }

  /**
   * Serves `calls` more requests, then fails every request until {@link invocationEnded} is called: the invocation
   * that made the last served call is cut off there. The cut happens once.
   */
  cutAfter(calls: number): void {
    if (!(Number.isInteger(calls) && calls >= 0))
      throw new RangeError(`calls must be a whole number ≥ 0, got ${calls}`);
    this.callsBeforeCut = calls;
    this.cutting = calls === 0;
  }

  /** The invocation under way has ended: a cut in force is lifted (a cut not yet reached stays armed). */
  invocationEnded(): void {
    if (this.cutting) {
      this.cutting = false;
      this.callsBeforeCut = undefined;
    }
  }

  /** The action of the last call served before the cut, once the cut has happened. */
  get cutAfterAction(): string | undefined {
    return this.lastServedBeforeCut;
  }

  /** Whether requests are being cut off now. */
  get cut(): boolean {
    return this.cutting;
  }

  clear(): void {
    this.faults.clear();
    this.latencies.clear();
    this.callsBeforeCut = undefined;
    this.cutting = false;
  }

  /** Requests failed by a fault (cut-offs included). */
  get injected(): number {
    return this.injectedCount;
  }

  /** Requests seen (EC2 and EventBridge), faulty or not. */
  get requests(): number {
    return this.seenActions.length;
  }

  /** The action of every request seen, in order (`actions[k - 1]` is the k-th request). */
  get actions(): readonly string[] {
    return this.seenActions;
  }

  /** Decides the fate of one request. */
  verdict(action: string): FaultVerdict {
    this.seenActions.push(action);
    const delayMs = [...this.latencies].reduce(
      (sum, latency) => sum + (selects(latency.calls, action) ? latency.ms : 0),
      0,
    );
    if (this.cutting) return this.inject(delayMs, CUT_OFF);
    if (this.callsBeforeCut !== undefined) {
      this.callsBeforeCut -= 1;
      // This call is served; from the next one on, the invocation is cut off.
      if (this.callsBeforeCut === 0) {
        this.cutting = true;
        this.lastServedBeforeCut = action;
      }
    }
    for (const active of this.faults) {
      if (!selects(active.fault.calls, action)) continue;
      active.seen += 1;
      const byCount = active.fault.nth !== undefined && active.seen === active.fault.nth;
      const byChance = active.fault.probability !== undefined && active.random() < active.fault.probability;
      if (byCount || byChance) return this.inject(delayMs, active.fault.error ?? THROTTLED);
    }
    return { delayMs };
  }

  private inject(delayMs: number, error: InjectedError | typeof CONNECTION_RESET): FaultVerdict {
    this.injectedCount += 1;
    return error === CONNECTION_RESET ? { delayMs, reset: true } : { delayMs, error };
  }
}

/** Which copies (CopyImage) a copy fault applies to; every one when nothing is said. */
export interface CopySelector {
  /** Copies of this source image only. */
  readonly sourceImageId?: string;
  /** Copies into this (destination) Region only. */
  readonly region?: string;
  /** The next selected copy only, then the fault is gone. */
  readonly once?: boolean;
}

/** What a copy fault does: the copy fails (`failed`, with this state reason) when it would complete, or never ends. */
export type CopyOutcome = { readonly kind: 'fail'; readonly reason: StateReason } | { readonly kind: 'stall' };

/** Faults on the copies CopyImage starts, decided when each copy starts (the first fault that selects it wins). */
export class CopyFaults {
  private readonly faults = new Set<{ readonly selector: CopySelector; readonly outcome: CopyOutcome }>();

  /** Adds a fault; the returned function removes it. */
  add(selector: CopySelector, outcome: CopyOutcome): () => void {
    const fault = { selector, outcome };
    this.faults.add(fault);
    return () => {
      this.faults.delete(fault);
    };
  }

  /** The outcome forced on a new copy of `sourceImageId` into `region`, if a fault selects it (a `once` one is used up). */
  take(sourceImageId: string, region: string): CopyOutcome | undefined {
    for (const fault of this.faults) {
      const { selector } = fault;
      if (selector.sourceImageId !== undefined && selector.sourceImageId !== sourceImageId) continue;
      if (selector.region !== undefined && selector.region !== region) continue;
      if (selector.once === true) this.faults.delete(fault);
      return fault.outcome;
    }
    return undefined;
  }
}
