/**
 * Moving runs forward, pass after pass: which queued instances are imaged now (those imaged with a reboot in their
 * group's turn, within the fleet-wide cap and the reboot window), whether an instance came back healthy from its
 * image's reboot, whether its image became available or failed, whether a step lasted too long. Pure: a function of
 * the instances in progress, their health, the images found under their runs' names, and now. Used by the frequent
 * sweep (createImages) and by the image state-change event (recordImageState).
 *
 * Staggering needs no lock: every pass takes the same candidates in the same order (a deterministic function of the
 * tags), so two passes running at once pick the same instance, and EC2's unique image names make the second
 * CreateImage a no-op (`InvalidAMIName.Duplicate`) instead of a second reboot.
 */
import type { Image, Instance, InstanceHealth, TagWrite } from '../model';
import { isOptedIn, parseGroup, parseInstancePolicy, parseMode, retentionTags } from '../policy';
import {
  Approval,
  ApprovalTag,
  BackupMode,
  BackupStep,
  FailureKind,
  IMAGING_SINCE_STEP_SECONDS,
  ImageMode,
  type ImageOutcomeTags,
  ImageTag,
  InstanceTag,
  imageName,
  type OutcomeTags,
  parseImageMode,
  parseRunId,
  tagValue,
} from '../tags';

export interface ProgressSettings {
  readonly optIn: { readonly key: string; readonly value: string };
  readonly owner: string;
  readonly defaultRetain: number;
  readonly rebootGraceSeconds: number;
  readonly readyTimeoutSeconds: number;
  readonly imageTimeoutSeconds: number;
  readonly maxDownPerGroup: number;
  readonly maxConcurrentReboots: number;
  readonly rebootWindowMinutes: number;
}

/** A new image is invisible to DescribeImages for a short while (eventual consistency). */
export const IMAGE_VISIBILITY_GRACE_SECONDS = 600;

export interface ImageRequest {
  readonly instanceId: string;
  readonly name: string;
  readonly description: string;
  /** How the image is made: `reboot` is CreateImage with `NoReboot=false`, the others `NoReboot=true`. */
  readonly mode: ImageMode;
  /** Tags for the image and each of its snapshots, set by CreateImage itself. */
  readonly tags: Readonly<Record<string, string>>;
}

/** How an outcome is recorded, when not as usual (published, then tagged on the instance and its image). */
export interface OutcomeRecording {
  /** The image already carries this outcome, so it was published then: it is not published again. */
  readonly alreadyPublished?: true;
  /** The instance is no longer opted in, so it is not the service's to tag: the outcome goes on the image only. */
  readonly imageOnly?: true;
}

export type ProgressDecision =
  | { readonly kind: 'wait'; readonly instanceId: string; readonly runId: string; readonly reason: string }
  /** Left alone: opted out, or nothing left to record. No call is made for it. */
  | { readonly kind: 'skip'; readonly instanceId: string; readonly runId: string; readonly reason: string }
  | {
      readonly kind: 'create-image';
      readonly instanceId: string;
      readonly runId: string;
      readonly reason: string;
      readonly request: ImageRequest;
      /**
       * An image reboot's place in the pass's calls (0 first, see {@link turnOrder}); the others hold no group back
       * and have none: they go after, when the CreateImage bucket leaves room.
       */
      readonly turn?: number;
    }
  /** Back healthy from its image's reboot while the image is still pending: recorded, and its group moves on. */
  | { readonly kind: 'healthy'; readonly instanceId: string; readonly runId: string; readonly reason: string }
  | ({
      readonly kind: 'succeeded';
      readonly instanceId: string;
      readonly runId: string;
      readonly image: Image;
    } & OutcomeRecording)
  | ({
      readonly kind: 'failed';
      readonly instanceId: string;
      readonly runId: string;
      readonly reason: string;
      readonly imageId?: string;
    } & OutcomeRecording);

/** A run's end: its image is good, or the run failed. */
export type RunOutcome = Extract<ProgressDecision, { kind: 'succeeded' | 'failed' }>;

export interface RunInProgress {
  readonly instance: Instance;
  /** Status checks, when they were asked for (see {@link needsHealth}). */
  readonly health?: InstanceHealth;
  /** The image carrying the run's name, if EC2 shows one (looked up only where {@link needsImage}). */
  readonly image?: Image;
}

