/**
 * Rotation: which of the service's images expire, and which of its snapshots are orphans. Pure: a function of the
 * images and snapshots this service owns, the instances' current policies, and now.
 *
 * A good image is one recorded `succeeded`: available, and (when made with EC2's reboot) its instance came back
 * healthy. Only good images count toward retention. An available image that is not (yet) good, whose verification
 * failed or is still awaited, is kept and never pushes a good one out: it goes only once `retain` good images are
 * newer than it (and it is older than `retain-days`).
 *
 * What it promises: only resources carrying the ownership tag are ever listed; pending images are never listed; the
 * newest good image of an instance is always kept; nothing is expired for an instance whose retention cannot be read
 * or whose newest backup is still pending.
 */
import type { Image, Snapshot } from '../model';
import { type Parsed, parseRecordedRetention, type Retention } from '../policy';
import { BackupStep, ImageTag, InstanceTag } from '../tags';

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
  readonly hold?: string;
}

export interface RotationPlan {
  readonly instances: readonly InstanceRotation[];
  readonly expired: readonly Expiry[];
  readonly orphanSnapshotIds: readonly string[];
}

/** A good backup: available, and recorded `succeeded` (its instance was back healthy if it was rebooted for it). */
export function isGood(image: Image): boolean {
  return image.state === 'available' && image.tags[InstanceTag.state] === BackupStep.succeeded;
}

function newestFirst(a: Image, b: Image): number {
  return b.createdAt.getTime() - a.createdAt.getTime() || b.id.localeCompare(a.id);
}

function rotateInstance(
  instanceId: string,
  images: readonly Image[],
  policy: RotationPolicy,
  now: Date,
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

  const { retain, retainDays } = retention.value;
  const youngSince = retainDays === undefined ? undefined : now.getTime() - retainDays * DAY_MS;
  const kept: string[] = [];
  const expired: Expiry[] = [...failed];
  const olderThan = retainDays === undefined ? '' : ` and older than ${retainDays} days`;
  let goodNewer = 0;
  for (const image of available) {
    const young = youngSince !== undefined && image.createdAt.getTime() > youngSince;
    const verified = isGood(image);
    // A good image counts itself; an unverified one only sees the good ones newer than it.
    if (young || goodNewer < retain) {
      kept.push(image.id);
    } else {
      const why = verified
        ? `beyond the newest ${retain}${olderThan}`
        : `not a good backup (${image.tags[InstanceTag.lastError] ?? 'unverified'}), and ${retain} good ones are newer${olderThan}`;
      expired.push({ imageId: image.id, instanceId, reason: why, snapshotIds: image.snapshotIds });
    }
    if (verified) goodNewer += 1;
  }
  return { instanceId, kept, expired };
}

/** The image id a snapshot was made for, from the description CreateImage gives it. */
export function imageIdOfSnapshot(snapshot: Snapshot): string | undefined {
  return /^Created by CreateImage\([^)]*\) for (ami-[0-9a-f]+)/.exec(snapshot.description)?.[1];
}

/**
 * Plans a rotation. `images` and `snapshots` must be every image and snapshot this service owns (both lists are
 * checked again for the ownership tag), `policies` the rotation policy of each instance id found on them.
 */
export function planRotation(
  images: readonly Image[],
  snapshots: readonly Snapshot[],
  policies: ReadonlyMap<string, RotationPolicy>,
  owner: string,
  now: Date,
): RotationPlan {
  const owned = images.filter((image) => image.tags[ImageTag.managedBy] === owner);
  const byInstance = new Map<string, Image[]>();
  for (const image of owned) {
    const instanceId = image.tags[ImageTag.instanceId];
    if (instanceId === undefined) continue; // cannot know its retention: never expire it
    byInstance.set(instanceId, [...(byInstance.get(instanceId) ?? []), image]);
  }
  const instances = [...byInstance.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([instanceId, instanceImages]) =>
      rotateInstance(instanceId, instanceImages, policies.get(instanceId) ?? { source: 'recorded' }, now),
    );

  // Snapshots of images that still exist (listed by EC2, in any state) are never orphans.
  const liveImageIds = new Set(images.map((image) => image.id));
  const usedSnapshotIds = new Set(images.flatMap((image) => image.snapshotIds));
  const orphanSnapshotIds = snapshots
    .filter((snapshot) => {
      if (snapshot.tags[ImageTag.managedBy] !== owner) return false;
      if (snapshot.state === 'pending' || usedSnapshotIds.has(snapshot.id)) return false;
      const imageId = imageIdOfSnapshot(snapshot);
      if (imageId !== undefined && liveImageIds.has(imageId)) return false;
      return now.getTime() - snapshot.startedAt.getTime() >= ORPHAN_MIN_AGE_SECONDS * 1000;
    })
    .map((snapshot) => snapshot.id);

  return { instances, expired: instances.flatMap((rotation) => rotation.expired), orphanSnapshotIds };
}
