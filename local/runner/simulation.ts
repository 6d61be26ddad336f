/**
 * Drives Lambda handlers in-process on a simulated clock, the way EventBridge and Lambda would: schedules fire at
 * their times with AWS's scheduled-event payload (or their constant input), events that match a function's pattern
 * are delivered to it, and events that match a rule sending to a queue are delivered in batches, as Lambda's event
 * source mapping reads a standard SQS queue. Invocations run side by side as on Lambda, within the functions' reserved
 * concurrency. Nothing here knows what the functions do.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { chunk } from '../../lib/errors';
import { type EventPattern, matchesPattern } from './event-pattern';
import { fireTimes, type Schedule } from './schedule';

export type Handler = (event: unknown, context: Context) => Promise<unknown>;

export interface ScheduleTrigger {
  readonly schedule: Schedule;
  /** Constant input: EventBridge then sends it instead of the scheduled event. */
  readonly input?: unknown;
  /** The rule's name, when serverless.yml gives one: the functions may turn such a rule on and off. */
  readonly ruleName?: string;
  /** Deployed disabled (`enabled: false`): it fires once a function turns it on. */
  readonly deployedDisabled?: true;
}

/** Lambda reading a queue that EventBridge rules send events to. */
export interface QueueTrigger {
  /** The queue's logical id. */
  readonly queue: string;
  /** The patterns of the enabled rules on the default bus that send to the queue. */
  readonly patterns: readonly EventPattern[];
  readonly batchSize: number;
  /** How long Lambda waits for a batch to fill, from when its oldest message could be received. */
  readonly batchingWindowMs: number;
  /** The handler's `batchItemFailures` are retried alone (else its result is ignored). */
  readonly reportsBatchItemFailures: boolean;
  /** How long a received message stays invisible: a failed one is received again after this. */
  readonly visibilityTimeoutMs: number;
  /** Receives after which a failing message goes to the dead-letter queue; without one, it is retried forever. */
  readonly maxReceiveCount?: number;
  /** The mapping's `maximumConcurrency`: batches it runs at once (default {@link DEFAULT_QUEUE_CONCURRENCY}). */
  readonly maximumConcurrency?: number;
}

export interface LocalFunction {
  readonly name: string;
  readonly handler: Handler;
  readonly timeoutSeconds: number;
  /** Its reserved concurrency, when serverless.yml sets one: invocations beyond it are throttled. */
  readonly reservedConcurrency?: number;
  /**
   * How long Lambda keeps an asynchronous event it could not run yet (throttled) before dropping it: the function's
   * `maximumEventAge`, else Lambda's default of 6 hours.
   */
  readonly maximumEventAgeSeconds?: number;
  readonly schedules: readonly ScheduleTrigger[];
  /** Patterns of rules that invoke it directly. */
  readonly patterns: readonly EventPattern[];
  readonly queues: readonly QueueTrigger[];
}

/** A message in a simulated queue. */
export interface QueuedMessage {
  readonly messageId: string;
  /** The event, as EventBridge sends it. */
  readonly body: string;
  /** Epoch ms. */
  readonly sentAt: number;
  /** Epoch ms from which it can be received: when sent, then when its visibility timeout after a receive ends. */
  readonly visibleAt: number;
  readonly receiveCount: number;
  readonly firstReceivedAt?: number;
}

/** Messages by queue; the same map passed to successive simulate() calls carries them from one to the next. */
export type QueuedMessages = Map<string, QueuedMessage[]>;

/**
 * The clock the simulation moves: jumped ahead (an embedded endpoint) or waited for (an endpoint it cannot move). While
 * invocations run, it is only read: they move it (in virtual time) or it moves on its own.
 */
export interface SimulationClock {
  now(): Date;
  /** Resolves once the clock reads `time`, with every change due by then applied. */
  reach(time: Date): Promise<void>;
}

