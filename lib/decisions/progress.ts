/**
 * Moving a run forward: is the instance ready for its image, has its image become available or failed, has a step
 * lasted too long. Pure: a function of the instance, its health, the image found under the run's name, and now.
 * Used by the frequent sweep (createImages) and by the image state-change event (recordImageState).
 */
import type { Image, Instance, InstanceHealth, TagWrite } from '../model';
import { parseInstancePolicy, retentionTags } from '../policy';
import { BackupStep, ImageTag, InstanceTag, imageName, tagValue } from '../tags';

export interface ProgressSettings {
  readonly owner: string;
  readonly defaultRetain: number;
  readonly rebootGraceSeconds: number;
  readonly readyTimeoutSeconds: number;
  readonly imageTimeoutSeconds: number;
}

/** A new image is invisible to DescribeImages for a short while (eventual consistency). */
export const IMAGE_VISIBILITY_GRACE_SECONDS = 600;

export interface ImageRequest {
  readonly instanceId: string;
  readonly name: string;
  readonly description: string;
  /** Tags for the image and each of its snapshots, set by CreateImage itself. */
  readonly tags: Readonly<Record<string, string>>;
}

export type ProgressDecision =
  | { readonly kind: 'wait'; readonly instanceId: string; readonly runId: string; readonly reason: string }
  | {
      readonly kind: 'create-image';
      readonly instanceId: string;
      readonly runId: string;
      readonly request: ImageRequest;
    }
  /** The run's image exists but the instance does not say so yet (a crash after CreateImage): record it. */
  | { readonly kind: 'adopt-image'; readonly instanceId: string; readonly runId: string; readonly imageId: string }
  | { readonly kind: 'succeeded'; readonly instanceId: string; readonly runId: string; readonly image: Image }
  | {
      readonly kind: 'failed';
      readonly instanceId: string;
      readonly runId: string;
      readonly reason: string;
      readonly imageId?: string;
    };

/** A run's end: its image is good, or the run failed. */
export type RunOutcome = Extract<ProgressDecision, { kind: 'succeeded' | 'failed' }>;