interface Run {
  readonly runId: string;
  readonly since: Date;
  readonly step: string;
}

function secondsBetween(from: Date, to: Date): number {
  return (to.getTime() - from.getTime()) / 1000;
}

function parseTime(raw: string | undefined): Date | undefined {
  if (raw === undefined) return undefined;
  const time = new Date(raw);
  return Number.isNaN(time.getTime()) ? undefined : time;
}

/** The run an in-progress instance is in, if its tags can be read. */
export function runOf(instance: Instance): Run | undefined {
  const runId = instance.tags[InstanceTag.run];
  const since = parseTime(instance.tags[InstanceTag.since]);
  const step = instance.tags[InstanceTag.state];
  return runId === undefined || since === undefined || step === undefined ? undefined : { runId, since, step };
}

/** When a run's image reboots stop starting: its start (from its id, else when it was queued) plus the window. */
export function windowEnd(run: Run, settings: Pick<ProgressSettings, 'rebootWindowMinutes'>): Date {
  const start = parseRunId(run.runId) ?? run.since;
  return new Date(start.getTime() + settings.rebootWindowMinutes * 60_000);
}

/** The `since` of an imaging step whose CreateImage call was made at `calledAt`: the start of its minute. */
export function imagingSince(calledAt: Date): Date {
  const step = IMAGING_SINCE_STEP_SECONDS * 1000;
  return new Date(Math.floor(calledAt.getTime() / step) * step);
}

/** Whether the instance is imaging and was seen back healthy since the step began. */
function backHealthy(instance: Instance, run: Run): boolean {
  const healthyAt = parseTime(instance.tags[InstanceTag.healthyAt]);
  return run.step === BackupStep.imaging && healthyAt !== undefined && healthyAt.getTime() >= run.since.getTime();
}

/** Whether the instance is in its image's reboot: imaged with `NoReboot=false` and not yet seen back healthy. */
export function isDown(instance: Instance): boolean {
  const run = runOf(instance);
  if (run === undefined || run.step !== BackupStep.imaging) return false;
  return parseImageMode(instance.tags[InstanceTag.imageMode]) === ImageMode.reboot && !backHealthy(instance, run);
}

/** Whether the decision for this instance depends on its status checks (so the sweep asks EC2 only for these). */
export function needsHealth(instance: Instance, now: Date, settings: ProgressSettings): boolean {
  const run = runOf(instance);
  return (
    run !== undefined &&
    isDown(instance) &&
    instance.state === 'running' &&
    secondsBetween(run.since, now) >= settings.rebootGraceSeconds
  );
}

/**
 * Whether the decision for this instance depends on its image: an instance imaging, unless it is still within its
 * reboot's grace period (its outcome waits for its health anyway). Queued instances need none: a CreateImage under
 * a name already taken by the run's image returns that image.
 */
export function needsImage(instance: Instance, now: Date, settings: ProgressSettings): boolean {
  const run = runOf(instance);
  if (run === undefined || run.step !== BackupStep.imaging) return false;
  return !isDown(instance) || secondsBetween(run.since, now) >= settings.rebootGraceSeconds;
}

/** The AMI name the instance's current run uses, if its tags can be read. */
export function runImageName(instance: Instance): string | undefined {
  const run = runOf(instance);
  return run === undefined ? undefined : imageName(instance.id, run.runId);
}

/** The group an instance's image reboots are staggered in (an unreadable group tag is a group of its own). */
function groupOf(instance: Instance): string | undefined {
  const group = parseGroup(instance.tags);
  return group.ok ? group.value : `invalid:${instance.id}`;
}

/**
 * Whether the instance's last run missed its reboot window and no success came since: the next night takes it first.
 * Run ids sort as their times do.
 */
export function missedLastWindow(instance: Instance): boolean {
  const lastError = instance.tags[InstanceTag.lastError] ?? '';
  const separator = lastError.indexOf(': ');
  if (separator < 0 || !lastError.startsWith(FailureKind.missedWindow, separator + 2)) return false;
  const lastSuccess = instance.tags[InstanceTag.lastSuccess];
  return lastSuccess === undefined || lastSuccess < lastError.slice(0, separator);
}