export interface InvocationRecord {
  readonly functionName: string;
  readonly trigger: 'schedule' | 'event' | 'queue';
  readonly time: Date;
  readonly result?: unknown;
  readonly error?: string;
  readonly realMs: number;
  /** How long it ran on the simulated clock (its calls' latency and its waits, where the clock is moved by them). */
  readonly simulatedMs: number;
  /** Messages of its batch that failed for the last time: moved to the queue's dead-letter queue. */
  readonly deadLettered?: number;
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
  /**
   * The queues' messages, carried over from and to other calls. Without it, whatever is still queued at `until` is
   * received then (batching windows and visibility timeouts cut short), and what fails then is dead-lettered, since
   * nothing would receive it again.
   */
  readonly queued?: QueuedMessages;
  /** Whether a named rule is enabled now (absent: every rule always is). A disabled rule's firings are skipped. */
  readonly ruleEnabled?: (ruleName: string) => Promise<boolean>;
  /**
   * Called when an invocation starts while another of the same function runs (a schedule's firing during a long
   * invocation, events or queue batches side by side): Lambda runs it in an execution environment of its own.
   */
  readonly onOverlap?: (functionName: string, at: Date) => void;
  /** Called for each attempt of an asynchronous invocation that the function's reserved concurrency refused. */
  readonly onThrottle?: (throttle: Throttle) => void;
  /** Called when Lambda gives up a throttled event: its next retry would find it older than its maximum age. */
  readonly onDrop?: (drop: DroppedEvent) => void;
}

/** An attempt of an asynchronous invocation (a schedule's firing, an event's delivery) refused for want of concurrency. */
export interface Throttle {
  readonly functionName: string;
  readonly trigger: AsyncTrigger;
  /** When EventBridge sent the event: its age counts from then. */
  readonly sentAt: Date;
  /** When this attempt was refused. */
  readonly at: Date;
  /** 0 for the event's first attempt, then 1, 2, … for Lambda's retries. */
  readonly retry: number;
}

/** A throttled event that Lambda dropped once older than the function's maximum event age. */
export interface DroppedEvent {
  readonly functionName: string;
  readonly trigger: AsyncTrigger;
  readonly sentAt: Date;
  /** When it reached its maximum age (or, for a firing the simulation fell behind, when it was skipped). */
  readonly at: Date;
  /** Its attempts, all refused (0: a firing skipped because a later one of its schedule was due too). */
  readonly attempts: number;
}

/** What invokes a function asynchronously: EventBridge, for a schedule or a matching event. */
export type AsyncTrigger = 'schedule' | 'event';

const DEFAULT_STEP_MS = 60_000;
/** Lambda keeps an asynchronous event it cannot run yet for up to 6 hours, unless the function says less. */
const DEFAULT_MAXIMUM_EVENT_AGE_SECONDS = 21_600;
/** Lambda retries a throttled asynchronous event after 1 second, then at doubling intervals of up to 5 minutes. */
const FIRST_THROTTLE_RETRY_MS = 1000;
const LONGEST_THROTTLE_RETRY_MS = 300_000;
/**
 * Batches an SQS event source mapping runs at once without a `maximumConcurrency`: the most Lambda scales a standard
 * queue's mapping to (it starts at 5 and adds up to 300 a minute; that ramp is not simulated).
 */
export const DEFAULT_QUEUE_CONCURRENCY = 1000;
/** While invocations run, the clock is read at least this often (real milliseconds), in case it moves on its own. */
const CLOCK_POLL_MS = 1;
/**
 * The real timer, taken before any fake one is installed (virtual time fakes `setTimeout`): it paces the reading of
 * the clock, which must not itself become a wait in virtual time.
 */
const realSetTimeout = globalThis.setTimeout;
/** The sender of the messages EventBridge puts in a queue, as in events/queue-batch.json. */
const EVENTBRIDGE_SENDER_ID = 'AIDAIENQZJOLO23YVJ4VO';

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

