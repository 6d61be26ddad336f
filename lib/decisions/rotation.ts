/**
 * Rotation: which of the service's images expire, and which of its snapshots are orphans. Pure: a function of the
 * images and snapshots this service owns, the instances' current policies, and now.
 *
 * A good image is one recorded `succeeded`: available, and (when made with EC2's reboot) its instance came back
 * healthy. Only good images count toward retention. An available image that is not (yet) good, whose verification
 * failed or is still awaited, is kept and never pushes a good one out: it goes only once `retain` good images are
 * newer than it (and it is older than `retain-days`).
 *
 * An image is the service's own only if everything agrees: this account owns it (`OwnerId`), it carries this stage's
 * ownership tag, its name is exactly the name of its `instance-id` and `run` tags, and EC2's `SourceInstanceId` is
 * the instance its tags name. An image with the ownership tag that fails any of these is a look-alike: never
 * expired, never counted toward retention, only reported.
 *
 * What it promises: only resources carrying the ownership tag are ever listed; pending images are never listed; the
 * newest good image of an instance is always kept; nothing is expired for an instance whose retention cannot be read
 * or whose newest backup is still pending; no retention goes below the deployment's floor; at most the invocation's
 * budget of an instance's images is expired (failed images aside); while an instance is opted in, the newest of its
 * good images that passed a restore test is never expired (it may be older than all those retained).
 */
import type { Image, Snapshot, TagWrite } from '../model';
import {
  applyFloor,
  NO_FLOOR,
  type Parsed,
  parseRecordedRetention,
  type Retention,
  type RetentionFloor,
} from '../policy';
import {
  BackupStep,
  expiredOn,
  formatExpiredToday,
  ImageTag,
  InstanceTag,
  imageName,
  parseRestoreResult,
  RestoreTestTag,
  RotationTag,
  utcDay,
} from '../tags';

const DAY_MS = 86_400_000;

/** An orphan snapshot must be at least this old, so a brand-new image not yet visible never loses its snapshot. */
export const ORPHAN_MIN_AGE_SECONDS = 3600;

export type RotationPolicy =
  /** The instance exists and is opted in: its current tags rule (invalid tags hold all of its images). */
  | { readonly source: 'instance'; readonly retention: Parsed<Retention> }
  /** The instance is gone or opted out: the retention recorded on its newest image rules. */
  | { readonly source: 'recorded' };

export interface Expiry {
  readonly imageId: string;
  readonly instanceId: string;
  readonly reason: string;
  readonly snapshotIds: readonly string[];
}

export interface InstanceRotation {
  readonly instanceId: string;
  readonly kept: readonly string[];
  readonly expired: readonly Expiry[];
  /** Images due to expire but kept for a later night: the day's cap for the instance is spent. */
  readonly postponed?: readonly string[];
  /**
   * The day's expiry count to write on the instance's newest good image before any of its good images is
   * deregistered (write-ahead: a crash after it spends the cap without expiring, never the reverse).
   */
  readonly count?: TagWrite;
  readonly hold?: string;
}

/** An image carrying this stage's ownership tag that is not the service's own (see {@link lookAlikeReasons}). */
export interface LookAlike {
  readonly imageId: string;
  /** The instance its tags claim, if any. */
  readonly instanceId?: string;
  readonly reasons: readonly string[];
}

export interface RotationPlan {
  readonly instances: readonly InstanceRotation[];
  readonly expired: readonly Expiry[];
  readonly orphanSnapshotIds: readonly string[];
  readonly lookAlikes: readonly LookAlike[];
}

/** Who the service is: the stage's ownership tag value and the account the function runs in. */
export interface Ours {
  readonly owner: string;
  readonly accountId: string;
}

export interface RotationLimits {
  /** The deployment's floor under every retention (default: none beyond keeping one). */
  readonly floor?: RetentionFloor;
  /**
   * At most `perDay` of one instance's images expire on a UTC day, failed ones aside, counted on its newest good
   * image ({@link RotationTag.expiredToday}) across invocations (default: no cap).
   */
  readonly cap?: { readonly perDay: number };
}

/**
 * Why an image carrying the ownership tag was not made by this service, as far as the image itself tells; empty if
 * nothing does: the account owning it, the ownership tag, and the name the service gave it (from its instance and run
 * tags). Its provenance (the instance, or the image it was copied from) is checked by the caller.
 */
export function ownershipReasons(image: Image, ours: Ours): string[] {
  const reasons: string[] = [];
  if (image.ownerId === undefined || image.ownerId !== ours.accountId) {
    reasons.push(`owned by account ${image.ownerId ?? '(not given)'}, not ${ours.accountId || '(unknown)'}`);
  }
  if (image.tags[ImageTag.managedBy] !== ours.owner) reasons.push(`not tagged ${ImageTag.managedBy}=${ours.owner}`);
  const instanceId = image.tags[ImageTag.instanceId];
  const run = image.tags[ImageTag.run];
  if (instanceId === undefined) reasons.push(`no ${ImageTag.instanceId} tag`);
  if (run === undefined) reasons.push(`no ${ImageTag.run} tag`);
  if (instanceId !== undefined && run !== undefined && image.name !== imageName(instanceId, run)) {
    reasons.push(`named ${JSON.stringify(image.name)}, not ${JSON.stringify(imageName(instanceId, run))}`);
  }
  return reasons;
}

