/**
 * Rotation: deregister expired images with their snapshots, and delete the service's snapshots whose image is gone.
 * Everything it touches carries the ownership tag (checked in the plan); a crash at any point leaves nothing the next
 * rotation does not finish.
 */
import { EventType, type ServiceEvent } from '../backup-events';
import {
  type Expiry,
  expireBudget,
  imageIdOfSnapshot,
  isFirstOfNight,
  planRotation,
  type RotationPolicy,
} from '../decisions/rotation';
import { errorMessage } from '../errors';
import type { Invocation } from '../input';
import { parseRetention } from '../policy';
import { ImageTag, OperatorTag } from '../tags';
import { forEachLimit, type InstanceOutcome, SAFETY_MARGIN_MS, type Summary, type UseCaseContext } from './context';

/** Deregistrations under way at once: DeregisterImage refills at about 5 a second. */
const DELETE_CONCURRENCY = 4;
/** Expiry events per PutEvents call (its limit). */
const PUBLISH_SLICE = 10;

export interface RotationOutcome extends InstanceOutcome {
  /** Good images kept. */
  readonly kept: number;
  /** Images deregistered (planned, on a dry run). */
  readonly expired: readonly string[];
  /** Snapshots deleted, with their images or as orphans. */
  readonly snapshotsDeleted: number;
}

export interface RotateSummary extends Summary {
  readonly instances: readonly RotationOutcome[];
  readonly imagesExpired: number;
  readonly snapshotsDeleted: number;
  readonly orphanSnapshots: readonly string[];
  /** Images carrying the ownership tag that are not the service's own: left alone. */
  readonly lookAlikes: readonly string[];
  readonly errors: readonly string[];
}

