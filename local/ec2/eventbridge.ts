import { randomUUID } from 'node:crypto';

/** An entry received by the EventBridge PutEvents stand-in, as the SDK sent it, with the id given back. */
export interface PutEventsEntry {
  EventId: string;
  Source: string | undefined;
  DetailType: string | undefined;
  Detail: string | undefined;
  Resources: string[] | undefined;
  EventBusName: string | undefined;
  /** As sent: the SDK's JSON protocol writes timestamps as epoch seconds. */
  Time: number | string | undefined;
  /** The endpoint's simulated time when the entry arrived. */
  receivedAt: Date;
}

export interface JsonResponse {
  status: number;
  body: unknown;
  /** The error type, sent in `x-amzn-errortype` too. */
  errorType?: string;
}

/** PutEvents takes 1 to 10 entries (EventBridge API reference). */
const MAX_ENTRIES = 10;

const jsonError = (status: number, type: string, message: string): JsonResponse => ({
  status,
  body: { __type: type, message },
  errorType: type,
});

const optionalString = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Why EventBridge would reject one entry, or undefined when it is accepted. */
function entryError(entry: Record<string, unknown>): string | undefined {
  for (const field of ['Source', 'DetailType', 'Detail']) {
    if (typeof entry[field] !== 'string' || entry[field] === '') return `Parameter ${field} is not valid.`;
  }
  try {
    const detail: unknown = JSON.parse(entry.Detail as string);
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) return 'Detail must be a JSON object.';
  } catch {
    return 'Detail is malformed.';
  }
  return undefined;
}

/**
 * EventBridge's PutEvents over the JSON 1.1 protocol (`X-Amz-Target: AWSEvents.PutEvents`): accepted entries are
 * recorded; each entry gets an `EventId` or an `ErrorCode`, as EventBridge answers.
 */
export function handleEventBridge(
  target: string,
  body: string,
  now: Date,
  record: (entry: PutEventsEntry) => void,
): JsonResponse {
  if (target !== 'AWSEvents.PutEvents') {
    return jsonError(400, 'UnknownOperationException', `The operation ${target} is not supported here.`);
  }
  let request: unknown;
  try {
    request = JSON.parse(body);
  } catch {
    return jsonError(400, 'SerializationException', 'The request body is not valid JSON.');
  }
  const entries = typeof request === 'object' && request !== null && 'Entries' in request ? request.Entries : undefined;
  if (!Array.isArray(entries) || entries.length < 1 || entries.length > MAX_ENTRIES) {
    return jsonError(400, 'ValidationException', `Entries must hold 1 to ${MAX_ENTRIES} entries.`);
  }
  let failed = 0;
  const results = entries.map((raw: unknown) => {
    const entry = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
    const error = entryError(entry);
    if (error !== undefined) {
      failed += 1;
      return { ErrorCode: 'InvalidArgument', ErrorMessage: error };
    }
    const eventId = randomUUID();
    record({
      EventId: eventId,
      Source: optionalString(entry.Source),
      DetailType: optionalString(entry.DetailType),
      Detail: optionalString(entry.Detail),
      Resources: Array.isArray(entry.Resources) ? entry.Resources.filter((r) => typeof r === 'string') : undefined,
      EventBusName: optionalString(entry.EventBusName),
      Time: typeof entry.Time === 'number' || typeof entry.Time === 'string' ? entry.Time : undefined,
      receivedAt: now,
    });
    return { EventId: eventId };
  });
  return { status: 200, body: { FailedEntryCount: failed, Entries: results } };
}
