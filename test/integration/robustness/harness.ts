/**
 * Nights of the real handlers, wired from serverless.yml, on a local endpoint whose state can be saved and restored:
 * the same night replayed from the same start under different faults. Each invocation tells the endpoint when it
 * ends (so a cut-off lasts exactly one invocation), and a failed invocation is retried as Lambda retries an
 * asynchronous one (the function's `maximumRetryAttempts`; a failed queue batch is received again instead). Every
 * failed attempt is kept, as Lambda's Errors metric counts it, retried or not.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import {
  CopyImageCommand,
  CreateImageCommand,
  DeregisterImageCommand,
  type EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';
import { installVirtualTime, type VirtualTime } from '../../../bench/virtual-time';
import { type Config, readConfig } from '../../../lib/config';
import { copyLookAlikeReasons } from '../../../lib/decisions/copies';
import { isGood } from '../../../lib/decisions/rotation';
import { CopyTag, formatRunId, ImageTag, InstanceTag, parseCopyRecord, ShareTag } from '../../../lib/tags';
import {
  type BackendState,
  type KmsState,
  LOCAL_ACCOUNT_ID,
  type LocalEc2,
  SimClock,
  startLocalEc2,
} from '../../../local/ec2';
import { type FleetMember, type LaunchedMember, launchFleet, stopMembers } from '../../../local/runner/fleet';
import { loadFunctions } from '../../../local/runner/functions';
import {
  checkInvariants,
  publishedFailures,
  type Violation,
  type World,
  worldOf,
} from '../../../local/runner/invariants';
import { loadServerlessConfig } from '../../../local/runner/serverless-config';
import { type InvocationRecord, type LocalFunction, lambdaContext, simulate } from '../../../local/runner/simulation';
import { clientFor, clientIn } from '../local-ec2/helpers';

export const SERVERLESS_FILE = resolve(__dirname, '../../../serverless.yml');
export const REGION = 'us-east-1';
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** `npm run test:soak`: bigger fleets, more nights, more generated cases than `npm test` can afford. */
export const SOAK = process.env.AMI_BACKUP_SOAK === '1';

/** The evening the fleet is launched; the first night's reboot is at 03:00 the next morning. */
export const EVENING = new Date('2026-11-25T20:00:00Z');

/** The `n`th night's time (n = 1 is the morning after EVENING), e.g. night(1, '03:00'). */
export function night(n: number, time: string): Date {
  const day = new Date(EVENING.getTime() + n * DAY).toISOString().slice(0, 10);
  return new Date(`${day}T${time}:00Z`);
}

/** The Region the fleets' copies go to: the harness deploys with it allowed. */
export const COPY_REGION = 'us-west-2';
/** The account `web`'s and `vault`'s backups are shared with. */
export const SHARE_ACCOUNT = '210987654321';
/** The customer managed key `keyed`'s volumes are encrypted with (the deployment may grant it: `shareGrantKeys`). */
const VOLUME_KEY_ALIAS = 'alias/volumes';

/**
 * A small mixed fleet: both modes, a group of two imaged one at a time, a stopped instance, short retentions
 * (rotation at work), failing images, good backups copied to another Region (rotated there too), and good backups
 * shared with another account (unshared before they expire): unencrypted, under a customer managed key (its use
 * granted), and under the AWS managed key (shared as copies re-encrypted with the share key).
 */
export const MIXED_FLEET: readonly FleetMember[] = [
  {
    name: 'web',
    tags: {
      Backup: 'true',
      'ami-backup:retain': '1',
      'ami-backup:group': 'web',
      [ShareTag.shareWith]: SHARE_ACCOUNT,
    },
    optedIn: true,
  },
  { name: 'web-b', tags: { Backup: 'true', 'ami-backup:retain': '1', 'ami-backup:group': 'web' }, optedIn: true },
  {
    name: 'db',
    tags: {
      Backup: 'true',
      'ami-backup:mode': 'no-reboot',
      'ami-backup:retain': '2',
      [CopyTag.copyTo]: COPY_REGION,
      [CopyTag.copyRetain]: '1',
    },
    optedIn: true,
  },
  { name: 'batch', tags: { Backup: 'true', 'ami-backup:retain': '1' }, stopped: true, optedIn: true },
  // Under keys: a customer managed key the deployment may grant (shared once a test tags it), and the AWS managed key
  // (shared as re-encrypted copies).
  {
    name: 'keyed',
    tags: { Backup: 'true', 'ami-backup:retain': '1' },
    encryptedRoot: { kmsKeyId: VOLUME_KEY_ALIAS },
    optedIn: true,
  },
  {
    name: 'vault',
    tags: {
      Backup: 'true',
      'ami-backup:mode': 'no-reboot',
      'ami-backup:retain': '1',
      [ShareTag.shareWith]: SHARE_ACCOUNT,
    },
    encryptedRoot: {},
    optedIn: true,
  },
  { name: 'flaky', tags: { Backup: 'true', 'ami-backup:retain': '1' }, imagesFail: true, optedIn: true },
  { name: 'scratch', tags: { Name: 'ami-backup-scratch' }, optedIn: false },
];

