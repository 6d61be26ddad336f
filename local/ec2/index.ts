import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ACTIONS, type ActionContext } from './actions';
import { SimClock } from './clock';
import { type Durations, resolveDurations } from './durations';
import { dryRunSucceeded, Ec2ApiError, requestLimitExceeded } from './errors';
import { EventRules, handleEventBridge, type PutEventsEntry } from './eventbridge';
import { type Ec2Event, EventHub } from './events';
import {
  type CallFault,
  CopyFaults,
  type CopySelector,
  FaultInjector,
  type InjectedError,
  type Latency,
} from './faults';
import { type IamOptions, accountOf as principalAccount, sigV4Credential } from './iam';
import { type Denial, type Ec2Authorization, IamGate, type IamGateOptions } from './iam-gate';
import { LocalKms } from './kms';
import { readStateFile, savedState, writeStateFile } from './persistence';
import { QueryParams } from './query';
import { requestRegion } from './regions';
import { type AuditEntry, type BackendState, Ec2Backend, INJECTED_FAILURE } from './store';
import { Throttler } from './throttle';
import { errorXml, successXml } from './xml';

export { SimClock } from './clock';
export { DEFAULT_DURATIONS, type Durations } from './durations';
export type { EventRule, EventRules, PutEventsEntry } from './eventbridge';
export {
  type AmiStateChangeEvent,
  type Ec2Event,
  type InstanceStateChangeEvent,
  type InstanceStateName,
  seededRandom,
} from './events';
export {
  type CallFault,
  type CallSelector,
  CONNECTION_RESET,
  type CopySelector,
  CUT_OFF,
  INTERNAL_ERROR,
  type InjectedError,
  type Latency,
  THROTTLED,
} from './faults';
export type { IamOptions, IamPrincipal, PolicyDocument, PolicyStatement } from './iam';
export type { Denial } from './iam-gate';
export { EBS_MANAGED_ALIAS, type KmsGrant, type KmsKey, type KmsState, LocalKms } from './kms';
export { StateFileError } from './persistence';
export { INSTANCE_STORE_AMI_ID } from './rules';
export { type AuditEntry, type BackendState, Ec2Backend, MAX_CONCURRENT_COPIES } from './store';

/** The tag EC2 Auto Scaling puts on the instances it launches (see `setAutoScalingGroup`). */
export const AUTO_SCALING_GROUP_TAG = 'aws:autoscaling:groupName';

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
  /** Another client takes this share (0 to 1) of each mutating request bucket's refill, all the time; default 0. */
  competingLoad?: number;
  durations?: Partial<Durations>;
  /**
   * The default Region; default us-east-1. Each Region has its own resources: a request is served in the Region of its
   * SigV4 credential scope (else of its `ec2.<region>.amazonaws.com` host name, else this one).
   */
  region?: string;
  /** Keep state in this JSON file: loaded at start (a corrupt file is an error), written atomically at stop. */
  stateFile?: string;
  /** An instance rebooted, stopped or terminated while one of its images is pending fails that image; default true. */
  failImagesOnInterruption?: boolean;
  /** Where internal errors are reported; default console.error. */
  logError?: (message: string, error: unknown) => void;
  /**
   * Start the default Region from this state (as `backend.exportState()` gave it) instead of an empty account or a
   * state file.
   */
  initialState?: BackendState;
  /**
   * Record images created, available, failed and deregistered, snapshots deleted and instances rebooted in `audit`
   * (see `AuditEntry`).
   */
  audit?: boolean;
  /**
   * Authorize every EC2 request and every PutEvents with the IAM policies of the principal behind its access key (the
   * SigV4 credential; signatures are not verified), as AWS builds the request context. Off when absent.
   */
  iam?: IamOptions;
  /**
   * Accounts by access key id (the SigV4 credential): each account has its own resources in each Region and sees
   * another's images only when they are shared with it. A key not listed acts in `LOCAL_ACCOUNT_ID` (or, with `iam`,
   * in its principal's account).
   */
  accounts?: Readonly<Record<string, string>>;
}

