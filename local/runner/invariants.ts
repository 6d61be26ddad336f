/**
 * The service's promises as code, checked over what the local EC2 endpoint holds after a night:
 * 1. every opted-in instance that could be backed up has a good image from the last run, or that run's failure recorded
 *    (on the instance; or, when the instance has no room left for the service's tags, in a published `Backup Failed`);
 * 2. no good backup is lost: an instance's newest good image is never deregistered, and at least
 *    min(retain, good images made) are kept;
 * 3. no snapshot of the service is orphaned (one younger than the rotation's orphan age may be: rotation leaves those);
 * 4. nothing without the ownership tag is deregistered, deleted or retagged, and no instance that is not opted in is
 *    rebooted or tagged;
 * 5. no instance stays in a step (`queued`, `imaging`) longer than its timeout allows;
 * 6. images are made as the instance's mode asks: no running instance in reboot mode is imaged with `NoReboot=true`
 *    (crash-consistent where a consistent image was promised), and RebootInstances is never called (EC2's reboot for
 *    the image is the only one);
 * 7. never more than `maxDownPerGroup` members of a group down for images' reboots at once, and never more than
 *    `maxConcurrentReboots` instances fleet-wide, as the endpoint's timeline shows them (from the OS shutdown to the
 *    status checks `ok`; one that never comes back counts until the service gives up on it, its ready timeout);
 * 8. no restore-test instance (the ownership tag and the test-instance tag) outlives its test: none is left pending,
 *    running, stopping or stopped longer after its launch than the restore-test timeout, plus the time for a checking
 *    pass to notice; after a run has converged, none is left at all.
 * 9. nothing is shared with an account its instance does not name: every image and snapshot of the account that
 *    another account may launch or restore belongs (its `ami-backup:instance-id`) to an opted-in instance whose share
 *    policy (`ami-backup:share-with`, else the deployment's `shareAccounts`) names that account, or whose share tag
 *    cannot be read (its sharing is held as it was);
 * 10. nothing is made public: no image or snapshot that was not public before is public after.
 * The service's own images are those of this account with its ownership tag, named from their instance and run tags,
 * and made by EC2 from that instance; any other image carrying the tag is a look-alike: foreign (4), never counted as
 * a backup (1, 2), and neither it nor its snapshots are ever deleted.
 * A backup is good once recorded `succeeded` on its image: available, and (made with a reboot) its instance back
 * healthy. Each violation names the exact resources that break it. Pure: a function of two views of the world and the
 * audit log of what happened between them.
 */
import type { Config } from '../../lib/config';
import { ORPHAN_MIN_AGE_SECONDS } from '../../lib/decisions/rotation';
import { REENCRYPTED_SUFFIX } from '../../lib/decisions/sharing';
import { isOptedIn, parseMode, parseRecordedRetention, parseRetention, parseSharePolicy } from '../../lib/policy';
import {
  BackupMode,
  BackupStep,
  ImageTag,
  IN_PROGRESS_STEPS,
  InstanceTag,
  imageName,
  OperatorTag,
  parseRunId,
  RestoreTestTag,
  ShareTag,
  type Tags,
} from '../../lib/tags';
import type { AuditEntry, Ec2Backend, PutEventsEntry } from '../ec2';
import { groupOf, imageReboots, peak, peaksByGroup } from './downtime';

export interface WorldInstance {
  readonly id: string;
  readonly state: string;
  readonly tags: Tags;
}

export interface WorldImage {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly creationDate: number;
  readonly tags: Tags;
  readonly snapshotIds: readonly string[];
  /** Another account that owns the image and shares it; absent for the account's own images. */
  readonly ownerId?: string;
  /** The instance EC2 made it from (CreateImage); absent otherwise. */
  readonly sourceInstanceId?: string;
  /** The other accounts it is shared with (launch permissions); absent: none. */
  readonly launchUserIds?: readonly string[];
  /** Launchable by everyone (`Group=all`). */
  readonly launchPublic?: boolean;
}

