import { createHash } from 'node:crypto';
import type { SQSEvent } from 'aws-lambda';
import { installVirtualTime, type VirtualTime } from '../../../../bench/virtual-time';
import { SimClock } from '../../../../local/ec2';
import { queueTrigger } from '../../../../local/runner/functions';
import { parseSchedule } from '../../../../local/runner/schedule';
import { parseServerlessConfig } from '../../../../local/runner/serverless-config';
import {
  type DroppedEvent,
  type Handler,
  type InvocationRecord,
  type LocalFunction,
  type QueuedMessages,
  type QueueTrigger,
  type SimulationOptions,
  simulate,
  type Throttle,
} from '../../../../local/runner/simulation';

const START = Date.parse('2026-11-26T03:00:00Z');
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';

const at = (ms: number) => new Date(START + ms);

function imageEvent(imageId: string, state = 'available') {
  return {
    version: '0',
    id: `event-${imageId}`,
    'detail-type': 'EC2 AMI State Change',
    source: 'aws.ec2',
    account: ACCOUNT,
    time: '2026-11-26T03:00:10Z',
    region: REGION,
    resources: [`arn:aws:ec2:${REGION}::image/${imageId}`],
    detail: { ImageId: imageId, State: state },
  };
}

const IMAGE_STATES = { source: ['aws.ec2'], 'detail-type': ['EC2 AMI State Change'] };

function trigger(settings: Partial<QueueTrigger> = {}): QueueTrigger {
  return {
    queue: 'ImageStateQueue',
    patterns: [IMAGE_STATES],
    batchSize: 10,
    batchingWindowMs: 0,
    reportsBatchItemFailures: true,
    visibilityTimeoutMs: 30 * SECOND,
    ...settings,
  };
}

interface Delivery {
  readonly time: number;
  readonly event: SQSEvent;
}

/**
 * A simulated world: a manual clock that emits the given events at their times as it moves, and one function that
 * reads the queue, answering each batch with `respond` and noting what it received (times relative to START).
 */
function world(emissions: readonly { readonly at: number; readonly event: unknown }[]) {
  let now = START;
  const pending = [...emissions].sort((a, b) => a.at - b.at);
  const listeners: ((event: unknown) => void)[] = [];
  const deliveries: Delivery[] = [];
  const options = (
    queue: QueueTrigger,
    respond: (event: SQSEvent) => unknown = () => ({ batchItemFailures: [] }),
  ): SimulationOptions => {
    const handler: Handler = async (event) => {
      deliveries.push({ time: now - START, event: event as SQSEvent });
      return respond(event as SQSEvent);
    };
    const reader: LocalFunction = {
      name: 'recordImageState',
      handler,
      timeoutSeconds: 120,
      schedules: [],
      patterns: [],
      queues: [queue],
    };
    return {
      functions: [reader],
      clock: {
        now: () => new Date(now),
        reach: async (time) => {
          while (pending[0] !== undefined && START + pending[0].at <= time.getTime()) {
            const next = pending.shift();
            if (next === undefined) break;
            now = START + next.at;
            for (const listener of listeners) listener(next.event);
          }
          now = time.getTime();
        },
      },
      subscribe: (listener) => {
        listeners.push(listener);
        return () => listeners.splice(listeners.indexOf(listener), 1);
      },
      region: REGION,
      account: ACCOUNT,
    };
  };
  return { options, deliveries };
}

const imageIdsOf = (delivery: Delivery | undefined) =>
  delivery?.event.Records.map((record) => (JSON.parse(record.body) as { detail: { ImageId: string } }).detail.ImageId);

