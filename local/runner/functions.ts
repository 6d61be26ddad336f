/**
 * The service's functions as `serverless.yml` declares them: their handler modules loaded in this process, their
 * environment set, their schedules, event patterns and queues (with the patterns of the rules that feed them) ready
 * for the simulation. Nothing here names a function: the
 * wiring is read from the file, so a wrong pattern there makes the local night fail as it would in AWS.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { withEnvironment } from './function-environment';
import { loadServerlessConfig, type ServerlessConfig, type SqsEvent } from './serverless-config';
import type { Handler, LocalFunction, QueueTrigger } from './simulation';

export interface LoadFunctionsOptions {
  readonly stage: string;
  /** The EC2 (and EventBridge) endpoint the handlers' SDK clients talk to. */
  readonly endpoint: string;
  readonly region: string;
  readonly account: string;
  /** The service's folder: where handler paths are relative to, with the framework's plugins; default the file's. */
  readonly projectRoot?: string;
  /** Overrides the functions' POWERTOOLS_LOG_LEVEL (the runner keeps logs quiet unless asked). */
  readonly logLevel?: string;
  /** Deployment parameters, as `--param="name=value"` gives them: they win over the file's `params`. */
  readonly params?: Readonly<Record<string, string>>;
  /**
   * Where the functions write their metrics (embedded metric format): `stdout` as on Lambda, `console` (the process's
   * console, where the runner reads them: see metrics-capture.ts), or nowhere (default), keeping output clean.
   */
  readonly metrics?: 'stdout' | 'console';
}

/**
 * The access key id a function's invocations sign with: each function has credentials of its own (as Lambda gives
 * each one its role's), so that an endpoint enforcing IAM answers it as EC2 answers that role.
 */
export function functionAccessKeyId(functionName: string): string {
  return `ASIALOCAL${functionName.toUpperCase()}`;
}

export class WiringError extends Error {
  override readonly name = 'WiringError';
}

/**
 * Loads the functions. The handlers read their configuration at cold start, so the environment is set before their
 * modules are imported; one process holds one environment, so functions whose variables disagree are refused.
 */
export async function loadFunctions(file: string, options: LoadFunctionsOptions): Promise<LocalFunction[]> {
  const config = loadServerlessConfig(file, {
    stage: options.stage,
    region: options.region,
    ...(options.params === undefined ? {} : { params: options.params }),
    ...(options.projectRoot === undefined ? {} : { projectRoot: options.projectRoot }),
  });
  const readers = new Map<string, string>();
  for (const fn of config.functions) {
    for (const event of fn.events) {
      if (event.kind !== 'sqs' || !event.enabled) continue;
      const other = readers.get(event.queue);
      // Two mappings on one queue compete for its messages; the simulation gives each queue one reader.
      if (other !== undefined) throw new WiringError(`${other} and ${fn.name} both read ${event.queue}`);
      readers.set(event.queue, fn.name);
    }
  }
  const environment: Record<string, string> = {};
  for (const fn of config.functions) {
    for (const [name, value] of Object.entries(fn.environment)) {
      if (environment[name] !== undefined && environment[name] !== value) {
        throw new WiringError(`functions disagree on ${name}; the local runner runs them in one process`);
      }
      environment[name] = value;
    }
  }
  Object.assign(process.env, environment, {
    AWS_ENDPOINT_URL_EC2: options.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: options.endpoint,
    AWS_ENDPOINT_URL_KMS: options.endpoint,
    AWS_REGION: options.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    POWERTOOLS_METRICS_DISABLED: options.metrics === undefined ? 'true' : 'false',
    // Powertools' development mode writes through the process's console.
    ...(options.metrics === 'console' ? { POWERTOOLS_DEV: 'true' } : {}),
    ...(options.logLevel === undefined ? {} : { POWERTOOLS_LOG_LEVEL: options.logLevel }),
  });

  const written = writtenSettings(readFileSync(file, 'utf8'));
  const functions: LocalFunction[] = [];
  for (const fn of config.functions) {
    const settings = written.get(fn.name);
    // The function's own credentials, in force while its module loads (its clients are made then) and while it runs.
    const own = {
      AWS_ACCESS_KEY_ID: functionAccessKeyId(fn.name),
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_LAMBDA_FUNCTION_NAME: `${config.service}-${config.stage}-${fn.name}`,
    };
    const module: Record<string, unknown> = await withEnvironment(
      own,
      () => import(resolve(options.projectRoot ?? dirname(file), fn.modulePath)),
    );
    const handler = module[fn.exportName];
    if (typeof handler !== 'function') {
      throw new WiringError(`${fn.modulePath} has no function export ${fn.exportName} (handler of ${fn.name})`);
    }
    const invoke = handler as Handler;
    functions.push({
      name: fn.name,
      handler: (event, context) => withEnvironment(own, () => invoke(event, context)),
      timeoutSeconds: fn.timeout,
      ...(fn.reservedConcurrency === undefined ? {} : { reservedConcurrency: fn.reservedConcurrency }),
      ...(settings?.maximumEventAge === undefined ? {} : { maximumEventAgeSeconds: settings.maximumEventAge }),
      // A disabled schedule with a name is deployed off, for the functions to turn on; one without never fires.
      schedules: fn.events.flatMap((event) =>
        event.kind === 'schedule' && (event.enabled || event.name !== undefined)
          ? [
              {
                schedule: event.schedule,
                ...(event.input === undefined ? {} : { input: event.input }),
                ...(event.name === undefined ? {} : { ruleName: event.name }),
                ...(event.enabled ? {} : { deployedDisabled: true as const }),
              },
            ]
          : [],
      ),
      // Only the default bus carries EC2's events.
      patterns: fn.events.flatMap((event) =>
        event.kind === 'eventBridge' && event.enabled && event.eventBus === 'default' ? [event.pattern] : [],
      ),
      queues: fn.events
        .filter((event) => event.kind === 'sqs')
        .flatMap((event, index) => {
          if (!event.enabled) return [];
          const maximumConcurrency = settings?.maximumConcurrency[index];
          return [
            { ...queueTrigger(config, event), ...(maximumConcurrency === undefined ? {} : { maximumConcurrency }) },
          ];
        }),
    });
  }
  return functions;
}