export interface WorldSnapshot {
  readonly id: string;
  readonly startTime: number;
  readonly tags: Tags;
  /** The other accounts that may create volumes from it; absent: none. */
  readonly createVolumeUserIds?: readonly string[];
  /** Restorable by everyone (`Group=all`). */
  readonly createVolumePublic?: boolean;
}

/** What EC2 holds at one moment (times in epoch ms). */
export interface World {
  /** The account it is of; absent: unknown (an instance naming it is then not told apart). */
  readonly account?: string;
  readonly now: number;
  readonly instances: readonly WorldInstance[];
  /** Deregistered images still listed are included, with that state. */
  readonly images: readonly WorldImage[];
  readonly snapshots: readonly WorldSnapshot[];
}

export interface PublishedFailure {
  readonly instanceId: string;
  readonly runId: string;
}

/** EC2 allows 50 user tags per resource; the service keeps its state in {@link InstanceTag}'s keys. */
const MAX_USER_TAGS = 50;

/** The `Backup Failed` events among the entries the endpoint's EventBridge stand-in received. */
export function publishedFailures(entries: readonly PutEventsEntry[]): PublishedFailure[] {
  return entries.flatMap((entry) => {
    if (entry.DetailType !== 'Backup Failed' || entry.Detail === undefined) return [];
    const detail: unknown = JSON.parse(entry.Detail);
    if (typeof detail !== 'object' || detail === null) return [];
    const { instanceId, runId } = detail as Record<string, unknown>;
    return typeof instanceId === 'string' && typeof runId === 'string' ? [{ instanceId, runId }] : [];
  });
}

function roomForServiceTags(tags: Tags): boolean {
  const keys = new Set([...Object.keys(tags).filter((key) => !key.startsWith('aws:')), ...Object.values(InstanceTag)]);
  return keys.size <= MAX_USER_TAGS;
}

export type InvariantSettings = Pick<
  Config,
  | 'owner'
  | 'optIn'
  | 'defaultRetain'
  | 'readyTimeoutSeconds'
  | 'imageTimeoutSeconds'
  | 'rebootWindowMinutes'
  | 'maxDownPerGroup'
  | 'maxConcurrentReboots'
> &
  /**
   * The restore tests' timeout (default 20 minutes, the deployment's), and the accounts backups are shared with by
   * default (the deployment's `shareAccounts`; none when absent).
   */
  Partial<Pick<Config, 'restoreTests' | 'shares'>>;

export type InvariantName =
  | 'backup-or-failure'
  | 'good-backup-kept'
  | 'no-orphan-snapshot'
  | 'foreign-untouched'
  | 'not-stuck'
  | 'imaged-as-its-mode-asks'
  | 'no-reboot-call'
  | 'group-limit'
  | 'fleet-limit'
  | 'test-instance-ended'
  | 'copied-once'
  | 'copy-made'
  | 'shared-as-named'
  | 'nothing-public';

export interface Violation {
  readonly invariant: InvariantName;
  /** The resources that break it. */
  readonly resources: readonly string[];
  readonly message: string;
}

export interface InvariantInput {
  /** The world when the audit log started (before the night). */
  readonly before: World;
  readonly after: World;
  /** What happened in between, in order. */
  readonly audit: readonly AuditEntry[];
  /** The run the last night's reboot started (its run id), whose outcome (1) asks for. */
  readonly runId: string;
  /** The `Backup Failed` events the service published (see {@link publishedFailures}). */
  readonly failuresPublished: readonly PublishedFailure[];
  readonly settings: InvariantSettings;
}

/** How long after a step's timeout the sweep that records it may come (createImages runs every minute). */
export const SWEEP_ALLOWANCE_SECONDS = 600;

const record = (tags: ReadonlyMap<string, string>): Tags => Object.fromEntries(tags);

