/**
 * Rotation: deregister expired images with their snapshots, and delete the service's snapshots whose image is gone.
 * Everything it touches carries the ownership tag (checked in the plan); a crash at any point leaves nothing the next
 * rotation does not finish.
 */
import { EventType, type ServiceEvent } from '../backup-events';
import {
  type Expiry,
  type InstanceRotation,
  imageIdOfSnapshot,
  isFirstOfNight,
  planRotation,
  type RotationPolicy,
} from '../decisions/rotation';
import { isReencryptedCopy, reencryptedCopyLookAlikeReasons, unshareBeforeExpiry } from '../decisions/sharing';
import { errorMessage } from '../errors';
import type { Invocation } from '../input';
import type { Image } from '../model';
import { parseRetention } from '../policy';
import { ImageTag, OperatorTag, ShareTag } from '../tags';
import { forEachLimit, type InstanceOutcome, SAFETY_MARGIN_MS, type Summary, type UseCaseContext } from './context';

/** Deregistrations under way at once: DeregisterImage refills at about 5 a second. */
const DELETE_CONCURRENCY = 4;
/** Instances whose day's counts are written together, before their images go (one CreateTags call or a few). */
const COUNT_SLICE = 100;
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
  /** Expiries and orphan deletions due that this invocation had no time for: the rotation passes carry on. */
  readonly deferred: number;
  /** Copies re-encrypted for sharing deregistered with their source (or after it, when it was already gone). */
  readonly reencryptedCopiesExpired: number;
  readonly errors: readonly string[];
}

