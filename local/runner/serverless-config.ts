/**
 * Reads the functions of a `serverless.yml` (Serverless Framework v3 format) as the local runner needs them: handler
 * module and export, timeout, environment, and the schedule, EventBridge and SQS events that invoke them; and, from
 * `resources.Resources`, the SQS queues and the EventBridge rules with an event pattern that feed them.
 *
 * Variables are resolved as the framework does for the sources that make sense locally: `${param:…}` (CLI-style
 * overrides, then `params.<stage>`, then `params.default`), `${self:…}`, `${sls:stage}` and `${opt:stage}` /
 * `${opt:region}`, each with fallbacks (`${opt:stage, 'dev'}`). Any other source is an error naming the variable.
 * Only the parts that are read are resolved, so deployment-only settings (IAM, the rest of resources, `${file(…)}`)
 * may use any variable; `${AWS::Region}` and the like are CloudFormation's and are not variables.
 */
import { readFileSync } from 'node:fs';
import { parseDocument, type Tags } from 'yaml';
import { type EventPattern, EventPatternError, validatePattern } from './event-pattern';
import { parseSchedule, type Schedule, ScheduleExpressionError } from './schedule';

export interface ServerlessConfigOptions {
  /** Like `--stage`; otherwise `provider.stage`, otherwise `dev`. */
  readonly stage?: string;
  /** Like `--region`; otherwise `provider.region`, otherwise `us-east-1`. */
  readonly region?: string;
  /** Like `--param="name=value"`: these win over the file's `params`. */
  readonly params?: Readonly<Record<string, string>>;
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

/** A configuration the local runner cannot use; the message names the place (and variable) at fault. */
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
const DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2;
const DEFAULT_SQS_BATCH_SIZE = 10;
/** Lambda's limit for standard queues; batches above 10 messages need a batching window. */
const MAXIMUM_SQS_BATCH_SIZE = 10_000;
const MAXIMUM_BATCHING_WINDOW_SECONDS = 300;
const DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30;
const MAXIMUM_VISIBILITY_TIMEOUT_SECONDS = 43_200;
/** Deeper than any sensible chain of variables; beyond it, variables refer to each other in a loop. */
const MAXIMUM_VARIABLE_DEPTH = 32;

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

type JsonObject = Readonly<Record<string, unknown>>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads and checks `file`; see {@link parseServerlessConfig}. */
export function loadServerlessConfig(file: string, options: ServerlessConfigOptions = {}): ServerlessConfig {
  return parseServerlessConfig(readFileSync(file, 'utf8'), options);
}

/** Parses the text of a `serverless.yml`; throws {@link ServerlessConfigError} naming what is wrong. */
export function parseServerlessConfig(text: string, options: ServerlessConfigOptions = {}): ServerlessConfig {
  const root = parseYaml(text);
  const provider = root.provider === undefined ? {} : root.provider;
  if (!isJsonObject(provider)) throw new ServerlessConfigError('provider', 'expected a mapping');

  const stage = resolveStage(root, provider, options);
  const variables = new VariableResolver(root, stage, options);
  const region =
    options.region ?? optionalString(variables.resolve(provider.region, 'provider.region'), 'provider.region');

  const service = variables.resolve(root.service, 'service');
  if (typeof service !== 'string' || service === '') throw new ServerlessConfigError('service', 'expected a name');

  const providerEnvironment = readEnvironment(variables, provider.environment, 'provider.environment');
  const providerTimeout = readTimeout(variables, provider.timeout, 'provider.timeout') ?? DEFAULT_TIMEOUT_SECONDS;

  const resources = readResources(root.resources);
  const queues = Object.entries(resources).flatMap(([name, resource]) =>
    resource.Type === 'AWS::SQS::Queue' ? [readQueue(variables, name, resource)] : [],
  );
  const queueNames = new Set(queues.map((queue) => queue.name));
  const rules = Object.entries(resources).flatMap(([name, resource]) =>
    resource.Type === 'AWS::Events::Rule' && isJsonObject(resource.Properties) && resource.Properties.EventPattern
      ? [readRule(variables, name, resource.Properties, queueNames)]
      : [],
  );

  const functions = root.functions === undefined ? {} : root.functions;
  if (!isJsonObject(functions)) throw new ServerlessConfigError('functions', 'expected a mapping of functions');
  return {
    service,
    stage,
    region: region ?? DEFAULT_REGION,
    functions: Object.entries(functions).map(([name, definition]) =>
      readFunction(variables, name, definition, providerEnvironment, providerTimeout, queueNames),
    ),
    queues,
    rules,
  };
}

function parseYaml(text: string): JsonObject {
  const document = parseDocument(text, { customTags: CLOUDFORMATION_TAGS });
  const [problem] = [...document.errors, ...document.warnings];
  if (problem !== undefined) throw new ServerlessConfigError('serverless.yml', problem.message);
  const root: unknown = document.toJS();
  if (!isJsonObject(root)) throw new ServerlessConfigError('serverless.yml', 'expected a mapping at the top level');
  return root;
}

function resolveStage(root: JsonObject, provider: JsonObject, options: ServerlessConfigOptions): string {
  if (options.stage !== undefined) return options.stage;
  // The stage cannot depend on itself: `${sls:stage}` and stage-specific params are not available yet.
  const stage = new VariableResolver(root, undefined, options).resolve(provider.stage, 'provider.stage');
  return optionalString(stage, 'provider.stage') ?? DEFAULT_STAGE;
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') throw new ServerlessConfigError(where, 'expected a non-empty string');
  return value;
}

function readFunction(
  variables: VariableResolver,
  name: string,
  definition: unknown,
  providerEnvironment: Readonly<Record<string, string>>,
  providerTimeout: number,
  queueNames: ReadonlySet<string>,
): FunctionConfig {
  const where = `functions.${name}`;
  if (!isJsonObject(definition)) throw new ServerlessConfigError(where, 'expected a mapping');
  const handler = variables.resolve(definition.handler, `${where}.handler`);
  const handlerMatch = typeof handler === 'string' ? /^(.+)\.([A-Za-z_$][\w$]*)$/.exec(handler) : null;
  const [, modulePath, exportName] = handlerMatch ?? [];
  if (typeof handler !== 'string' || modulePath === undefined || exportName === undefined) {
    throw new ServerlessConfigError(
      `${where}.handler`,
      'expected "<module path>.<export>", like functions/reboot.handler',
    );
  }
  const events = definition.events === undefined ? [] : definition.events;
  if (!Array.isArray(events)) throw new ServerlessConfigError(`${where}.events`, 'expected a list of events');
  return {
    name,
    handler,
    modulePath: `${modulePath}.ts`,
    exportName,
    timeout: readTimeout(variables, definition.timeout, `${where}.timeout`) ?? providerTimeout,
    maximumRetryAttempts: readRetries(variables, definition.maximumRetryAttempts, `${where}.maximumRetryAttempts`),
    ...readReservedConcurrency(variables, definition.reservedConcurrency, `${where}.reservedConcurrency`),
    environment: {
      ...providerEnvironment,
      ...readEnvironment(variables, definition.environment, `${where}.environment`),
    },
    events: events.flatMap((event, index) => readEvent(variables, event, `${where}.events[${index}]`, queueNames)),
  };
}

function readReservedConcurrency(
  variables: VariableResolver,
  value: unknown,
  where: string,
): { reservedConcurrency?: number } {
  if (value === undefined) return {};
  const reserved = readWholeNumber(variables.resolve(value, where), where, 0, 1000);
  return reserved === undefined ? {} : { reservedConcurrency: reserved };
}

function readTimeout(variables: VariableResolver, value: unknown, where: string): number | undefined {
  const timeout = variables.resolve(value, where);
  if (timeout === undefined) return undefined;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1) {
    throw new ServerlessConfigError(where, `expected a whole number of seconds ≥ 1, got ${JSON.stringify(timeout)}`);
  }
  return timeout;
}

