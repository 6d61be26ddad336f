/**
 * Reads the functions of the service as the local runner needs them, from the configuration the Serverless Framework
 * resolves (serverless-print.ts): handler module and export, timeout, environment, and the schedule, EventBridge and
 * SQS events that invoke them; and, from `resources.Resources`, the SQS queues and the EventBridge rules with an event
 * pattern that feed them. The framework leaves CloudFormation's functions as they are: a queue is known here by its
 * logical id, as `{ "Fn::GetAtt": [Queue, Arn] }` names it.
 */
import { parseDocument, type Tags } from 'yaml';
import { type EventPattern, EventPatternError, validatePattern } from './event-pattern';
import { parseSchedule, type Schedule, ScheduleExpressionError } from './schedule';
import { printServerlessConfig } from './serverless-print';

export interface ServerlessConfigOptions {
  /** Like `--stage`; otherwise `provider.stage`, otherwise `dev`. */
  readonly stage?: string;
  /** Like `--region`; otherwise `provider.region`, otherwise `us-east-1`. */
  readonly region?: string;
  /** Like `--param="name=value"`: these win over the file's `params`. */
  readonly params?: Readonly<Record<string, string>>;
  /** The service's folder (its plugins, the files `${file(…)}` reads): default the file's folder. */
  readonly projectRoot?: string;
}

export interface ServerlessConfig {
  readonly service: string;
  readonly stage: string;
  readonly region: string;
  readonly functions: readonly FunctionConfig[];
  /** The stack's SQS queues (`AWS::SQS::Queue` resources). */
  readonly queues: readonly QueueConfig[];
  /** The stack's EventBridge rules that match events (`AWS::Events::Rule` resources with an `EventPattern`). */
  readonly rules: readonly RuleConfig[];
}

export interface QueueConfig {
  /** The queue's logical id. */
  readonly name: string;
  /** Seconds a received message stays invisible: the queue's `VisibilityTimeout`, else SQS's default of 30. */
  readonly visibilityTimeout: number;
  /** Receives after which SQS moves a message to the dead-letter queue: the `RedrivePolicy`'s, when there is one. */
  readonly maxReceiveCount?: number;
}

export interface RuleConfig {
  /** The rule's logical id. */
  readonly name: string;
  readonly pattern: EventPattern;
  /** The bus the rule listens on: `default` unless given. */
  readonly eventBus: string;
  /** `State` is not DISABLED. */
  readonly enabled: boolean;
  /** Logical ids of the stack's queues among its targets; other targets are not simulated. */
  readonly queues: readonly string[];
}

export interface FunctionConfig {
  /** The function's key under `functions`. */
  readonly name: string;
  /** As written, e.g. `functions/reboot.handler`. */
  readonly handler: string;
  /** The TypeScript module that exports the handler, relative to the service directory: `functions/reboot.ts`. */
  readonly modulePath: string;
  /** The handler's export name: `handler`. */
  readonly exportName: string;
  /** Seconds: the function's, else the provider's, else the framework's default of 6. */
  readonly timeout: number;
  /** Retries of a failed asynchronous invocation: the function's setting, else Lambda's default of 2. */
  readonly maximumRetryAttempts: number;
  /** Invocations that may run at once (`reservedConcurrency`); undefined: no limit of its own. */
  readonly reservedConcurrency?: number;
  /** The provider's environment overlaid with the function's. */
  readonly environment: Readonly<Record<string, string>>;
  readonly events: readonly FunctionEvent[];
}

export type FunctionEvent = ScheduleEvent | EventBridgeEvent | SqsEvent;

/** One schedule rule; a `rate` list in the file gives one event per expression. */
export interface ScheduleEvent {
  readonly kind: 'schedule';
  readonly schedule: Schedule;
  readonly enabled: boolean;
  /** Constant input sent instead of the scheduled event, when given. */
  readonly input?: unknown;
  readonly name?: string;
}

export interface EventBridgeEvent {
  readonly kind: 'eventBridge';
  readonly pattern: EventPattern;
  /** The bus the rule listens on: `default` unless given. */
  readonly eventBus: string;
  readonly enabled: boolean;
  /** Constant input sent instead of the matched event, when given. */
  readonly input?: unknown;
  readonly name?: string;
}