/**
 * Why an image carrying the ownership tag is not the service's own; empty if it is. Everything must agree: the
 * account owning it, the ownership tag, the name CreateImage was given (from its instance and run tags), and the
 * instance EC2 made it from.
 */
export function lookAlikeReasons(image: Image, ours: Ours): string[] {
  const reasons = ownershipReasons(image, ours);
  const instanceId = image.tags[ImageTag.instanceId];
  if (instanceId !== undefined && image.sourceInstanceId !== instanceId) {
    reasons.push(`made from ${image.sourceInstanceId ?? 'no instance'}, not ${instanceId}`);
  }
  return reasons;
}

/** True for an invocation in the first hour of a night's rotation: the one that reports look-alikes. */
export function isFirstOfNight(now: Date, rotateHours: readonly number[]): boolean {
  return nightSlot(now, rotateHours)?.index === 0;
}

/** Which hour of its night an invocation's time is (`index` of `length`), if the schedule fires in that hour. */
function nightSlot(now: Date, rotateHours: readonly number[]): { index: number; length: number } | undefined {
  const hours = new Set(rotateHours);
  const hour = now.getUTCHours();
  if (!hours.has(hour)) return undefined;
  if (hours.size === 24) return { index: hour, length: 24 };
  let first = hour;
  while (hours.has((first + 23) % 24)) first = (first + 23) % 24;
  let length = 0;
  while (hours.has((first + length) % 24)) length += 1;
  return { index: (hour - first + 24) % 24, length };
}

/** A good backup: available, and recorded `succeeded` (its instance was back healthy if it was rebooted for it). */
export function isGood(image: Image): boolean {
  return image.state === 'available' && image.tags[InstanceTag.state] === BackupStep.succeeded;
}

/** Whether the image's last restore test passed. */
export function passedRestoreTest(image: Image): boolean {
  return parseRestoreResult(image.tags[RestoreTestTag.result])?.passed === true;
}

function newestFirst(a: Image, b: Image): number {
  return b.createdAt.getTime() - a.createdAt.getTime() || b.id.localeCompare(a.id);
}

function rotateInstance(
  instanceId: string,
  images: readonly Image[],
  policy: RotationPolicy,
  now: Date,
  limits: RotationLimits,
): InstanceRotation {
  const sorted = [...images].sort(newestFirst);
  const available = sorted.filter((image) => image.state === 'available');
  const good = available.filter(isGood);
  // Failed images are not backups: they go whatever the retention, so their snapshots do not linger (unless rotation
  // is held, which expires nothing).
  const failed: Expiry[] = sorted
    .filter((image) => image.state === 'failed' || image.state === 'error' || image.state === 'invalid')
    .map((image) => ({
      imageId: image.id,
      instanceId,
      reason: `image ${image.state}`,
      snapshotIds: image.snapshotIds,
    }));
  const hold = (reason: string): InstanceRotation => ({
    instanceId,
    kept: available.map((image) => image.id),
    expired: [],
    hold: reason,
  });

  const newest = sorted.find(
    (image) => image.state !== 'failed' && image.state !== 'error' && image.state !== 'invalid',
  );
  if (newest !== undefined && newest.state !== 'available') {
    return hold(`newest backup ${newest.id} is ${newest.state}`);
  }
  let retention: Parsed<Retention>;
  if (policy.source === 'instance') {
    retention = policy.retention;
  } else {
    const recorded = good[0];
    // No good image left: failed images go without needing a retention; unverified ones stay (they may be all
    // there is).
    if (recorded === undefined) return { instanceId, kept: available.map((image) => image.id), expired: failed };
    retention = parseRecordedRetention(recorded.tags);
  }
  if (!retention.ok) return hold(`retention unreadable: ${retention.problems.join('; ')}`);

  const { retain, retainDays } = applyFloor(retention.value, limits.floor ?? NO_FLOOR);
  const youngSince = retainDays === undefined ? undefined : now.getTime() - retainDays * DAY_MS;
  // The newest good image known to restore is kept while the instance is opted in, beyond its retention if need be.
  const restorable = policy.source === 'instance' ? good.find(passedRestoreTest)?.id : undefined;
  const kept: string[] = [];
  const expired: Expiry[] = [...failed];
  const olderThan = retainDays === undefined ? '' : ` and older than ${retainDays} days`;
  let goodNewer = 0;
  for (const image of available) {
    const young = youngSince !== undefined && image.createdAt.getTime() > youngSince;
    const verified = isGood(image);
    // A good image counts itself; an unverified one only sees the good ones newer than it.
    if (young || goodNewer < retain || image.id === restorable) {
      kept.push(image.id);
    } else {
      const why = verified
        ? `beyond the newest ${retain}${olderThan}`
        : `not a good backup (${image.tags[InstanceTag.lastError] ?? 'unverified'}), and ${retain} good ones are newer${olderThan}`;
      expired.push({ imageId: image.id, instanceId, reason: why, snapshotIds: image.snapshotIds });
    }
    if (verified) goodNewer += 1;
  }
  // The cap: the oldest due images go first; the others wait for a later day (failed images are not backups and
  // never count against it). The day's count is on the newest good image, which is always kept.
  const due = expired.slice(failed.length);
  const counted = good[0];
  if (limits.cap === undefined || due.length === 0 || counted === undefined) return { instanceId, kept, expired };
  const day = utcDay(now);
  const spent = expiredOn(counted.tags[RotationTag.expiredToday], day) ?? limits.cap.perDay;
  const budget = Math.max(0, limits.cap.perDay - spent);
  const going = due.slice(Math.max(0, due.length - budget));
  const postponed = due.slice(0, due.length - going.length).map((expiry) => expiry.imageId);
  return {
    instanceId,
    kept: [...kept, ...postponed],
    expired: [...failed, ...going],
    ...(postponed.length > 0 ? { postponed } : {}),
    ...(going.length > 0
      ? {
          count: {
            resourceId: counted.id,
            tags: { [RotationTag.expiredToday]: formatExpiredToday(day, spent + going.length) },
          },
        }
      : {}),
  };
}