function readRetries(variables: VariableResolver, value: unknown, where: string): number {
  const retries = variables.resolve(value, where);
  if (retries === undefined) return DEFAULT_MAXIMUM_RETRY_ATTEMPTS;
  if (retries !== 0 && retries !== 1 && retries !== 2) throw new ServerlessConfigError(where, 'expected 0, 1 or 2');
  return retries;
}

function readEnvironment(variables: VariableResolver, value: unknown, where: string): Readonly<Record<string, string>> {
  const environment = variables.resolve(value, where);
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

function readEvent(
  variables: VariableResolver,
  event: unknown,
  where: string,
  queueNames: ReadonlySet<string>,
): FunctionEvent[] {
  const entries = isJsonObject(event) ? Object.entries(event) : [];
  const [entry] = entries;
  if (entry === undefined || entries.length !== 1) {
    throw new ServerlessConfigError(where, 'expected one event type, like "schedule:" or "eventBridge:"');
  }
  const [type, definition] = entry;
  if (type === 'schedule') return readScheduleEvent(variables, definition, `${where}.schedule`);
  if (type === 'eventBridge') return [readEventBridgeEvent(variables, definition, `${where}.eventBridge`)];
  if (type === 'sqs') return [readSqsEvent(variables, definition, `${where}.sqs`, queueNames)];
  throw new ServerlessConfigError(
    where,
    `the local runner supports schedule, eventBridge and sqs events, not "${type}"`,
  );
}

function readScheduleEvent(variables: VariableResolver, definition: unknown, where: string): ScheduleEvent[] {
  const resolved = variables.resolve(definition, where);
  const settings = typeof resolved === 'string' ? { rate: resolved } : resolved;
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

function readEventBridgeEvent(variables: VariableResolver, definition: unknown, where: string): EventBridgeEvent {
  const settings = variables.resolve(definition, where);
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

function readSqsEvent(
  variables: VariableResolver,
  definition: unknown,
  where: string,
  queueNames: ReadonlySet<string>,
): SqsEvent {
  const resolved = variables.resolve(definition, where);
  // The short form gives the queue alone: `sqs: !GetAtt Queue.Arn`.
  const settings = isJsonObject(resolved) && referenceOf(resolved) === undefined ? resolved : { arn: resolved };
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

function readQueue(variables: VariableResolver, name: string, resource: JsonObject): QueueConfig {
  const where = `resources.Resources.${name}.Properties`;
  const properties = isJsonObject(resource.Properties) ? resource.Properties : {};
  if (variables.resolve(properties.FifoQueue, `${where}.FifoQueue`) === true) {
    throw new ServerlessConfigError(`${where}.FifoQueue`, 'the local runner simulates standard queues only');
  }
  const visibilityTimeout = readWholeNumber(
    variables.resolve(properties.VisibilityTimeout, `${where}.VisibilityTimeout`),
    `${where}.VisibilityTimeout`,
    0,
    MAXIMUM_VISIBILITY_TIMEOUT_SECONDS,
  );
  const redrive = parseJsonText(variables.resolve(properties.RedrivePolicy, `${where}.RedrivePolicy`));
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

function readRule(
  variables: VariableResolver,
  name: string,
  properties: JsonObject,
  queueNames: ReadonlySet<string>,
): RuleConfig {
  const where = `resources.Resources.${name}.Properties`;
  const state = variables.resolve(properties.State, `${where}.State`) ?? 'ENABLED';
  if (typeof state !== 'string' || !RULE_STATES.has(state)) {
    throw new ServerlessConfigError(`${where}.State`, `expected ${[...RULE_STATES].join(', ')}`);
  }
  const targets = properties.Targets ?? [];
  if (!Array.isArray(targets)) throw new ServerlessConfigError(`${where}.Targets`, 'expected a list of targets');
  return {
    name,
    pattern: validatePatternAt(
      parseJsonText(variables.resolve(properties.EventPattern, `${where}.EventPattern`)),
      `${where}.EventPattern`,
    ),
    eventBus: readEventBusName(variables.resolve(properties.EventBusName, `${where}.EventBusName`), where),
    enabled: state !== 'DISABLED',
    queues: targets.flatMap((target: unknown, index) => {
      const targetWhere = `${where}.Targets[${index}]`;
      if (!isJsonObject(target)) throw new ServerlessConfigError(targetWhere, 'expected a mapping with "Arn"');
      const queue = referenceOf(variables.resolve(target.Arn, `${targetWhere}.Arn`));
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

/** A `${…}` in a string: where it starts and ends, and what is between the braces. */
interface VariableSpan {
  readonly start: number;
  readonly end: number;
  readonly body: string;
}

/**
 * Variable sources are lowercase words followed by a colon or parameters (`self:…`, `file(…)`); `${AWS::Region}` is
 * CloudFormation's and stays as is.
 */
const SOURCE_START = /^[a-z][a-zA-Z0-9]*[(:]/;

/** Finds the top-level `${…}` of `text`, matching nested variables and skipping quoted strings. */
function findVariables(text: string, where: string): VariableSpan[] {
  const spans: VariableSpan[] = [];
  let index = 0;
  while (index < text.length) {
    const start = text.indexOf('${', index);
    if (start < 0) break;
    if (!SOURCE_START.test(text.slice(start + 2))) {
      index = start + 2;
      continue;
    }
    const end = closingBrace(text, start + 2, where);
    spans.push({ start, end, body: text.slice(start + 2, end) });
    index = end + 1;
  }
  return spans;
}

function closingBrace(text: string, from: number, where: string): number {
  let depth = 1;
  let quote: string | undefined;
  for (let index = from; index < text.length; index += 1) {
    const character = text[index];
    if (quote !== undefined) {
      if (character === quote) quote = undefined;
    } else if (character === "'" || character === '"') {
      quote = character;
    } else if (character === '$' && text[index + 1] === '{') {
      depth += 1;
      index += 1;
    } else if (character === '}') {
      depth -= 1;
      if (depth === 0) return index;
    }
  }
  throw new ServerlessConfigError(where, `unterminated variable in ${JSON.stringify(text)}`);
}

/** Splits a variable's body at its top-level commas: the sources tried in turn. */
function splitSources(body: string): string[] {
  const sources: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let current = '';
  for (let index = 0; index < body.length; index += 1) {
    const character = body[index] ?? '';
    if (quote !== undefined) {
      if (character === quote) quote = undefined;
    } else if (character === "'" || character === '"') {
      quote = character;
    } else if (character === '{') {
      depth += 1;
    } else if (character === '}') {
      depth -= 1;
    } else if (character === ',' && depth === 0) {
      sources.push(current.trim());
      current = '';
      continue;
    }
    current += character;
  }
  sources.push(current.trim());
  return sources;
}

/** The variable sources that can be resolved without AWS or the framework: the rest are errors. */
const LOCAL_SOURCES = ['self', 'opt', 'sls', 'param'] as const;

function isLocalSource(type: string): type is (typeof LOCAL_SOURCES)[number] {
  return LOCAL_SOURCES.some((source) => source === type);
}

class VariableResolver {
  constructor(
    private readonly root: JsonObject,
    /** Unknown while the stage itself is being resolved. */
    private readonly stage: string | undefined,
    private readonly options: ServerlessConfigOptions,
  ) {}

  /** `value` with every variable in it resolved, recursively through arrays and mappings. */
  resolve(value: unknown, where: string, depth = 0): unknown {
    if (depth > MAXIMUM_VARIABLE_DEPTH)
      throw new ServerlessConfigError(where, 'variables refer to each other in a loop');
    if (typeof value === 'string') return this.resolveString(value, where, depth);
    if (Array.isArray(value)) return value.map((item, index) => this.resolve(item, `${where}[${index}]`, depth));
    if (isJsonObject(value)) {
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => [key, this.resolve(item, `${where}.${key}`, depth)]),
      );
    }
    return value;
  }

  private resolveString(text: string, where: string, depth: number): unknown {
    const spans = findVariables(text, where);
    const [only] = spans;
    // A value that is one variable keeps the variable's type (a number, a mapping…).
    if (only !== undefined && spans.length === 1 && only.start === 0 && only.end === text.length - 1) {
      return this.resolveVariable(only.body, where, depth);
    }
    let result = '';
    let copied = 0;
    for (const span of spans) {
      const value = this.resolveVariable(span.body, where, depth);
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw new ServerlessConfigError(where, `\${${span.body}} is not text and cannot be part of a string`);
      }
      result += text.slice(copied, span.start) + String(value);
      copied = span.end + 1;
    }
    return result + text.slice(copied);
  }

  private resolveVariable(body: string, where: string, depth: number): unknown {
    for (const source of splitSources(body)) {
      const value = this.resolveSource(source, body, where, depth + 1);
      if (value !== undefined && value !== null) return value;
    }
    throw new ServerlessConfigError(where, `\${${body}} has no value and no fallback`);
  }

  private resolveSource(source: string, body: string, where: string, depth: number): unknown {
    const quoted = /^'(.*)'$|^"(.*)"$/s.exec(source);
    if (quoted) return quoted[1] ?? quoted[2];
    if (/^-?\d+(\.\d+)?$/.test(source)) return Number(source);
    if (source === 'true' || source === 'false') return source === 'true';
    if (source.startsWith('${')) return this.resolve(source, where, depth);
    const match = /^([a-z][a-zA-Z0-9]*)(\(.*?\))?(?::(.*))?$/s.exec(source);
    const [, type, parameters, rawAddress] = match ?? [];
    if (type === undefined || (parameters === undefined && rawAddress === undefined)) {
      throw new ServerlessConfigError(where, `\${${body}}: "${source}" is neither a variable nor a quoted value`);
    }
    if (!isLocalSource(type) || parameters !== undefined || rawAddress === undefined) {
      throw new ServerlessConfigError(where, `\${${body}}: the "${type}" variable source is not available locally`);
    }
    const address = this.resolve(rawAddress.trim(), where, depth);
    if (typeof address !== 'string') throw new ServerlessConfigError(where, `\${${body}}: the address is not text`);
    switch (type) {
      case 'self':
        return this.resolve(this.lookUp(address, body, where), where, depth);
      case 'opt':
        return address === 'stage' ? this.options.stage : address === 'region' ? this.options.region : undefined;
      case 'sls':
        if (address !== 'stage') throw new ServerlessConfigError(where, `\${${body}} is not available locally`);
        if (this.stage === undefined)
          throw new ServerlessConfigError(where, `\${${body}} cannot define the stage itself`);
        return this.stage;
      case 'param':
        return this.resolve(this.param(address), where, depth);
    }
  }

  private lookUp(path: string, body: string, where: string): unknown {
    let node: unknown = this.root;
    for (const key of path.split('.')) {
      if (!isJsonObject(node) || !Object.hasOwn(node, key)) {
        throw new ServerlessConfigError(where, `\${${body}} refers to "${path}", which is not in the file`);
      }
      node = node[key];
    }
    return node;
  }

  /** `--param` first, then the stage's params, then the defaults, as the framework does; null means unset. */
  private param(name: string): unknown {
    const override = this.options.params?.[name];
    if (override !== undefined) return override;
    const params = isJsonObject(this.root.params) ? this.root.params : {};
    for (const section of [this.stage, 'default']) {
      const values = section === undefined ? undefined : params[section];
      const value = isJsonObject(values) ? values[name] : undefined;
      if (value !== undefined && value !== null) return value;
    }
    return undefined;
  }
}