/** The queue as the function's event source mapping reads it, fed by the enabled rules on the default bus. */
export function queueTrigger(config: ServerlessConfig, event: SqsEvent): QueueTrigger {
  const queue = config.queues.find((candidate) => candidate.name === event.queue);
  // The configuration checks that a sqs event names one of its queues.
  if (queue === undefined) throw new WiringError(`${event.queue} is not a queue of the stack`);
  return {
    queue: queue.name,
    patterns: config.rules.flatMap((rule) =>
      rule.enabled && rule.eventBus === 'default' && rule.queues.includes(queue.name) ? [rule.pattern] : [],
    ),
    batchSize: event.batchSize,
    batchingWindowMs: event.maximumBatchingWindow * 1000,
    reportsBatchItemFailures: event.reportsBatchItemFailures,
    visibilityTimeoutMs: queue.visibilityTimeout * 1000,
    ...(queue.maxReceiveCount === undefined ? {} : { maxReceiveCount: queue.maxReceiveCount }),
  };
}

/** Lambda's settings for a function's asynchronous invocations and its queues' mappings, as the file writes them. */
export interface WrittenSettings {
  /** `maximumEventAge`, in seconds. */
  readonly maximumEventAge?: number;
  /** The `maximumConcurrency` of each of its sqs events, in order. */
  readonly maximumConcurrency: readonly (number | undefined)[];
}

/**
 * Reads, by function, the settings the configuration reader leaves out: `maximumEventAge` (how long Lambda keeps a
 * throttled asynchronous event) and each sqs event's `maximumConcurrency`. They are read as written, so they must be
 * plain numbers, not variables.
 */
export function writtenSettings(text: string): Map<string, WrittenSettings> {
  // CloudFormation's tags (`!GetAtt`) read as plain values: the settings read here never use them.
  const written: unknown = parseDocument(text).toJS();
  const functions = isMapping(written) && isMapping(written.functions) ? written.functions : {};
  const settings = new Map<string, WrittenSettings>();
  for (const [name, definition] of Object.entries(functions)) {
    if (!isMapping(definition)) continue;
    const events = Array.isArray(definition.events) ? (definition.events as unknown[]) : [];
    const maximumEventAge = wholeNumber(definition.maximumEventAge, `functions.${name}.maximumEventAge`, 60, 21_600);
    settings.set(name, {
      ...(maximumEventAge === undefined ? {} : { maximumEventAge }),
      maximumConcurrency: events.flatMap((event, index) =>
        isMapping(event) && event.sqs !== undefined
          ? [
              isMapping(event.sqs)
                ? wholeNumber(
                    event.sqs.maximumConcurrency,
                    `functions.${name}.events[${index}].sqs.maximumConcurrency`,
                    2,
                    1000,
                  )
                : undefined,
            ]
          : [],
      ),
    });
  }
  return settings;
}

function isMapping(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function wholeNumber(value: unknown, where: string, minimum: number, maximum: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum || value > maximum) {
    throw new WiringError(
      `${where}: expected a whole number from ${minimum} to ${maximum}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}