/** The endpoint's state now, as plain data. */
export function worldOf(backend: Ec2Backend, now: number): World {
  return {
    account: backend.account,
    now,
    instances: [...backend.instances.values()].map((instance) => ({
      id: instance.id,
      state: instance.state,
      tags: record(instance.tags),
    })),
    images: [...backend.images.values()].map((image) => ({
      id: image.id,
      name: image.name,
      state: image.state,
      creationDate: image.creationDate,
      tags: record(image.tags),
      snapshotIds: image.devices.map((device) => device.snapshotId),
      ...(image.ownerId === undefined ? {} : { ownerId: image.ownerId }),
      ...(image.sourceInstanceId === undefined ? {} : { sourceInstanceId: image.sourceInstanceId }),
      ...(image.launchUserIds === undefined ? {} : { launchUserIds: [...image.launchUserIds] }),
      ...(image.launchPublic === true ? { launchPublic: true } : {}),
    })),
    snapshots: [...backend.snapshots.values()].map((snapshot) => ({
      id: snapshot.id,
      startTime: snapshot.startTime,
      tags: record(snapshot.tags),
      ...(snapshot.createVolumeUserIds === undefined ? {} : { createVolumeUserIds: [...snapshot.createVolumeUserIds] }),
      ...(snapshot.createVolumePublic === true ? { createVolumePublic: true } : {}),
    })),
  };
}

/**
 * The service's own image: this account's, with its ownership tag, its deterministic name and its source instance; or
 * one of its copies re-encrypted for sharing (`ami-backup:reencrypted-from`), named after its source with the suffix.
 */
export function isOwnImage(image: WorldImage, owner: string): boolean {
  const instanceId = image.tags[ImageTag.instanceId];
  const run = image.tags[ImageTag.run];
  if (image.ownerId !== undefined || image.tags[ImageTag.managedBy] !== owner) return false;
  if (instanceId === undefined || run === undefined) return false;
  if (image.tags[ShareTag.reencryptedFrom] !== undefined) {
    return image.name === `${imageName(instanceId, run)}${REENCRYPTED_SUFFIX}`;
  }
  return image.name === imageName(instanceId, run) && image.sourceInstanceId === instanceId;
}

/**
 * The ids of the service's own images, as far as the two views and the log tell: those seen in either view must pass
 * {@link isOwnImage}; one seen only in the log (made and gone between the views) must have been made from the
 * instance its tags name.
 */
function ownImageIds({ before, after, audit, settings }: InvariantInput): Set<string> {
  const own = new Set<string>();
  const seen = new Set<string>();
  for (const image of [...before.images, ...after.images]) {
    seen.add(image.id);
    if (isOwnImage(image, settings.owner)) own.add(image.id);
  }
  for (const entry of audit) {
    if (entry.kind !== 'image-created' || seen.has(entry.id)) continue;
    const tags = record(entry.tags);
    if (tags[ImageTag.managedBy] === settings.owner && tags[ImageTag.instanceId] === entry.instanceId)
      own.add(entry.id);
  }
  return own;
}

/** A good backup: available, and its outcome recorded `succeeded` on it (back healthy, if rebooted for it). */
const isGood = (image: { readonly state: string; readonly tags: Tags }): boolean =>
  image.state === 'available' && image.tags[InstanceTag.state] === BackupStep.succeeded;

const sameTags = (a: Tags, b: Tags): boolean =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([key, value]) => b[key] === value);