/**
 * The soak's fleet: the mixed one and more of each kind, retention by days and an invalid retention among them, an
 * Auto Scaling group, the screened kinds and one that never comes back healthy from its image's reboot.
 */
export const SOAK_FLEET: readonly FleetMember[] = [
  ...MIXED_FLEET,
  { name: 'worker-1', tags: { Backup: 'true' }, autoScalingGroup: 'workers', optedIn: true },
  { name: 'worker-2', tags: { Backup: 'true' }, autoScalingGroup: 'workers', optedIn: true },
  { name: 'web-c', tags: { Backup: 'true', 'ami-backup:group': 'web' }, unhealthyAfterImage: true, optedIn: true },
  { name: 'ephemeral', tags: { Backup: 'true' }, instanceStoreRoot: true, optedIn: true },
  { name: 'sleepy', tags: { Backup: 'true' }, hibernated: true, optedIn: true },
  { name: 'web-2', tags: { Backup: 'true', 'ami-backup:retain': '2', 'ami-backup:retain-days': '1' }, optedIn: true },
  { name: 'db-2', tags: { Backup: 'true', 'ami-backup:mode': 'no-reboot' }, optedIn: true },
  { name: 'typo', tags: { Backup: 'true', 'ami-backup:retain': 'two' }, optedIn: true },
  { name: 'batch-2', tags: { Backup: 'true', 'ami-backup:mode': 'no-reboot' }, stopped: true, optedIn: true },
];

export interface Saved {
  readonly state: BackendState;
  readonly time: Date;
  /** Whether each named schedule's rule was on (the functions turn the passes' rule on and off). */
  readonly rules: Readonly<Record<string, boolean>>;
  /** The other Regions' states (the copies'). */
  readonly regions: Readonly<Record<string, BackendState>>;
  /** KMS: the keys, and the grants sharing made. */
  readonly kms: KmsState;
}

/** An invocation attempt that failed (threw, or was cut off). */
export interface FailedInvocation {
  readonly functionName: string;
  readonly error: string;
}

export interface Harness {
  /** The endpoint in use (replaced by `restore`). */
  readonly ec2: LocalEc2;
  readonly client: EC2Client;
  readonly config: Config;
  readonly fleet: readonly LaunchedMember[];
  /** Every invocation attempt that failed so far, Lambda's retries of asynchronous invocations included. */
  readonly failedInvocations: readonly FailedInvocation[];
  /** Runs the schedules and events from the clock's time until `until`; returns the invocations. */
  run(until: Date): Promise<InvocationRecord[]>;
  /** Invokes one function now, as the console or an overlapping schedule would. */
  invoke(name: string, event: unknown): Promise<unknown>;
  save(): Saved;
  /** A fresh endpoint on the same port, holding the saved state at its time, auditing from there. */
  restore(saved: Saved): Promise<void>;
  /** The world now, and the invariant violations since `before` (for the run started at `runAt`). */
  world(): World;
  check(before: World, runAt: Date): Violation[];
  stop(): Promise<void>;
}

