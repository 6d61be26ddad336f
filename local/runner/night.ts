/**
 * Backup nights on one machine: a fleet launched through the EC2 API, the real handlers wired exactly as
 * `serverless.yml` wires them, driven on a simulated clock against the local EC2 endpoint (or any EC2-compatible
 * endpoint), and a report of what the nights left behind.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { dirname } from 'node:path';
import {
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  EC2Client,
  type Image,
  type Instance,
  paginateDescribeImages,
  paginateDescribeInstances,
  paginateDescribeSnapshots,
  type Tag,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { readConfig } from '../../lib/config';
import { chunk } from '../../lib/errors';
import {
  ACCOUNT_ID,
  type CopySettings,
  parseCopyPolicy,
  parseCopyRetention,
  parseInstancePolicy,
  parseMode,
  parseSharePolicy,
} from '../../lib/policy';
import {
  AUTO_SCALING_GROUP_TAG,
  BackupStep,
  CopyTag,
  FailureKind,
  formatAccounts,
  formatRunId,
  ImageTag,
  IN_PROGRESS_STEPS,
  InstanceTag,
  imageName,
  parseRestoreResult,
  RestoreTestTag,
  ShareTag,
} from '../../lib/tags';
import type { InstanceOutcome, Summary } from '../../lib/use-cases/context';
import type { CopySummary } from '../../lib/use-cases/copy-images';
import type { RestoreTestSummary } from '../../lib/use-cases/restore-tests';
import type { RotateSummary } from '../../lib/use-cases/rotate';
import type { ShareSummary } from '../../lib/use-cases/share-images';
import {
  type AuditEntry,
  type Denial,
  type IamOptions,
  LOCAL_ACCOUNT_ID,
  type LocalEc2,
  SimClock,
  startLocalEc2,
} from '../ec2';
import { downtimeByInstance, groupOf, imageReboots, peak, peaksByGroup } from './downtime';
import {
  type FleetMember,
  type LaunchedMember,
  launchFleet,
  screenedBecause,
  stopMembers,
  terminateMembers,
} from './fleet';
import { functionAccessKeyId, loadFunctions } from './functions';
import { checkSharing, worldOf } from './invariants';
import { captureMetrics } from './metrics-capture';
import { deployedRoles } from './roles';
import { deployRules, ruleState } from './rules';
import { type InvocationRecord, type QueuedMessages, type SimulationClock, simulate } from './simulation';

export interface NightOptions {
  readonly fleet: readonly FleetMember[];
  readonly nights: number;
  /** serverless.yml to wire the functions from. */
  readonly serverlessFile: string;
  /** Where the handler paths in it are relative to; default its folder. */
  readonly projectRoot?: string;
  readonly stage?: string;
  /** Use this running endpoint instead of the embedded one: plain EC2 API only, no events, no fault injection. */
  readonly endpoint?: string;
  /** With `endpoint`: how many times faster than real time the runner's clock runs (to keep pace with it). */
  readonly speed?: number;
  /** Simulated start (embedded endpoint only): the evening before the first night. */
  readonly start?: Date;
  /** An endpoint already started in this process (on a manual clock), left running at the end for inspection. */
  readonly ec2?: LocalEc2;
  /** Let the embedded endpoint throttle as EC2 does. */
  readonly throttling?: boolean;
  /**
   * The embedded endpoint answers each function as EC2 answers its deployed role (default true); the runner's own
   * calls (launching the fleet, reading the result) are an operator's, allowed everything.
   */
  readonly iam?: boolean;
  readonly region?: string;
  /** Overrides the functions' log level (for example SILENT). */
  readonly logLevel?: string;
  /** Deployment parameters, as `--param="name=value"` gives them (the roles enforced are deployed with them too). */
  readonly params?: Readonly<Record<string, string>>;
  /**
   * Other accounts on the embedded endpoint, by access key id (12-digit account ids): accounts backups may be shared
   * with. With IAM enforced, each key is its account's administrator, allowed everything there.
   */
  readonly accounts?: Readonly<Record<string, string>>;
  /**
   * Runs on the embedded endpoint before the service is deployed there: makes what the deployment's parameters name,
   * as an operator would before `serverless deploy` (a key, say), and returns those parameters, added to `params`. The
   * roles enforced are deployed with them.
   */
  readonly prepare?: (endpoint: {
    readonly url: string;
    readonly region: string;
  }) => Promise<Readonly<Record<string, string>>>;
  /** Launches the fleet (default: RunInstances through the EC2 API, one call per member). */
  readonly launch?: (client: EC2Client, fleet: readonly FleetMember[]) => Promise<LaunchedMember[]>;
  /** Step of the event loop (default one minute): events are delivered at most this late. */
  readonly stepMs?: number;
  /**
   * Sample the fleet at each step for progress, and measure downtime (default true). The embedded endpoint's timeline
   * gives the downtime; another endpoint's status checks are sampled for it (two describe calls a step).
   */
  readonly sample?: boolean;
  /** Runs each invocation (default: just runs it); a benchmark uses it to move virtual time while it waits. */
  readonly aroundInvocation?: (invoke: () => Promise<unknown>, functionName: string) => Promise<unknown>;
  /**
   * Runs the reading of the report after the last night (default: just runs it). A benchmark moves virtual time while
   * it waits too: a large fleet's read-out is throttled by EC2's buckets, and the SDK's backoff waits on timers.
   */
  readonly aroundReport?: <T>(read: () => Promise<T>) => Promise<T>;
  /** Called at each step of the simulation with the current time and how many instances are in each step. */
  readonly onProgress?: (progress: Progress) => void;
  readonly onInvocation?: (record: InvocationRecord) => void;
}

export interface Progress {
  readonly night: number;
  readonly nights: number;
  readonly time: Date;
  readonly steps: Readonly<Record<string, number>>;
}

