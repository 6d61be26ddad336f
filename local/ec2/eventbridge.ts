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

/** A rule of the default bus, as PutRule made it: what the service turns on and off (its schedules). */
export interface EventRule {
  readonly name: string;
  readonly arn: string;
  readonly scheduleExpression: string | undefined;
  state: 'ENABLED' | 'DISABLED';
}

/** The default bus's rules, by name. */
export class EventRules {
  private readonly rules = new Map<string, EventRule>();

  constructor(
    private readonly region: string,
    private readonly account: string,
  ) {}

  get(name: string): EventRule | undefined {
    return this.rules.get(name);
  }

  /** Creates or updates a rule, as PutRule does (state ENABLED unless given). */
  put(name: string, scheduleExpression: string | undefined, state: EventRule['state'] = 'ENABLED'): EventRule {
    const rule = { name, arn: `arn:aws:events:${this.region}:${this.account}:rule/${name}`, scheduleExpression, state };
    this.rules.set(name, rule);
    return rule;
  }

  /** Whether the rule fires: unknown rules do not. */
  isEnabled(name: string): boolean {
    return this.rules.get(name)?.state === 'ENABLED';
  }
}

const RULE_NAME = /^[.\-_A-Za-z0-9]{1,64}$/;

function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const request: unknown = JSON.parse(body);
    return typeof request === 'object' && request !== null ? (request as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** PutRule, EnableRule, DisableRule and DescribeRule on the default bus (schedule rules only). */
function handleRule(action: string, request: Record<string, unknown>, rules: EventRules): JsonResponse {
  const name = request.Name;
  if (typeof name !== 'string' || !RULE_NAME.test(name)) {
    return jsonError(400, 'ValidationException', 'Name must match [.\\-_A-Za-z0-9]{1,64}.');
  }
  const bus = request.EventBusName;
  if (bus !== undefined && bus !== 'default') {
    return jsonError(400, 'ResourceNotFoundException', `Event bus ${String(bus)} does not exist.`);
  }
  if (action === 'PutRule') {
    const state = request.State === 'DISABLED' ? 'DISABLED' : 'ENABLED';
    const schedule = typeof request.ScheduleExpression === 'string' ? request.ScheduleExpression : undefined;
    return { status: 200, body: { RuleArn: rules.put(name, schedule, state).arn } };
  }
  const rule = rules.get(name);
  if (rule === undefined) {
    return jsonError(400, 'ResourceNotFoundException', `Rule ${name} does not exist on EventBus default.`);
  }
  if (action === 'DescribeRule') {
    return {
      status: 200,
      body: {
        Name: rule.name,
        Arn: rule.arn,
        State: rule.state,
        EventBusName: 'default',
        ...(rule.scheduleExpression === undefined ? {} : { ScheduleExpression: rule.scheduleExpression }),
      },
    };
  }
  rule.state = action === 'EnableRule' ? 'ENABLED' : 'DISABLED';
  return { status: 200, body: {} };
}

const RULE_ACTIONS = new Set(['PutRule', 'EnableRule', 'DisableRule', 'DescribeRule']);

/**
 * EventBridge over the JSON 1.1 protocol (`X-Amz-Target: AWSEvents.<Action>`): PutEvents records accepted entries,
 * each getting an `EventId` or an `ErrorCode` as EventBridge answers; the rule calls keep the default bus's rules.
 */
export function handleEventBridge(
  target: string,
  body: string,
  now: Date,
  record: (entry: PutEventsEntry) => void,
  rules: EventRules,
): JsonResponse {
  const action = target.startsWith('AWSEvents.') ? target.slice('AWSEvents.'.length) : '';
  if (action !== 'PutEvents' && !RULE_ACTIONS.has(action)) {
    return jsonError(400, 'UnknownOperationException', `The operation ${target} is not supported here.`);
  }
  const request = parseJson(body);
  if (request === undefined) return jsonError(400, 'SerializationException', 'The request body is not valid JSON.');
  if (action !== 'PutEvents') return handleRule(action, request, rules);
  const entries = request.Entries;
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