describe('simulate: queues', () => {
  it('delivers Lambda’s SQS event, each body the EventBridge event', async () => {
    const event = imageEvent('ami-1');
    const { options, deliveries } = world([{ at: 10 * SECOND, event }]);
    const records = await simulate(options(trigger()), at(2 * MINUTE));

    expect(records.map((record) => [record.trigger, record.time.getTime() - START])).toEqual([['queue', MINUTE]]);
    const [record] = deliveries[0]?.event.Records ?? [];
    const body = JSON.stringify(event);
    expect(record).toEqual({
      messageId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      receiptHandle: expect.any(String),
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(START + 10 * SECOND),
        SenderId: expect.any(String),
        ApproximateFirstReceiveTimestamp: String(START + MINUTE),
      },
      messageAttributes: {},
      md5OfBody: createHash('md5').update(body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:${REGION}:${ACCOUNT}:ImageStateQueue`,
      awsRegion: REGION,
    });
  });

  it('enqueues only the events that match a rule of the queue', async () => {
    const { options, deliveries } = world([
      { at: 10 * SECOND, event: imageEvent('ami-1') },
      { at: 20 * SECOND, event: { source: 'aws.ec2', 'detail-type': 'EC2 Instance State-change Notification' } },
    ]);
    await simulate(options(trigger()), at(2 * MINUTE));
    expect(deliveries.map(imageIdsOf)).toEqual([['ami-1']]);
  });

  it('delivers a batch once it is full, at the end of the step it filled in; the rest after the window', async () => {
    const { options, deliveries } = world(
      ['ami-1', 'ami-2', 'ami-3', 'ami-4', 'ami-5'].map((id, index) => ({
        at: (10 + index) * SECOND,
        event: imageEvent(id),
      })),
    );
    await simulate(options(trigger({ batchSize: 3, batchingWindowMs: 5 * MINUTE })), at(10 * MINUTE));
    expect(deliveries.map((delivery) => [delivery.time, imageIdsOf(delivery)])).toEqual([
      [MINUTE, ['ami-1', 'ami-2', 'ami-3']],
      // The oldest left arrived at 13 s and waited the 5-minute window.
      [13 * SECOND + 5 * MINUTE, ['ami-4', 'ami-5']],
    ]);
  });

  it('delivers what the window gathered when it ends, not at the next step', async () => {
    const { options, deliveries } = world([
      { at: 10 * SECOND, event: imageEvent('ami-1') },
      { at: 50 * SECOND, event: imageEvent('ami-2') },
      { at: 150 * SECOND, event: imageEvent('ami-3') },
    ]);
    await simulate(options(trigger({ batchSize: 1000, batchingWindowMs: 90 * SECOND })), at(10 * MINUTE));
    expect(deliveries.map((delivery) => [delivery.time, imageIdsOf(delivery)])).toEqual([
      [100 * SECOND, ['ami-1', 'ami-2']],
      [240 * SECOND, ['ami-3']],
    ]);
  });

  it('receives the reported failures again after the visibility timeout, counting the receives', async () => {
    const { options, deliveries } = world([
      { at: 10 * SECOND, event: imageEvent('ami-1') },
      { at: 20 * SECOND, event: imageEvent('ami-2') },
    ]);
    const respond = (event: SQSEvent) => {
      const failing = event.Records.filter((record) => record.body.includes('ami-2'));
      // ami-2 fails its first receive only.
      return {
        batchItemFailures: failing
          .filter((record) => record.attributes.ApproximateReceiveCount === '1')
          .map((record) => ({ itemIdentifier: record.messageId })),
      };
    };
    const records = await simulate(options(trigger({ visibilityTimeoutMs: 5 * MINUTE }), respond), at(HOUR));

    expect(deliveries.map((delivery) => [delivery.time, imageIdsOf(delivery)])).toEqual([
      [MINUTE, ['ami-1', 'ami-2']],
      [6 * MINUTE, ['ami-2']],
    ]);
    const [first, again] = deliveries.map((delivery) => delivery.event.Records.at(-1));
    expect(again?.messageId).toBe(first?.messageId);
    expect(again?.attributes).toMatchObject({
      ApproximateReceiveCount: '2',
      SentTimestamp: String(START + 20 * SECOND),
      ApproximateFirstReceiveTimestamp: String(START + MINUTE),
    });
    expect(again?.receiptHandle).not.toBe(first?.receiptHandle);
    expect(records.every((record) => record.deadLettered === undefined)).toBe(true);
  });

  it('puts the whole batch back when the handler throws or reports an item it was not given', async () => {
    const { options, deliveries } = world([{ at: 10 * SECOND, event: imageEvent('ami-1') }]);
    let receives = 0;
    const respond = () => {
      receives += 1;
      if (receives === 1) throw new Error('throttled');
      return receives === 2 ? { batchItemFailures: [{ itemIdentifier: 'not-in-the-batch' }] } : {};
    };
    const records = await simulate(options(trigger(), respond), at(5 * MINUTE));
    expect(deliveries.map((delivery) => delivery.time)).toEqual([MINUTE, MINUTE + 30 * SECOND, 2 * MINUTE]);
    expect(records[0]?.error).toBe('Error: throttled');
  });

  it('ignores the reported failures without ReportBatchItemFailures', async () => {
    const { options, deliveries } = world([{ at: 10 * SECOND, event: imageEvent('ami-1') }]);
    const respond = (event: SQSEvent) => ({
      batchItemFailures: event.Records.map((record) => ({ itemIdentifier: record.messageId })),
    });
    await simulate(options(trigger({ reportsBatchItemFailures: false }), respond), at(5 * MINUTE));
    expect(deliveries).toHaveLength(1);
  });

  it('dead-letters a message that failed maxReceiveCount receives, and records it', async () => {
    const { options, deliveries } = world([{ at: 10 * SECOND, event: imageEvent('ami-1') }]);
    const respond = () => {
      throw new Error('not an image state change');
    };
    const queue = trigger({ visibilityTimeoutMs: MINUTE, maxReceiveCount: 3 });
    const records = await simulate(options(queue, respond), at(HOUR));

    expect(deliveries.map((delivery) => delivery.event.Records[0]?.attributes.ApproximateReceiveCount)).toEqual([
      '1',
      '2',
      '3',
    ]);
    expect(records.map((record) => record.deadLettered)).toEqual([undefined, undefined, 1]);
  });

  describe('between calls', () => {
    const events = [{ at: 50 * SECOND, event: imageEvent('ami-1') }];
    const windowed = trigger({ batchSize: 100, batchingWindowMs: MINUTE });

    it('carries what is not due at the end to the next call that gets the same messages', async () => {
      const { options, deliveries } = world(events);
      const queued: QueuedMessages = new Map();
      expect(await simulate({ ...options(windowed), queued }, at(MINUTE))).toEqual([]);
      expect(queued.get('ImageStateQueue')).toHaveLength(1);

      const records: InvocationRecord[] = await simulate({ ...options(windowed), queued }, at(5 * MINUTE));
      expect(records.map((record) => record.time.getTime() - START)).toEqual([110 * SECOND]);
      expect(deliveries.map(imageIdsOf)).toEqual([['ami-1']]);
    });

    it('delivers what is still queued at the end when nothing carries it', async () => {
      const { options, deliveries } = world(events);
      await simulate(options(windowed), at(MINUTE));
      expect(deliveries.map((delivery) => [delivery.time, imageIdsOf(delivery)])).toEqual([[MINUTE, ['ami-1']]]);
    });
  });
});

/**
 * Invocations that take simulated time: virtual time (as the benchmark runs) over a manual clock, each handler waiting
 * on a fake timer for as long as it runs; nothing here depends on the wall clock's speed.
 */
describe('simulate: invocations side by side, as Lambda runs them', () => {
  let clock: SimClock;
  let time: VirtualTime;

  beforeEach(() => {
    clock = SimClock.manual(new Date(START));
    time = installVirtualTime(clock, 0);
  });

  afterEach(() => {
    time.uninstall();
  });

  /** Notes every invocation's start and end (relative to START) and the most in flight at once. */
  function runner(runMs: number) {
    const spans: { start: number; end: number }[] = [];
    let inFlight = 0;
    let mostInFlight = 0;
    const handler: Handler = (event) =>
      time.drive(async () => {
        const span = { start: clock.nowMs() - START, end: Number.NaN };
        spans.push(span);
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, runMs));
        inFlight -= 1;
        span.end = clock.nowMs() - START;
        return event;
      });
    return { handler, spans, mostInFlight: () => mostInFlight };
  }

  function options(fn: Partial<LocalFunction> & Pick<LocalFunction, 'handler'>): SimulationOptions {
    return {
      functions: [{ name: 'pass', timeoutSeconds: 900, schedules: [], patterns: [], queues: [], ...fn }],
      clock: {
        now: () => clock.now(),
        reach: async (target) => {
          clock.advanceTo(target);
          time.sync();
        },
      },
      region: REGION,
      account: ACCOUNT,
      rateAnchor: at(0),
    };
  }
  const everyFiveMinutes = [{ schedule: parseSchedule('rate(5 minutes)') }];

  it('starts a tick while the invocation of the one before still runs', async () => {
    const { handler, spans, mostInFlight } = runner(7 * MINUTE);
    const overlaps: number[] = [];
    const records = await simulate(
      {
        ...options({ handler, schedules: everyFiveMinutes }),
        onOverlap: (functionName, time) => {
          expect(functionName).toBe('pass');
          overlaps.push(time.getTime() - START);
        },
      },
      at(16 * MINUTE),
    );

    // Each at its tick, running its 7 minutes: the 10:00 one began before the 05:00 one ended at 12:00.
    expect(records.map((record) => [record.time.getTime() - START, record.simulatedMs])).toEqual([
      [5 * MINUTE, 7 * MINUTE],
      [10 * MINUTE, 7 * MINUTE],
      [15 * MINUTE, 7 * MINUTE],
    ]);
    expect(spans).toEqual([
      { start: 5 * MINUTE, end: 12 * MINUTE },
      { start: 10 * MINUTE, end: 17 * MINUTE },
      { start: 15 * MINUTE, end: 22 * MINUTE },
    ]);
    expect(mostInFlight()).toBe(2);
    expect(overlaps).toEqual([10 * MINUTE, 15 * MINUTE]);
    // Each got its own tick's event.
    expect(records.map((record) => (record.result as { time: string }).time)).toEqual([
      '2026-11-26T03:05:00Z',
      '2026-11-26T03:10:00Z',
      '2026-11-26T03:15:00Z',
    ]);
  });

  /** The simulation of a function with a reserved concurrency of 1 and a maximum event age of 60 s. */
  async function reservedOne(runMs: number, until: number) {
    const { handler, spans } = runner(runMs);
    const throttles: Throttle[] = [];
    const drops: DroppedEvent[] = [];
    const records = await simulate(
      {
        ...options({ handler, schedules: everyFiveMinutes, reservedConcurrency: 1, maximumEventAgeSeconds: 60 }),
        onOverlap: () => {
          throw new Error('no invocation should start beside another');
        },
        onThrottle: (throttle) => throttles.push(throttle),
        onDrop: (drop) => drops.push(drop),
      },
      at(until),
    );
    const relative = (date: Date) => date.getTime() - START;
    return {
      records,
      spans,
      throttles: throttles.map((throttle) => [relative(throttle.sentAt), relative(throttle.at), throttle.retry]),
      drops: drops.map((drop) => [relative(drop.sentAt), relative(drop.at), drop.attempts]),
    };
  }

  it('throttles a tick beyond the reserved concurrency, retries it, and drops it once older than its maximum age', async () => {
    const { records, spans, throttles, drops } = await reservedOne(7 * MINUTE, 14 * MINUTE);

    expect(spans).toEqual([{ start: 5 * MINUTE, end: 12 * MINUTE }]);
    expect(records).toHaveLength(1);
    // Refused at 10:00, then retried 1, 2, 4, 8 and 16 seconds apart; the next, 32 seconds on, would be past 60 s.
    expect(throttles).toEqual(
      [0, 1, 3, 7, 15, 31].map((seconds, retry) => [10 * MINUTE, 10 * MINUTE + seconds * SECOND, retry]),
    );
    expect(drops).toEqual([[10 * MINUTE, 11 * MINUTE, 6]]);
  });

  it('runs a throttled tick at the retry that finds the function free, with its own event', async () => {
    const { records, spans, throttles, drops } = await reservedOne(5 * MINUTE + 20 * SECOND, 14 * MINUTE);

    // The 05:00 run ends at 10:20: the retry 31 s after the 10:00 tick runs it.
    expect(spans.map((span) => span.start)).toEqual([5 * MINUTE, 10 * MINUTE + 31 * SECOND]);
    expect(throttles.map(([, time]) => time)).toEqual(
      [0, 1, 3, 7, 15].map((seconds) => 10 * MINUTE + seconds * SECOND),
    );
    expect(drops).toEqual([]);
    expect(records[1]?.result).toMatchObject({ time: '2026-11-26T03:10:00Z' });
  });

  it('fires only the latest of the ticks the clock ran past, dropping the earlier ones', async () => {
    const { handler, spans } = runner(SECOND);
    const drops: DroppedEvent[] = [];
    let overshoot = 12 * MINUTE;
    const base = options({ handler, schedules: everyFiveMinutes });
    const records = await simulate(
      {
        ...base,
        // A clock that ran on by itself (real time, faster than the simulation) the first time it was moved.
        clock: {
          now: () => clock.now(),
          reach: async (target) => {
            clock.advanceTo(new Date(target.getTime() + overshoot));
            overshoot = 0;
            time.sync();
          },
        },
        onDrop: (drop) => drops.push(drop),
      },
      at(21 * MINUTE),
    );

    // Its first step (to 01:00) found the clock at 13:00: the 05:00 tick is dropped, the 10:00 one runs, late.
    expect(drops.map((drop) => [drop.sentAt.getTime() - START, drop.attempts])).toEqual([[5 * MINUTE, 0]]);
    expect(records.map((record) => (record.result as { time: string }).time)).toEqual([
      '2026-11-26T03:10:00Z',
      '2026-11-26T03:15:00Z',
      '2026-11-26T03:20:00Z',
    ]);
    expect(spans.map((span) => span.start)).toEqual([13 * MINUTE, 15 * MINUTE, 20 * MINUTE]);
  });

  it('runs a queue’s batches side by side up to its mapping’s maximum concurrency', async () => {
    const { handler, spans, mostInFlight } = runner(90 * SECOND);
    const queue = trigger({ batchSize: 1, maximumConcurrency: 2 });
    const messages = ['ami-1', 'ami-2', 'ami-3', 'ami-4'].map((id) => ({
      messageId: id,
      body: JSON.stringify(imageEvent(id)),
      sentAt: START,
      visibleAt: START,
      receiveCount: 0,
    }));
    const queued: QueuedMessages = new Map([[queue.queue, messages]]);
    const records = await simulate({ ...options({ handler, queues: [queue] }), queued }, at(5 * MINUTE));

    expect(records).toHaveLength(4);
    expect(mostInFlight()).toBe(2);
    // Two at once; the other two once a batch has ended, at the next step.
    expect(spans.slice(0, 2).map((span) => span.start)).toEqual([0, 0]);
    for (const span of spans.slice(2)) expect(span.start).toBeGreaterThanOrEqual(90 * SECOND);
    expect(queued.get(queue.queue)).toEqual([]);
  });
});

describe('queueTrigger', () => {
  const file = (state: string) => `service: demo
functions:
  recordImageState:
    handler: functions/record-image-state.handler
    events:
      - sqs:
          arn: !GetAtt ImageStateQueue.Arn
          batchSize: 1000
          maximumBatchingWindow: 60
          functionResponseType: ReportBatchItemFailures
resources:
  Resources:
    ImageStateRule:
      Type: AWS::Events::Rule
      Properties:
        State: ${state}
        EventPattern: { source: [aws.ec2], detail-type: [EC2 AMI State Change] }
        Targets: [{ Id: queue, Arn: !GetAtt ImageStateQueue.Arn }]
    OtherBusRule:
      Type: AWS::Events::Rule
      Properties:
        EventBusName: backups
        EventPattern: { source: [com.example] }
        Targets: [{ Id: queue, Arn: !GetAtt ImageStateQueue.Arn }]
    ImageStateQueue:
      Type: AWS::SQS::Queue
      Properties:
        VisibilityTimeout: 720
        RedrivePolicy: { deadLetterTargetArn: !GetAtt Failed.Arn, maxReceiveCount: 5 }
`;
  const triggerOf = (state: string): QueueTrigger => {
    const config = parseServerlessConfig(file(state));
    const [event] = config.functions[0]?.events ?? [];
    if (event?.kind !== 'sqs') throw new Error('expected an sqs event');
    return queueTrigger(config, event);
  };

  it('reads the queue through the enabled rules of the default bus that send to it', () => {
    expect(triggerOf('ENABLED')).toEqual({
      queue: 'ImageStateQueue',
      patterns: [IMAGE_STATES],
      batchSize: 1000,
      batchingWindowMs: 60_000,
      reportsBatchItemFailures: true,
      visibilityTimeoutMs: 720_000,
      maxReceiveCount: 5,
    });
  });

  it('delivers nothing through a disabled rule', async () => {
    const queue = triggerOf('DISABLED');
    expect(queue.patterns).toEqual([]);
    const { options, deliveries } = world([{ at: 10 * SECOND, event: imageEvent('ami-1') }]);
    expect(await simulate(options(queue), at(10 * MINUTE))).toEqual([]);
    expect(deliveries).toEqual([]);
  });
});
