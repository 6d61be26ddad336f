/**
 * Drives Lambda handlers in-process on a simulated clock, the way EventBridge would: schedules fire at their times
 * with AWS's scheduled-event payload (or their constant input), and events that match a function's pattern are
 * delivered to it. Nothing here knows what the functions do.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { type EventPattern, matchesPattern } from './event-pattern';
import { fireTimes, type Schedule } from './schedule';

export type Handler = (event: unknown, context: Context) => Promise<unknown>;

export interface ScheduleTrigger {
  readonly schedule: Schedule;
  /** Constant input: EventBridge then sends it instead of the scheduled event. */
  readonly input?: unknown;
}

export interface LocalFunction {
  readonly name: string;
  readonly handler: Handler;
  readonly timeoutSeconds: number;
  readonly schedules: readonly ScheduleTrigger[];
  readonly patterns: readonly EventPattern[];
}

/** The clock the simulation moves: jumped ahead (an embedded endpoint) or waited for (an endpoint it cannot move). */
export interface SimulationClock {
  now(): Date;
  /** Resolves once the clock reads `time`, with every change due by then applied. */
  reach(time: Date): Promise<void>;
}

export interface InvocationRecord {
  readonly functionName: string;
  readonly trigger: 'schedule' | 'event';
  readonly time: Date;
  readonly result?: unknown;
  readonly error?: string;
  readonly realMs: number;
  /** How long it ran on the simulated clock (its calls' latency and its waits, where the clock is moved by them). */
  readonly simulatedMs: number;
}

export interface SimulationOptions {
  readonly functions: readonly LocalFunction[];
  readonly clock: SimulationClock;
  /** Subscribes to the events the endpoint emits; absent when the endpoint emits none. */
  readonly subscribe?: (listener: (event: unknown) => void) => () => void;
  readonly region: string;
  readonly account: string;
  /** Step of the event loop: events are delivered at most this late (EventBridge delivers within seconds). */
  readonly stepMs?: number;
  readonly onInvocation?: (record: InvocationRecord) => void;
  /** Rate schedules count from when their rule was created: the start of the simulation, unless given. */
  readonly rateAnchor?: Date;
}

const DEFAULT_STEP_MS = 60_000;
/** Event deliveries running at once (Lambda's default concurrency is 1,000 per Region). */
const EVENT_CONCURRENCY = 100;

/**
 * A Lambda-like context whose remaining time counts down from the function's timeout, in real time or on the
 * simulated clock, whichever has run longer (the simulated clock moves during an invocation when calls take time).
 */
export function lambdaContext(
  functionName: string,
  timeoutSeconds: number,
  region: string,
  account: string,
  simulatedNow: () => Date = () => new Date(),
): Context {
  const realStart = performance.now();
  const simulatedStart = simulatedNow().getTime();
  const elapsed = (): number => Math.max(performance.now() - realStart, simulatedNow().getTime() - simulatedStart);
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${account}:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, timeoutSeconds * 1000 - elapsed()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export function scheduledEvent(ruleName: string, time: Date, region: string, account: string): unknown {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account,
    // EventBridge sends whole seconds.
    time: `${time.toISOString().slice(0, 19)}Z`,
    region,
    resources: [`arn:aws:events:${region}:${account}:rule/${ruleName}`],
    detail: {},
  };
}

interface Due {
  /** The next fire time (epoch ms), moved on after each firing. */
  at: number;
  readonly fn: LocalFunction;
  readonly trigger: ScheduleTrigger;
  readonly times: Iterator<Date>;
}

/**
 * Runs the functions from the clock's current time until `until`. Within a step, events come first (they happened
 * earlier, and are delivered side by side), then the schedules due at its end, one at a time in time order. An
 * invocation that throws is recorded, as Lambda would log it.
 */
export async function simulate(options: SimulationOptions, until: Date): Promise<InvocationRecord[]> {
  const { clock, region, account } = options;
  const stepMs = options.stepMs ?? DEFAULT_STEP_MS;
  const start = clock.now();
  const records: InvocationRecord[] = [];
  const events: unknown[] = [];
  const unsubscribe = options.subscribe?.((event) => events.push(event));

  const invoke = async (fn: LocalFunction, trigger: 'schedule' | 'event', payload: unknown): Promise<void> => {
    const time = clock.now();
    const startedAt = performance.now();
    const context = lambdaContext(fn.name, fn.timeoutSeconds, region, account, () => clock.now());
    let record: InvocationRecord;
    try {
      const result = await fn.handler(payload, context);
      record = { functionName: fn.name, trigger, time, result, realMs: 0, simulatedMs: 0 };
    } catch (error: unknown) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      record = { functionName: fn.name, trigger, time, error: message, realMs: 0, simulatedMs: 0 };
    }
    record = {
      ...record,
      realMs: performance.now() - startedAt,
      simulatedMs: clock.now().getTime() - time.getTime(),
    };
    records.push(record);
    options.onInvocation?.(record);
  };

  const dues: Due[] = options.functions.flatMap((fn) =>
    fn.schedules.map((trigger) => {
      const times = fireTimes(trigger.schedule, new Date(start.getTime() - 1), options.rateAnchor ?? start);
      const first = times.next();
      return { at: first.done ? Number.POSITIVE_INFINITY : first.value.getTime(), fn, trigger, times };
    }),
  );

  try {
    for (let now = start.getTime(); now < until.getTime(); now = clock.now().getTime()) {
      const nextDue = Math.min(...dues.map((due) => due.at));
      // An invocation may have moved the clock past the step: time never goes back.
      const target = Math.max(Math.min(now + stepMs, nextDue, until.getTime()), now);
      await clock.reach(new Date(target));
      // Events are delivered side by side, as Lambda runs asynchronous invocations concurrently.
      const deliveries = events
        .splice(0)
        .flatMap((event) =>
          options.functions
            .filter((fn) => fn.patterns.some((pattern) => matchesPattern(pattern, event)))
            .map((fn) => () => invoke(fn, 'event', event)),
        );
      for (let next = 0; next < deliveries.length; next += EVENT_CONCURRENCY) {
        await Promise.all(deliveries.slice(next, next + EVENT_CONCURRENCY).map((deliver) => deliver()));
      }
      const reached = clock.now().getTime();
      for (const due of [...dues].filter((entry) => entry.at <= reached).sort((a, b) => a.at - b.at)) {
        const payload =
          due.trigger.input ?? scheduledEvent(`${due.fn.name}-schedule`, new Date(due.at), region, account);
        await invoke(due.fn, 'schedule', payload);
        // Invocations run one at a time here: firings missed while this one ran are folded into it (EventBridge
        // would have started them alongside, which the functions tolerate; the overlap tests cover that).
        let next = due.times.next();
        while (!next.done && next.value.getTime() <= clock.now().getTime()) next = due.times.next();
        due.at = next.done ? Number.POSITIVE_INFINITY : next.value.getTime();
      }
    }
  } finally {
    unsubscribe?.();
  }
  return records;
}