function tagList(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

/**
 * Resources that look like the service's but are not: images named as the service names them (an opted-in
 * instance's included) with the service's tags but no ownership tag, another stage's or one spelled differently,
 * with their snapshots (one image deregistered, leaving them behind); and an image another account shares, named and
 * tagged exactly as the service's would be.
 */
async function makeLookAlikes(ec2: LocalEc2, client: EC2Client, fleet: readonly LaunchedMember[]): Promise<void> {
  const targets = fleet.filter((member) => !member.stopped).slice(0, 2);
  const owners: Record<string, string>[] = [
    {},
    { [ImageTag.managedBy]: 'ami-backup-prod' },
    { [ImageTag.managedBy]: 'AMI-BACKUP-DEV' },
    { [ImageTag.managedBy]: 'ami-backup-dev-old' },
  ];
  let leftBehind: string | undefined;
  for (const member of targets) {
    for (const [index, owner] of owners.entries()) {
      const tags = tagList({ ...owner, [ImageTag.instanceId]: member.instanceId, [ImageTag.retain]: '1' });
      const made = await client.send(
        new CreateImageCommand({
          InstanceId: member.instanceId,
          Name: `ami-backup-${member.instanceId}-2026112${index}T0300Z`,
          NoReboot: true,
          TagSpecifications: [
            { ResourceType: 'image', Tags: tags },
            { ResourceType: 'snapshot', Tags: tags },
          ],
        }),
      );
      leftBehind ??= made.ImageId;
    }
    ec2.backend.shareImage({
      ownerId: '210987654321',
      name: `ami-backup-${member.instanceId}-20261127T0300Z`,
      tags: new Map([
        [ImageTag.managedBy, 'ami-backup-dev'],
        [ImageTag.instanceId, member.instanceId],
        [ImageTag.retain, '1'],
      ]),
    });
  }
  if (leftBehind !== undefined) {
    ec2.clock.advance(10 * MINUTE);
    await client.send(new DeregisterImageCommand({ ImageId: leftBehind }));
  }
}

/**
 * The keys the deployment names, made as an operator would before deploying: the share key (`shareKmsKey`) and the
 * customer managed key `keyed`'s volumes use (`shareGrantKeys`, by its alias for the launch).
 */
function makeShareKeys(ec2: LocalEc2): { shareKey: string; volumeKey: string } {
  const call = (action: string, request: unknown): Record<string, unknown> => {
    const answer = ec2.kms.handle(`TrentService.${action}`, JSON.stringify(request), LOCAL_ACCOUNT_ID, REGION);
    if (answer.status !== 200) throw new Error(`${action}: ${JSON.stringify(answer.body)}`);
    return answer.body as Record<string, unknown>;
  };
  const arnOf = (answer: Record<string, unknown>): string =>
    String((answer.KeyMetadata as { Arn?: unknown } | undefined)?.Arn ?? '');
  const shareKey = arnOf(call('CreateKey', { Description: 'backups shared as re-encrypted copies' }));
  const volumeKey = arnOf(call('CreateKey', { Description: 'volumes' }));
  call('CreateAlias', { AliasName: VOLUME_KEY_ALIAS, TargetKeyId: volumeKey });
  return { shareKey, volumeKey };
}

export interface HarnessOptions {
  /** Every invocation is made twice at once (a schedule or event delivered twice, or two overlapping runs). */
  readonly overlap?: boolean;
  /** Deployment parameters (`--param`) besides the defaults of serverless.yml. */
  readonly params?: Readonly<Record<string, string>>;
  /**
   * Virtual time with this latency per call: every wait of the handlers (the SDK's retry backoff, the pacing) passes
   * on the simulated clock instead of the wall clock, so an invocation takes simulated time and its remaining time
   * counts it. A harness in virtual time cannot `restore`.
   */
  readonly virtualTimeLatencyMs?: number;
}

/**
 * The process's `Date.now` moved forward by the simulated time that passes between invocations (never back, not even
 * when a saved night is restored): what the handlers measure in real time — the pacing of EC2 calls — sees the
 * minutes pass that separate their invocations in AWS, instead of a whole night's calls within a second.
 */
function wallClockFollowing(): { advance(ms: number): void; release(): void } {
  const realNow = Date.now;
  let aheadMs = 0;
  Date.now = () => realNow() + aheadMs;
  return {
    advance: (ms) => {
      aheadMs += Math.max(0, ms);
    },
    release: () => {
      Date.now = realNow;
    },
  };
}

/**
 * The endpoint's answers go without a `Date` header while the harness runs. Node stamps it with the real time, while the
 * handlers' clock follows the simulated one: the SDK would take the difference for clock skew, and retry every
 * failed call as skew-corrected, even the calls of a cut-off invocation that must fail at once.
 */
function withoutDateHeaders(): () => void {
  const omitDate = (message: unknown): void => {
    (message as { response: ServerResponse }).response.sendDate = false;
  };
  subscribe('http.server.request.start', omitDate);
  return () => {
    unsubscribe('http.server.request.start', omitDate);
  };
}

/**
 * In the copy Region, an image named and tagged as the service's copies are, this stage's ownership tag included, but
 * without the source-image tag of a copy (another tool's copy, say): rotation there must leave it alone.
 */
async function makeCopyLookAlike(ec2: LocalEc2): Promise<void> {
  const source = [...ec2.backend.images.values()].find((image) => image.state === 'available');
  const instanceId = source?.tags.get(ImageTag.instanceId);
  // A fleet without look-alikes at home (nothing imaged yet) has none to copy either.
  if (source === undefined || instanceId === undefined) return;
  const west = clientIn(ec2.url, COPY_REGION, 3);
  const run = '20261101T0300Z';
  try {
    await west.send(
      new CopyImageCommand({
        SourceRegion: REGION,
        SourceImageId: source.id,
        Name: `ami-backup-${instanceId}-${run}`,
        TagSpecifications: [
          {
            ResourceType: 'image',
            Tags: tagList({
              [ImageTag.managedBy]: 'ami-backup-dev',
              [ImageTag.instanceId]: instanceId,
              [ImageTag.run]: run,
              [ImageTag.retain]: '1',
            }),
          },
        ],
      }),
    );
  } finally {
    west.destroy();
  }
}

/** A copy in the copy Region as the service's checks see it (the invariants' view has no EC2 `SourceImageId`). */
function isOwnCopy(image: World['images'][number], owner: string): boolean {
  return (
    image.state !== 'deregistered' &&
    copyLookAlikeReasons(
      {
        ...image,
        createdAt: new Date(image.creationDate),
        ownerId: image.ownerId ?? LOCAL_ACCOUNT_ID,
        state: 'available',
      },
      { owner, accountId: LOCAL_ACCOUNT_ID },
    ).length === 0
  );
}

/**
 * The copies' promises in their Region: each good backup of an instance copying there, older than the copy passes'
 * allowance, has exactly one copy, available and recorded good on itself and on its source (copied once, whatever
 * was cut); no snapshot there outlives its image; nothing there that is not the service's copy was touched.
 */
function copyViolations(input: {
  readonly home: World;
  readonly before: World | undefined;
  readonly after: World;
  readonly owner: string;
}): Violation[] {
  const { home, before, after, owner } = input;
  const violations: Violation[] = [];
  const copies = after.images.filter((image) => isOwnCopy(image, owner));
  const bySource = new Map<string, string[]>();
  for (const copy of copies) {
    const source = copy.tags[CopyTag.sourceImage] ?? '';
    bySource.set(source, [...(bySource.get(source) ?? []), copy.id]);
  }
  for (const [source, ids] of bySource) {
    if (ids.length > 1) {
      violations.push({ invariant: 'copied-once', resources: ids, message: `${source}: ${ids.length} copies` });
    }
  }
  // The newest good backup of each copying instance, made long enough ago for the passes to have copied it.
  // Made, then copied by a pass (every 15 minutes) in the minutes a copy across Regions takes.
  const allowanceMs = 2 * HOUR;
  const newest = new Map<string, World['images'][number]>();
  for (const image of home.images) {
    const model = { ...image, createdAt: new Date(image.creationDate), state: image.state as 'available' };
    if (!isGood(model) || image.tags[ImageTag.managedBy] !== owner) continue;
    const instanceId = image.tags[ImageTag.instanceId] ?? '';
    const known = newest.get(instanceId);
    if (known === undefined || known.creationDate < image.creationDate) newest.set(instanceId, image);
  }
  const copying = new Set(
    home.instances
      .filter((instance) => instance.tags[CopyTag.copyTo] === COPY_REGION && instance.state !== 'terminated')
      .map((instance) => instance.id),
  );
  for (const [instanceId, image] of newest) {
    if (!copying.has(instanceId) || after.now - image.creationDate < allowanceMs) continue;
    const recorded = parseCopyRecord(image.tags[CopyTag.copies]).get(COPY_REGION);
    const copy = copies.find((candidate) => candidate.tags[CopyTag.sourceImage] === image.id);
    const good = copy !== undefined && copy.state === 'available' && copy.tags[InstanceTag.state] === 'succeeded';
    if (!good || recorded?.state !== 'succeeded' || recorded.imageId !== copy?.id) {
      violations.push({
        invariant: 'copy-made',
        resources: [image.id],
        message: `${image.id} (${instanceId}): its copy in ${COPY_REGION} is ${copy === undefined ? 'missing' : `${copy.id} ${copy.state}`}, recorded ${recorded === undefined ? 'nowhere' : `${recorded.state} ${recorded.imageId}`}`,
      });
    }
  }
  const used = new Set(
    after.images.filter((image) => image.state !== 'deregistered').flatMap((image) => image.snapshotIds),
  );
  const orphans = after.snapshots.filter((snapshot) => !used.has(snapshot.id)).map((snapshot) => snapshot.id);
  if (orphans.length > 0) {
    violations.push({
      invariant: 'no-orphan-snapshot',
      resources: orphans,
      message: `${COPY_REGION}: snapshots without an image`,
    });
  }
  const imagesAfter = new Map(after.images.map((image) => [image.id, image]));
  for (const image of before?.images ?? []) {
    if (isOwnCopy(image, owner) || image.state === 'deregistered') continue;
    const now = imagesAfter.get(image.id);
    if (now === undefined || now.state === 'deregistered' || JSON.stringify(now.tags) !== JSON.stringify(image.tags)) {
      violations.push({
        invariant: 'foreign-untouched',
        resources: [image.id],
        message: `${COPY_REGION}: ${image.id} touched`,
      });
    }
  }
  return violations;
}

function isQueueBatch(event: unknown): boolean {
  return typeof event === 'object' && event !== null && 'Records' in event;
}

export async function startHarness(
  fleet: readonly FleetMember[] = MIXED_FLEET,
  options: HarnessOptions = {},
): Promise<Harness> {
  const wallClock = options.virtualTimeLatencyMs === undefined ? wallClockFollowing() : undefined;
  const restoreDateHeaders = withoutDateHeaders();
  let ec2 = await startLocalEc2({ clock: SimClock.manual(EVENING), throttling: false, audit: true });
  const port = Number(new URL(ec2.url).port);
  const shareKeys = makeShareKeys(ec2);
  const client = clientFor(ec2.url, 3);
  const launched = await launchFleet(client, fleet);
  for (const member of launched) {
    if (member.autoScalingGroup !== undefined) ec2.setAutoScalingGroup(member.instanceId, member.autoScalingGroup);
  }
  ec2.clock.advance(5 * MINUTE); // launched instances reach running and pass their checks
  await makeLookAlikes(
    ec2,
    client,
    launched.filter((member) => !member.instanceStoreRoot),
  );
  await stopMembers(client, launched);
  // Faults live outside the saved state: set again on each restored endpoint.
  const injectFaults = (endpoint: LocalEc2): void => {
    for (const member of launched) {
      if (member.imagesFail) endpoint.faults.failImagesOf(member.instanceId);
      if (member.unhealthyAfterImage) endpoint.faults.unhealthyAfterImageOf(member.instanceId);
    }
  };
  injectFaults(ec2);
  ec2.clock.advance(5 * MINUTE);
  await makeCopyLookAlike(ec2);
  // Installed after the setup's own calls, before the handlers' clients are made.
  const time: VirtualTime | undefined =
    options.virtualTimeLatencyMs === undefined
      ? undefined
      : installVirtualTime(ec2.clock, options.virtualTimeLatencyMs);
  const failedInvocations: FailedInvocation[] = [];

  const loaded = await loadFunctions(SERVERLESS_FILE, {
    stage: 'dev',
    endpoint: ec2.url,
    region: REGION,
    account: LOCAL_ACCOUNT_ID,
    logLevel: 'SILENT',
    params: {
      copyAllowedRegions: COPY_REGION,
      shareKmsKey: shareKeys.shareKey,
      shareGrantKeys: shareKeys.volumeKey,
      ...options.params,
    },
  });
  // The named schedules' rules, made on the endpoint as at deploy (on), or as they were saved.
  const rules = loaded.flatMap((fn) =>
    fn.schedules.flatMap(({ ruleName, deployedDisabled }) =>
      ruleName ? [{ name: ruleName, deployedOn: deployedDisabled !== true }] : [],
    ),
  );
  const ruleNames = rules.map(({ name }) => name);
  const deployRules = (endpoint: LocalEc2, saved: Saved['rules'] = {}): void => {
    for (const { name, deployedOn } of rules)
      endpoint.eventRules.put(name, undefined, (saved[name] ?? deployedOn) ? 'ENABLED' : 'DISABLED');
  };
  deployRules(ec2);
  const config = readConfig();
  const retries = new Map(
    loadServerlessConfig(SERVERLESS_FILE, { stage: 'dev', region: REGION }).functions.map((fn) => [
      fn.name,
      fn.maximumRetryAttempts,
    ]),
  );
  const functions: LocalFunction[] = loaded.map((fn) => {
    const retried: LocalFunction['handler'] = async (event, context) => {
      // Lambda retries an asynchronous invocation; a queue's batch is received again by the simulation instead.
      const retryAttempts = isQueueBatch(event) ? 0 : (retries.get(fn.name) ?? 0);
      for (let attempt = 0; ; attempt += 1) {
        let failure: unknown;
        try {
          const result = await (time === undefined
            ? fn.handler(event, context)
            : time.drive(() => fn.handler(event, context)));
          // A cut-off invocation was killed: Lambda saw a timeout, whatever the handler made of its failed calls.
          if (!ec2.faults.cutting) return result;
          failure = new Error(`${fn.name} was killed after ${ec2.faults.cutAfterAction}`);
        } catch (error: unknown) {
          failure = error;
        } finally {
          ec2.faults.invocationEnded();
        }
        failedInvocations.push({
          functionName: fn.name,
          error: failure instanceof Error ? `${failure.name}: ${failure.message}` : String(failure),
        });
        if (attempt >= retryAttempts) throw failure;
      }
    };
    const handler: LocalFunction['handler'] = options.overlap
      ? (event, context) => Promise.all([retried(event, context), retried(event, context)])
      : retried;
    return { ...fn, handler };
  });
  const byName = new Map(functions.map((fn) => [fn.name, fn]));
  const auditMarks = new WeakMap<World, number>();
  /** The copy Region as it was when each home world was taken. */
  const copyWorlds = new WeakMap<World, World>();

  return {
    get ec2() {
      return ec2;
    },
    client,
    config,
    fleet: launched,
    failedInvocations,
    run: (until) =>
      simulate(
        {
          functions,
          clock: {
            now: () => ec2.clock.now(),
            reach: async (target) => {
              wallClock?.advance(target.getTime() - ec2.clock.nowMs());
              ec2.clock.advanceTo(target);
              time?.sync();
            },
          },
          subscribe: (listener) => ec2.events.subscribe(listener),
          region: REGION,
          account: LOCAL_ACCOUNT_ID,
          rateAnchor: EVENING,
          ruleEnabled: (name) => Promise.resolve(ec2.eventRules.isEnabled(name)),
        },
        until,
      ),
    invoke: async (name, event) => {
      const fn = byName.get(name);
      if (fn === undefined) throw new Error(`no function ${name}`);
      return fn.handler(event, lambdaContext(name, fn.timeoutSeconds, REGION, LOCAL_ACCOUNT_ID));
    },
    save: () => ({
      state: structuredClone(ec2.backend.exportState()),
      time: ec2.clock.now(),
      rules: Object.fromEntries(ruleNames.map((name) => [name, ec2.eventRules.isEnabled(name)])),
      regions: Object.fromEntries(
        ec2.regions
          .filter((region) => region !== REGION)
          .map((region) => [region, structuredClone(ec2.backendIn(region).exportState())]),
      ),
      kms: structuredClone(ec2.kms.exportState()),
    }),
    restore: async (saved) => {
      if (time !== undefined) throw new Error('a harness in virtual time cannot restore a saved state');
      await ec2.stop();
      ec2 = await startLocalEc2({
        port,
        clock: SimClock.manual(saved.time),
        throttling: false,
        audit: true,
        initialState: structuredClone(saved.state),
      });
      for (const [region, state] of Object.entries(saved.regions)) {
        ec2.backendIn(region).importState(structuredClone(state));
      }
      ec2.kms.importState(structuredClone(saved.kms));
      injectFaults(ec2);
      deployRules(ec2, saved.rules);
    },
    world: () => {
      const world = worldOf(ec2.backend, ec2.clock.nowMs());
      auditMarks.set(world, ec2.audit.length);
      copyWorlds.set(world, worldOf(ec2.backendIn(COPY_REGION), ec2.clock.nowMs()));
      return world;
    },
    check: (before, runAt) => {
      const after = worldOf(ec2.backend, ec2.clock.nowMs());
      // What happened since `before` was taken (on this endpoint: a restore starts a new log), Region by Region.
      const audit = ec2.audit.slice(auditMarks.get(before) ?? 0);
      return [
        ...checkInvariants({
          before,
          after,
          audit: audit.filter((entry) => (entry.region ?? REGION) === REGION),
          runId: formatRunId(runAt),
          failuresPublished: publishedFailures(ec2.putEvents),
          settings: config,
        }),
        ...copyViolations({
          home: after,
          before: copyWorlds.get(before),
          after: worldOf(ec2.backendIn(COPY_REGION), ec2.clock.nowMs()),
          owner: config.owner,
        }),
      ];
    },
    stop: async () => {
      wallClock?.release();
      time?.uninstall();
      restoreDateHeaders();
      await ec2.stop();
    },
  };
}