function imageRequest(instance: Instance, runId: string, mode: ImageMode, settings: ProgressSettings): ImageRequest {
  const policy = parseInstancePolicy(instance.tags, settings.defaultRetain);
  return {
    instanceId: instance.id,
    name: imageName(instance.id, runId),
    description: `ami-backup of ${instance.id}, run ${runId}`,
    mode,
    tags: {
      [ImageTag.managedBy]: settings.owner,
      [ImageTag.instanceId]: instance.id,
      [ImageTag.run]: runId,
      [ImageTag.imageMode]: mode,
      // An invalid retention is recorded as none: such images are never expired by a recorded retention.
      ...(policy.ok ? retentionTags(policy.value) : {}),
    },
  };
}

/** The outcome the run's image gives, once the instance no longer waits for its health; `wait` while pending. */
function decideWithImage(instance: Instance, run: Run, image: Image, now: Date, settings: ProgressSettings) {
  const { runId } = run;
  const instanceId = instance.id;
  // Found under the run's name among this account's images; it must also be this stage's, made from this instance.
  if (image.tags[ImageTag.managedBy] !== settings.owner || image.sourceInstanceId !== instanceId) {
    return {
      kind: 'failed',
      instanceId,
      runId,
      reason: `AMI name ${image.name} is taken by ${image.id}, which this service did not make from this instance`,
    } as const;
  }
  switch (image.state) {
    case 'available':
      return { kind: 'succeeded', instanceId, runId, image } as const;
    case 'pending':
    case 'transient':
      if (secondsBetween(image.createdAt, now) > settings.imageTimeoutSeconds) {
        return {
          kind: 'failed',
          instanceId,
          runId,
          imageId: image.id,
          reason: `image ${image.id} still pending after ${settings.imageTimeoutSeconds} s`,
        } as const;
      }
      return { kind: 'wait', instanceId, runId, reason: `image ${image.id} is ${image.state}` } as const;
    default:
      return {
        kind: 'failed',
        instanceId,
        runId,
        imageId: image.id,
        reason: `image ${image.id} is ${image.state}${image.stateReason ? `: ${image.stateReason}` : ''}`,
      } as const;
  }
}

/** An imaging instance: first its return from the image's reboot (if it had one), then its image. */
function decideImaging(progress: RunInProgress, run: Run, now: Date, settings: ProgressSettings): ProgressDecision {
  const { instance, image, health } = progress;
  const { runId } = run;
  const instanceId = instance.id;
  let backHealthy = false;
  if (isDown(instance)) {
    const elapsed = secondsBetween(run.since, now);
    let waiting: string;
    if (instance.state !== 'running') {
      waiting = `instance is ${instance.state}`;
    } else if (elapsed < settings.rebootGraceSeconds) {
      waiting = `in its image's reboot (grace period, ${Math.round(elapsed)} of ${settings.rebootGraceSeconds} s)`;
    } else if (health === undefined) {
      waiting = 'status checks unknown';
    } else if (health.instanceStatus === 'ok' && health.systemStatus === 'ok') {
      waiting = '';
      backHealthy = true;
    } else {
      waiting = `status checks: instance ${health.instanceStatus}, system ${health.systemStatus}`;
    }
    if (!backHealthy) {
      if (
        elapsed > settings.readyTimeoutSeconds ||
        instance.state === 'terminated' ||
        instance.state === 'shutting-down'
      ) {
        // The image is kept, but it is no good backup: nothing proves the instance it came from works.
        return {
          kind: 'failed',
          instanceId,
          runId,
          ...(image === undefined ? {} : { imageId: image.id }),
          reason: `${FailureKind.failedVerification}: not back healthy ${settings.readyTimeoutSeconds} s after its image's reboot (${waiting})`,
        };
      }
      return { kind: 'wait', instanceId, runId, reason: waiting };
    }
  }
  let outcome: ProgressDecision;
  if (image !== undefined) {
    outcome = decideWithImage(instance, run, image, now, settings);
  } else if (secondsBetween(run.since, now) <= IMAGE_VISIBILITY_GRACE_SECONDS) {
    outcome = { kind: 'wait', instanceId, runId, reason: `image ${imageName(instanceId, runId)} is not visible yet` };
  } else {
    outcome = { kind: 'failed', instanceId, runId, reason: `image ${imageName(instanceId, runId)} no longer exists` };
  }
  if (backHealthy && outcome.kind === 'wait') {
    return { kind: 'healthy', instanceId, runId, reason: `back healthy from its image's reboot; ${outcome.reason}` };
  }
  return outcome;
}

