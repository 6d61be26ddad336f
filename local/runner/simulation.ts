/**
 * Drives Lambda handlers in-process on a simulated clock, the way EventBridge and Lambda would: schedules fire at
 * their times with AWS's scheduled-event payload (or their constant input), events that match a function's pattern
 * are delivered to it, and events that match a rule sending to a queue are delivered in batches, as Lambda's event
 * source mapping reads a standard SQS queue. Nothing here knows what the functions do.
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
}

export interface LocalFunction {
  readonly name: string;
  readonly handler: Handler;
  readonly timeoutSeconds: number;
  /** Its reserved concurrency, when serverless.yml sets one. */
  readonly reservedConcurrency?: number;
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

/** The clock the simulation moves: jumped ahead (an embedded endpoint) or waited for (an endpoint it cannot move). */
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
   * Called for each firing that came due while the function's invocation for an earlier one ran. Scheduled
   * invocations run one at a time here, so it is folded into that one; on Lambda it would have run alongside, or been
   * throttled by a reserved concurrency of 1.
   */
  readonly onOverlap?: (functionName: string, at: Date) => void;
}

const DEFAULT_STEP_MS = 60_000;
/** Event deliveries running at once (Lambda's default concurrency is 1,000 per Region). */
const EVENT_CONCURRENCY = 100;
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
 * Takes the batches Lambda receives by `now` out of `messages`: full ones, then the rest once the oldest has waited
 * the batching window. Returns the batches and the messages left.
 */
function takeDueBatches(
  messages: readonly QueuedMessage[],
  trigger: QueueTrigger,
  now: number,
): { batches: QueuedMessage[][]; left: QueuedMessage[] } {
  const visible = messages.filter((message) => message.visibleAt <= now).sort((a, b) => a.visibleAt - b.visibleAt);
  const batches: QueuedMessage[][] = [];
  const isDue = (): boolean =>
    visible.length >= trigger.batchSize ||
    (visible[0] !== undefined && visible[0].visibleAt + trigger.batchingWindowMs <= now);
  while (isDue()) batches.push(visible.splice(0, trigger.batchSize));
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

/**
 * Runs the functions from the clock's current time until `until`. Within a step, events and due queue batches come
 * first (they happened earlier, and are delivered side by side), then the schedules due at its end, one at a time in
 * time order. An invocation that throws is recorded, as Lambda would log it.
 */
export async function simulate(options: SimulationOptions, until: Date): Promise<InvocationRecord[]> {
  const { clock, region, account } = options;
  const stepMs = options.stepMs ?? DEFAULT_STEP_MS;
  const start = clock.now();
  const records: InvocationRecord[] = [];
  const events: unknown[] = [];
  const queued: QueuedMessages = options.queued ?? new Map();
  const readers = options.functions.flatMap((fn) => fn.queues.map((trigger) => ({ fn, trigger })));
  const enqueue = (queue: string, messages: readonly QueuedMessage[]): void => {
    const list = queued.get(queue) ?? [];
    list.push(...messages);
    queued.set(queue, list);
  };
  const unsubscribe = options.subscribe?.((event) => {
    events.push(event);
    // A rule sends the event to its queues as it happens.
    const sentAt = clock.now().getTime();
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

  const dues: Due[] = options.functions.flatMap((fn) =>
    fn.schedules.map((trigger) => {
      const times = fireTimes(trigger.schedule, new Date(start.getTime() - 1), options.rateAnchor ?? start);
      const first = times.next();
      return { at: first.done ? Number.POSITIVE_INFINITY : first.value.getTime(), fn, trigger, times };
    }),
  );
  /** When the next batch is due by its window (a full batch is due at once, at the end of the step it filled in). */
  const nextBatchDue = (): number =>
    readers.reduce(
      (earliest, { trigger }) =>
        (queued.get(trigger.queue) ?? []).reduce(
          (queueEarliest, message) => Math.min(queueEarliest, message.visibleAt + trigger.batchingWindowMs),
          earliest,
        ),
      Number.POSITIVE_INFINITY,
    );

  try {
    for (let now = start.getTime(); now < until.getTime(); now = clock.now().getTime()) {
      const nextDue = Math.min(...dues.map((due) => due.at));
      // An invocation may have moved the clock past the step: time never goes back.
      const target = Math.max(Math.min(now + stepMs, nextDue, nextBatchDue(), until.getTime()), now);
      await clock.reach(new Date(target));
      // Events and batches are delivered side by side, as Lambda runs asynchronous invocations and the batches of
      // an event source mapping concurrently.
      const deliveries = events
        .splice(0)
        .flatMap((event) =>
          options.functions
            .filter((fn) => fn.patterns.some((pattern) => matchesPattern(pattern, event)))
            .map((fn) => () => invoke(fn, 'event', event).then(keep)),
        );
      for (const { fn, trigger } of readers) {
        const { batches, left } = takeDueBatches(queued.get(trigger.queue) ?? [], trigger, clock.now().getTime());
        queued.set(trigger.queue, left);
        deliveries.push(...batches.map((batch) => () => deliverBatch(fn, trigger, batch, false)));
      }
      await runConcurrently(deliveries);
      const reached = clock.now().getTime();
      for (const due of [...dues].filter((entry) => entry.at <= reached).sort((a, b) => a.at - b.at)) {
        const { ruleName } = due.trigger;
        let ranFrom = Number.POSITIVE_INFINITY;
        if (ruleName === undefined || options.ruleEnabled === undefined || (await options.ruleEnabled(ruleName))) {
          const payload =
            due.trigger.input ??
            scheduledEvent(ruleName ?? `${due.fn.name}-schedule`, new Date(due.at), region, account);
          ranFrom = clock.now().getTime();
          keep(await invoke(due.fn, 'schedule', payload));
        }
        // Invocations run one at a time here: firings missed while this one ran are folded into it (EventBridge
        // would have started them alongside, which the functions tolerate; the overlap tests cover that).
        let next = due.times.next();
        while (!next.done && next.value.getTime() <= clock.now().getTime()) {
          if (next.value.getTime() > ranFrom) options.onOverlap?.(due.fn.name, next.value);
          next = due.times.next();
        }
        due.at = next.done ? Number.POSITIVE_INFINITY : next.value.getTime();
      }
    }
    if (options.queued === undefined) {
      // Nothing carries the messages to another call: each is received once more now rather than silently lost.
      await runConcurrently(
        readers.flatMap(({ fn, trigger }) => {
          const messages = queued.get(trigger.queue) ?? [];
          queued.delete(trigger.queue);
          return chunk(messages, trigger.batchSize).map((batch) => () => deliverBatch(fn, trigger, batch, true));
        }),
      );
    }
  } finally {
    unsubscribe?.();
  }
  return records;
}

async function runConcurrently(deliveries: readonly (() => Promise<void>)[]): Promise<void> {
  for (let next = 0; next < deliveries.length; next += EVENT_CONCURRENCY) {
    await Promise.all(deliveries.slice(next, next + EVENT_CONCURRENCY).map((deliver) => deliver()));
  }
}