export interface RunInProgress {
  readonly instance: Instance;
  /** Status checks, when they were asked for (see {@link needsHealth}). */
  readonly health?: InstanceHealth;
  /** The image carrying the run's name, if EC2 shows one. */
  readonly image?: Image;
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
export function runOf(instance: Instance): { runId: string; since: Date; step: string } | undefined {
  const runId = instance.tags[InstanceTag.run];
  const since = parseTime(instance.tags[InstanceTag.since]);
  const step = instance.tags[InstanceTag.state];
  return runId === undefined || since === undefined || step === undefined ? undefined : { runId, since, step };
}

/** Whether EC2 accepted the reboot of the instance's current run (it is recorded after RebootInstances returns). */
export function rebootConfirmed(instance: Instance, since: Date): boolean {
  const rebootedAt = parseTime(instance.tags[InstanceTag.rebootedAt]);
  return rebootedAt !== undefined && rebootedAt.getTime() >= since.getTime();
}

/** Whether the decision for this instance depends on its status checks (so the sweep asks EC2 only for these). */
export function needsHealth(instance: Instance, now: Date, settings: ProgressSettings): boolean {
  const run = runOf(instance);
  return (
    run !== undefined &&
    run.step === BackupStep.rebooting &&
    instance.state === 'running' &&
    rebootConfirmed(instance, run.since) &&
    secondsBetween(run.since, now) >= settings.rebootGraceSeconds
  );
}

/** The AMI name the instance's current run uses, if its tags can be read. */
export function runImageName(instance: Instance): string | undefined {
  const run = runOf(instance);
  return run === undefined ? undefined : imageName(instance.id, run.runId);
}

function imageRequest(instance: Instance, runId: string, settings: ProgressSettings): ImageRequest {
  const policy = parseInstancePolicy(instance.tags, settings.defaultRetain);
  return {
    instanceId: instance.id,
    name: imageName(instance.id, runId),
    description: `ami-backup of ${instance.id}, run ${runId}`,
    tags: {
      [ImageTag.managedBy]: settings.owner,
      [ImageTag.instanceId]: instance.id,
      [ImageTag.run]: runId,
      // An invalid retention is recorded as none: such images are never expired by a recorded retention.
      ...(policy.ok ? retentionTags(policy.value) : {}),
    },
  };
}

function decideWithImage(
  instance: Instance,
  run: { runId: string; since: Date; step: string },
  image: Image,
  now: Date,
  settings: ProgressSettings,
): ProgressDecision {
  const { runId } = run;
  const instanceId = instance.id;
  if (image.tags[ImageTag.managedBy] !== settings.owner) {
    return {
      kind: 'failed',
      instanceId,
      runId,
      reason: `AMI name ${image.name} is taken by ${image.id}, which this service does not manage`,
    };
  }
  switch (image.state) {
    case 'available':
      return { kind: 'succeeded', instanceId, runId, image };
    case 'pending':
    case 'transient':
      if (run.step !== BackupStep.imaging) return { kind: 'adopt-image', instanceId, runId, imageId: image.id };
      if (secondsBetween(image.createdAt, now) > settings.imageTimeoutSeconds) {
        return {
          kind: 'failed',
          instanceId,
          runId,
          imageId: image.id,
          reason: `image ${image.id} still pending after ${settings.imageTimeoutSeconds} s`,
        };
      }
      return { kind: 'wait', instanceId, runId, reason: `image ${image.id} is ${image.state}` };
    default:
      return {
        kind: 'failed',
        instanceId,
        runId,
        imageId: image.id,
        reason: `image ${image.id} is ${image.state}${image.stateReason ? `: ${image.stateReason}` : ''}`,
      };
  }
}

function decideWithoutImage(
  instance: Instance,
  run: { runId: string; since: Date; step: string },
  health: InstanceHealth | undefined,
  now: Date,
  settings: ProgressSettings,
): ProgressDecision {
  const { runId } = run;
  const instanceId = instance.id;
  const elapsed = secondsBetween(run.since, now);
  if (run.step === BackupStep.imaging) {
    const name = imageName(instanceId, runId);
    if (elapsed <= IMAGE_VISIBILITY_GRACE_SECONDS) {
      return { kind: 'wait', instanceId, runId, reason: `image ${name} is not visible yet` };
    }
    return { kind: 'failed', instanceId, runId, reason: `image ${name} no longer exists` };
  }
  if (instance.state === 'terminated' || instance.state === 'shutting-down') {
    return { kind: 'failed', instanceId, runId, reason: `instance is ${instance.state}` };
  }
  const create: ProgressDecision = {
    kind: 'create-image',
    instanceId,
    runId,
    request: imageRequest(instance, runId, settings),
  };
  // A stopped instance's disks are at rest: it is consistent whatever its step.
  if (instance.state === 'stopped') return create;
  let waiting: string;
  if (instance.state !== 'running') {
    waiting = `instance is ${instance.state}`;
  } else if (run.step === BackupStep.queued) {
    return create;
  } else if (!rebootConfirmed(instance, run.since)) {
    // The run's start died between recording the step and rebooting: its retry reboots; imaging now would not be
    // the consistent image asked for.
    waiting = 'reboot not confirmed (the run start did not finish; its retry reboots the instance)';
  } else if (elapsed < settings.rebootGraceSeconds) {
    waiting = `reboot grace period (${Math.round(elapsed)} of ${settings.rebootGraceSeconds} s)`;
  } else if (health === undefined) {
    waiting = 'status checks unknown';
  } else if (health.instanceStatus === 'ok' && health.systemStatus === 'ok') {
    return create;
  } else {
    waiting = `status checks: instance ${health.instanceStatus}, system ${health.systemStatus}`;
  }
  if (elapsed > settings.readyTimeoutSeconds) {
    return {
      kind: 'failed',
      instanceId,
      runId,
      reason: `not ready after ${settings.readyTimeoutSeconds} s: ${waiting}`,
    };
  }
  return { kind: 'wait', instanceId, runId, reason: waiting };
}

/** Decides the next move of an instance whose run is in progress. */
export function decideProgress(progress: RunInProgress, now: Date, settings: ProgressSettings): ProgressDecision {
  const { instance } = progress;
  const run = runOf(instance);
  if (run === undefined) {
    return {
      kind: 'failed',
      instanceId: instance.id,
      runId: instance.tags[InstanceTag.run] ?? 'unknown',
      reason: `unreadable step tags (${InstanceTag.run}, ${InstanceTag.since})`,
    };
  }
  return progress.image === undefined
    ? decideWithoutImage(instance, run, progress.health, now, settings)
    : decideWithImage(instance, run, progress.image, now, settings);
}

/**
 * The instance tags that record an image being made. They name no image (it is found by the run's name), so every
 * instance imaged in one pass gets the same tags, and one CreateTags call records up to 1,000 of them.
 */
export function imagingTags(now: Date): TagWrite['tags'] {
  return { [InstanceTag.state]: BackupStep.imaging, [InstanceTag.since]: now.toISOString() };
}

export type ImageOutcome =
  | { readonly kind: 'record'; readonly decision: RunOutcome }
  | { readonly kind: 'ignore'; readonly reason: string };

/**
 * The outcome an image's state change records, read from the image alone (its tags name its instance and run), so
 * that the event costs no look-up of the instance. Safe without one: while an instance waits for an image no new run
 * starts for it, and an image older than the image timeout is one its run has already given up on.
 */
export function decideImageOutcome(image: Image, now: Date, settings: ProgressSettings): ImageOutcome {
  const instanceId = image.tags[ImageTag.instanceId];
  const runId = image.tags[ImageTag.run];
  if (image.tags[ImageTag.managedBy] !== settings.owner)
    return { kind: 'ignore', reason: 'image not managed by this service' };
  if (instanceId === undefined || runId === undefined || image.name !== imageName(instanceId, runId)) {
    return { kind: 'ignore', reason: 'image tags do not name its instance and run' };
  }
  const recorded = image.tags[InstanceTag.state];
  if (recorded === BackupStep.succeeded || recorded === BackupStep.failed) {
    return { kind: 'ignore', reason: `outcome already recorded (${recorded})` };
  }
  if (secondsBetween(image.createdAt, now) > settings.imageTimeoutSeconds) {
    return { kind: 'ignore', reason: `older than the image timeout: run ${runId} has given up on it` };
  }
  if (image.state === 'available') return { kind: 'record', decision: { kind: 'succeeded', instanceId, runId, image } };
  if (image.state === 'failed' || image.state === 'error' || image.state === 'invalid') {
    const reason = `image ${image.id} is ${image.state}${image.stateReason ? `: ${image.stateReason}` : ''}`;
    return { kind: 'record', decision: { kind: 'failed', instanceId, runId, reason, imageId: image.id } };
  }
  return { kind: 'ignore', reason: `image is ${image.state}: the sweep follows it` };
}

/**
 * The tags that record a run's outcome, on the instance and on the image. A success names no image (the run names
 * it: `ami-backup-<instance>-<run>`), so every success of a run gets the same tags and one CreateTags call records up
 * to 1,000 instances and images: the night spends its per-instance calls on CreateImage and DeregisterImage alone.
 */
export function outcomeTags(decision: RunOutcome): TagWrite['tags'] {
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