/** A queued instance that can be imaged without downtime now, cannot be imaged, or needs a turn (undefined). */
function decideQueued(
  instance: Instance,
  run: Run,
  now: Date,
  settings: ProgressSettings,
): ProgressDecision | undefined {
  const { runId } = run;
  const instanceId = instance.id;
  if (instance.state === 'terminated' || instance.state === 'shutting-down') {
    return { kind: 'failed', instanceId, runId, reason: `instance is ${instance.state}` };
  }
  if (instance.state === 'stopped') {
    return {
      kind: 'create-image',
      instanceId,
      runId,
      reason: 'stopped: imaged at rest',
      request: imageRequest(instance, runId, ImageMode.stopped, settings),
    };
  }
  const mode = parseMode(instance.tags);
  if (!mode.ok) return { kind: 'failed', instanceId, runId, reason: mode.problems.join('; ') };
  if (instance.state === 'running' && mode.value === BackupMode.noReboot) {
    return {
      kind: 'create-image',
      instanceId,
      runId,
      reason: 'no-reboot mode: crash-consistent',
      request: imageRequest(instance, runId, ImageMode.noReboot, settings),
    };
  }
  if (now.getTime() >= windowEnd(run, settings).getTime()) {
    const why =
      instance.state === 'running' ? 'its turn for an image reboot did not come' : `instance still ${instance.state}`;
    return {
      kind: 'failed',
      instanceId,
      runId,
      reason: `${FailureKind.missedWindow}: ${why} within the ${settings.rebootWindowMinutes}-minute reboot window`,
    };
  }
  if (instance.state !== 'running') {
    return { kind: 'wait', instanceId, runId, reason: `instance is ${instance.state}` };
  }
  return undefined;
}

/** The outcome tags an image carries, once its outcome is recorded. */
function recordedOutcome(image: Image | undefined): string | undefined {
  const recorded = image?.tags[InstanceTag.state];
  return recorded === BackupStep.succeeded || recorded === BackupStep.failed ? recorded : undefined;
}

/** An outcome whose image already carries it was published when it was recorded: it is not published again. */
function recordedOnce(decision: ProgressDecision, image: Image | undefined): ProgressDecision {
  if ((decision.kind !== 'succeeded' && decision.kind !== 'failed') || recordedOutcome(image) === undefined) {
    return decision;
  }
  return { ...decision, alreadyPublished: true };
}

/**
 * An instance whose opt-in tag is gone is dropped from the run: nothing is imaged or tagged on it (the service may not),
 * and the outcome of an image already under way is recorded on the image alone, once.
 */
function optedOut(progress: RunInProgress, run: Run, now: Date, settings: ProgressSettings): ProgressDecision {
  const { instance, image } = progress;
  const skip = (reason: string): ProgressDecision => ({
    kind: 'skip',
    instanceId: instance.id,
    runId: run.runId,
    reason: `opted out: ${reason}`,
  });
  if (run.step !== BackupStep.imaging) return skip('dropped from the run');
  const recorded = recordedOutcome(image);
  if (recorded !== undefined) return skip(`its image's outcome is recorded (${recorded})`);
  const decision = decideImaging(progress, run, now, settings);
  if (decision.kind === 'succeeded') return { ...decision, imageOnly: true };
  if (decision.kind === 'failed') {
    return decision.imageId === undefined ? skip(decision.reason) : { ...decision, imageOnly: true };
  }
  return decision.kind === 'wait' ? decision : skip(decision.reason);
}

/**
 * Candidates for an image reboot, in the order every pass takes them: last night's missed first; then the members of
 * the groups with the most members still to image, as each member is a turn of at least a grace period after the one
 * before: when the CreateImage bucket cannot start every group's turn at once, the longest chains go first and the
 * groups end together instead of a few finishing their turns one by one after the rest; then by id.
 */