export async function rotate(invocation: Invocation, context: UseCaseContext): Promise<RotateSummary> {
  const { config, ec2, events, logger, remainingMs } = context;
  const wanted = invocation.instanceIds === undefined ? undefined : new Set(invocation.instanceIds);
  const inScope = (tags: Readonly<Record<string, string>>): boolean =>
    wanted === undefined || wanted.has(tags[ImageTag.instanceId] ?? '');

  const everyOwned = await ec2.findOwnedImages(config.owner);
  const listed = new Set(everyOwned.map((image) => image.id));
  const ours = { owner: config.owner, accountId: context.accountId };
  // Copies re-encrypted for sharing go with their source, not by a retention of their own (nor as look-alikes).
  const owned = everyOwned.filter((image) => !isReencryptedCopy(image));
  const reencrypted = everyOwned.filter(
    (image) => isReencryptedCopy(image) && inScope(image.tags) && image.state !== 'deregistered',
  );
  const copyLookAlikes = reencrypted.filter((image) => reencryptedCopyLookAlikeReasons(image, ours).length > 0);
  const used = new Set(everyOwned.flatMap((image) => image.snapshotIds));
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
    ours,
    invocation.now,
    {
      floor: { retain: config.minRetain, retainDays: config.minRetainDays },
      cap: { perDay: config.maxExpirePerRun },
    },
  );
  // Look-alikes are reported by the night's first invocation only, so at most once a night each, with no state and
  // without touching them.
  const rotationPass = invocation.rule === config.rotationPassesRule;
  const report = !invocation.dryRun && !rotationPass && isFirstOfNight(invocation.now, config.rotateHours);
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
  /** Expiries and orphan deletions this invocation had no time for: the rotation passes carry on. */
  let deferred = 0;
  let copiesExpired = 0;
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
    deferred += (await forEachLimit(orphanSnapshotIds, DELETE_CONCURRENCY, more, deleteSnapshot)).length;
    /**
     * The day's counts of a slice of instances, written before their images go (write-ahead: a crash after it spends
     * the cap without expiring, never the reverse). Returns the instances whose count could not be written: they lose
     * none of their images now.
     */
    const writeCounts = async (rotations: readonly InstanceRotation[]): Promise<Set<string>> => {
      const counts = rotations.flatMap((rotation) => (rotation.count === undefined ? [] : [rotation.count]));
      const failures = counts.length > 0 ? await ec2.writeTags(counts) : new Map<string, string>();
      const uncounted = new Set<string>();
      for (const rotation of rotations) {
        const failure = rotation.count === undefined ? undefined : failures.get(rotation.count.resourceId);
        if (failure === undefined) continue;
        uncounted.add(rotation.instanceId);
        errors.push(`${rotation.instanceId}: expiry count not written: ${failure}`);
      }
      return uncounted;
    };
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
    const imagesById = new Map(images.map((image) => [image.id, image]));
    const expire = async (expiry: Expiry): Promise<void> => {
      try {
        // Unshared before it goes: no account keeps a permission on an image deregistered under it.
        const image = imagesById.get(expiry.imageId);
        const unshare = image === undefined ? undefined : unshareBeforeExpiry(image);
        if (unshare !== undefined) await ec2.unsharePermissions(unshare);
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
    };
    // Instances a slice at a time, each slice's counts then its images: an invocation that runs out of time has
    // spent the counts of one slice at most without expiring (those instances carry on the next day).
    for (let start = 0; start < plan.instances.length; start += COUNT_SLICE) {
      const slice = plan.instances.slice(start, start + COUNT_SLICE);
      const due = slice.flatMap((rotation) => rotation.expired);
      if (due.length === 0) continue;
      if (!more()) {
        deferred += due.length;
        continue;
      }
      const uncounted = await writeCounts(slice);
      const expiries = due.filter((expiry) => !uncounted.has(expiry.instanceId));
      deferred += (await forEachLimit(expiries, DELETE_CONCURRENCY, more, expire)).length;
    }
    await publishExpiries(false);
    // A re-encrypted copy whose source is expired now or gone: unshared, then deregistered (its snapshots with it).
    const dueCopies = reencrypted.filter((copy) => {
      const source = copy.tags[ShareTag.reencryptedFrom] ?? '';
      return !copyLookAlikes.includes(copy) && (expiredIds.has(source) || !listed.has(source));
    });
    deferred += (
      await forEachLimit(dueCopies, DELETE_CONCURRENCY, more, async (copy: Image) => {
        try {
          const unshare = unshareBeforeExpiry(copy);
          if (unshare !== undefined) await ec2.unsharePermissions(unshare);
          await ec2.deregister(copy.id, copy.snapshotIds);
          copiesExpired += 1;
          logger.info('re-encrypted copy expired with its source', {
            imageId: copy.id,
            sourceImageId: copy.tags[ShareTag.reencryptedFrom],
          });
        } catch (error: unknown) {
          errors.push(`${copy.id}: ${errorMessage(error)}`);
          logger.error('re-encrypted copy not deregistered', { imageId: copy.id, error: errorMessage(error) });
        }
      })
    ).length;
  }

  const instances: RotationOutcome[] = plan.instances.map((rotation) => ({
    instanceId: rotation.instanceId,
    action: rotation.hold === undefined ? 'rotate' : 'hold',
    ...(rotation.hold === undefined
      ? rotation.postponed === undefined
        ? {}
        : { reason: `${rotation.postponed.length} due images postponed: at most ${config.maxExpirePerRun} a day` }
      : { reason: rotation.hold }),
    kept: rotation.kept.length,
    expired: rotation.expired.map((expiry) => expiry.imageId).filter((id) => expiredIds.has(id)),
    snapshotsDeleted: snapshotsDeletedBy.get(rotation.instanceId) ?? 0,
  }));
  for (const rotation of plan.instances) {
    if (rotation.hold !== undefined)
      logger.warn('rotation held', { instanceId: rotation.instanceId, reason: rotation.hold });
  }
  // A scheduled rotation that ran out of time turns the rotation passes on; one of them that finishes turns them off.
  if (!invocation.dryRun && invocation.rule !== undefined) {
    try {
      if (deferred > 0 && !rotationPass) await context.rotationPasses.enable();
      if (deferred === 0 && rotationPass) await context.rotationPasses.disable();
    } catch (error: unknown) {
      errors.push(`rotation passes: ${errorMessage(error)}`);
      logger.error('switching the rotation passes failed', { error: errorMessage(error) });
    }
  }
  return {
    function: 'rotate',
    now: invocation.now.toISOString(),
    dryRun: invocation.dryRun,
    instances,
    imagesExpired: invocation.dryRun ? 0 : expiredIds.size,
    snapshotsDeleted: [...snapshotsDeletedBy.values()].reduce((sum, count) => sum + count, 0),
    orphanSnapshots: orphanSnapshotIds,
    lookAlikes: [...plan.lookAlikes.map((lookAlike) => lookAlike.imageId), ...copyLookAlikes.map((copy) => copy.id)],
    deferred,
    reencryptedCopiesExpired: copiesExpired,
    errors,
  };
}