/** (1) A good image of the run, or the run's failure recorded, on every opted-in instance that could be imaged. */
function backupOrFailure({ after, runId, settings, failuresPublished }: InvariantInput): Violation[] {
  return after.instances.flatMap((instance) => {
    if (!isOptedIn(instance.tags, settings.optIn)) return [];
    if (instance.state !== 'running' && instance.state !== 'stopped') return [];
    const name = imageName(instance.id, runId);
    const good = after.images.some(
      (image) => image.name === name && isGood(image) && isOwnImage(image, settings.owner),
    );
    const failed =
      (instance.tags[InstanceTag.state] === BackupStep.failed &&
        (instance.tags[InstanceTag.lastError] ?? '').startsWith(`${runId}: `)) ||
      (!roomForServiceTags(instance.tags) &&
        failuresPublished.some((failure) => failure.instanceId === instance.id && failure.runId === runId));
    if (good || failed) return [];
    return [
      {
        invariant: 'backup-or-failure',
        resources: [instance.id],
        message: `${instance.id}: no good image of run ${runId} and no failure of it recorded (state ${instance.tags[InstanceTag.state] ?? '-'}, run ${instance.tags[InstanceTag.run] ?? '-'})`,
      },
    ];
  });
}

interface GoodImage {
  readonly id: string;
  readonly creationDate: number;
}

const newer = (a: GoodImage, b: GoodImage): boolean =>
  a.creationDate > b.creationDate || (a.creationDate === b.creationDate && a.id > b.id);

/** The retention an instance's images are kept by: its tags, else the newest image's record; unreadable keeps all. */
function retainOf(instanceId: string, input: InvariantInput, newestTags: Tags | undefined): number {
  const { settings } = input;
  const instance = input.after.instances.find((candidate) => candidate.id === instanceId);
  const retention =
    instance !== undefined && isOptedIn(instance.tags, settings.optIn)
      ? parseRetention(instance.tags, OperatorTag, settings.defaultRetain)
      : newestTags === undefined
        ? undefined
        : parseRecordedRetention(newestTags);
  return retention?.ok ? retention.value.retain : Number.POSITIVE_INFINITY;
}

/** (2) The newest good image of an instance is never deregistered; at least min(retain, good images made) are kept. */
function goodBackupKept(input: InvariantInput): Violation[] {
  const { before, after, audit, settings } = input;
  const own = ownImageIds(input);
  const owned = (tags: Tags, id: string): string | undefined =>
    tags[ImageTag.managedBy] === settings.owner && own.has(id) ? tags[ImageTag.instanceId] : undefined;
  const violations: Violation[] = [];
  // Good images: recorded `succeeded` before the night, when deregistered, or now (an image is recorded good after it
  // becomes available, once its instance is back healthy; one never recorded so is no backup).
  const verified = new Set<string>();
  for (const image of [...before.images, ...after.images]) if (isGood(image)) verified.add(image.id);
  for (const entry of audit) {
    if (entry.kind === 'image-deregistered' && isGood({ state: 'available', tags: record(entry.tags) })) {
      verified.add(entry.id);
    }
  }
  // Good images of each instance, replayed through the log.
  const goodNow = new Map<string, Map<string, GoodImage>>();
  const made = new Map<string, Set<string>>();
  const add = (instanceId: string, image: GoodImage): void => {
    const images = goodNow.get(instanceId) ?? new Map<string, GoodImage>();
    images.set(image.id, image);
    goodNow.set(instanceId, images);
    made.set(instanceId, (made.get(instanceId) ?? new Set()).add(image.id));
  };
  for (const image of before.images) {
    const instanceId = owned(image.tags, image.id);
    if (instanceId !== undefined && isGood(image)) add(instanceId, image);
  }
  for (const entry of audit) {
    const instanceId = owned(record(entry.tags), entry.id);
    if (instanceId === undefined || entry.creationDate === undefined || !verified.has(entry.id)) continue;
    const image = { id: entry.id, creationDate: entry.creationDate };
    if (entry.kind === 'image-available') add(instanceId, image);
    if (entry.kind !== 'image-deregistered' || entry.previousState !== 'available') continue;
    const good = goodNow.get(instanceId) ?? new Map<string, GoodImage>();
    const newest = [...good.values()].every((other) => other.id === image.id || newer(image, other));
    if (newest) {
      violations.push({
        invariant: 'good-backup-kept',
        resources: [entry.id, instanceId],
        message: `${entry.id} was deregistered at ${new Date(entry.at).toISOString()} while it was the newest good image of ${instanceId}`,
      });
    }
    good.delete(image.id);
  }
  for (const image of after.images) {
    const instanceId = owned(image.tags, image.id);
    if (instanceId !== undefined && isGood(image)) add(instanceId, image);
  }
  for (const [instanceId, images] of made) {
    const kept = after.images
      .filter((image) => owned(image.tags, image.id) === instanceId && isGood(image))
      .sort((a, b) => b.creationDate - a.creationDate);
    const retain = retainOf(instanceId, input, kept[0]?.tags);
    const wanted = Math.min(retain, images.size);
    if (kept.length < wanted) {
      violations.push({
        invariant: 'good-backup-kept',
        resources: [instanceId, ...[...images].filter((id) => !kept.some((image) => image.id === id))],
        message: `${instanceId}: ${kept.length} good images kept of ${images.size} made; retention ${retain} asks for ${wanted}`,
      });
    }
  }
  return violations;
}

