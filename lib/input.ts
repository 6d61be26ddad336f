/**
 * What a handler was invoked with: a schedule, an EC2 event, or a payload typed into the console. Validated before
 * anything is read or changed; an invalid payload is rejected with a message naming the field.
 */

export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
}

/** EC2 instance ids: `i-` and 8 or 17 hexadecimal digits. */
const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
/** At most this many ids in one console payload (one EC2 filter call's worth, times five). */
export const MAX_CONSOLE_INSTANCE_IDS = 1000;

export interface Invocation {
  readonly trigger: 'schedule' | 'console';
  /** Now, as the trigger says it: the scheduled event's time, so a simulated clock can drive the service. */
  readonly now: Date;
  /** Only these instances (console); all opted-in instances otherwise. */
  readonly instanceIds?: readonly string[];
  readonly dryRun: boolean;
  /** The name of the rule whose schedule fired (from the event's resources), when it says. */
  readonly rule?: string;
}

export interface ImageStateChange {
  readonly now: Date;
  readonly imageId: string;
  readonly state: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An ISO-8601 date and time with its offset. Without one, `Date` would read the time in the machine's own zone, and
 * it also reads free-form dates; an event time must mean one instant wherever it is read.
 */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;

function eventTime(value: unknown, field: string): Date {
  const time = typeof value === 'string' && ISO_DATE_TIME.test(value) ? new Date(value) : undefined;
  if (time === undefined || Number.isNaN(time.getTime())) {
    throw new InvalidInputError(`${field} must be an ISO-8601 time, got ${JSON.stringify(value)?.slice(0, 80)}`);
  }
  return time;
}

function isScheduledEvent(event: Record<string, unknown>): boolean {
  return event.source === 'aws.events' && event['detail-type'] === 'Scheduled Event';
}

/** The rule's name in a scheduled event's resources (`arn:aws:events:<region>:<account>:rule/<name>`). */
function ruleName(resources: unknown): string | undefined {
  const [arn] = Array.isArray(resources) ? resources : [];
  return typeof arn === 'string' ? /^arn:[^:]+:events:[^:]*:\d*:rule\/(.+)$/.exec(arn)?.[1] : undefined;
}

function parseInstanceIds(value: unknown): string[] {
  if (!Array.isArray(value)) throw new InvalidInputError('instanceIds must be an array of instance ids');
  if (value.length === 0) throw new InvalidInputError('instanceIds must not be empty (leave it out to mean all)');
  if (value.length > MAX_CONSOLE_INSTANCE_IDS) {
    throw new InvalidInputError(`instanceIds has ${value.length} ids; at most ${MAX_CONSOLE_INSTANCE_IDS}`);
  }
  value.forEach((id, index) => {
    if (typeof id !== 'string' || !INSTANCE_ID.test(id)) {
      throw new InvalidInputError(`instanceIds[${index}] is not an instance id: ${JSON.stringify(id)?.slice(0, 80)}`);
    }
  });
  return [...new Set(value as string[])];
}

/**
 * Parses a scheduled event or a console payload `{"instanceIds"?: string[], "dryRun"?: boolean}`.
 * `realNow` is used for console invocations, which carry no time.
 */
export function parseInvocation(event: unknown, realNow: () => Date = () => new Date()): Invocation {
  if (event === undefined || event === null) return { trigger: 'console', now: realNow(), dryRun: false };
  if (!isRecord(event)) throw new InvalidInputError('the payload must be a JSON object');
  if (isScheduledEvent(event)) {
    const rule = ruleName(event.resources);
    return { trigger: 'schedule', now: eventTime(event.time, 'time'), dryRun: false, ...(rule ? { rule } : {}) };
  }
  const unknownKeys = Object.keys(event).filter((key) => key !== 'instanceIds' && key !== 'dryRun');
  if (unknownKeys.length > 0) {
    throw new InvalidInputError(
      `unknown field ${JSON.stringify(unknownKeys[0])?.slice(0, 80)}; the payload takes instanceIds and dryRun`,
    );
  }
  if (event.dryRun !== undefined && typeof event.dryRun !== 'boolean') {
    throw new InvalidInputError('dryRun must be true or false');
  }
  return {
    trigger: 'console',
    now: realNow(),
    dryRun: event.dryRun === true,
    ...(event.instanceIds === undefined ? {} : { instanceIds: parseInstanceIds(event.instanceIds) }),
  };
}

/** Parses an `EC2 AMI State Change` event; undefined if the event is not one. */
export function parseImageStateChange(event: unknown): ImageStateChange | undefined {
  if (!isRecord(event) || event.source !== 'aws.ec2' || event['detail-type'] !== 'EC2 AMI State Change')
    return undefined;
  const detail = isRecord(event.detail) ? event.detail : {};
  if (typeof detail.ImageId !== 'string' || !/^ami-[0-9a-f]+$/.test(detail.ImageId)) {
    throw new InvalidInputError(`detail.ImageId is not an image id: ${JSON.stringify(detail.ImageId)?.slice(0, 80)}`);
  }
  if (typeof detail.State !== 'string') throw new InvalidInputError('detail.State must be a string');
  return { now: eventTime(event.time, 'time'), imageId: detail.ImageId, state: detail.State };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A message of a Lambda SQS batch, by its id (the handle for reporting it failed). */
export interface QueuedChange {
  readonly messageId: string;
  readonly change: ImageStateChange;
}

export interface QueueBatch {
  readonly changes: readonly QueuedChange[];
  /** Messages that are not image state changes: reported failed, so that the queue's redrive policy keeps them. */
  readonly rejected: readonly { readonly messageId: string; readonly reason: string }[];
}

/**
 * Parses a Lambda SQS event whose messages are EventBridge events; undefined if the event is not one. A message
 * that is not an `EC2 AMI State Change` is rejected on its own, so that one bad message never holds back the batch.
 */
export function parseQueueBatch(event: unknown): QueueBatch | undefined {
  if (!isRecord(event) || !('Records' in event)) return undefined;
  const records = event.Records;
  if (!Array.isArray(records) || records.length === 0) {
    throw new InvalidInputError('Records must be a non-empty array of SQS messages');
  }
  const changes: QueuedChange[] = [];
  const rejected: { messageId: string; reason: string }[] = [];
  records.forEach((record: unknown, index) => {
    if (!isRecord(record) || record.eventSource !== 'aws:sqs' || typeof record.messageId !== 'string') {
      throw new InvalidInputError(`Records[${index}] is not an SQS message with a messageId`);
    }
    const { messageId } = record;
    const body = typeof record.body === 'string' ? parseJson(record.body) : undefined;
    try {
      const change = parseImageStateChange(body);
      if (change === undefined) throw new InvalidInputError('the message is not an EC2 AMI State Change event');
      changes.push({ messageId, change });
    } catch (error: unknown) {
      if (!(error instanceof InvalidInputError)) throw error;
      rejected.push({ messageId, reason: error.message });
    }
  });
  return { changes, rejected };
}