/** The image id a snapshot was made for, from the description CreateImage gives it. */
export function imageIdOfSnapshot(snapshot: Snapshot): string | undefined {
  return /^Created by CreateImage\([^)]*\) for (ami-[0-9a-f]+)/.exec(snapshot.description)?.[1];
}

/**
 * Plans a rotation. `images` must be every image carrying this stage's ownership tag (checked again for it; it may
 * also hold other images, such as those the snapshots' descriptions name), `snapshots` every snapshot carrying it
 * that may be an orphan (at least those no image in `images` uses, naming an image not in it: the others never are),
 * `policies` the rotation policy of each instance id found on the images. `provenance` says why an image is not the
 * service's own (copies in another Region are checked as copies, see `copyLookAlikeReasons`).
 */
export function planRotation(
  images: readonly Image[],
  snapshots: readonly Snapshot[],
  policies: ReadonlyMap<string, RotationPolicy>,
  ours: Ours,
  now: Date,
  limits: RotationLimits = {},
  provenance: (image: Image, ours: Ours) => string[] = lookAlikeReasons,
): RotationPlan {
  const { owner } = ours;
  const byInstance = new Map<string, Image[]>();
  const lookAlikes: LookAlike[] = [];
  for (const image of images) {
    if (image.tags[ImageTag.managedBy] !== owner) continue;
    const instanceId = image.tags[ImageTag.instanceId];
    const reasons = provenance(image, ours);
    if (reasons.length > 0) {
      if (image.state !== 'deregistered') {
        lookAlikes.push({ imageId: image.id, ...(instanceId === undefined ? {} : { instanceId }), reasons });
      }
      continue;
    }
    if (instanceId === undefined) continue; // unreachable: an image without it is a look-alike
    byInstance.set(instanceId, [...(byInstance.get(instanceId) ?? []), image]);
  }
  lookAlikes.sort((a, b) => a.imageId.localeCompare(b.imageId));
  const instances = [...byInstance.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([instanceId, instanceImages]) =>
      rotateInstance(instanceId, instanceImages, policies.get(instanceId) ?? { source: 'recorded' }, now, limits),
    );

  // Snapshots of images that still exist (listed by EC2, in any state, with any tags) are never orphans: among them
  // are those of look-alikes, and those claiming an instance their image does not. An orphan names the image it was
  // made for (CreateImage's description) and the instance (its own tags), and that image is gone.
  const liveImageIds = new Set(images.map((image) => image.id));
  const usedSnapshotIds = new Set(images.flatMap((image) => image.snapshotIds));
  const orphanSnapshotIds = snapshots
    .filter((snapshot) => {
      if (snapshot.tags[ImageTag.managedBy] !== owner || snapshot.tags[ImageTag.instanceId] === undefined) return false;
      if (snapshot.state === 'pending' || usedSnapshotIds.has(snapshot.id)) return false;
      const imageId = imageIdOfSnapshot(snapshot);
      if (imageId === undefined || liveImageIds.has(imageId)) return false;
      return now.getTime() - snapshot.startedAt.getTime() >= ORPHAN_MIN_AGE_SECONDS * 1000;
    })
    .map((snapshot) => snapshot.id);

  return { instances, expired: instances.flatMap((rotation) => rotation.expired), orphanSnapshotIds, lookAlikes };
}
