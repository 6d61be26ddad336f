import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ACTIONS, type ActionContext } from './actions';
import { SimClock } from './clock';
import { type Durations, resolveDurations } from './durations';
import { dryRunSucceeded, Ec2ApiError, requestLimitExceeded } from './errors';
import { handleEventBridge, type PutEventsEntry } from './eventbridge';
import { type Ec2Event, EventHub } from './events';
import { readStateFile, savedState, writeStateFile } from './persistence';
import { QueryParams } from './query';
import { Ec2Backend } from './store';
import { Throttler } from './throttle';
import { errorXml, successXml } from './xml';

export { SimClock } from './clock';
export { DEFAULT_DURATIONS, type Durations } from './durations';
export type { PutEventsEntry } from './eventbridge';
export type { AmiStateChangeEvent, Ec2Event, InstanceStateChangeEvent, InstanceStateName } from './events';
export { StateFileError } from './persistence';
export { Ec2Backend } from './store';

/** The one account the endpoint serves. */
export const LOCAL_ACCOUNT_ID = '123456789012';

export interface LocalEc2Options {
  /** 0 = a free port (default). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default: a real-time clock at `speed`, starting now, or at the saved time when a state file is loaded. */
  clock?: SimClock;
  /** The default clock's speed factor (simulated time runs this many times faster); default 1. */
  speed?: number;
  /** EC2's request-rate token buckets on the endpoint's clock; default true. */
  throttling?: boolean;
  durations?: Partial<Durations>;
  /** Used in event ARNs and availability zones; default us-east-1. Requests for any Region are served. */
  region?: string;
  /** Keep state in this JSON file: loaded at start (a corrupt file is an error), written atomically at stop. */
  stateFile?: string;
  /** An instance rebooted, stopped or terminated while one of its images is pending fails that image; default true. */
  failImagesOnInterruption?: boolean;
  /** Where internal errors are reported; default console.error. */
  logError?: (message: string, error: unknown) => void;
}

export interface LocalEc2Events {
  subscribe(listener: (event: Ec2Event) => void): () => void;
  /** Drop each event with this probability (AWS delivers best effort); seed it for reproducible runs. */
  setDropRate(probability: number, seed?: number): void;
  /** Drop every event the predicate selects. */
  drop(predicate: (event: Ec2Event) => boolean): void;
}

export interface LocalEc2 {
  /** http://127.0.0.1:PORT */
  url: string;
  clock: SimClock;
  events: LocalEc2Events;
  faults: { failImagesOf(instanceId: string, options?: { once?: boolean }): void };
  /** Entries received by the EventBridge PutEvents stand-in. */
  putEvents: readonly PutEventsEntry[];
  /** EC2 API calls served (all actions, or one), errors included. */
  callCount(action?: string): number;
  /** The in-process model, for bulk seeding (benchmarks) without HTTP calls. */
  backend: Ec2Backend;
  /** Turns EC2's request throttling on or off. */
  setThrottling(enabled: boolean): void;
  /** Writes the state file now (when `stateFile` is set). */
  saveState(): void;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 10 * 1024 * 1024;

export async function startLocalEc2(options: LocalEc2Options = {}): Promise<LocalEc2> {
  const saved = options.stateFile === undefined ? undefined : readStateFile(options.stateFile);
  const clock =
    options.clock ??
    SimClock.realTime({
      ...(options.speed === undefined ? {} : { speed: options.speed }),
      start: saved === undefined ? new Date() : new Date(saved.savedAt),
    });
  const region = options.region ?? 'us-east-1';
  const hub = new EventHub();
  const backend = new Ec2Backend({
    clock,
    durations: resolveDurations(options.durations),
    events: hub,
    account: LOCAL_ACCOUNT_ID,
    region,
    failImagesOnInterruption: options.failImagesOnInterruption ?? true,
  });
  if (saved !== undefined) backend.importState(saved.backend);
  const throttler = new Throttler(() => clock.nowMs());
  let throttling = options.throttling ?? true;
  const putEvents: PutEventsEntry[] = [];
  const calls = new Map<string, number>();
  const logError = options.logError ?? ((message, error) => console.error(message, error));

  const serveEc2 = (body: string, requestId: string): { status: number; xml: string } => {
    const params = QueryParams.parse(body);
    const action = params.string('Action') ?? '';
    calls.set(action, (calls.get(action) ?? 0) + 1);
    try {
      const handler = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
      if (handler === undefined) {
        throw new Ec2ApiError('InvalidAction', `The action ${action} is not valid for this web service.`);
      }
      if (throttling && !throttler.admit(action, params)) throw requestLimitExceeded();
      if (params.boolean('DryRun') === true) throw dryRunSucceeded();
      const context: ActionContext = { backend, requestId, account: LOCAL_ACCOUNT_ID };
      return { status: 200, xml: successXml(action, requestId, handler(params, context)) };
    } catch (err: unknown) {
      if (err instanceof Ec2ApiError) return { status: err.status, xml: errorXml(err.code, err.message, requestId) };
      logError(`local EC2: ${action} failed`, err);
      return { status: 500, xml: errorXml('InternalError', 'An internal error has occurred', requestId) };
    }
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const requestId = randomUUID();
    const body = await readBody(request);
    clock.runDue();
    response.setHeader('x-amzn-requestid', requestId);
    const target = request.headers['x-amz-target'];
    if (typeof target === 'string') {
      const result = handleEventBridge(target, body, clock.now(), (entry) => putEvents.push(entry));
      response.statusCode = result.status;
      response.setHeader('content-type', 'application/x-amz-json-1.1');
      if (result.errorType !== undefined) response.setHeader('x-amzn-errortype', result.errorType);
      response.end(JSON.stringify(result.body));
      return;
    }
    const query = request.method === 'GET' ? new URL(request.url ?? '/', 'http://localhost').search.slice(1) : body;
    const result = serveEc2(query, requestId);
    response.statusCode = result.status;
    response.setHeader('content-type', 'text/xml;charset=UTF-8');
    response.end(result.xml);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((err: unknown) => {
      logError('local EC2: request failed', err);
      if (!response.headersSent) response.statusCode = 500;
      response.end();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  clock.startTicking();
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const saveState = (): void => {
    if (options.stateFile !== undefined) {
      writeStateFile(options.stateFile, savedState(backend.exportState(), clock.now()));
    }
  };

  return {
    url: `http://${host}:${address.port}`,
    clock,
    events: {
      subscribe: (listener) => hub.subscribe(listener),
      setDropRate: (probability, seed) => hub.setDropRate(probability, seed),
      drop: (predicate) => hub.drop(predicate),
    },
    faults: { failImagesOf: (instanceId, faultOptions) => backend.failImagesOf(instanceId, faultOptions) },
    putEvents,
    callCount: (action) =>
      action === undefined ? [...calls.values()].reduce((sum, count) => sum + count, 0) : (calls.get(action) ?? 0),
    backend,
    setThrottling: (enabled) => {
      throttling = enabled;
    },
    saveState,
    stop: async () => {
      clock.stopTicking();
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err === undefined ? resolve() : reject(err)));
        server.closeAllConnections();
      });
      saveState();
    },
  };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new Error(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