export async function rotate(invocation: Invocation, context: UseCaseContext): Promise<RotateSummary> {
  const { config, ec2, events, logger, remainingMs } = context;
  const wanted = invocation.instanceIds === undefined ? undefined : new Set(invocation.instanceIds);
  const inScope = (tags: Readonly<Record<string, string>>): boolean =>
    wanted === undefined || wanted.has(tags[ImageTag.instanceId] ?? '');

  const owned = await ec2.findOwnedImages(config.owner);
  const listed = new Set(owned.map((image) => image.id));
  const used = new Set(owned.flatMap((image) => image.snapshotIds));
  // Snapshots are as many as images: each is seen as its page is read, and only what rotation needs of it is kept.
  // The images our snapshots name that do not carry our tag (a look-alike's, or one whose tag was removed): a snapshot
  // of an image that still exists is never an orphan, whatever the image's tags.
  const named = new Set<string>();
  const instanceOfSnapshot = new Map<string, string>();
  // Only a snapshot that no listed image uses, naming an image not listed, may be an orphan: the others are not kept.
  const snapshots = await ec2.findOwnedSnapshots(config.owner, (snapshot) => {
    const imageId = imageIdOfSnapshot(snapshot);
    if (imageId !== undefined && !listed.has(imageId)) named.add(imageId);
    instanceOfSnapshot.set(snapshot.id, snapshot.tags[ImageTag.instanceId] ?? '');
    return imageId !== undefined && !listed.has(imageId) && !used.has(snapshot.id);
  });
  const images = named.size === 0 ? owned : [...owned, ...(await ec2.findImagesById([...named]))];
  // Policies come from opted-in instances: one paginated, tag-filtered describe (not a look-up per image's instance);
  // an instance not found there is gone or opted out, and its images keep the retention recorded on them.
  const policies = new Map<string, RotationPolicy>();
  const optedIn = await ec2.findInstances({
    tag: { key: config.optIn.key, values: [config.optIn.value] },
    ...(invocation.instanceIds === undefined ? {} : { instanceIds: invocation.instanceIds }),
  });
  for (const instance of optedIn) {
    policies.set(instance.id, {
      source: 'instance',
      retention: parseRetention(instance.tags, OperatorTag, config.defaultRetain),
    });
  }
  const plan = planRotation(
    images.filter((image) => inScope(image.tags) || !listed.has(image.id)),
    snapshots.filter((snapshot) => inScope(snapshot.tags)),
    policies,
    { owner: config.owner, accountId: context.accountId },
    invocation.now,
    {
      floor: { retain: config.minRetain, retainDays: config.minRetainDays },
      expireBudget: expireBudget(invocation.now, config.rotateHours, config.maxExpirePerRun),
    },
  );
  // Look-alikes are reported by the night's first invocation only, so at most once a night each, with no state and
  // without touching them.
  const report = !invocation.dryRun && isFirstOfNight(invocation.now, config.rotateHours);
  for (const lookAlike of plan.lookAlikes) {
    const fields = { imageId: lookAlike.imageId, instanceId: lookAlike.instanceId, reasons: lookAlike.reasons };
    if (report) logger.warn('image tagged as ours is not ours: left alone', fields);
    else logger.debug('image tagged as ours is not ours: left alone', fields);
  }
  const foreign: ServiceEvent[] = report
    ? plan.lookAlikes.map((lookAlike) => ({
        type: EventType.foreignImageTagged,
        time: invocation.now,
        detail: {
          imageId: lookAlike.imageId,
          instanceId: lookAlike.instanceId,
          reasons: lookAlike.reasons.join('; '),
        },
      }))
    : [];
  // Images outside the scope still hold their snapshots: an orphan is judged against every image.
  const liveImageIds = new Set(images.map((image) => image.id));
  const imageOfSnapshot = new Map(snapshots.map((snapshot) => [snapshot.id, imageIdOfSnapshot(snapshot)]));
  const orphanSnapshotIds = plan.orphanSnapshotIds.filter(
    (id) =>
      !liveImageIds.has(imageOfSnapshot.get(id) ?? '') && images.every((image) => !image.snapshotIds.includes(id)),
  );

  const errors: string[] = [];
  if (foreign.length > 0) {
    try {
      await events.publish(foreign);
    } catch (error: unknown) {
      errors.push(`events: ${errorMessage(error)}`);
      logger.error('publishing look-alikes failed', { error: errorMessage(error) });
    }
  }
  const snapshotsDeletedBy = new Map<string, number>();
  const expiredIds = new Set<string>(invocation.dryRun ? plan.expired.map((expiry) => expiry.imageId) : []);
  if (!invocation.dryRun) {
    const more = (): boolean => remainingMs() > SAFETY_MARGIN_MS;
    const countDeleted = (instanceId: string, count: number): void => {
      snapshotsDeletedBy.set(instanceId, (snapshotsDeletedBy.get(instanceId) ?? 0) + count);
    };
    const deleteSnapshot = async (snapshotId: string): Promise<void> => {
      try {
        if (await ec2.deleteSnapshot(snapshotId)) countDeleted(instanceOfSnapshot.get(snapshotId) ?? '', 1);
      } catch (error: unknown) {
        errors.push(`${snapshotId}: ${errorMessage(error)}`);
        logger.error('snapshot not deleted', { snapshotId, error: errorMessage(error) });
      }
    };
    await forEachLimit(orphanSnapshotIds, DELETE_CONCURRENCY, more, deleteSnapshot);
    // Expiries are published ten at a time as images go, so that the notices keep up with the work.
    const unpublished: ServiceEvent[] = [];
    const publishExpiries = async (onlyFull: boolean): Promise<void> => {
      while (unpublished.length >= (onlyFull ? PUBLISH_SLICE : 1)) {
        const slice = unpublished.splice(0, PUBLISH_SLICE);
        try {
          await events.publish(slice);
        } catch (error: unknown) {
          errors.push(`events: ${errorMessage(error)}`);
          logger.error('publishing expiries failed', { error: errorMessage(error) });
        }
      }
    };
    await forEachLimit(plan.expired, DELETE_CONCURRENCY, more, async (expiry: Expiry) => {
      try {
        const result = await ec2.deregister(expiry.imageId, expiry.snapshotIds);
        expiredIds.add(expiry.imageId);
        countDeleted(expiry.instanceId, result.snapshotsDeleted);
        // Snapshots EC2 did not delete with the image go now, if they are ours; else the next rotation finds them.
        const ours = result.snapshotsLeft.filter((id) => instanceOfSnapshot.get(id) === expiry.instanceId);
        for (const snapshotId of ours) await deleteSnapshot(snapshotId);
        logger.info('image expired', { instanceId: expiry.instanceId, imageId: expiry.imageId, reason: expiry.reason });
        unpublished.push({
          type: EventType.imageExpired,
          time: invocation.now,
          detail: { instanceId: expiry.instanceId, imageId: expiry.imageId, reason: expiry.reason },
        });
        await publishExpiries(true);
      } catch (error: unknown) {
        errors.push(`${expiry.imageId}: ${errorMessage(error)}`);
        logger.error('image not deregistered', { imageId: expiry.imageId, error: errorMessage(error) });
      }
    });
    await publishExpiries(false);
  }

  const instances: RotationOutcome[] = plan.instances.map((rotation) => ({
    instanceId: rotation.instanceId,
    action: rotation.hold === undefined ? 'rotate' : 'hold',
    ...(rotation.hold === undefined
      ? rotation.postponed === undefined
        ? {}
        : { reason: `${rotation.postponed.length} due images postponed: at most ${config.maxExpirePerRun} a night` }
      : { reason: rotation.hold }),
    kept: rotation.kept.length,
    expired: rotation.expired.map((expiry) => expiry.imageId).filter((id) => expiredIds.has(id)),
    snapshotsDeleted: snapshotsDeletedBy.get(rotation.instanceId) ?? 0,
  }));
  for (const rotation of plan.instances) {
    if (rotation.hold !== undefined)
      logger.warn('rotation held', { instanceId: rotation.instanceId, reason: rotation.hold });
  }
  return {
    function: 'rotate',
    now: invocation.now.toISOString(),
    dryRun: invocation.dryRun,
    instances,
    imagesExpired: invocation.dryRun ? 0 : expiredIds.size,
    snapshotsDeleted: [...snapshotsDeletedBy.values()].reduce((sum, count) => sum + count, 0),
    orphanSnapshots: orphanSnapshotIds,
    lookAlikes: plan.lookAlikes.map((lookAlike) => lookAlike.imageId),
    errors,
  };
}