/** A message as Lambda passes it to the handler, `receiveCount` and `firstReceivedAt` set by this receive. */
function sqsRecord(message: QueuedMessage, queue: string, region: string, account: string): SQSRecord {
  return {
    messageId: message.messageId,
    receiptHandle: Buffer.from(randomUUID()).toString('base64'),
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: String(message.sentAt),
      SenderId: EVENTBRIDGE_SENDER_ID,
      ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt ?? message.sentAt),
    },
    messageAttributes: {},
    md5OfBody: createHash('md5').update(message.body).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:${region}:${account}:${queue}`,
    awsRegion: region,
  };
}

/**
 * Takes the batches Lambda receives by `now` out of `messages`, at most `limit`: full ones, then the rest once the
 * oldest has waited the batching window. Returns the batches and the messages left.
 */
function takeDueBatches(
  messages: readonly QueuedMessage[],
  trigger: QueueTrigger,
  now: number,
  limit: number,
): { batches: QueuedMessage[][]; left: QueuedMessage[] } {
  const visible = messages.filter((message) => message.visibleAt <= now).sort((a, b) => a.visibleAt - b.visibleAt);
  const batches: QueuedMessage[][] = [];
  const isDue = (): boolean =>
    visible.length >= trigger.batchSize ||
    (visible[0] !== undefined && visible[0].visibleAt + trigger.batchingWindowMs <= now);
  while (batches.length < limit && isDue()) batches.push(visible.splice(0, trigger.batchSize));
  const taken = new Set(batches.flat());
  return { batches, left: messages.filter((message) => !taken.has(message)) };
}

/** The messages of a batch that Lambda puts back: all if the handler threw or reported an unknown item. */
function failedMessageIds(record: InvocationRecord, batch: SQSEvent, trigger: QueueTrigger): Set<string> {
  const all = new Set(batch.Records.map((message) => message.messageId));
  if (record.error !== undefined) return all;
  if (!trigger.reportsBatchItemFailures) return new Set();
  const failures =
    typeof record.result === 'object' && record.result !== null && 'batchItemFailures' in record.result
      ? record.result.batchItemFailures
      : undefined;
  if (failures === undefined || failures === null) return new Set();
  const ids: unknown[] = Array.isArray(failures)
    ? failures.map((failure: unknown) =>
        typeof failure === 'object' && failure !== null && 'itemIdentifier' in failure
          ? failure.itemIdentifier
          : undefined,
      )
    : [undefined];
  const known = ids.filter((id): id is string => typeof id === 'string' && all.has(id));
  // Lambda fails the whole batch on a response it cannot read.
  return known.length === ids.length ? new Set(known) : all;
}

interface Due {
  /** The next fire time (epoch ms), moved on after each firing. */
  at: number;
  readonly fn: LocalFunction;
  readonly trigger: ScheduleTrigger;
  readonly times: Iterator<Date>;
}

/** An event Lambda holds for an asynchronous invocation of `fn`. */
interface AsyncEvent {
  readonly fn: LocalFunction;
  readonly trigger: AsyncTrigger;
  readonly payload: unknown;
  /** When EventBridge sent it (epoch ms). */
  readonly sentAt: number;
  /** Its attempts refused so far. */
  readonly refused: number;
}

/** A throttled event's next attempt, or its drop once it would be older than its maximum age. */
interface Retry {
  /** Epoch ms. */
  readonly at: number;
  readonly event: AsyncEvent;
  readonly drop: boolean;
}

interface Reader {
  readonly fn: LocalFunction;
  readonly trigger: QueueTrigger;
}

/**
 * Runs the functions from the clock's current time until `until`, as Lambda would: each invocation starts when its
 * schedule fires, its event arrives or its batch is due, whatever else runs, and runs side by side with the others.
 *
 * The clock moves step by step (at most `stepMs`, and to each firing, batch and retry due). While invocations run, the
 * simulation does not move it: they do (in virtual time, by their calls' latency and their waits; a clock in real
 * time moves on its own), and the next step is taken when it gets there; once none runs, the clock is jumped there.
 * So where invocations take no simulated time, they all end before the clock moves on, as if they took none.
 *
 * Within a step, events and due queue batches come first (they happened earlier, and are delivered side by side), then
 * the schedules' firings and Lambda's retries due, in time order. Before each of these starts, what was started is let
 * run until the clock moves (by one millisecond at most) or it ends, so that invocations due at one instant start in
 * order (and where they take no simulated time, one after the other).
 *
 * Firings and events invoke their function asynchronously: one that finds as many invocations running as its reserved
 * concurrency is throttled (`onThrottle`), and Lambda retries it 1 second later, then at doubling intervals of up to 5
 * minutes, until it runs or its next retry would find it older than the function's maximum event age: it is dropped
 * then (`onDrop`). `maximumRetryAttempts` counts failed invocations, not throttles; an invocation that throws is
 * recorded, as Lambda would log it, and not retried here. A queue's batches run side by side, as many as its mapping's
 * maximum concurrency and the function's reserved concurrency allow; the others wait in the queue for a later step.
 *
 * At `until`, the invocations still running are waited for; throttled events not yet retried are left. The records
 * are returned in the order the invocations started.
 */
export async function simulate(options: SimulationOptions, until: Date): Promise<InvocationRecord[]> {
  const { clock, region, account } = options;
  const stepMs = options.stepMs ?? DEFAULT_STEP_MS;
  const start = clock.now();
  const end = until.getTime();
  const records: InvocationRecord[] = [];
  const events: { readonly event: unknown; readonly sentAt: number }[] = [];
  const queued: QueuedMessages = options.queued ?? new Map();
  const readers: Reader[] = options.functions.flatMap((fn) => fn.queues.map((trigger) => ({ fn, trigger })));
  const enqueue = (queue: string, messages: readonly QueuedMessage[]): void => {
    const list = queued.get(queue) ?? [];
    list.push(...messages);
    queued.set(queue, list);
  };
  const unsubscribe = options.subscribe?.((event) => {
    const sentAt = clock.now().getTime();
    events.push({ event, sentAt });
    // A rule sends the event to its queues as it happens.
    for (const { trigger } of readers) {
      if (!trigger.patterns.some((pattern) => matchesPattern(pattern, event))) continue;
      const body = JSON.stringify(event);
      enqueue(trigger.queue, [{ messageId: randomUUID(), body, sentAt, visibleAt: sentAt, receiveCount: 0 }]);
    }
  });

  const invoke = async (fn: LocalFunction, trigger: InvocationRecord['trigger'], payload: unknown) => {
    const time = clock.now();
    const startedAt = performance.now();
    const context = lambdaContext(fn.name, fn.timeoutSeconds, region, account, () => clock.now());
    let outcome: Pick<InvocationRecord, 'result' | 'error'>;
    try {
      outcome = { result: await fn.handler(payload, context) };
    } catch (error: unknown) {
      outcome = { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
    return {
      functionName: fn.name,
      trigger,
      time,
      ...outcome,
      realMs: performance.now() - startedAt,
      simulatedMs: clock.now().getTime() - time.getTime(),
    } satisfies InvocationRecord;
  };
  const keep = (record: InvocationRecord): void => {
    records.push(record);
    options.onInvocation?.(record);
  };

  /** Receives a batch; what fails comes back after the visibility timeout, or is dead-lettered. */
  const deliverBatch = async (
    fn: LocalFunction,
    trigger: QueueTrigger,
    batch: readonly QueuedMessage[],
    lastReceive: boolean,
  ): Promise<void> => {
    const receivedAt = clock.now().getTime();
    const received = batch.map((message) => ({
      ...message,
      receiveCount: message.receiveCount + 1,
      firstReceivedAt: message.firstReceivedAt ?? receivedAt,
    }));
    const payload: SQSEvent = {
      Records: received.map((message) => sqsRecord(message, trigger.queue, region, account)),
    };
    const record = await invoke(fn, 'queue', payload);
    const failedIds = failedMessageIds(record, payload, trigger);
    const failed = received.filter((message) => failedIds.has(message.messageId));
    // SQS moves a message at the receive after its last allowed one; it is counted here, with the failure before.
    const isLast = (message: QueuedMessage): boolean =>
      lastReceive || (trigger.maxReceiveCount !== undefined && message.receiveCount >= trigger.maxReceiveCount);
    const retried = failed.filter((message) => !isLast(message));
    enqueue(
      trigger.queue,
      retried.map((message) => ({ ...message, visibleAt: receivedAt + trigger.visibilityTimeoutMs })),
    );
    const deadLettered = failed.length - retried.length;
    keep(deadLettered > 0 ? { ...record, deadLettered } : record);
  };

  // The invocations under way: each a promise that settles when it ends.
  const inFlight = new Set<Promise<void>>();
  const running = new Map<string, number>();
  const batchesRunning = new Map<string, number>();
  const failures: unknown[] = [];
  const runningOf = (fn: LocalFunction): number => running.get(fn.name) ?? 0;
  /** Starts an invocation of `fn` without waiting for it. */
  const begin = (fn: LocalFunction, run: () => Promise<void>): void => {
    const others = runningOf(fn);
    if (others > 0) options.onOverlap?.(fn.name, clock.now());
    running.set(fn.name, others + 1);
    const task: Promise<void> = run()
      .catch((error: unknown) => {
        failures.push(error);
      })
      .finally(() => {
        running.set(fn.name, runningOf(fn) - 1);
        inFlight.delete(task);
      });
    inFlight.add(task);
  };
  const rethrow = (): void => {
    if (failures.length > 0) throw failures[0];
  };

  /**
   * Waits while invocations run and `waiting()` holds, looking again whenever one ends, the clock has moved, or the
   * clock reaches `lookAt`: a timer then, so that in virtual time the time passes up to it and not beyond.
   */
  const whileRunning = async (waiting: () => boolean, lookAt: number): Promise<void> => {
    if (inFlight.size === 0 || !waiting()) return;
    let looked = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const look = new Promise<void>((resolve) => {
      timer = setTimeout(
        () => {
          looked = true;
          resolve();
        },
        Math.max(0, lookAt - clock.now().getTime()),
      );
    });
    try {
      while (inFlight.size > 0 && waiting()) {
        const poll = new Promise<void>((resolve) => realSetTimeout(resolve, CLOCK_POLL_MS));
        await Promise.race([...inFlight, poll, ...(looked ? [] : [look])]);
      }
    } finally {
      clearTimeout(timer);
    }
  };
  /** Brings the clock to `time`: moved there by the invocations under way, else (once none runs) jumped there. */
  const advance = async (time: number): Promise<void> => {
    await whileRunning(() => clock.now().getTime() < time, time);
    rethrow();
    // An invocation may have moved the clock past it: time never goes back.
    await clock.reach(new Date(Math.max(time, clock.now().getTime())));
  };
  /** Lets what was started run until the clock moves past `from` (by a millisecond at most) or it all ends. */
  const letRun = (from: number): Promise<void> => whileRunning(() => clock.now().getTime() <= from, from + 1);

  const retries: Retry[] = [];
  /** Invokes `fn` as Lambda runs an asynchronous event: now, or throttled and retried later. Whether it started. */
  const invokeAsync = (event: AsyncEvent): boolean => {
    const { fn } = event;
    if (fn.reservedConcurrency === undefined || runningOf(fn) < fn.reservedConcurrency) {
      begin(fn, () => invoke(fn, event.trigger, event.payload).then(keep));
      return true;
    }
    const now = clock.now().getTime();
    options.onThrottle?.({
      functionName: fn.name,
      trigger: event.trigger,
      sentAt: new Date(event.sentAt),
      at: new Date(now),
      retry: event.refused,
    });
    const refused = { ...event, refused: event.refused + 1 };
    const next = now + Math.min(FIRST_THROTTLE_RETRY_MS * 2 ** event.refused, LONGEST_THROTTLE_RETRY_MS);
    const expiry = event.sentAt + (fn.maximumEventAgeSeconds ?? DEFAULT_MAXIMUM_EVENT_AGE_SECONDS) * 1000;
    retries.push(
      next <= expiry
        ? { at: next, event: refused, drop: false }
        : { at: Math.max(expiry, now), event: refused, drop: true },
    );
    return false;
  };
  const retry = ({ at, event, drop }: Retry): boolean => {
    if (!drop) return invokeAsync(event);
    options.onDrop?.({
      functionName: event.fn.name,
      trigger: event.trigger,
      sentAt: new Date(event.sentAt),
      at: new Date(at),
      attempts: event.refused,
    });
    return false;
  };

  /** Batches the reader may start now: within its mapping's concurrency and its function's reserved concurrency. */
  const freeBatches = ({ fn, trigger }: Reader): number =>
    Math.min(
      (trigger.maximumConcurrency ?? DEFAULT_QUEUE_CONCURRENCY) - (batchesRunning.get(trigger.queue) ?? 0),
      fn.reservedConcurrency === undefined ? Number.POSITIVE_INFINITY : fn.reservedConcurrency - runningOf(fn),
    );
  const beginBatch = ({ fn, trigger }: Reader, batch: readonly QueuedMessage[], lastReceive: boolean): void => {
    const { queue } = trigger;
    batchesRunning.set(queue, (batchesRunning.get(queue) ?? 0) + 1);
    begin(fn, () =>
      deliverBatch(fn, trigger, batch, lastReceive).finally(() => {
        batchesRunning.set(queue, (batchesRunning.get(queue) ?? 1) - 1);
      }),
    );
  };

  const dues: Due[] = options.functions.flatMap((fn) =>
    fn.schedules.map((trigger) => {
      const times = fireTimes(trigger.schedule, new Date(start.getTime() - 1), options.rateAnchor ?? start);
      const first = times.next();
      return { at: first.done ? Number.POSITIVE_INFINITY : first.value.getTime(), fn, trigger, times };
    }),
  );
  /**
   * Fires a schedule (if its rule is enabled) and moves it on. Firings that fell behind the clock (it ran on while an
   * invocation did, or in real time faster than the simulation) are not fired one by one with their old times: the
   * latest fires, the earlier ones are dropped (on Lambda they would have run at their time, or been throttled and
   * dropped). Whether an invocation started.
   */
  const fire = async (due: Due): Promise<boolean> => {
    let firedAt = due.at;
    let next = due.times.next();
    const now = clock.now().getTime();
    while (!next.done && next.value.getTime() <= now) {
      options.onDrop?.({
        functionName: due.fn.name,
        trigger: 'schedule',
        sentAt: new Date(firedAt),
        at: new Date(now),
        attempts: 0,
      });
      firedAt = next.value.getTime();
      next = due.times.next();
    }
    due.at = next.done ? Number.POSITIVE_INFINITY : next.value.getTime();
    const { ruleName } = due.trigger;
    if (ruleName !== undefined && options.ruleEnabled !== undefined && !(await options.ruleEnabled(ruleName))) {
      return false;
    }
    const payload =
      due.trigger.input ?? scheduledEvent(ruleName ?? `${due.fn.name}-schedule`, new Date(firedAt), region, account);
    return invokeAsync({ fn: due.fn, trigger: 'schedule', payload, sentAt: firedAt, refused: 0 });
  };
  /**
   * When the next batch is due by its window (a full batch is due at once, at the end of the step it filled in), for
   * the readers with a batch to spare: the others start theirs once one ends.
   */
  const nextBatchDue = (): number =>
    readers.reduce(
      (earliest, reader) =>
        freeBatches(reader) <= 0
          ? earliest
          : (queued.get(reader.trigger.queue) ?? []).reduce(
              (queueEarliest, message) => Math.min(queueEarliest, message.visibleAt + reader.trigger.batchingWindowMs),
              earliest,
            ),
      Number.POSITIVE_INFINITY,
    );

  try {
    for (let now = start.getTime(); now < end; now = clock.now().getTime()) {
      const nextDue = Math.min(...dues.map((due) => due.at), ...retries.map((entry) => entry.at));
      const target = Math.max(Math.min(now + stepMs, nextDue, nextBatchDue(), end), now);
      await advance(target);
      const reached = clock.now().getTime();
      // Events and batches are delivered side by side, as Lambda runs asynchronous invocations and the batches of
      // an event source mapping concurrently.
      let started = 0;
      for (const { event, sentAt } of events.splice(0)) {
        for (const fn of options.functions) {
          if (!fn.patterns.some((pattern) => matchesPattern(pattern, event))) continue;
          if (invokeAsync({ fn, trigger: 'event', payload: event, sentAt, refused: 0 })) started += 1;
        }
      }
      for (const reader of readers) {
        const { queue } = reader.trigger;
        const { batches, left } = takeDueBatches(queued.get(queue) ?? [], reader.trigger, reached, freeBatches(reader));
        queued.set(queue, left);
        for (const batch of batches) beginBatch(reader, batch, false);
        started += batches.length;
      }
      if (started > 0) await letRun(reached);
      const firings = [
        ...dues.filter((due) => due.at <= reached).map((due) => ({ at: due.at, start: () => fire(due) })),
        ...retries
          .filter((entry) => entry.at <= reached)
          .map((entry) => {
            retries.splice(retries.indexOf(entry), 1);
            return { at: entry.at, start: async () => retry(entry) };
          }),
      ].sort((a, b) => a.at - b.at);
      for (const firing of firings) {
        if (await firing.start()) await letRun(clock.now().getTime());
      }
      rethrow();
    }
    // What still runs at the end runs to its end.
    while (inFlight.size > 0) await Promise.race(inFlight);
    rethrow();
    if (options.queued === undefined) {
      // Nothing carries the messages to another call: each is received once more now rather than silently lost.
      for (;;) {
        for (const reader of readers) {
          const { queue, batchSize } = reader.trigger;
          const messages = queued.get(queue) ?? [];
          const taken = Math.min(messages.length, Math.max(0, freeBatches(reader)) * batchSize);
          for (const batch of chunk(messages.splice(0, taken), batchSize)) beginBatch(reader, batch, true);
        }
        if (inFlight.size === 0) break;
        await Promise.race(inFlight);
      }
      rethrow();
    }
  } finally {
    unsubscribe?.();
    // Nothing outlives the call, even when it failed.
    await Promise.allSettled(inFlight);
  }
  return records.sort((a, b) => a.time.getTime() - b.time.getTime());
}