/** (3) Every snapshot of the service belongs to an image that exists, unless it is younger than the orphan age. */
function noOrphanSnapshot({ after, settings }: InvariantInput): Violation[] {
  const used = new Set(
    after.images.filter((image) => image.state !== 'deregistered').flatMap((image) => image.snapshotIds),
  );
  const orphans = after.snapshots.filter(
    (snapshot) =>
      snapshot.tags[ImageTag.managedBy] === settings.owner &&
      !used.has(snapshot.id) &&
      after.now - snapshot.startTime >= ORPHAN_MIN_AGE_SECONDS * 1000,
  );
  return orphans.map((snapshot) => ({
    invariant: 'no-orphan-snapshot',
    resources: [snapshot.id],
    message: `${snapshot.id} (of ${snapshot.tags[ImageTag.instanceId] ?? '?'}) belongs to no image`,
  }));
}

/**
 * (4) Nothing without the ownership tag deregistered, deleted or retagged; no look-alike (an image with the tag that
 * is not the service's own) or snapshot of one deleted or retagged; no instance not opted in touched.
 */
function foreignUntouched(input: InvariantInput): Violation[] {
  const { before, after, audit, settings } = input;
  const own = ownImageIds(input);
  const lookAlikeSnapshots = new Set(
    before.images
      .filter((image) => image.tags[ImageTag.managedBy] === settings.owner && !own.has(image.id))
      .flatMap((image) => image.snapshotIds),
  );
  const violations: Violation[] = [];
  const violation = (resource: string, message: string): void => {
    violations.push({ invariant: 'foreign-untouched', resources: [resource], message: `${resource}: ${message}` });
  };
  for (const entry of audit) {
    const tags = record(entry.tags);
    const ours = tags[ImageTag.managedBy] === settings.owner;
    if (entry.kind === 'image-deregistered' && !ours) violation(entry.id, 'deregistered without the ownership tag');
    if (entry.kind === 'snapshot-deleted' && !ours) violation(entry.id, 'deleted without the ownership tag');
    if (entry.kind === 'snapshot-deleted' && lookAlikeSnapshots.has(entry.id)) {
      violation(entry.id, 'deleted, a snapshot of a look-alike image');
    }
    if (entry.kind === 'instance-rebooted' && !isOptedIn(tags, settings.optIn))
      violation(entry.id, 'rebooted, not opted in');
  }
  const instancesBefore = new Map(before.instances.map((instance) => [instance.id, instance]));
  for (const entry of audit) {
    if (entry.kind !== 'image-created' || entry.downAt === undefined || entry.instanceId === undefined) continue;
    const source = instancesBefore.get(entry.instanceId);
    if (source !== undefined && !isOptedIn(source.tags, settings.optIn)) {
      violation(entry.instanceId, `rebooted for image ${entry.id}, not opted in`);
    }
  }
  const imagesAfter = new Map(after.images.map((image) => [image.id, image]));
  for (const image of before.images) {
    // Another account's image, or a look-alike, is foreign whatever its tags say.
    if (isOwnImage(image, settings.owner)) continue;
    const now = imagesAfter.get(image.id);
    if (now === undefined || now.state === 'deregistered') violation(image.id, 'foreign image gone');
    else if (!sameTags(image.tags, now.tags)) violation(image.id, 'foreign image retagged');
  }
  const snapshotsAfter = new Map(after.snapshots.map((snapshot) => [snapshot.id, snapshot]));
  for (const snapshot of before.snapshots) {
    if (snapshot.tags[ImageTag.managedBy] === settings.owner) continue;
    const now = snapshotsAfter.get(snapshot.id);
    if (now === undefined) violation(snapshot.id, 'foreign snapshot gone');
    else if (!sameTags(snapshot.tags, now.tags)) violation(snapshot.id, 'foreign snapshot retagged');
  }
  const instancesAfter = new Map(after.instances.map((instance) => [instance.id, instance]));
  const serviceKeys = new Set<string>(Object.values(InstanceTag));
  const operatorTags = (tags: Tags): Tags =>
    Object.fromEntries(Object.entries(tags).filter(([key]) => !serviceKeys.has(key)));
  for (const instance of before.instances) {
    const now = instancesAfter.get(instance.id);
    if (now === undefined) continue; // terminated instances vanish
    const optedIn = isOptedIn(instance.tags, settings.optIn);
    if (!sameTags(optedIn ? operatorTags(instance.tags) : instance.tags, optedIn ? operatorTags(now.tags) : now.tags)) {
      violation(instance.id, optedIn ? "operator's tags changed" : 'instance not opted in retagged');
    }
  }
  return violations;
}