export interface InstanceReport {
  readonly instanceId: string;
  readonly name: string;
  readonly optedIn: boolean;
  readonly mode: string;
  /** The instance's step after the last night (`ami-backup:state`), or `-`. */
  readonly state: string;
  readonly imagesKept: number;
  readonly imagesExpired: number;
  readonly snapshotsDeleted: number;
  readonly lastImageId: string | null;
  readonly error: string | null;
  /** The group its image reboots are staggered in (`ami-backup:group`, else its Auto Scaling group), or null. */
  readonly group: string | null;
  /**
   * Simulated seconds it was down for its images' reboots over the nights: from each OS shutdown (the CreateImage
   * call) until its instance status check was `ok` again, from the endpoint's timeline; an instance that never came
   * back counts until the end. Against another endpoint, sampled from its status checks each step.
   */
  readonly downtimeSeconds: number;
  /** Whether its last run's backup was recorded good (`succeeded`: image available, and back healthy if rebooted). */
  readonly verified: boolean;
  /**
   * The last restore test recorded on its images (`ami-backup:restore-test`): when, and whether it passed (with the
   * reason it failed); absent if none of its images was tested.
   */
  readonly restoreTest?: { readonly at: string; readonly passed: boolean; readonly reason?: string };
  /**
   * Its backups' copies in other Regions at the end, oldest first: `state` is the outcome recorded on the copy
   * (`succeeded`, `failed`), else EC2's state (`pending`).
   */
  readonly copies: readonly CopyReport[];
  /**
   * The accounts its newest good backup may be launched from at the end, or that backup's copy re-encrypted for
   * sharing, sorted; `all` if public. As the owner finds them (DescribeImages `ExecutableUsers`), among the accounts
   * the fleet's share tags and the deployment name: one shared with any other is a broken promise the sharing
   * invariants report (checked on the embedded endpoint).
   */
  readonly sharedWith: readonly string[];
  /** Whether it was expected to get a new image each night (opted in, valid mode, running or stopped, no fault). */
  readonly expectedBackup: boolean;
  /**
   * Why its backups are expected to fail (a fault injected, or screened by the service), where the runner can tell
   * (on the embedded endpoint); null otherwise.
   */
  readonly expectedFailure: string | null;
}

export interface CopyReport {
  readonly region: string;
  readonly imageId: string;
  readonly state: string;
}

export interface NightReport {
  readonly nights: number;
  readonly instances: readonly InstanceReport[];
  readonly totals: {
    readonly imagesCreated: number;
    readonly imagesExpired: number;
    readonly snapshotsDeleted: number;
    readonly failures: number;
    readonly ec2Calls: number;
    /** Most instances down for images' reboots at the same moment. */
    readonly maxDownAtOnce: number;
    /** Most members of one group down for images' reboots at the same moment. */
    readonly maxDownInOneGroup: number;
    /** Calls the endpoint refused for want of IAM permission (0 on a normal night; IAM enforced on the embedded one). */
    readonly deniedCalls: number;
    /**
     * Invocations that started while another of the same function ran, side by side as on Lambda
     * (`overlappingInvocations`); and firings and events that the function's reserved concurrency refused
     * (`throttledInvocations`, each counted once however often Lambda retried it: until it ran, or was dropped once
     * older than the function's maximum event age).
     */
    readonly overlappingInvocations: number;
    readonly throttledInvocations: number;
    /** Instances the last run's start reported stale (no good backup younger than `staleAfterHours`). */
    readonly staleInstances: number;
    /** Restore tests recorded passed and failed over the nights (the restoreTests function's results). */
    readonly restoreTestsPassed: number;
    readonly restoreTestsFailed: number;
    /** Copies started in other Regions, and copies expired there by their own retention (the copy passes' counts). */
    readonly copiesCreated: number;
    readonly copiesExpired: number;
    /**
     * Images given launch permission for accounts they were not shared with (a backup, or its re-encrypted copy), and
     * copies re-encrypted for sharing started (the share passes' counts).
     */
    readonly imagesShared: number;
    readonly copiesReencrypted: number;
  };
  readonly simulatedSeconds: number;
  readonly wallSeconds: number;
  readonly invocations: number;
  /** The functions' CloudWatch metrics over the nights, summed per name, as read from their output. */
  readonly metrics: Readonly<Record<string, number>>;
  readonly invocationErrors: readonly string[];
  /** Why the nights did not do their job; empty when they did. */
  readonly problems: readonly string[];
}

const DAY_MS = 86_400_000;
/** Long enough for a launch to reach `running` and pass its first status checks (EC2: a few minutes). */
const LAUNCH_WAIT_MS = 300_000;
/** Values per EC2 filter in one call. */
const FILTER_VALUES = 200;
/**
 * The runner's own calls (launching the fleet, reading what the nights left) sign as an operator. Not the process's
 * default credentials: a function call that escaped its own would then be refused, not allowed as the operator's.
 */
export const OPERATOR_CREDENTIALS = { accessKeyId: 'operator', secretAccessKey: 'local' };

export interface LocalIamOptions {
  /** Where serverless.yml is. */
  readonly projectRoot: string;
  readonly stage: string;
  readonly region: string;
  /** Deployment parameters, as `--param="name=value"` gives them. */
  readonly params?: Readonly<Record<string, string>>;
  /** Access key ids of operators, allowed everything (default: the runner's own, {@link OPERATOR_CREDENTIALS}). */
  readonly operators?: readonly string[];
  /** Other accounts' access keys (12-digit account ids): each its account's administrator, allowed everything there. */
  readonly accounts?: Readonly<Record<string, string>>;
}

/**
 * What the local endpoint enforces: each function's deployed role for its credentials, and operators allowed
 * everything for the runner's (and tests') own calls: launching the fleet, reading what the nights left.
 */