/** Lambda's event source mapping on one of the stack's queues. */
export interface SqsEvent {
  readonly kind: 'sqs';
  /** The queue's logical id. */
  readonly queue: string;
  /** Most messages in one invocation. */
  readonly batchSize: number;
  /** Seconds Lambda waits to fill a batch. */
  readonly maximumBatchingWindow: number;
  /** `functionResponseType: ReportBatchItemFailures`: the handler's `batchItemFailures` are retried alone. */
  readonly reportsBatchItemFailures: boolean;
  readonly enabled: boolean;
}

/** A configuration the local runner cannot use; the message names the place at fault. */
export class ServerlessConfigError extends Error {
  override readonly name = 'ServerlessConfigError';

  constructor(
    readonly where: string,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(`${where}: ${problem}`, options);
  }
}

const DEFAULT_STAGE = 'dev';
const DEFAULT_REGION = 'us-east-1';
const DEFAULT_TIMEOUT_SECONDS = 6;
const MAXIMUM_TIMEOUT_SECONDS = 900;
const DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2;
const DEFAULT_SQS_BATCH_SIZE = 10;
/** Lambda's limit for standard queues; batches above 10 messages need a batching window. */
const MAXIMUM_SQS_BATCH_SIZE = 10_000;
const MAXIMUM_BATCHING_WINDOW_SECONDS = 300;
const DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30;
const MAXIMUM_VISIBILITY_TIMEOUT_SECONDS = 43_200;