/** Faults set from tests; each `fail…`/`add…` returns a function that removes what it added. */
export interface LocalEc2Faults {
  /** The instance's next images (or only the next one) fail instead of becoming available. */
  failImagesOf(instanceId: string, options?: { once?: boolean }): void;
  /**
   * After its next reboot for an image (CreateImage without NoReboot), or every one unless `once`, the instance does
   * not come back healthy: its instance status check turns `impaired` (reachability `failed`) where it would have
   * passed, until the instance is stopped and started. The image still completes.
   */
  unhealthyAfterImageOf(instanceId: string, options?: { once?: boolean }): void;
  /**
   * Instances launched from the image (every one, or only the next with `once`) fail their status checks:
   * once initializing is over, the instance status check is `impaired` (reachability `failed`) instead of `ok`.
   */
  unhealthyLaunchesFrom(imageId: string, options?: { once?: boolean }): void;
  /** Answers selected calls with an error: the Nth one, or each with a probability. */
  failCalls(fault: CallFault): () => void;
  /** EC2's request throttling as a storm: each selected call throttled with this probability. */
  throttle(probability: number, options?: { calls?: CallFault['calls']; seed?: number }): () => void;
  /** Real-time delay before selected calls are answered. */
  addLatency(latency: Latency): () => void;
  /** New images are invisible to DescribeImages for this long after their creation (simulated ms). */
  hideNewImages(ms: number): void;
  /** Serves `calls` more requests, then fails every request until {@link invocationEnded}: a killed invocation. */
  cutAfter(calls: number): void;
  /** Tells the endpoint the invocation under way has ended (lifts a cut in force). */
  invocationEnded(): void;
  /** The action of the last call served before the cut, once it has happened. */
  readonly cutAfterAction: string | undefined;
  /** Whether requests are being cut off now (the invocation under way counts as killed). */
  readonly cutting: boolean;
  /**
   * Copies (CopyImage) that a selector picks (all, or those of one source image, into one Region, only the next) fail
   * when they would complete: state `failed` with `reason` (default `Server.InternalError`), snapshots in `error`.
   * Returns a function that removes the fault.
   */
  failCopies(selector?: CopySelector & { reason?: { code: string; message: string } }): () => void;
  /** Copies a selector picks stay `pending` forever (a copy that never ends); returns a function that removes it. */
  stallCopies(selector?: CopySelector): () => void;
  /** Removes every call fault, latency and cut (image faults and drops stay). */
  clear(): void;
  /** Requests failed by a fault so far. */
  readonly injected: number;
  /** Requests seen so far, EC2 and EventBridge. */
  readonly requests: number;
  /** The action of every request seen so far, in order. */
  readonly actions: readonly string[];
}