/** (5) No instance in a step longer than the step's timeout, plus the time for a sweep to notice. */
function notStuck({ after, settings }: InvariantInput): Violation[] {
  return after.instances.flatMap((instance) => {
    const step = instance.tags[InstanceTag.state];
    if (!IN_PROGRESS_STEPS.some((inProgress) => inProgress === step)) return [];
    const since = Date.parse(instance.tags[InstanceTag.since] ?? '');
    // Queued from the run's start until its turn, at most the reboot window; imaging until the image is given up on.
    const timeout = step === BackupStep.imaging ? settings.imageTimeoutSeconds : settings.rebootWindowMinutes * 60;
    const seconds = (after.now - since) / 1000;
    if (Number.isFinite(seconds) && seconds <= timeout + SWEEP_ALLOWANCE_SECONDS) return [];
    return [
      {
        invariant: 'not-stuck',
        resources: [instance.id],
        message: `${instance.id}: ${step} since ${instance.tags[InstanceTag.since] ?? '?'} (timeout ${timeout} s)`,
      },
    ];
  });
}

/** Every instance either world shows, the later view first. */
function instancesById(input: InvariantInput): Map<string, WorldInstance> {
  return new Map([...input.before.instances, ...input.after.instances].map((instance) => [instance.id, instance]));
}

/**
 * (6) No running instance in reboot mode imaged by the service with `NoReboot=true` (a crash-consistent image where a
 * consistent one was promised; stopped instances are at rest, no-reboot ones ask for it), and no RebootInstances call
 * at all: the service's only reboots are EC2's own, for an image.
 */