/** Keys that only matter when deploying; every other unknown key of an event is refused. */
const SCHEDULE_KEYS = new Set(['rate', 'enabled', 'input', 'name', 'description']);
const EVENT_BRIDGE_KEYS = new Set([
  'pattern',
  'eventBus',
  'enabled',
  'input',
  'name',
  'description',
  'retryPolicy',
  'deadLetterQueueArn',
]);
/** `maximumConcurrency` only caps scaling; `filterPatterns` would change what is delivered, so it is refused. */
const SQS_KEYS = new Set([
  'arn',
  'batchSize',
  'maximumBatchingWindow',
  'functionResponseType',
  'enabled',
  'maximumConcurrency',
]);
/** Input, InputPath and InputTransformer would change the message body, so they are refused on a queue target. */
const QUEUE_TARGET_KEYS = new Set(['Id', 'Arn', 'DeadLetterConfig', 'RetryPolicy']);
const RULE_STATES = new Set(['ENABLED', 'DISABLED', 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS']);

const INTRINSIC_FUNCTIONS = [
  'Ref',
  'Condition',
  'Base64',
  'Cidr',
  'FindInMap',
  'GetAtt',
  'GetAZs',
  'ImportValue',
  'Join',
  'Select',
  'Split',
  'Sub',
  'Transform',
  'And',
  'Equals',
  'If',
  'Not',
  'Or',
  'Length',
  'ToJsonString',
];

/** CloudFormation's short forms (`!Ref X`, `!Sub …`) read as their long forms (`{ Ref: X }`, `{ "Fn::Sub": … }`). */
const CLOUDFORMATION_TAGS: Tags = INTRINSIC_FUNCTIONS.flatMap((name): Tags => {
  const key = name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`;
  const longForm = (value: { toJSON(): unknown }) => ({ [key]: value.toJSON() });
  return [
    { tag: `!${name}`, resolve: (value: string) => ({ [key]: value }) },
    { tag: `!${name}`, collection: 'seq', resolve: longForm },
    { tag: `!${name}`, collection: 'map', resolve: longForm },
  ];
});

/** A Serverless variable (`${self:…}`, `${file(…)}`); `${AWS::Region}` in a `Fn::Sub` is CloudFormation's. */
const UNRESOLVED_VARIABLE = /\$\{[a-z][a-zA-Z0-9]*[(:][^}]*\}?/;

type JsonObject = Readonly<Record<string, unknown>>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Has the framework resolve `file` (see serverless-print.ts), then reads it; see {@link readServerlessConfig}. */
export function loadServerlessConfig(file: string, options: ServerlessConfigOptions = {}): ServerlessConfig {
  return readServerlessConfig(printServerlessConfig({ ...options, file }), options);
}

/**
 * Reads the text of a configuration already resolved, as YAML or JSON (`serverless print` writes either;
 * CloudFormation's short forms like `!GetAtt Queue.Arn` read as their long forms); see {@link readServerlessConfig}.
 */
export function parseServerlessConfig(text: string, options: ServerlessConfigOptions = {}): ServerlessConfig {
  const document = parseDocument(text, { customTags: CLOUDFORMATION_TAGS });
  const [problem] = [...document.errors, ...document.warnings];
  if (problem !== undefined) throw new ServerlessConfigError('serverless.yml', problem.message);
  const variable = UNRESOLVED_VARIABLE.exec(text);
  if (variable !== null) {
    throw new ServerlessConfigError(
      'serverless.yml',
      `${variable[0]} is not resolved: load the file with loadServerlessConfig, which has the framework resolve it`,
    );
  }
  return readServerlessConfig(document.toJS(), options);
}

/**
 * Reads a configuration as the framework resolves it (`serverless print`); throws {@link ServerlessConfigError}
 * naming what the local runner cannot use.
 */
export function readServerlessConfig(
  printed: unknown,
  options: Pick<ServerlessConfigOptions, 'stage' | 'region'> = {},
): ServerlessConfig {
  if (!isJsonObject(printed)) throw new ServerlessConfigError('serverless.yml', 'expected a mapping at the top level');
  const provider = printed.provider ?? {};
  if (!isJsonObject(provider)) throw new ServerlessConfigError('provider', 'expected a mapping');
  const service = printed.service;
  if (typeof service !== 'string' || service === '') throw new ServerlessConfigError('service', 'expected a name');

  const providerEnvironment = readEnvironment(provider.environment, 'provider.environment');
  const providerTimeout = readTimeout(provider.timeout, 'provider.timeout') ?? DEFAULT_TIMEOUT_SECONDS;

  const resources = readResources(printed.resources);
  const queues = Object.entries(resources).flatMap(([name, resource]) =>
    resource.Type === 'AWS::SQS::Queue' ? [readQueue(name, resource)] : [],
  );
  const queueNames = new Set(queues.map((queue) => queue.name));
  const rules = Object.entries(resources).flatMap(([name, resource]) =>
    resource.Type === 'AWS::Events::Rule' && isJsonObject(resource.Properties) && resource.Properties.EventPattern
      ? [readRule(name, resource.Properties, queueNames)]
      : [],
  );

  const functions = printed.functions ?? {};
  if (!isJsonObject(functions)) throw new ServerlessConfigError('functions', 'expected a mapping of functions');
  return {
    service,
    // The framework prefers the options to what the file says, as here.
    stage: options.stage ?? optionalString(provider.stage, 'provider.stage') ?? DEFAULT_STAGE,
    region: options.region ?? optionalString(provider.region, 'provider.region') ?? DEFAULT_REGION,
    functions: Object.entries(functions).map(([name, definition]) =>
      readFunction(name, definition, providerEnvironment, providerTimeout, queueNames),
    ),
    queues,
    rules,
  };
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') throw new ServerlessConfigError(where, 'expected a non-empty string');
  return value;
}

function readFunction(
  name: string,
  definition: unknown,
  providerEnvironment: Readonly<Record<string, string>>,
  providerTimeout: number,
  queueNames: ReadonlySet<string>,
): FunctionConfig {
  const where = `functions.${name}`;
  if (!isJsonObject(definition)) throw new ServerlessConfigError(where, 'expected a mapping');
  const handler = definition.handler;
  const handlerMatch = typeof handler === 'string' ? /^(.+)\.([A-Za-z_$][\w$]*)$/.exec(handler) : null;
  const [, modulePath, exportName] = handlerMatch ?? [];
  if (typeof handler !== 'string' || modulePath === undefined || exportName === undefined) {
    throw new ServerlessConfigError(
      `${where}.handler`,
      'expected "<module path>.<export>", like functions/reboot.handler',
    );
  }
  const events = definition.events ?? [];
  if (!Array.isArray(events)) throw new ServerlessConfigError(`${where}.events`, 'expected a list of events');
  const reservedConcurrency = readWholeNumber(definition.reservedConcurrency, `${where}.reservedConcurrency`, 0, 1000);
  return {
    name,
    handler,
    modulePath: `${modulePath}.ts`,
    exportName,
    timeout: readTimeout(definition.timeout, `${where}.timeout`) ?? providerTimeout,
    maximumRetryAttempts:
      readWholeNumber(definition.maximumRetryAttempts, `${where}.maximumRetryAttempts`, 0, 2) ??
      DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
    ...(reservedConcurrency === undefined ? {} : { reservedConcurrency }),
    environment: { ...providerEnvironment, ...readEnvironment(definition.environment, `${where}.environment`) },
    events: events.flatMap((event, index) => readEvent(event, `${where}.events[${index}]`, queueNames)),
  };
}

function readTimeout(value: unknown, where: string): number | undefined {
  return readWholeNumber(value, where, 1, MAXIMUM_TIMEOUT_SECONDS);
}

function readEnvironment(environment: unknown, where: string): Readonly<Record<string, string>> {
  if (environment === undefined || environment === null) return {};
  if (!isJsonObject(environment)) throw new ServerlessConfigError(where, 'expected a mapping of variables');
  return Object.fromEntries(
    Object.entries(environment).map(([key, entry]) => {
      if (typeof entry === 'string') return [key, entry];
      if (typeof entry === 'number' || typeof entry === 'boolean') return [key, String(entry)];
      throw new ServerlessConfigError(`${where}.${key}`, `expected a string, got ${JSON.stringify(entry)}`);
    }),
  );
}

function readEvent(event: unknown, where: string, queueNames: ReadonlySet<string>): FunctionEvent[] {
  const entries = isJsonObject(event) ? Object.entries(event) : [];
  const [entry] = entries;
  if (entry === undefined || entries.length !== 1) {
    throw new ServerlessConfigError(where, 'expected one event type, like "schedule:" or "eventBridge:"');
  }
  const [type, definition] = entry;
  if (type === 'schedule') return readScheduleEvent(definition, `${where}.schedule`);
  if (type === 'eventBridge') return [readEventBridgeEvent(definition, `${where}.eventBridge`)];
  if (type === 'sqs') return [readSqsEvent(definition, `${where}.sqs`, queueNames)];
  throw new ServerlessConfigError(
    where,
    `the local runner supports schedule, eventBridge and sqs events, not "${type}"`,
  );
}

function readScheduleEvent(definition: unknown, where: string): ScheduleEvent[] {
  const settings = typeof definition === 'string' ? { rate: definition } : definition;
  if (!isJsonObject(settings))
    throw new ServerlessConfigError(where, 'expected an expression or a mapping with "rate"');
  checkKeys(settings, SCHEDULE_KEYS, where);
  const rates = Array.isArray(settings.rate) ? settings.rate : [settings.rate];
  if (rates.length === 0) throw new ServerlessConfigError(`${where}.rate`, 'expected at least one expression');
  const enabled = readEnabled(settings.enabled, `${where}.enabled`);
  const name = optionalString(settings.name, `${where}.name`);
  return rates.map((rate, index) => {
    const rateWhere = Array.isArray(settings.rate) ? `${where}.rate[${index}]` : `${where}.rate`;
    if (typeof rate !== 'string')
      throw new ServerlessConfigError(rateWhere, 'expected a cron(…) or rate(…) expression');
    return {
      kind: 'schedule',
      schedule: parseScheduleAt(rate, rateWhere),
      enabled,
      ...(settings.input === undefined ? {} : { input: settings.input }),
      ...(name === undefined ? {} : { name }),
    };
  });
}

function parseScheduleAt(expression: string, where: string): Schedule {
  try {
    return parseSchedule(expression);
  } catch (error: unknown) {
    if (error instanceof ScheduleExpressionError)
      throw new ServerlessConfigError(where, error.message, { cause: error });
    throw error;
  }
}

function readEventBridgeEvent(definition: unknown, where: string): EventBridgeEvent {
  const settings = definition;
  if (!isJsonObject(settings)) throw new ServerlessConfigError(where, 'expected a mapping with "pattern"');
  checkKeys(settings, EVENT_BRIDGE_KEYS, where);
  if (settings.pattern === undefined)
    throw new ServerlessConfigError(`${where}.pattern`, 'an event pattern is required');
  const name = optionalString(settings.name, `${where}.name`);
  return {
    kind: 'eventBridge',
    pattern: validatePatternAt(settings.pattern, `${where}.pattern`),
    eventBus: optionalString(settings.eventBus, `${where}.eventBus`) ?? 'default',
    enabled: readEnabled(settings.enabled, `${where}.enabled`),
    ...(settings.input === undefined ? {} : { input: settings.input }),
    ...(name === undefined ? {} : { name }),
  };
}

function validatePatternAt(pattern: unknown, where: string): EventPattern {
  try {
    return validatePattern(pattern);
  } catch (error: unknown) {
    if (error instanceof EventPatternError) throw new ServerlessConfigError(where, error.message, { cause: error });
    throw error;
  }
}

function readSqsEvent(definition: unknown, where: string, queueNames: ReadonlySet<string>): SqsEvent {
  // The short form gives the queue alone: `sqs: !GetAtt Queue.Arn`.
  const settings = isJsonObject(definition) && referenceOf(definition) === undefined ? definition : { arn: definition };
  checkKeys(settings, SQS_KEYS, where);
  const queue = referenceOf(settings.arn);
  if (queue?.attribute !== 'Arn') {
    throw new ServerlessConfigError(
      `${where}.arn`,
      `expected the ARN of a queue of this stack, as !GetAtt <Queue>.Arn; got ${JSON.stringify(settings.arn)}`,
    );
  }
  if (!queueNames.has(queue.id)) {
    throw new ServerlessConfigError(`${where}.arn`, `${queue.id} is not a resource of type AWS::SQS::Queue`);
  }
  const batchSize =
    readWholeNumber(settings.batchSize, `${where}.batchSize`, 1, MAXIMUM_SQS_BATCH_SIZE) ?? DEFAULT_SQS_BATCH_SIZE;
  const window =
    readWholeNumber(
      settings.maximumBatchingWindow,
      `${where}.maximumBatchingWindow`,
      0,
      MAXIMUM_BATCHING_WINDOW_SECONDS,
    ) ?? 0;
  if (batchSize > 10 && window < 1) {
    throw new ServerlessConfigError(
      `${where}.batchSize`,
      'a batch of more than 10 messages needs a maximumBatchingWindow of at least 1 second',
    );
  }
  const responseType = settings.functionResponseType;
  if (responseType !== undefined && responseType !== 'ReportBatchItemFailures') {
    throw new ServerlessConfigError(`${where}.functionResponseType`, 'expected ReportBatchItemFailures');
  }
  return {
    kind: 'sqs',
    queue: queue.id,
    batchSize,
    maximumBatchingWindow: window,
    reportsBatchItemFailures: responseType === 'ReportBatchItemFailures',
    enabled: readEnabled(settings.enabled, `${where}.enabled`),
  };
}

/** A whole number within bounds; CloudFormation also takes numbers written as strings. */
function readWholeNumber(value: unknown, where: string, minimum: number, maximum: number): number | undefined {
  if (value === undefined) return undefined;
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < minimum || number > maximum) {
    throw new ServerlessConfigError(
      where,
      `expected a whole number from ${minimum} to ${maximum}, got ${JSON.stringify(value)}`,
    );
  }
  return number;
}

/** `{ Ref: Id }`, or `{ "Fn::GetAtt": "Id.Attribute" }` / `[Id, Attribute]`: what it refers to; else undefined. */
function referenceOf(value: unknown): { readonly id: string; readonly attribute?: string } | undefined {
  if (!isJsonObject(value) || Object.keys(value).length !== 1) return undefined;
  if (typeof value.Ref === 'string') return { id: value.Ref };
  const getAtt = value['Fn::GetAtt'];
  const dot = typeof getAtt === 'string' ? getAtt.indexOf('.') : -1;
  const [id, attribute] =
    typeof getAtt === 'string' ? [getAtt.slice(0, dot), getAtt.slice(dot + 1)] : Array.isArray(getAtt) ? getAtt : [];
  return typeof id === 'string' && id !== '' && typeof attribute === 'string' ? { id, attribute } : undefined;
}

/** The `Type` and `Properties` of each resource, by logical id; nothing else of them is read. */
function readResources(resources: unknown): Readonly<Record<string, JsonObject>> {
  if (resources === undefined || resources === null) return {};
  if (!isJsonObject(resources)) throw new ServerlessConfigError('resources', 'expected a mapping with "Resources"');
  const entries = resources.Resources ?? {};
  if (!isJsonObject(entries)) throw new ServerlessConfigError('resources.Resources', 'expected a mapping');
  return Object.fromEntries(
    Object.entries(entries).map(([name, resource]) => {
      if (!isJsonObject(resource)) throw new ServerlessConfigError(`resources.Resources.${name}`, 'expected a mapping');
      return [name, resource];
    }),
  );
}

function readQueue(name: string, resource: JsonObject): QueueConfig {
  const where = `resources.Resources.${name}.Properties`;
  const properties = isJsonObject(resource.Properties) ? resource.Properties : {};
  if (properties.FifoQueue === true || properties.FifoQueue === 'true') {
    throw new ServerlessConfigError(`${where}.FifoQueue`, 'the local runner simulates standard queues only');
  }
  const visibilityTimeout = readWholeNumber(
    properties.VisibilityTimeout,
    `${where}.VisibilityTimeout`,
    0,
    MAXIMUM_VISIBILITY_TIMEOUT_SECONDS,
  );
  const redrive = parseJsonText(properties.RedrivePolicy);
  if (redrive !== undefined && !isJsonObject(redrive)) {
    throw new ServerlessConfigError(`${where}.RedrivePolicy`, 'expected a mapping with "maxReceiveCount"');
  }
  const maxReceiveCount =
    redrive === undefined
      ? undefined
      : readWholeNumber(redrive.maxReceiveCount, `${where}.RedrivePolicy.maxReceiveCount`, 1, 1000);
  return {
    name,
    visibilityTimeout: visibilityTimeout ?? DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
    ...(maxReceiveCount === undefined ? {} : { maxReceiveCount }),
  };
}

/** CloudFormation takes JSON properties (an event pattern, a redrive policy) as a mapping or as JSON text. */
function parseJsonText(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function readRule(name: string, properties: JsonObject, queueNames: ReadonlySet<string>): RuleConfig {
  const where = `resources.Resources.${name}.Properties`;
  const state = properties.State ?? 'ENABLED';
  if (typeof state !== 'string' || !RULE_STATES.has(state)) {
    throw new ServerlessConfigError(`${where}.State`, `expected ${[...RULE_STATES].join(', ')}`);
  }
  const targets = properties.Targets ?? [];
  if (!Array.isArray(targets)) throw new ServerlessConfigError(`${where}.Targets`, 'expected a list of targets');
  return {
    name,
    pattern: validatePatternAt(parseJsonText(properties.EventPattern), `${where}.EventPattern`),
    eventBus: readEventBusName(properties.EventBusName, where),
    enabled: state !== 'DISABLED',
    queues: targets.flatMap((target: unknown, index) => {
      const targetWhere = `${where}.Targets[${index}]`;
      if (!isJsonObject(target)) throw new ServerlessConfigError(targetWhere, 'expected a mapping with "Arn"');
      const queue = referenceOf(target.Arn);
      if (queue?.attribute !== 'Arn' || !queueNames.has(queue.id)) return [];
      checkKeys(target, QUEUE_TARGET_KEYS, targetWhere);
      return [queue.id];
    }),
  };
}

/** A name or ARN gives the bus's name; a reference is to a bus of this stack, named here by its logical id. */
function readEventBusName(value: unknown, where: string): string {
  if (value === undefined) return 'default';
  if (typeof value === 'string' && value !== '') return value.slice(value.lastIndexOf('/') + 1);
  const bus = referenceOf(value);
  if (bus === undefined) throw new ServerlessConfigError(`${where}.EventBusName`, 'expected a bus name or ARN');
  return bus.id;
}

function checkKeys(settings: JsonObject, allowed: ReadonlySet<string>, where: string): void {
  const unknown = Object.keys(settings).find((key) => !allowed.has(key));
  if (unknown !== undefined) {
    throw new ServerlessConfigError(
      `${where}.${unknown}`,
      `not supported by the local runner (use ${[...allowed].join(', ')})`,
    );
  }
}

function readEnabled(value: unknown, where: string): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'boolean') throw new ServerlessConfigError(where, 'expected true or false');
  return value;
}