export interface LocalEc2Events {
  /**
   * The events of one Region (default: the default Region's), as that Region's default event bus receives them:
   * EventBridge rules only see the events of their own Region.
   */
  subscribe(listener: (event: Ec2Event) => void, options?: { region?: string }): () => void;
  /** The events of every Region (each says its own in `region`). */
  subscribeAll(listener: (event: Ec2Event) => void): () => void;
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
  faults: LocalEc2Faults;
  /** Changes recorded since the start in every Region, when started with `audit: true` (else empty). */
  audit: readonly AuditEntry[];
  /** Entries received by the EventBridge PutEvents stand-in. */
  putEvents: readonly PutEventsEntry[];
  /** The default bus's rules (PutRule, EnableRule, DisableRule, DescribeRule), which the runner's schedules obey. */
  eventRules: EventRules;
  /**
   * Requests refused by IAM (when started with `iam`), and snapshots DeregisterImage kept for want of
   * `ec2:DeleteSnapshot`; an unknown access key is not a denial (it fails authentication).
   */
  readonly denied: readonly Denial[];
  /** EC2 API calls served (all actions, or one), errors included. */
  callCount(action?: string): number;
  /**
   * Of those, the calls EC2's buckets throttled (all actions, or one) in every Region (each Region has its buckets);
   * injected throttling is not counted.
   */
  throttledCount(action?: string): number;
  /** The default Region. */
  region: string;
  /** The in-process model of the default Region, for bulk seeding (benchmarks) without HTTP calls. */
  backend: Ec2Backend;
  /** The in-process model of a Region (made empty on first use, as a Region the account has not used yet). */
  backendIn(region: string): Ec2Backend;
  /** The in-process model of an account's Region (see `accounts`). */
  backendOf(account: string, region: string): Ec2Backend;
  /** The KMS the same port serves (`X-Amz-Target: TrentService.*`): every account's keys, aliases and grants. */
  kms: LocalKms;
  /** The default account's Regions that have a model so far, the default one first. */
  readonly regions: readonly string[];
  /**
   * Authorizes every request from now on as `iam` says (see `LocalEc2Options.iam`), replacing what was enforced: for
   * a caller that makes resources before the policies naming them are known (a key a deployment's role names).
   */
  enforceIam(iam: IamOptions): Promise<void>;
  /** Turns EC2's request throttling on or off. */
  setThrottling(enabled: boolean): void;
  /**
   * Test-side stand-in for EC2 Auto Scaling: tags the instance `aws:autoscaling:groupName=<group>`, as Auto Scaling
   * does for the instances it launches. EC2 refuses `aws:` tag keys from users (RunInstances and CreateTags alike), so
   * this is the only way to make an instance a member of an Auto Scaling group here.
   */
  setAutoScalingGroup(instanceId: string, group: string): void;
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
  const durations = resolveDurations(options.durations);
  // One timeline for every Region: each entry names its Region.
  const audit: AuditEntry[] = [];
  const copyFaults = new CopyFaults();
  let hiddenNewImagesMs = 0;
  const kms = new LocalKms(() => clock.nowMs());
  // Each account's store per Region, keyed `<account>/<region>`; a Region's stores share their sequence numbers.
  const backends = new Map<string, Ec2Backend>();
  const sequences = new Map<string, { next: number }>();
  const backendOf = (account: string, name: string): Ec2Backend => {
    const key = `${account}/${name}`;
    let regional = backends.get(key);
    if (regional === undefined) {
      let sequence = sequences.get(name);
      if (sequence === undefined) {
        sequence = { next: 1 };
        sequences.set(name, sequence);
      }
      regional = new Ec2Backend({
        clock,
        durations,
        events: hub,
        account,
        region: name,
        failImagesOnInterruption: options.failImagesOnInterruption ?? true,
        copyFaults,
        otherAccounts: () =>
          [...backends.values()].filter((other) => other.region === name && other.account !== account),
        mayUseKey: (user, keyArn) => kms.mayUseForVolumes(user, keyArn),
        findKmsKey: (keyId) => kms.findKey(account, name, keyId)?.arn,
        sequence,
      });
      regional.hideNewImages(hiddenNewImagesMs);
      if (options.audit === true) regional.startAudit(audit);
      backends.set(key, regional);
    }
    return regional;
  };
  const backendIn = (name: string): Ec2Backend => backendOf(LOCAL_ACCOUNT_ID, name);
  /** The account a request acts in, by its access key. */
  const accountOf = (authorization: string | undefined): string => {
    const accessKeyId = sigV4Credential(authorization)?.accessKeyId;
    return accessKeyId === undefined ? LOCAL_ACCOUNT_ID : accountOfKey(accessKeyId);
  };
  // The IAM enforced: given at start, or from `enforceIam` on.
  let iam = options.iam;
  const accountOfKey = (accessKeyId: string): string => {
    const listed = options.accounts?.[accessKeyId];
    const principal = iam?.principals[accessKeyId];
    return listed ?? (principal === undefined ? undefined : principalAccount(principal.arn)) ?? LOCAL_ACCOUNT_ID;
  };
  const backend = backendIn(region);
  if (saved !== undefined) {
    backendIn(saved.region ?? region).importState(saved.backend);
    for (const [name, state] of Object.entries(saved.regions ?? {})) backendIn(name).importState(state);
  }
  if (options.initialState !== undefined) backend.importState(options.initialState);
  /** The Region's store holding a resource (instances' and images' ids are unique across Regions), else the default's. */
  const holderOf = (id: string): Ec2Backend =>
    [...backends.values()].find((regional) => regional.instances.has(id) || regional.images.has(id)) ?? backend;
  const injector = new FaultInjector();
  // EC2's buckets are per account and Region (EC2 developer guide, "Request throttling").
  const throttlers = new Map<string, Throttler>();
  const throttlerIn = (name: string): Throttler => {
    let throttler = throttlers.get(name);
    if (throttler === undefined) {
      throttler = new Throttler(() => clock.nowMs(), { competingLoad: options.competingLoad ?? 0 });
      throttlers.set(name, throttler);
    }
    return throttler;
  };
  let throttling = options.throttling ?? true;
  const putEvents: PutEventsEntry[] = [];
  const rules = new EventRules(region, LOCAL_ACCOUNT_ID);
  const calls = new Map<string, number>();
  const logError = options.logError ?? ((message, error) => console.error(message, error));
  const gateOptions: IamGateOptions = {
    accountOf: accountOfKey,
    region,
    now: () => clock.now(),
    lookupIn: (account, name) => {
      const regional = backendOf(account, name);
      return {
        tagsOf: (id) =>
          (
            regional.instances.get(id) ??
            regional.images.get(id) ??
            regional.sharedImage(id) ??
            regional.snapshots.get(id) ??
            regional.volumes.get(id)
          )?.tags,
        imageOf: (id) => {
          const image = regional.images.get(id) ?? regional.sharedImage(id);
          return image === undefined
            ? undefined
            : { owner: regional.ownerOf(image), isPublic: image.launchPublic === true };
        },
        snapshotOf: (id) => {
          const snapshot = regional.snapshots.get(id);
          return snapshot === undefined ? undefined : { volumeSize: snapshot.volumeSize, owner: account };
        },
        snapshotIdsOf: (imageId) => regional.images.get(imageId)?.devices.map((device) => device.snapshotId) ?? [],
      };
    },
  };
  let iamGate = iam === undefined ? undefined : await IamGate.create(iam, gateOptions);
  /** Requests refused by the gates `enforceIam` replaced. */
  const deniedBefore: Denial[] = [];