function imagedAsItsModeAsks(input: InvariantInput): Violation[] {
  const { audit, settings } = input;
  const instances = instancesById(input);
  const violations: Violation[] = [];
  for (const entry of audit) {
    if (entry.kind === 'instance-rebooted') {
      violations.push({
        invariant: 'no-reboot-call',
        resources: [entry.id],
        message: `${entry.id}: RebootInstances at ${new Date(entry.at).toISOString()}`,
      });
      continue;
    }
    if (entry.kind !== 'image-created' || entry.instanceId === undefined) continue;
    if (record(entry.tags)[ImageTag.managedBy] !== settings.owner) continue;
    if (entry.instanceState !== 'running' || entry.noReboot !== true) continue;
    const instance = instances.get(entry.instanceId);
    const mode = instance === undefined ? undefined : parseMode(instance.tags);
    if (mode?.ok !== true || mode.value !== BackupMode.reboot) continue;
    violations.push({
      invariant: 'imaged-as-its-mode-asks',
      resources: [entry.id, entry.instanceId],
      message: `${entry.id}: image of ${entry.instanceId} (reboot mode, running) made with NoReboot=true at ${new Date(entry.at).toISOString()}`,
    });
  }
  return violations;
}

/**
 * (7) At most `maxDownPerGroup` members of a group, and `maxConcurrentReboots` instances in all, down for images'
 * reboots at one moment, on the endpoint's timeline.
 */
function withinLimits(input: InvariantInput): Violation[] {
  const { audit, settings, after } = input;
  const owned = audit.filter((entry) => record(entry.tags)[ImageTag.managedBy] === settings.owner);
  const intervals = imageReboots(owned, { end: after.now, giveUpMs: settings.readyTimeoutSeconds * 1000 });
  const groups = new Map([...instancesById(input)].map(([id, instance]) => [id, groupOf(instance.tags)]));
  const violations: Violation[] = [];
  for (const [group, groupPeak] of peaksByGroup(intervals, groups)) {
    if (groupPeak.count <= settings.maxDownPerGroup) continue;
    violations.push({
      invariant: 'group-limit',
      resources: [...groupPeak.instanceIds],
      message: `group ${group}: ${groupPeak.count} members down at once at ${new Date(groupPeak.at ?? 0).toISOString()} (maxDownPerGroup ${settings.maxDownPerGroup})`,
    });
  }
  const fleetPeak = peak(intervals);
  if (fleetPeak.count > settings.maxConcurrentReboots) {
    violations.push({
      invariant: 'fleet-limit',
      resources: [...fleetPeak.instanceIds],
      message: `${fleetPeak.count} instances down at once at ${new Date(fleetPeak.at ?? 0).toISOString()} (maxConcurrentReboots ${settings.maxConcurrentReboots})`,
    });
  }
  return violations;
}

const ENDED: ReadonlySet<string> = new Set(['shutting-down', 'terminated']);
const DEFAULT_RESTORE_TEST_TIMEOUT_MINUTES = 20;

/**
 * (8) No restore-test instance of the service still there (not shutting down or terminated) longer after its launch
 * pass (its test-instance tag: the pass's minute) than the restore-test timeout plus a checking pass's allowance.
 */
function testInstancesEnded({ after, settings }: InvariantInput): Violation[] {
  const timeoutSeconds =
    (settings.restoreTests?.timeoutMinutes ?? DEFAULT_RESTORE_TEST_TIMEOUT_MINUTES) * 60 + SWEEP_ALLOWANCE_SECONDS;
  return after.instances.flatMap((instance) => {
    const run = instance.tags[RestoreTestTag.testInstance];
    if (instance.tags[ImageTag.managedBy] !== settings.owner || run === undefined || ENDED.has(instance.state))
      return [];
    const launched = parseRunId(run)?.getTime();
    if (launched !== undefined && (after.now - launched) / 1000 <= timeoutSeconds) return [];
    return [
      {
        invariant: 'test-instance-ended',
        resources: [instance.id],
        message: `${instance.id}: restore-test instance of run ${run} still ${instance.state} (image ${instance.tags[RestoreTestTag.imageId] ?? '?'}; timeout ${timeoutSeconds} s)`,
      },
    ];
  });
}

/**
 * (9) Every image and snapshot of the account shared with another account belongs to an opted-in instance whose share
 * policy names that account, or whose share tag cannot be read (the service then holds its sharing as it is).
 */