export async function localIam(options: LocalIamOptions): Promise<IamOptions> {
  const { operators = [OPERATOR_CREDENTIALS.accessKeyId], accounts = {}, ...deployment } = options;
  const roles = await deployedRoles({ ...deployment, account: LOCAL_ACCOUNT_ID });
  const operator = {
    arn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/operator`,
    policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }],
  };
  const administrator = (account: string) => ({ ...operator, arn: `arn:aws:iam::${account}:user/administrator` });
  return {
    principals: {
      ...Object.fromEntries(
        Object.entries(accounts).map(([accessKeyId, account]) => [accessKeyId, administrator(account)]),
      ),
      ...Object.fromEntries(operators.map((accessKeyId) => [accessKeyId, operator])),
      ...Object.fromEntries(
        roles.map((role) => [
          functionAccessKeyId(role.functionName),
          { arn: role.principalArn, policies: role.policies },
        ]),
      ),
    },
  };
}

/**
 * Readies an embedded endpoint for the deployment: what `prepare` makes there, then (unless `iam` is false) each
 * function's role enforced as deployed with the parameters that gives. Returns the deployment's parameters.
 */
export async function deployLocally(
  ec2: LocalEc2,
  options: Pick<
    NightOptions,
    'params' | 'prepare' | 'accounts' | 'iam' | 'serverlessFile' | 'projectRoot' | 'stage'
  > & {
    readonly region: string;
  },
): Promise<Readonly<Record<string, string>> | undefined> {
  const prepared = await options.prepare?.({ url: ec2.url, region: options.region });
  const params = prepared === undefined ? options.params : { ...options.params, ...prepared };
  if (options.iam !== false) {
    await ec2.enforceIam(
      await localIam({
        projectRoot: options.projectRoot ?? dirname(options.serverlessFile),
        stage: options.stage ?? 'dev',
        region: options.region,
        ...(params === undefined ? {} : { params }),
        ...(options.accounts === undefined ? {} : { accounts: options.accounts }),
      }),
    );
  }
  return params;
}

function tagsOf(tags: readonly Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).flatMap((tag) => (tag.Key === undefined ? [] : [[tag.Key, tag.Value ?? '']])));
}

/**
 * Counts the EC2 requests made to one host while counting is on (the handlers' EC2 calls, retries included);
 * EventBridge's, which share the host here, carry an `x-amz-target` header and are not counted.
 */
function requestCounter(url: string): { count: () => number; on: () => void; off: () => void; close: () => void } {
  const { host } = new URL(url);
  // Invocations may overlap: count while any is running.
  let running = 0;
  let count = 0;
  const listener = (message: unknown): void => {
    const request = (message as { request?: { host?: string; getHeader?: (name: string) => unknown } }).request;
    const target = request?.getHeader?.('host') ?? request?.host;
    const ec2 = request?.getHeader?.('x-amz-target') === undefined;
    if (running > 0 && ec2 && (target === host || target === host.split(':')[0])) count += 1;
  };
  subscribe('http.client.request.start', listener);
  return {
    count: () => count,
    on: () => {
      running += 1;
    },
    off: () => {
      running -= 1;
    },
    close: () => unsubscribe('http.client.request.start', listener),
  };
}

export async function runNights(options: NightOptions): Promise<NightReport> {
  const wallStart = Date.now();
  const region = options.region ?? 'us-east-1';
  let embedded: LocalEc2 | undefined;
  let url: string;
  let clock: SimulationClock;
  let params = options.params;
  if (options.endpoint === undefined) {
    if (options.ec2 === undefined) {
      embedded = await startLocalEc2({
        clock: SimClock.manual(options.start ?? new Date(Date.UTC(2026, 10, 25, 20))),
        throttling: options.throttling ?? false,
        region,
        ...(options.accounts === undefined ? {} : { accounts: options.accounts }),
      });
      params = await deployLocally(embedded, { ...options, region });
    } else {
      // Started (and its IAM enforced) by the caller; what the deployment names is made here all the same.
      embedded = options.ec2;
      params = await deployLocally(embedded, { ...options, region, iam: false });
    }
    const simClock = embedded.clock;
    url = embedded.url;
    clock = { now: () => simClock.now(), reach: async (time) => simClock.advanceTo(time) };
  } else {
    url = options.endpoint;
    // Set once the fleet is launched, from the endpoint's own time (the instances' launch time).
    clock = { now: () => new Date(), reach: async () => undefined };
  }
  const counter = requestCounter(url);
  let stopCapture: (() => void) | undefined;
  try {
    const client = new EC2Client({ endpoint: url, region, credentials: OPERATOR_CREDENTIALS, maxAttempts: 8 });
    // The endpoint's timeline of what happened (images created, with the reboots they made), when it keeps one.
    const audit = embedded !== undefined && options.sample !== false ? embedded.backend.startAudit() : undefined;
    const launched = await (options.launch ?? launchFleet)(client, options.fleet);
    if (embedded !== undefined) {
      for (const member of launched) {
        if (member.imagesFail) embedded.faults.failImagesOf(member.instanceId);
        if (member.unhealthyAfterImage) embedded.faults.unhealthyAfterImageOf(member.instanceId);
        if (member.autoScalingGroup !== undefined) {
          embedded.setAutoScalingGroup(member.instanceId, member.autoScalingGroup);
        }
      }
    }
    if (options.endpoint !== undefined) clock = await pacedClock(client, launched, options.speed ?? 1);
    // Instances must be running before they can be stopped: let the launch finish.
    await clock.reach(new Date(clock.now().getTime() + LAUNCH_WAIT_MS));
    await stopMembers(client, launched);

    const metrics: Record<string, number> = {};
    stopCapture = captureMetrics((values) => {
      for (const [name, value] of Object.entries(values)) metrics[name] = (metrics[name] ?? 0) + value;
    });
    const functions = await loadFunctions(options.serverlessFile, {
      stage: options.stage ?? 'dev',
      endpoint: url,
      region,
      account: LOCAL_ACCOUNT_ID,
      metrics: 'console',
      ...(params === undefined ? {} : { params }),
      ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
      ...(options.projectRoot === undefined ? {} : { projectRoot: options.projectRoot }),
    });
    const eventBridge = new EventBridgeClient({
      endpoint: url,
      region,
      credentials: OPERATOR_CREDENTIALS,
      maxAttempts: 8,
    });
    await deployRules(functions, eventBridge);
    const embeddedRules = embedded?.eventRules;
    const ruleEnabled =
      embeddedRules === undefined
        ? ruleState(eventBridge)
        : (ruleName: string) => Promise.resolve(embeddedRules.isEnabled(ruleName));
    const records: InvocationRecord[] = [];
    let overlapping = 0;
    let throttled = 0;
    const sampled = newSampledDowntime();
    const simStart = clock.now();
    // Messages still queued at the end of a night are received in the next.
    const queued: QueuedMessages = new Map();
    for (let night = 1; night <= options.nights; night += 1) {
      const until = new Date(simStart.getTime() + night * DAY_MS);
      const tracked: SimulationClock = {
        now: () => clock.now(),
        reach: async (time) => {
          const gapSeconds = (time.getTime() - clock.now().getTime()) / 1000;
          await clock.reach(time);
          // Nothing to sample for: no one follows the progress, and the timeline gives the downtime.
          if (options.sample === false || (options.onProgress === undefined && audit !== undefined)) return;
          const steps = await sampleFleet(client, launched, audit === undefined ? sampled : undefined, gapSeconds);
          options.onProgress?.({ night, nights: options.nights, time, steps });
        },
      };
      const nightRecords = await simulate(
        {
          functions: functions.map((fn) => ({
            ...fn,
            handler: async (event, context) => {
              counter.on();
              try {
                const invoke = () => fn.handler(event, context);
                return await (options.aroundInvocation ?? ((run) => run()))(invoke, fn.name);
              } finally {
                counter.off();
              }
            },
          })),
          clock: tracked,
          ...(embedded === undefined ? {} : { subscribe: embedded.events.subscribe.bind(embedded.events) }),
          region,
          account: LOCAL_ACCOUNT_ID,
          rateAnchor: simStart,
          ruleEnabled,
          onOverlap: () => {
            overlapping += 1;
          },
          onThrottle: ({ retry }) => {
            if (retry === 0) throttled += 1;
          },
          queued,
          ...(options.stepMs === undefined ? {} : { stepMs: options.stepMs }),
          ...(options.onInvocation ? { onInvocation: options.onInvocation } : {}),
        },
        until,
      );
      records.push(...nightRecords);
      if (night === 1) await terminateMembers(client, launched);
    }
    const downtime = audit === undefined ? sampled : downtimeFromTimeline(audit, launched, clock.now().getTime());
    const { report, testInstances, copyOrphans } = await (options.aroundReport ?? ((read) => read()))(async () => {
      const copies = await describeCopies(url, copyRegionsOf(params), launched);
      return {
        report: await reportOn(client, launched, records, downtime, copies, {
          faultsInjected: embedded !== undefined,
          timeline: audit !== undefined,
          copySettings: {
            homeRegion: region,
            defaultRegions: list(params?.copyRegions),
            allowedRegions: copyRegionsOf(params),
          },
          params: params ?? {},
        }),
        testInstances: await liveTestInstances(client, `ami-backup-${options.stage ?? 'dev'}`),
        copyOrphans: await orphanSnapshotsIn(url, copyRegionsOf(params), `ami-backup-${options.stage ?? 'dev'}`),
      };
    });
    const unreceived = [...queued.values()].reduce((sum, messages) => sum + messages.length, 0);
    const denied = embedded?.denied ?? [];
    // The sharing promises, over what the embedded endpoint holds (the deployment's settings, as the functions read them).
    const sharing =
      embedded === undefined
        ? []
        : checkSharing({ after: worldOf(embedded.backend, embedded.clock.nowMs()), settings: readConfig() });
    return {
      ...report,
      problems: [
        ...report.problems,
        ...copyOrphans.map(
          ({ region, snapshotIds }) => `${region}: snapshot(s) without an image: ${snapshotIds.join(', ')}`,
        ),
        ...sharing.map((violation) => violation.message),
        ...(testInstances.length > 0 ? [`restore test instance(s) left running: ${testInstances.join(', ')}`] : []),
        ...(unreceived > 0 ? [`${unreceived} queued message(s) not yet received after the last night`] : []),
        ...deniedProblems(denied),
      ],
      nights: options.nights,
      metrics,
      totals: {
        ...report.totals,
        ec2Calls: counter.count(),
        deniedCalls: denied.length,
        overlappingInvocations: overlapping,
        throttledInvocations: throttled,
      },
      simulatedSeconds: Math.round((clock.now().getTime() - simStart.getTime()) / 1000),
      wallSeconds: Math.round((Date.now() - wallStart) / 100) / 10,
    };
  } finally {
    stopCapture?.();
    counter.close();
    if (options.ec2 === undefined) await embedded?.stop();
  }
}

/** One problem per principal and action refused: how often, and the first resource refused. */
function deniedProblems(denied: readonly Denial[]): string[] {
  const grouped = new Map<string, { count: number; first: Denial }>();
  for (const denial of denied) {
    const key = `${denial.principalArn} ${denial.action}`;
    const entry = grouped.get(key);
    if (entry === undefined) grouped.set(key, { count: 1, first: denial });
    else entry.count += 1;
  }
  return [...grouped.values()].map(
    ({ count, first }) =>
      `IAM denied ${first.action} to ${first.principalArn} ${count} time(s), first on ${first.resource}`,
  );
}

/** A clock for an endpoint the runner cannot move: it starts at the endpoint's time and waits in real time. */
async function pacedClock(
  client: EC2Client,
  launched: readonly LaunchedMember[],
  speed: number,
): Promise<SimulationClock> {
  const output = await client.send(
    new DescribeInstancesCommand({ InstanceIds: launched.map((member) => member.instanceId) }),
  );
  const launchTimes = (output.Reservations ?? []).flatMap((reservation) =>
    (reservation.Instances ?? []).map((instance) => instance.LaunchTime?.getTime() ?? 0),
  );
  const paced = SimClock.realTime({ speed, start: new Date(Math.max(Date.now(), ...launchTimes)) });
  return {
    now: () => paced.now(),
    reach: (time) =>
      new Promise((resolve) => setTimeout(resolve, Math.max(0, (time.getTime() - paced.now().getTime()) / speed))),
  };
}

/** Downtime for images' reboots, per instance, and its peaks. */
interface Downtime {
  readonly seconds: Map<string, number>;
  maxDownAtOnce: number;
  maxDownInOneGroup: number;
}

function newSampledDowntime(): Downtime {
  return { seconds: new Map(), maxDownAtOnce: 0, maxDownInOneGroup: 0 };
}

/** The member's group: its tags as EC2 shows them, else (once it is gone) as it was launched. */
function memberGroup(member: LaunchedMember, tags: Record<string, string> | undefined): string | undefined {
  return groupOf(
    tags ?? {
      ...member.tags,
      ...(member.autoScalingGroup === undefined ? {} : { [AUTO_SCALING_GROUP_TAG]: member.autoScalingGroup }),
    },
  );
}

/** Downtime from the endpoint's timeline: each image's reboot, from the shutdown to the status checks `ok`. */
function downtimeFromTimeline(
  audit: readonly AuditEntry[],
  launched: readonly LaunchedMember[],
  end: number,
): Downtime {
  const intervals = imageReboots(audit, { end });
  const groups = new Map(launched.map((member) => [member.instanceId, memberGroup(member, undefined)]));
  const groupPeaks = [...peaksByGroup(intervals, groups).values()].map((groupPeak) => groupPeak.count);
  return {
    seconds: downtimeByInstance(intervals),
    maxDownAtOnce: peak(intervals).count,
    maxDownInOneGroup: Math.max(0, ...groupPeaks),
  };
}

/**
 * Counts instances per step; without a timeline (`downtime` given), adds a sample's worth of downtime to each running
 * instance whose checks fail, and follows how many are down at once.
 */
async function sampleFleet(
  client: EC2Client,
  launched: readonly LaunchedMember[],
  downtime: Downtime | undefined,
  gapSeconds: number,
): Promise<Record<string, number>> {
  const steps: Record<string, number> = {};
  const running: string[] = [];
  const groups = new Map<string, string | undefined>();
  for (const instance of await describeFleet(client, launched)) {
    const tags = tagsOf(instance.Tags);
    const step = tags[InstanceTag.state];
    if (step !== undefined) steps[step] = (steps[step] ?? 0) + 1;
    if (instance.State?.Name === 'running' && instance.InstanceId !== undefined) {
      running.push(instance.InstanceId);
      groups.set(instance.InstanceId, groupOf(tags));
    }
  }
  // Downtime only happens during a run (an image's reboot); outside one, the status calls are saved.
  if (downtime === undefined || !IN_PROGRESS_STEPS.some((step) => (steps[step] ?? 0) > 0)) return steps;
  // Only running instances can be down; terminated ones vanish, and naming a vanished id fails the call.
  const down: string[] = [];
  for (const ids of chunk(running, 100)) {
    const statuses = await client.send(new DescribeInstanceStatusCommand({ InstanceIds: ids }));
    for (const status of statuses.InstanceStatuses ?? []) {
      if (status.InstanceId === undefined) continue;
      if (status.InstanceStatus?.Status !== 'ok' || status.SystemStatus?.Status !== 'ok') {
        down.push(status.InstanceId);
        downtime.seconds.set(status.InstanceId, (downtime.seconds.get(status.InstanceId) ?? 0) + gapSeconds);
      }
    }
  }
  downtime.maxDownAtOnce = Math.max(downtime.maxDownAtOnce, down.length);
  const perGroup = new Map<string, number>();
  for (const id of down) {
    const group = groups.get(id);
    if (group !== undefined) perGroup.set(group, (perGroup.get(group) ?? 0) + 1);
  }
  downtime.maxDownInOneGroup = Math.max(downtime.maxDownInOneGroup, ...perGroup.values());
  return steps;
}

/** The fleet's instances as EC2 shows them now (terminated ones vanish after a while). */
async function describeFleet(client: EC2Client, launched: readonly LaunchedMember[]): Promise<Instance[]> {
  const instances: Instance[] = [];
  for (const ids of chunk(
    launched.map((member) => member.instanceId),
    FILTER_VALUES,
  )) {
    for await (const page of paginateDescribeInstances(
      { client, pageSize: 1000 },
      { Filters: [{ Name: 'instance-id', Values: ids }] },
    )) {
      for (const reservation of page.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
    }
  }
  return instances;
}

/** The stage's restore-test instances not terminated (nor shutting down). */
async function liveTestInstances(client: EC2Client, owner: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const page of paginateDescribeInstances(
    { client, pageSize: 1000 },
    {
      Filters: [
        { Name: `tag:${ImageTag.managedBy}`, Values: [owner] },
        { Name: 'tag-key', Values: [RestoreTestTag.testInstance] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
      ],
    },
  )) {
    for (const reservation of page.Reservations ?? []) {
      for (const instance of reservation.Instances ?? []) if (instance.InstanceId) ids.push(instance.InstanceId);
    }
  }
  return ids;
}

/** The images of the fleet's instances that the service made, as EC2 shows them now. */
async function describeFleetImages(client: EC2Client, launched: readonly LaunchedMember[]): Promise<Image[]> {
  const images: Image[] = [];
  for (const ids of chunk(
    launched.map((member) => member.instanceId),
    FILTER_VALUES,
  )) {
    for await (const page of paginateDescribeImages(
      { client, pageSize: 1000 },
      { Owners: ['self'], Filters: [{ Name: `tag:${ImageTag.instanceId}`, Values: ids }] },
    )) {
      images.push(...(page.Images ?? []));
    }
  }
  return images;
}

/** A comma-separated parameter's entries. */
function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** The Regions the deployment may copy to (`copyRegions` and `copyAllowedRegions`). */
function copyRegionsOf(params: Readonly<Record<string, string>> | undefined): string[] {
  return [...new Set([...list(params?.copyRegions), ...list(params?.copyAllowedRegions)])];
}

/** The fleet's copies in each Region, by instance, oldest first (read as an operator, with a client per Region). */
async function describeCopies(
  url: string,
  regions: readonly string[],
  launched: readonly LaunchedMember[],
): Promise<Map<string, CopyReport[]>> {
  const fleet = new Set(launched.map((member) => member.instanceId));
  const copies = new Map<string, { report: CopyReport; createdAt: string }[]>();
  for (const region of regions) {
    const client = new EC2Client({ endpoint: url, region, credentials: OPERATOR_CREDENTIALS, maxAttempts: 8 });
    try {
      for await (const page of paginateDescribeImages(
        { client, pageSize: 1000 },
        { Owners: ['self'], Filters: [{ Name: 'tag-key', Values: [CopyTag.sourceImage] }] },
      )) {
        for (const image of page.Images ?? []) {
          const tags = tagsOf(image.Tags);
          const instanceId = tags[ImageTag.instanceId] ?? '';
          if (!fleet.has(instanceId) || image.State === 'deregistered') continue;
          const state = tags[InstanceTag.state] ?? image.State ?? 'unknown';
          const entry = {
            report: { region, imageId: image.ImageId ?? '', state },
            createdAt: image.CreationDate ?? '',
          };
          copies.set(instanceId, [...(copies.get(instanceId) ?? []), entry]);
        }
      }
    } finally {
      client.destroy();
    }
  }
  return new Map(
    [...copies.entries()].map(([instanceId, entries]) => [
      instanceId,
      entries.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map((entry) => entry.report),
    ]),
  );
}

/** In each Region copies go to, the service's snapshots that no image there uses (a copy expired without them). */
async function orphanSnapshotsIn(
  url: string,
  regions: readonly string[],
  owner: string,
): Promise<{ region: string; snapshotIds: string[] }[]> {
  const orphans: { region: string; snapshotIds: string[] }[] = [];
  for (const region of regions) {
    const client = new EC2Client({ endpoint: url, region, credentials: OPERATOR_CREDENTIALS, maxAttempts: 8 });
    try {
      const used = new Set<string>();
      for await (const page of paginateDescribeImages({ client, pageSize: 1000 }, { Owners: ['self'] })) {
        for (const image of page.Images ?? []) {
          if (image.State === 'deregistered') continue;
          for (const mapping of image.BlockDeviceMappings ?? []) used.add(mapping.Ebs?.SnapshotId ?? '');
        }
      }
      const snapshotIds: string[] = [];
      for await (const page of paginateDescribeSnapshots(
        { client, pageSize: 1000 },
        { OwnerIds: ['self'], Filters: [{ Name: `tag:${ImageTag.managedBy}`, Values: [owner] }] },
      )) {
        for (const snapshot of page.Snapshots ?? []) {
          if (!used.has(snapshot.SnapshotId ?? '')) snapshotIds.push(snapshot.SnapshotId ?? '');
        }
      }
      if (snapshotIds.length > 0) orphans.push({ region, snapshotIds });
    } finally {
      client.destroy();
    }
  }
  return orphans;
}

/** Copies started and expired over the nights, from the copy passes' summaries. */
function copyCounts(records: readonly InvocationRecord[]): { created: number; expired: number } {
  let created = 0;
  let expired = 0;
  for (const record of records) {
    const summary = record.result as Partial<CopySummary> | undefined;
    if (summary?.function !== 'copyImages') continue;
    created += summary.copiesStarted ?? 0;
    expired += summary.copiesExpired ?? 0;
  }
  return { created, expired };
}

/** Images shared and copies re-encrypted for sharing over the nights, from the share passes' summaries. */
function shareCounts(records: readonly InvocationRecord[]): { shared: number; reencrypted: number } {
  let shared = 0;
  let reencrypted = 0;
  for (const record of records) {
    const summary = record.result as Partial<ShareSummary> | undefined;
    if (summary?.function !== 'shareImages') continue;
    shared += summary.imagesShared ?? 0;
    reencrypted += summary.copiesStarted ?? 0;
  }
  return { shared, reencrypted };
}

/**
 * Which of these accounts (and `all`, the public) may launch each of the account's own images, as their owner finds
 * them: DescribeImages with `ExecutableUsers`, one account at a time, so a large fleet costs a call per account.
 */
async function launchAccounts(client: EC2Client, accounts: readonly string[]): Promise<Map<string, string[]>> {
  const byImage = new Map<string, string[]>();
  for (const account of [...new Set(accounts.filter((account) => ACCOUNT_ID.test(account))), 'all']) {
    for await (const page of paginateDescribeImages(
      { client, pageSize: 1000 },
      { Owners: ['self'], ExecutableUsers: [account] },
    )) {
      for (const image of page.Images ?? []) {
        if (image.ImageId !== undefined) byImage.set(image.ImageId, [...(byImage.get(image.ImageId) ?? []), account]);
      }
    }
  }
  return byImage;
}

/**
 * Why a member's newest good backup is not shared as its share policy asks: with exactly the accounts it names, itself
 * or (its key one the deployment may not grant) through a re-encrypted copy; without a share key for such a backup,
 * not at all, and the instance says why (`ami-backup:share-error`).
 */
function shareProblem(
  member: LaunchedMember,
  tags: Record<string, string>,
  sharedWith: readonly string[],
  settings: { readonly defaultAccounts: readonly string[]; readonly kmsKey: string; readonly grantableKeys: string[] },
): string | undefined {
  const policy = parseSharePolicy(
    Object.keys(tags).length > 0 ? tags : member.tags,
    settings.defaultAccounts,
    LOCAL_ACCOUNT_ID,
  );
  if (!policy.ok) return undefined;
  const wanted = formatAccounts(policy.value.accounts);
  const key = member.encryptedRoot?.kmsKeyId;
  const shareable =
    member.encryptedRoot === undefined ||
    (key !== undefined && (key === settings.kmsKey || settings.grantableKeys.includes(key)));
  if (wanted !== '' && !shareable && settings.kmsKey === '') {
    if (sharedWith.length > 0) return `${member.name}: shared with ${sharedWith.join(', ')} without a share key`;
    return tags[ShareTag.shareError] === undefined
      ? `${member.name}: names ${wanted} but cannot share without a share key, and does not say so`
      : undefined;
  }
  const shared = formatAccounts(sharedWith);
  if (shared === wanted) return undefined;
  return `${member.name}: its newest good backup is shared with ${shared || 'no account'}, its share policy names ${wanted || 'none'}${tags[ShareTag.shareError] === undefined ? '' : ` (${tags[ShareTag.shareError]})`}`;
}

/**
 * Why a member's copies do not hold their promise: each Region it names has a good copy of a backup, and (retention
 * by count alone) no more good copies than its copy-retain.
 */
function copyProblem(
  member: LaunchedMember,
  copies: readonly CopyReport[],
  settings: CopySettings,
  defaultRetain: number,
): string | undefined {
  const policy = parseCopyPolicy(member.tags, settings);
  const retention = parseCopyRetention(member.tags, defaultRetain);
  if (!policy.ok || !retention.ok) return undefined;
  for (const region of policy.value.regions) {
    const good = copies.filter((copy) => copy.region === region && copy.state === 'succeeded').length;
    if (good === 0) return `${member.name}: no good copy in ${region}`;
    if (retention.value.retainDays === undefined && good > retention.value.retain) {
      return `${member.name}: keeps ${good} good copies in ${region}, more than its copy retention of ${retention.value.retain}`;
    }
  }
  return undefined;
}

interface RotationCounts {
  expired: number;
  snapshotsDeleted: number;
  lastRotation?: Date;
}

/** What the rotations did per instance, from their summaries. */
function rotationCounts(records: readonly InvocationRecord[]): Map<string, RotationCounts> {
  const counts = new Map<string, RotationCounts>();
  for (const record of records) {
    const summary = record.result as Partial<RotateSummary> | undefined;
    if (summary?.function !== 'rotate') continue;
    for (const outcome of summary.instances ?? []) {
      const entry = counts.get(outcome.instanceId) ?? { expired: 0, snapshotsDeleted: 0 };
      entry.expired += outcome.expired.length;
      entry.snapshotsDeleted += outcome.snapshotsDeleted;
      entry.lastRotation = record.time;
      counts.set(outcome.instanceId, entry);
    }
  }
  return counts;
}

/** The backups' outcomes: rotation's and the restore tests' are of another kind. */
function outcomes(records: readonly InvocationRecord[]): InstanceOutcome[] {
  return records.flatMap((record) => {
    const summary = record.result as Partial<Summary> | undefined;
    return summary?.function === 'rotate' ||
      summary?.function === 'restoreTests' ||
      summary?.function === 'copyImages' ||
      summary?.function === 'shareImages'
      ? []
      : [...(summary?.instances ?? [])];
  });
}

/** Restore tests recorded passed and failed, from the restoreTests invocations' summaries. */
function restoreTestCounts(records: readonly InvocationRecord[]): { passed: number; failed: number } {
  let passed = 0;
  let failed = 0;
  for (const record of records) {
    const summary = record.result as Partial<RestoreTestSummary> | undefined;
    if (summary?.function !== 'restoreTests') continue;
    passed += summary.passed ?? 0;
    failed += summary.failed ?? 0;
  }
  return { passed, failed };
}

/** The last restore test recorded on any of an instance's images, or undefined. */
function lastRestoreTest(images: readonly Image[]): InstanceReport['restoreTest'] {
  let last: ReturnType<typeof parseRestoreResult>;
  for (const image of images) {
    const result = parseRestoreResult(tagsOf(image.Tags)[RestoreTestTag.result]);
    if (result !== undefined && (last === undefined || result.at.getTime() > last.at.getTime())) last = result;
  }
  if (last === undefined) return undefined;
  return {
    at: last.at.toISOString(),
    passed: last.passed,
    ...(last.reason === undefined ? {} : { reason: last.reason }),
  };
}

/** Whether the image's restore test, recorded by `time`, passed. */
function passedRestoreTestBy(image: Image, time: Date): boolean {
  const result = parseRestoreResult(tagsOf(image.Tags)[RestoreTestTag.result]);
  return result?.passed === true && result.at.getTime() <= time.getTime();
}

/** Whether an image is a good backup: available, and its outcome recorded `succeeded` (verified). */
function isGoodImage(image: Image): boolean {
  return image.State === 'available' && tagsOf(image.Tags)[InstanceTag.state] === BackupStep.succeeded;
}

const newestFirst = (a: Image, b: Image): number => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? '');

/** Whether an instance's kept good images are what its retention asks for; a problem sentence if not. */
function retentionProblem(
  member: LaunchedMember,
  tags: Record<string, string>,
  good: readonly Image[],
  /** Backups that succeeded over the nights. */
  succeeded: number,
  counts: RotationCounts | undefined,
  defaultRetain: number,
): string | undefined {
  const newest = [...good].sort(newestFirst)[0];
  const policy = parseInstancePolicy(Object.keys(tags).length > 0 ? tags : member.tags, defaultRetain);
  if (!policy.ok) {
    return counts !== undefined && counts.expired > 0
      ? `${member.name}: images expired despite invalid tags`
      : undefined;
  }
  const { retain, retainDays } = policy.value;
  if (good.length < Math.min(retain, succeeded)) {
    return `${member.name}: ${good.length} good images kept, retention asks for ${Math.min(retain, succeeded)}`;
  }
  const reference = counts?.lastRotation;
  if (reference === undefined || newest === undefined) return undefined;
  const young = good.filter(
    (image) =>
      retainDays !== undefined &&
      new Date(image.CreationDate ?? 0).getTime() > reference.getTime() - retainDays * DAY_MS,
  ).length;
  // Made before that rotation, by the runs' ids (the runner's clock, as the rotation's time), not by the endpoint's.
  const lastRotationRun = formatRunId(reference);
  const made = good.filter((image) => (tagsOf(image.Tags)[ImageTag.run] ?? '') <= lastRotationRun).length;
  // Rotation also keeps the newest good image that had passed a restore test then, beyond the retention if need be.
  const retained = Math.max(retain, young);
  const restorable = [...good].sort(newestFirst).findIndex((image) => passedRestoreTestBy(image, reference));
  const allowed = restorable >= retained ? retained + 1 : retained;
  if (made > allowed) {
    return `${member.name}: ${made} good images older than the last rotation kept, retention allows ${allowed}`;
  }
  return undefined;
}

/** Why a member's backups are expected to fail, when the endpoint takes fault injection; null if they are not. */
function expectedFailureOf(member: LaunchedMember, faultsInjected: boolean): string | null {
  if (!faultsInjected || !member.optedIn) return null;
  const screened = screenedBecause(member);
  if (screened !== undefined) return `screened: ${screened}`;
  if (member.imagesFail) return 'its images fail';
  if (member.unhealthyAfterImage) return 'not back healthy after its image’s reboot';
  return null;
}

/** Whether an instance expected to fail failed as expected (screened, failed image, failed verification). */
function expectedFailureProblem(
  member: LaunchedMember,
  tags: Record<string, string>,
  images: readonly Image[],
  downtimeSeconds: number,
  timeline: boolean,
): string | undefined {
  const state = tags[InstanceTag.state] ?? '-';
  const error = tags[InstanceTag.lastError] ?? '';
  const run = tags[InstanceTag.run];
  if (state !== BackupStep.failed) return `${member.name}: expected a recorded failure, state ${state}`;
  if (screenedBecause(member) !== undefined) {
    if (images.length > 0) return `${member.name}: screened, yet imaged (${images.map((i) => i.ImageId).join(', ')})`;
    if (timeline && downtimeSeconds > 0) return `${member.name}: screened, yet rebooted for an image`;
    return undefined;
  }
  if (member.unhealthyAfterImage) {
    if (!error.startsWith(`${run}: ${FailureKind.failedVerification}:`)) {
      return `${member.name}: expected ${FailureKind.failedVerification}, last error ${error || '-'}`;
    }
    const kept = images.find((image) => image.Name === imageName(member.instanceId, run ?? ''));
    if (kept?.State !== 'available') return `${member.name}: the image that failed verification was not kept`;
    if (isGoodImage(kept)) return `${member.name}: the image that failed verification is recorded good`;
  }
  return undefined;
}

async function reportOn(
  client: EC2Client,
  launched: readonly LaunchedMember[],
  records: readonly InvocationRecord[],
  downtime: Downtime,
  copies: ReadonlyMap<string, readonly CopyReport[]>,
  options: {
    readonly faultsInjected: boolean;
    readonly timeline: boolean;
    readonly copySettings: CopySettings;
    /** The deployment's parameters. */
    readonly params: Readonly<Record<string, string>>;
  },
): Promise<Omit<NightReport, 'simulatedSeconds' | 'wallSeconds' | 'metrics'>> {
  const instances = new Map((await describeFleet(client, launched)).map((instance) => [instance.InstanceId, instance]));
  const images = await describeFleetImages(client, launched);
  const counts = rotationCounts(records);
  const allOutcomes = outcomes(records);
  const restoreTests = restoreTestCounts(records);
  const copyTotals = copyCounts(records);
  const shareTotals = shareCounts(records);
  const lastStart = records
    .filter((record) => record.functionName === 'reboot' && record.error === undefined)
    .map((record) => record.result as { runId?: unknown; stale?: readonly unknown[] } | undefined)
    .at(-1);
  const lastNightRun = typeof lastStart?.runId === 'string' ? lastStart.runId : undefined;
  const defaultRetain = Number(process.env.DEFAULT_RETAIN ?? 7);
  const problems: string[] = [];
  // Grouped once: a fleet of thousands has tens of thousands of images and outcomes.
  const imagesBySource = new Map<string, Image[]>();
  // Copies re-encrypted for sharing, by the backup they were copied from: not backups of their own.
  const reencryptedCopies = new Map<string, Image[]>();
  for (const image of images) {
    const tags = tagsOf(image.Tags);
    const source = tags[ImageTag.instanceId];
    if (source === undefined || image.State === 'deregistered') continue;
    const copiedFrom = tags[ShareTag.reencryptedFrom];
    const [map, key] = copiedFrom === undefined ? [imagesBySource, source] : [reencryptedCopies, copiedFrom];
    const list = map.get(key);
    if (list === undefined) map.set(key, [image]);
    else list.push(image);
  }
  const shareSettings = {
    defaultAccounts: list(options.params.shareAccounts),
    kmsKey: options.params.shareKmsKey ?? '',
    grantableKeys: list(options.params.shareGrantKeys),
  };
  // Who may launch what, for every account the fleet's share tags or the deployment name.
  const launchableBy = await launchAccounts(client, [
    ...shareSettings.defaultAccounts,
    ...launched.flatMap((member) =>
      list(tagsOf(instances.get(member.instanceId)?.Tags)[ShareTag.shareWith] ?? member.tags[ShareTag.shareWith]),
    ),
  ]);
  /** Whom an instance's newest good backup, or that backup's re-encrypted copy, may be launched by. */
  const sharedWithOf = (instanceId: string): string[] => {
    const newestGood = (imagesBySource.get(instanceId) ?? []).filter(isGoodImage).sort(newestFirst)[0];
    if (newestGood?.ImageId === undefined) return [];
    const ids = [newestGood.ImageId, ...(reencryptedCopies.get(newestGood.ImageId) ?? []).map((copy) => copy.ImageId)];
    return [...new Set(ids.flatMap((id) => (id === undefined ? [] : (launchableBy.get(id) ?? []))))].sort();
  };
  const successes = new Map<string, number>();
  for (const outcome of allOutcomes) {
    if (outcome.action === 'succeeded' && !outcome.error) {
      successes.set(outcome.instanceId, (successes.get(outcome.instanceId) ?? 0) + 1);
    }
  }

  const reports = launched.map((member): InstanceReport => {
    const instance = instances.get(member.instanceId);
    const tags = tagsOf(instance?.Tags);
    const own = imagesBySource.get(member.instanceId) ?? [];
    const available = own.filter((image) => image.State === 'available');
    const good = available.filter(isGoodImage);
    const succeeded = successes.get(member.instanceId) ?? 0;
    const mode = parseMode(member.tags);
    const expectedFailure = expectedFailureOf(member, options.faultsInjected);
    const expectedBackup =
      member.optedIn &&
      mode.ok &&
      screenedBecause(member) === undefined &&
      !member.imagesFail &&
      !member.unhealthyAfterImage &&
      !member.terminateAfterFirstNight;
    const state = tags[InstanceTag.state] ?? '-';
    const error = tags[InstanceTag.policyError] ?? (state === 'failed' ? (tags[InstanceTag.lastError] ?? null) : null);
    const newest = [...available].sort(newestFirst)[0];
    // Its last run: as its tags say, or (once it is gone) the newest of its images'.
    const lastRun = tags[InstanceTag.run] ?? (newest === undefined ? undefined : tagsOf(newest.Tags)[ImageTag.run]);
    const verified =
      lastRun !== undefined && good.some((image) => image.Name === imageName(member.instanceId, lastRun));
    const downtimeSeconds = Math.round(downtime.seconds.get(member.instanceId) ?? 0);
    const restoreTest = lastRestoreTest(own);
    if (expectedBackup) {
      // Judged by the service's own record, the run the last night's start made, never by comparing two clocks.
      const lastNightImage = lastNightRun === undefined ? undefined : imageName(member.instanceId, lastNightRun);
      if (!good.some((image) => image.Name === lastNightImage)) {
        problems.push(
          `${member.name}: no new good image in the last night (state ${state}${error ? `: ${error}` : ''})`,
        );
      }
    }
    if (expectedFailure !== null) {
      const problem = expectedFailureProblem(member, tags, own, downtimeSeconds, options.timeline);
      if (problem !== undefined) problems.push(problem);
    }
    if (expectedBackup && restoreTest?.passed === false) {
      problems.push(`${member.name}: its last restore test failed (${restoreTest.reason ?? 'no reason recorded'})`);
    }
    if (member.optedIn) {
      const problem = retentionProblem(member, tags, good, succeeded, counts.get(member.instanceId), defaultRetain);
      if (problem !== undefined) problems.push(problem);
    }
    const memberCopies = copies.get(member.instanceId) ?? [];
    if (expectedBackup) {
      const problem = copyProblem(member, memberCopies, options.copySettings, defaultRetain);
      if (problem !== undefined) problems.push(problem);
    }
    const memberSharedWith = sharedWithOf(member.instanceId);
    if (expectedBackup) {
      const problem = shareProblem(member, tags, memberSharedWith, shareSettings);
      if (problem !== undefined) problems.push(problem);
    }
    return {
      instanceId: member.instanceId,
      name: member.name,
      optedIn: member.optedIn,
      mode: mode.ok ? mode.value : 'invalid',
      state,
      imagesKept: available.length,
      imagesExpired: counts.get(member.instanceId)?.expired ?? 0,
      snapshotsDeleted: counts.get(member.instanceId)?.snapshotsDeleted ?? 0,
      lastImageId: newest?.ImageId ?? null,
      error,
      group: memberGroup(member, instance === undefined ? undefined : tags) ?? null,
      downtimeSeconds,
      verified,
      ...(restoreTest === undefined ? {} : { restoreTest }),
      copies: memberCopies,
      sharedWith: memberSharedWith,
      expectedBackup,
      expectedFailure,
    };
  });
  const invocationErrors = records.flatMap((record) =>
    record.error ? [`${record.functionName}: ${record.error}`] : [],
  );
  problems.push(...invocationErrors);
  for (const record of records) {
    if (record.deadLettered) problems.push(`${record.functionName}: ${record.deadLettered} message(s) dead-lettered`);
  }
  const imagesCreated = new Set(
    allOutcomes.flatMap((outcome) => (outcome.action === 'create-image' && outcome.imageId ? [outcome.imageId] : [])),
  ).size;
  return {
    nights: 0,
    instances: reports,
    totals: {
      imagesCreated,
      imagesExpired: reports.reduce((sum, report) => sum + report.imagesExpired, 0),
      snapshotsDeleted: reports.reduce((sum, report) => sum + report.snapshotsDeleted, 0),
      failures: allOutcomes.filter((outcome) => outcome.action === 'failed' || outcome.action === 'fail').length,
      ec2Calls: 0,
      maxDownAtOnce: downtime.maxDownAtOnce,
      maxDownInOneGroup: downtime.maxDownInOneGroup,
      deniedCalls: 0,
      overlappingInvocations: 0,
      throttledInvocations: 0,
      staleInstances: lastStart?.stale?.length ?? 0,
      restoreTestsPassed: restoreTests.passed,
      restoreTestsFailed: restoreTests.failed,
      copiesCreated: copyTotals.created,
      copiesExpired: copyTotals.expired,
      imagesShared: shareTotals.shared,
      copiesReencrypted: shareTotals.reencrypted,
    },
    invocations: records.length,
    invocationErrors,
    problems,
  };
}