  const serveEc2 = (
    params: QueryParams,
    action: string,
    requestId: string,
    authorization: Ec2Authorization | undefined,
    requestedIn: string,
    account: string,
  ): { status: number; xml: string } => {
    calls.set(action, (calls.get(action) ?? 0) + 1);
    try {
      const handler = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
      if (handler === undefined) {
        throw new Ec2ApiError('InvalidAction', `The action ${action} is not valid for this web service.`);
      }
      // Authorized before DryRun is answered: DryRun tells whether the caller may make the call.
      if (authorization?.error !== undefined) throw authorization.error;
      if (throttling && !throttlerIn(`${account}/${requestedIn}`).admit(action, params)) throw requestLimitExceeded();
      if (params.boolean('DryRun') === true) throw dryRunSucceeded();
      const context: ActionContext = {
        backend: backendOf(account, requestedIn),
        backendIn: (name) => backendOf(account, name),
        requestId,
        account,
        deniedSnapshotDeletions: authorization?.deniedSnapshotDeletions,
      };
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
    const query = request.method === 'GET' ? new URL(request.url ?? '/', 'http://localhost').search.slice(1) : body;
    // Parsed once, for the fault verdict and then the action (EventBridge's JSON is not form-encoded).
    const params = QueryParams.parse(typeof target === 'string' ? '' : query);
    const action = typeof target === 'string' ? target.slice(target.indexOf('.') + 1) : (params.string('Action') ?? '');
    const verdict = injector.verdict(action);
    if (verdict.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, verdict.delayMs));
    if (verdict.reset) {
      request.socket.destroy();
      return;
    }
    if (verdict.error !== undefined) {
      if (typeof target !== 'string') calls.set(action, (calls.get(action) ?? 0) + 1);
      respondWithFault(response, verdict.error, typeof target === 'string', requestId);
      return;
    }
    const authorizationHeader = request.headers.authorization;
    if (typeof target === 'string' && target.startsWith('TrentService.')) {
      const result = kms.handle(
        target,
        body,
        accountOf(authorizationHeader),
        requestRegion(authorizationHeader, request.headers.host, region),
      );
      response.statusCode = result.status;
      response.setHeader('content-type', 'application/x-amz-json-1.1');
      if (result.errorType !== undefined) response.setHeader('x-amzn-errortype', result.errorType);
      response.end(JSON.stringify(result.body));
      return;
    }
    if (typeof target === 'string') {
      const refusal = await iamGate?.authorizeEventBridge(authorizationHeader, target, body);
      const result = refusal ?? handleEventBridge(target, body, clock.now(), (entry) => putEvents.push(entry), rules);
      response.statusCode = result.status;
      response.setHeader('content-type', 'application/x-amz-json-1.1');
      if (result.errorType !== undefined) response.setHeader('x-amzn-errortype', result.errorType);
      response.end(JSON.stringify(result.body));
      return;
    }
    const requestedIn = requestRegion(authorizationHeader, request.headers.host, region);
    const authorization = await iamGate?.authorizeEc2(authorizationHeader, action, params, requestedIn);
    const result = serveEc2(params, action, requestId, authorization, requestedIn, accountOf(authorizationHeader));
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
  // Node's HTTP agent does not reuse a connection whose server announces a keep-alive timeout under 2 s: with 1 s,
  // every call opened a new connection.
  server.keepAliveTimeout = 5000;
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
      const others = Object.fromEntries(
        [...backends.values()]
          .filter((regional) => regional.account === LOCAL_ACCOUNT_ID && regional.region !== region)
          .map((regional) => [regional.region, regional.exportState()]),
      );
      writeStateFile(options.stateFile, savedState({ region, state: backend.exportState() }, others, clock.now()));
    }
  };

  return {
    url: `http://${host}:${address.port}`,
    clock,
    events: {
      subscribe: (listener, subscription) => {
        const only = subscription?.region ?? region;
        return hub.subscribe((event) => {
          if (event.region === only) listener(event);
        });
      },
      subscribeAll: (listener) => hub.subscribe(listener),
      setDropRate: (probability, seed) => hub.setDropRate(probability, seed),
      drop: (predicate) => hub.drop(predicate),
    },
    faults: {
      failImagesOf: (instanceId, faultOptions) => holderOf(instanceId).failImagesOf(instanceId, faultOptions),
      unhealthyAfterImageOf: (instanceId, faultOptions) =>
        holderOf(instanceId).unhealthyAfterImageOf(instanceId, faultOptions),
      unhealthyLaunchesFrom: (imageId, faultOptions) => holderOf(imageId).unhealthyLaunchesFrom(imageId, faultOptions),
      failCopies: ({ reason, ...selector } = {}) =>
        copyFaults.add(selector, { kind: 'fail', reason: reason ?? INJECTED_FAILURE }),
      stallCopies: (selector = {}) => copyFaults.add(selector, { kind: 'stall' }),
      failCalls: (fault) => injector.failCalls(fault),
      throttle: (probability, throttleOptions) =>
        injector.failCalls({ probability, calls: throttleOptions?.calls ?? 'mutating', seed: throttleOptions?.seed }),
      addLatency: (latency) => injector.addLatency(latency),
      hideNewImages: (ms) => {
        for (const regional of backends.values()) regional.hideNewImages(ms);
        hiddenNewImagesMs = ms;
      },
      cutAfter: (count) => injector.cutAfter(count),
      invocationEnded: () => injector.invocationEnded(),
      clear: () => injector.clear(),
      get injected() {
        return injector.injected;
      },
      get actions() {
        return injector.actions;
      },
      get cutAfterAction() {
        return injector.cutAfterAction;
      },
      get cutting() {
        return injector.cut;
      },
      get requests() {
        return injector.requests;
      },
    },
    audit,
    putEvents,
    eventRules: rules,
    get denied() {
      return [...deniedBefore, ...(iamGate?.denied ?? [])];
    },
    enforceIam: async (principals) => {
      const gate = await IamGate.create(principals, gateOptions);
      deniedBefore.push(...(iamGate?.denied ?? []));
      iam = principals;
      iamGate = gate;
    },
    callCount: (action) =>
      action === undefined ? [...calls.values()].reduce((sum, count) => sum + count, 0) : (calls.get(action) ?? 0),
    throttledCount: (action) =>
      [...throttlers.values()].reduce((sum, throttler) => sum + throttler.throttled(action), 0),
    region,
    backend,
    backendIn,
    backendOf,
    kms,
    get regions() {
      return [...backends.values()]
        .filter((regional) => regional.account === LOCAL_ACCOUNT_ID)
        .map((regional) => regional.region);
    },
    setThrottling: (enabled) => {
      throttling = enabled;
    },
    setAutoScalingGroup: (instanceId, group) => {
      const instance = holderOf(instanceId).instances.get(instanceId);
      if (instance === undefined) throw new Error(`no instance ${instanceId}`);
      instance.tags.set(AUTO_SCALING_GROUP_TAG, group);
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

/** An injected error in the protocol of the request: EC2's XML, or EventBridge's JSON 1.1. */
function respondWithFault(response: ServerResponse, error: InjectedError, json: boolean, requestId: string): void {
  const message = error.message ?? error.code;
  response.statusCode = error.status;
  if (json) {
    response.setHeader('content-type', 'application/x-amz-json-1.1');
    response.setHeader('x-amzn-errortype', error.code);
    response.end(JSON.stringify({ __type: error.code, message }));
  } else {
    response.setHeader('content-type', 'text/xml;charset=UTF-8');
    response.end(errorXml(error.code, message, requestId));
  }
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