function turnOrder(candidates: readonly Instance[]): (a: Instance, b: Instance) => number {
  const queuedByGroup = new Map<string, number>();
  for (const instance of candidates) {
    const group = groupOf(instance);
    if (group !== undefined) queuedByGroup.set(group, (queuedByGroup.get(group) ?? 0) + 1);
  }
  const chain = (instance: Instance): number => {
    const group = groupOf(instance);
    return group === undefined ? 1 : (queuedByGroup.get(group) ?? 1);
  };
  return (a, b) =>
    Number(missedLastWindow(b)) - Number(missedLastWindow(a)) ||
    chain(b) - chain(a) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Decides the next move of every instance in progress. `runs` must hold every instance in progress (so that the
 * instances down in each group are all counted), whichever of them the caller then acts on.
 */
export function decidePass(runs: readonly RunInProgress[], now: Date, settings: ProgressSettings): ProgressDecision[] {
  const decisions = new Map<string, ProgressDecision>();
  const candidates: Instance[] = [];
  for (const progress of runs) {
    const { instance } = progress;
    const run = runOf(instance);
    if (run === undefined) {
      decisions.set(instance.id, {
        kind: 'failed',
        instanceId: instance.id,
        runId: instance.tags[InstanceTag.run] ?? 'unknown',
        reason: `unreadable step tags (${InstanceTag.run}, ${InstanceTag.since})`,
      });
    } else if (!isOptedIn(instance.tags, settings.optIn)) {
      decisions.set(instance.id, optedOut(progress, run, now, settings));
    } else if (run.step === BackupStep.imaging) {
      decisions.set(instance.id, recordedOnce(decideImaging(progress, run, now, settings), progress.image));
    } else {
      const decision = decideQueued(instance, run, now, settings);
      if (decision === undefined) candidates.push(instance);
      else decisions.set(instance.id, decision);
    }
  }

  // Down: in an image's reboot, and not found back healthy (or failed) by this pass; an instance opted out meanwhile
  // too, until it is back or its ready timeout is over.
  const downByGroup = new Map<string, number>();
  let down = 0;
  for (const { instance } of runs) {
    const kind = decisions.get(instance.id)?.kind;
    if (!isDown(instance) || kind !== 'wait') continue;
    down += 1;
    const group = groupOf(instance);
    if (group !== undefined) downByGroup.set(group, (downByGroup.get(group) ?? 0) + 1);
  }
  let turn = 0;
  for (const instance of [...candidates].sort(turnOrder(candidates))) {
    const run = runOf(instance) as Run; // candidates have readable runs
    const group = groupOf(instance);
    const groupDown = group === undefined ? 0 : (downByGroup.get(group) ?? 0);
    let waiting: string | undefined;
    if (down >= settings.maxConcurrentReboots) {
      waiting = `fleet-wide cap: ${down} instances in an image's reboot (maxConcurrentReboots ${settings.maxConcurrentReboots})`;
    } else if (group !== undefined && groupDown >= settings.maxDownPerGroup) {
      waiting = `group ${group}: ${groupDown} in an image's reboot (maxDownPerGroup ${settings.maxDownPerGroup})`;
    }
    if (waiting !== undefined) {
      decisions.set(instance.id, { kind: 'wait', instanceId: instance.id, runId: run.runId, reason: waiting });
      continue;
    }
    down += 1;
    if (group !== undefined) downByGroup.set(group, groupDown + 1);
    decisions.set(instance.id, {
      kind: 'create-image',
      instanceId: instance.id,
      runId: run.runId,
      reason: group === undefined ? "EC2's reboot for the image" : `EC2's reboot for the image (group ${group})`,
      request: imageRequest(instance, run.runId, ImageMode.reboot, settings),
      turn,
    });
    turn += 1;
  }
  return runs.map(({ instance }) => decisions.get(instance.id) as ProgressDecision); // every instance was decided
}

/**
 * The instance tags that record an image being made. They name no image (it is found by the run's name) and their
 * time is the call's minute, so the instances imaged in one pass share them and one CreateTags call records many.
 */
export function imagingTags(calledAt: Date, mode: ImageMode): TagWrite['tags'] {
  return {
    [InstanceTag.state]: BackupStep.imaging,
    [InstanceTag.since]: imagingSince(calledAt).toISOString(),
    [InstanceTag.imageMode]: mode,
  };
}

/** The instance tag that records its return from its image's reboot (the same for every instance of a pass). */
export function healthyTags(now: Date): TagWrite['tags'] {
  return { [InstanceTag.healthyAt]: now.toISOString() };
}

export type ImageOutcome =
  | { readonly kind: 'record'; readonly decision: RunOutcome }
  | { readonly kind: 'ignore'; readonly reason: string };

/**
 * The outcome an image's state change records, from the image (its tags name its instance and run) and its instance
 * (undefined when gone). One made with EC2's reboot is recorded only once its instance is back healthy, else the sweep
 * records it when it finds the instance back; an instance no longer opted in gets nothing, the image records it.
 * While an instance waits for an image no new run starts for it, and an image older than the image timeout is one its
 * run has already given up on.
 */
export function decideImageOutcome(
  image: Image,
  instance: Instance | undefined,
  now: Date,
  settings: ProgressSettings,
): ImageOutcome {
  const instanceId = image.tags[ImageTag.instanceId];
  const runId = image.tags[ImageTag.run];
  if (image.tags[ImageTag.managedBy] !== settings.owner)
    return { kind: 'ignore', reason: 'image not managed by this service' };
  if (instanceId === undefined || runId === undefined || image.name !== imageName(instanceId, runId)) {
    return { kind: 'ignore', reason: 'image tags do not name its instance and run' };
  }
  if (image.sourceInstanceId !== instanceId) {
    return { kind: 'ignore', reason: `image made from ${image.sourceInstanceId ?? 'no instance'}, not ${instanceId}` };
  }
  const recorded = image.tags[InstanceTag.state];
  if (recorded === BackupStep.succeeded || recorded === BackupStep.failed) {
    return { kind: 'ignore', reason: `outcome already recorded (${recorded})` };
  }
  if (secondsBetween(image.createdAt, now) > settings.imageTimeoutSeconds) {
    return { kind: 'ignore', reason: `older than the image timeout: run ${runId} has given up on it` };
  }
  if (image.state !== 'available' && image.state !== 'failed' && image.state !== 'error' && image.state !== 'invalid') {
    return { kind: 'ignore', reason: `image is ${image.state}: the sweep follows it` };
  }
  if (image.tags[ImageTag.imageMode] === ImageMode.reboot) {
    const run = instance === undefined ? undefined : runOf(instance);
    if (instance === undefined || run?.runId !== runId || !backHealthy(instance, run)) {
      return { kind: 'ignore', reason: 'its instance is not back from the reboot yet: the sweep records it' };
    }
  }
  // An instance gone or opted out is not the service's to tag: the image alone records its outcome.
  const recording =
    instance !== undefined && isOptedIn(instance.tags, settings.optIn) ? {} : { imageOnly: true as const };
  if (image.state === 'available') {
    return { kind: 'record', decision: { kind: 'succeeded', instanceId, runId, image, ...recording } };
  }
  const reason = `image ${image.id} is ${image.state}${image.stateReason ? `: ${image.stateReason}` : ''}`;
  return { kind: 'record', decision: { kind: 'failed', instanceId, runId, reason, imageId: image.id, ...recording } };
}

/**
 * The tags that record a run's outcome, on the instance and on the image. A success names no image (the run names
 * it: `ami-backup-<instance>-<run>`), so every success of a run gets the same tags and one CreateTags call records up
 * to 1,000 instances and images: the night spends its per-instance calls on CreateImage and DeregisterImage alone.
 * On the image, `succeeded` marks a good backup (available, and its instance back healthy from a reboot).
 */
export function outcomeTags(decision: RunOutcome): OutcomeTags {
  if (decision.kind === 'succeeded') {
    return {
      [InstanceTag.state]: BackupStep.succeeded,
      [InstanceTag.lastSuccess]: decision.runId,
    };
  }
  return {
    [InstanceTag.state]: BackupStep.failed,
    [InstanceTag.lastError]: tagValue(`${decision.runId}: ${decision.reason}`),
  };
}

/**
 * The tags that record a run's outcome on its image, in the same CreateTags call: the outcome, and for a good backup
 * its approval (`ami-backup:approved=verified`), which only images carry. A failed image gets no approval.
 */
export function imageOutcomeTags(decision: RunOutcome): ImageOutcomeTags {
  const tags = outcomeTags(decision);
  return decision.kind === 'succeeded' ? { ...tags, [ApprovalTag.approved]: Approval.verified } : tags;
}