function sharedAsNamed({ after, settings }: Pick<InvariantInput, 'after' | 'settings'>): Violation[] {
  const instances = new Map(after.instances.map((instance) => [instance.id, instance]));
  const defaults = settings.shares?.defaultAccounts ?? [];
  /** The accounts the instance names, or undefined when it may keep what it shares (its share tag is invalid). */
  const named = (instanceId: string | undefined): readonly string[] | undefined => {
    const instance = instanceId === undefined ? undefined : instances.get(instanceId);
    if (instance === undefined || !isOptedIn(instance.tags, settings.optIn)) return [];
    const policy = parseSharePolicy(instance.tags, defaults, after.account ?? '');
    return policy.ok ? policy.value.accounts : undefined;
  };
  const violations: Violation[] = [];
  const check = (kind: string, id: string, tags: Tags, accounts: readonly string[] | undefined): void => {
    if (accounts === undefined || accounts.length === 0) return;
    const instanceId = tags[ImageTag.instanceId];
    const allowed = named(instanceId);
    if (allowed === undefined) return;
    const leaked = accounts.filter((account) => !allowed.includes(account));
    if (leaked.length === 0) return;
    violations.push({
      invariant: 'shared-as-named',
      resources: [id, ...(instanceId === undefined ? [] : [instanceId])],
      message: `${kind} ${id} is shared with ${leaked.join(', ')}, which ${instanceId === undefined ? 'no instance' : `${instanceId}`} does not name (${allowed.length === 0 ? 'none named' : `it names ${allowed.join(', ')}`})`,
    });
  };
  for (const image of after.images) {
    if (image.ownerId === undefined && image.state !== 'deregistered') {
      check('image', image.id, image.tags, image.launchUserIds);
    }
  }
  for (const snapshot of after.snapshots) check('snapshot', snapshot.id, snapshot.tags, snapshot.createVolumeUserIds);
  return violations;
}

/** (10) No image or snapshot of the account public that was not public before. */
function nothingPublic({ before, after }: Pick<InvariantInput, 'before' | 'after'>): Violation[] {
  const publicBefore = new Set([
    ...before.images.filter((image) => image.launchPublic === true).map((image) => image.id),
    ...before.snapshots.filter((snapshot) => snapshot.createVolumePublic === true).map((snapshot) => snapshot.id),
  ]);
  const made = [
    ...after.images
      .filter((image) => image.ownerId === undefined && image.launchPublic === true && image.state !== 'deregistered')
      .map((image) => ({ kind: 'image', id: image.id })),
    ...after.snapshots
      .filter((snapshot) => snapshot.createVolumePublic === true)
      .map((snapshot) => ({ kind: 'snapshot', id: snapshot.id })),
  ];
  return made
    .filter(({ id }) => !publicBefore.has(id))
    .map(({ kind, id }) => ({
      invariant: 'nothing-public',
      resources: [id],
      message: `${kind} ${id} is public (${kind === 'image' ? 'launch' : 'create-volume'} permission for all)`,
    }));
}

/**
 * The sharing promises alone (9, 10): what the world after shows, against what was public before (an empty world:
 * nothing was). For a run that keeps no audit log, as the local runner's nights.
 */
export function checkSharing(
  input: Pick<InvariantInput, 'after' | 'settings'> & { readonly before?: World },
): Violation[] {
  const before = input.before ?? { now: input.after.now, instances: [], images: [], snapshots: [] };
  return [...sharedAsNamed(input), ...nothingPublic({ before, after: input.after })];
}

/** Every violation of the promises, each with the resources that break it; empty when they all hold. */
export function checkInvariants(input: InvariantInput): Violation[] {
  return [
    ...backupOrFailure(input),
    ...goodBackupKept(input),
    ...noOrphanSnapshot(input),
    ...foreignUntouched(input),
    ...notStuck(input),
    ...imagedAsItsModeAsks(input),
    ...withinLimits(input),
    ...testInstancesEnded(input),
    ...sharedAsNamed(input),
    ...nothingPublic(input),
  ];
}
