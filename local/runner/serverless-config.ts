/**
 * Reads the functions of a `serverless.yml` (Serverless Framework v3 format) as the local runner needs them: handler
 * module and export, timeout, environment, and the schedule and EventBridge events that invoke them.
 *
 * Variables are resolved as the framework does for the sources that make sense locally: `${param:…}` (CLI-style
 * overrides, then `params.<stage>`, then `params.default`), `${self:…}`, `${sls:stage}` and `${opt:stage}` /
 * `${opt:region}`, each with fallbacks (`${opt:stage, 'dev'}`). Any other source is an error naming the variable.
 * Only the parts that are read are resolved, so deployment-only settings (IAM, resources, `${file(…)}`) may use any
 * variable; `${AWS::Region}` and the like are CloudFormation's and are not variables.
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
  /** The provider's environment overlaid with the function's. */
  readonly environment: Readonly<Record<string, string>>;
  readonly events: readonly FunctionEvent[];
}

export type FunctionEvent = ScheduleEvent | EventBridgeEvent;

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

  const functions = root.functions === undefined ? {} : root.functions;
  if (!isJsonObject(functions)) throw new ServerlessConfigError('functions', 'expected a mapping of functions');
  return {
    service,
    stage,
    region: region ?? DEFAULT_REGION,
    functions: Object.entries(functions).map(([name, definition]) =>
      readFunction(variables, name, definition, providerEnvironment, providerTimeout),
    ),
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
    environment: {
      ...providerEnvironment,
      ...readEnvironment(variables, definition.environment, `${where}.environment`),
    },
    events: events.flatMap((event, index) => readEvent(variables, event, `${where}.events[${index}]`)),
  };
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

function readEvent(variables: VariableResolver, event: unknown, where: string): FunctionEvent[] {
  const entries = isJsonObject(event) ? Object.entries(event) : [];
  const [entry] = entries;
  if (entry === undefined || entries.length !== 1) {
    throw new ServerlessConfigError(where, 'expected one event type, like "schedule:" or "eventBridge:"');
  }
  const [type, definition] = entry;
  if (type === 'schedule') return readScheduleEvent(variables, definition, `${where}.schedule`);
  if (type === 'eventBridge') return [readEventBridgeEvent(variables, definition, `${where}.eventBridge`)];
  throw new ServerlessConfigError(where, `the local runner supports schedule and eventBridge events, not "${type}"`);
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
  let pattern: EventPattern;
  try {
    pattern = validatePattern(settings.pattern);
  } catch (error: unknown) {
    if (error instanceof EventPatternError) {
      throw new ServerlessConfigError(`${where}.pattern`, error.message, { cause: error });
    }
    throw error;
  }
  const name = optionalString(settings.name, `${where}.name`);
  return {
    kind: 'eventBridge',
    pattern,
    eventBus: optionalString(settings.eventBus, `${where}.eventBus`) ?? 'default',
    enabled: readEnabled(settings.enabled, `${where}.enabled`),
    ...(settings.input === undefined ? {} : { input: settings.input }),
    ...(name === undefined ? {} : { name }),
  };
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
