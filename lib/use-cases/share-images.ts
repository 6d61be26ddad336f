/**
 * A share pass: share good backups with the accounts their instances name, revoke what is no longer named, make and
 * expire re-encrypted copies, create and revoke the key grants that launching needs. Who each image is shared with is
 * read from EC2 per account (ExecutableUsers, RestorableByUserIds), never from a record the service wrote, so a pass
 * that died between two calls is finished by the next. The passes run from a run's start while backups are to be
 * shared or copies are in flight; a daily pass revokes what instances no longer name.
 */
import { EventType, type ServiceEvent } from '../backup-events';
import {
  planSharing,
  recordedShareAccounts,
  type ServiceGrant,
  type ShareableImage,
  type SharePlan,
  type ShareSource,
} from '../decisions/sharing';
import { errorCode, errorMessage } from '../errors';
import type { Invocation } from '../input';
import type { Image } from '../model';
import { parseSharePolicy } from '../policy';
import { ImageTag, IN_PROGRESS_STEPS, InstanceTag, ShareTag } from '../tags';
import type { InstanceOutcome, Summary, UseCaseContext } from './context';

export interface ShareSummary extends Summary {
  readonly imagesShared: number;
  readonly imagesUnshared: number;
  readonly grantsCreated: number;
  readonly grantsRevoked: number;
  readonly copiesStarted: number;
  readonly copiesExpired: number;
  /** Whether backups are still to be shared or copies in flight: the share passes go on. */
  readonly workRemains: boolean;
  readonly errors: readonly string[];
}

export async function shareImages(invocation: Invocation, context: UseCaseContext): Promise<ShareSummary> {
  const { config, ec2, kms, logger } = context;
  const settings = config.shares;
  const owner = config.owner;
  const ours = { owner, accountId: context.accountId };
  const inScope = (image: Image): boolean =>
    invocation.instanceIds === undefined || invocation.instanceIds.includes(image.tags[ImageTag.instanceId] ?? '');

  const optedIn = await ec2.findInstances({
    tag: { key: config.optIn.key, values: [config.optIn.value] },
    ...(invocation.instanceIds === undefined ? {} : { instanceIds: invocation.instanceIds }),
  });
  const sources: ShareSource[] = optedIn.map((instance) => {
    const shareError = instance.tags[ShareTag.shareError];
    return {
      instanceId: instance.id,
      policy: parseSharePolicy(instance.tags, settings.defaultAccounts, context.accountId),
      ...(shareError === undefined ? {} : { shareError }),
    };
  });
  const wanting = sources.filter((source) => source.policy.ok && source.policy.value.accounts.length > 0);

  // The images that may need a change: those of instances sharing, those recorded as shared, re-encrypted copies,
  // and any found shared with an account concerned (below).
  const found = new Map<string, Image>();
  const add = (images: readonly Image[]): void => {
    for (const image of images) if (inScope(image) && image.state !== 'deregistered') found.set(image.id, image);
  };
  add(
    wanting.length > 0
      ? await ec2.findOwnedImagesOf(
          owner,
          wanting.map((source) => source.instanceId),
        )
      : [],
  );
  add(await ec2.findOwnedImagesTagged(owner, [ShareTag.sharedWith, ShareTag.reencryptedFrom]));

  const errors: string[] = [];
  const grants: ServiceGrant[] = [];
  for (const keyId of new Set([
    ...(settings.kmsKey === undefined ? [] : [settings.kmsKey]),
    ...settings.grantableKeys,
  ])) {
    try {
      grants.push(...(await kms.serviceGrants(keyId, owner)));
    } catch (error: unknown) {
      errors.push(`${keyId}: grants not listed: ${errorMessage(error)}`);
    }
  }
  const accounts = new Set<string>([
    ...wanting.flatMap((source) => (source.policy.ok ? source.policy.value.accounts : [])),
    ...[...found.values()].flatMap(recordedShareAccounts),
    ...grants.map((grant) => grant.account),
  ]);
  const shared = await ec2.findSharedWith(owner, [...accounts].sort());
  add(shared.images);
  const unread = shared.imagesOfSharedSnapshots.filter((id) => !found.has(id));
  if (unread.length > 0) add(await ec2.findImagesById(unread));

  const images = [...found.values()];
  const snapshotKeys = await ec2.findSnapshotKeys(images.flatMap((image) => image.snapshotIds));
  const { managers, failures } = await kms.keyManagers([...new Set(snapshotKeys.values())]);
  for (const [keyId, failure] of failures)
    logger.warn('key not described: its images are not shared', { keyId, failure });
  const candidates: ShareableImage[] = images.map((image) => ({
    image,
    launchAccounts: shared.launchAccounts.get(image.id) ?? [],
    snapshots: image.snapshotIds.map((id) => {
      const kmsKeyId = snapshotKeys.get(id);
      return {
        id,
        ...(kmsKeyId === undefined ? {} : { kmsKeyId }),
        createVolumeAccounts: shared.createVolumeAccounts.get(id) ?? [],
      };
    }),
  }));
  const plan = planSharing(sources, candidates, managers, grants, ours, {
    homeRegion: config.copies.homeRegion,
    owner,
    ...(settings.kmsKey === undefined ? {} : { shareKmsKey: settings.kmsKey }),
    grantableKeys: settings.grantableKeys,
  });
  for (const hold of plan.held) logger.warn('sharing held: the share tag cannot be used', hold);

  const outcomes: InstanceOutcome[] = plan.held.map((hold) => ({
    instanceId: hold.instanceId,
    action: 'hold',
    reason: hold.reason,
  }));
  const applied = invocation.dryRun
    ? { grantsCreated: 0, grantsRevoked: 0, copiesStarted: 0, copiesExpired: 0, shared: 0, unshared: 0 }
    : await applyPlan(plan, invocation, context, errors, outcomes);
  if (invocation.dryRun) {
    for (const change of plan.add) {
      outcomes.push({ instanceId: instanceOf(change.imageId, found), action: 'share', imageId: change.imageId });
    }
    for (const change of plan.remove) {
      outcomes.push({ instanceId: instanceOf(change.imageId, found), action: 'unshare', imageId: change.imageId });
    }
  }

  const inProgress = new Set<string>(IN_PROGRESS_STEPS);
  const wantingIds = new Set(wanting.map((source) => source.instanceId));
  const runsInProgress = optedIn.some(
    (instance) => wantingIds.has(instance.id) && inProgress.has(instance.tags[InstanceTag.state] ?? ''),
  );
  const copiesPending = images.some(
    (image) => image.tags[ShareTag.reencryptedFrom] !== undefined && image.state === 'pending',
  );
  const workRemains = runsInProgress || copiesPending || plan.copies.length > 0 || errors.length > 0;
  if (!invocation.dryRun && invocation.rule === settings.passesRule && !workRemains) {
    try {
      await context.sharePasses.disable();
    } catch (error: unknown) {
      errors.push(`share passes: ${errorMessage(error)}`);
    }
  }
  for (const outcome of outcomes) logger.info('share', { ...outcome });
  return {
    function: 'shareImages',
    now: invocation.now.toISOString(),
    dryRun: invocation.dryRun,
    instances: outcomes,
    imagesShared: applied.shared,
    imagesUnshared: applied.unshared,
    grantsCreated: applied.grantsCreated,
    grantsRevoked: applied.grantsRevoked,
    copiesStarted: applied.copiesStarted,
    copiesExpired: applied.copiesExpired,
    workRemains,
    errors,
  };
}

function instanceOf(imageId: string, images: ReadonlyMap<string, Image>): string {
  return images.get(imageId)?.tags[ImageTag.instanceId] ?? '';
}

/**
 * Applies a share plan in the order that never shows an account what it cannot use nor leaves it what it should lose:
 * grants, then copies started, then permissions added (snapshots before the image), published; permissions removed
 * (the image before its snapshots), copies expired, grants revoked, published; then the records. A pass that dies
 * anywhere leaves EC2's permissions, which the next pass reads, a step behind at most.
 */
async function applyPlan(
  plan: SharePlan,
  invocation: Invocation,
  context: UseCaseContext,
  errors: string[],
  outcomes: InstanceOutcome[],
): Promise<{
  grantsCreated: number;
  grantsRevoked: number;
  copiesStarted: number;
  copiesExpired: number;
  shared: number;
  unshared: number;
}> {
  const { ec2, kms, events, logger } = context;
  const attempt = async (what: string, call: () => Promise<void>): Promise<boolean> => {
    try {
      await call();
      return true;
    } catch (error: unknown) {
      errors.push(`${what}: ${errorMessage(error)}`);
      logger.error('sharing step failed', { what, error: errorMessage(error), code: errorCode(error) });
      return false;
    }
  };
  const failedGrants = new Set<string>();
  let grantsCreated = 0;
  for (const grant of plan.createGrants) {
    if (await attempt(`grant on ${grant.keyId} to ${grant.account}`, () => kms.createGrant(grant))) grantsCreated += 1;
    else failedGrants.add(grant.account);
  }
  let copiesStarted = 0;
  for (const request of plan.copies) {
    await attempt(`re-encrypted copy of ${request.sourceImageId}`, async () => {
      const copy = await ec2.copyImage(request);
      copiesStarted += copy.existed ? 0 : 1;
      outcomes.push({
        instanceId: request.instanceId,
        action: 'reencrypt',
        imageId: copy.imageId,
        reason: copy.existed ? 'copy already started' : 'copy started',
      });
    });
  }
  // An image is shared only once every account it is shared with can use its keys.
  const sharedIds = new Set<string>();
  for (const change of plan.add) {
    if (change.accounts.some((account) => failedGrants.has(account))) continue;
    let present = true;
    const shared = await attempt(`share ${change.imageId}`, async () => {
      present = await ec2.sharePermissions(change);
    });
    // An image deregistered meanwhile (a rotation) is neither shared nor an error.
    if (shared && present) sharedIds.add(change.imageId);
  }
  const unsharedIds = new Set<string>();
  for (const change of plan.remove) {
    if (await attempt(`unshare ${change.imageId}`, () => ec2.unsharePermissions(change))) {
      unsharedIds.add(change.imageId);
    }
  }
  let copiesExpired = 0;
  for (const copy of plan.expireCopies) {
    // Unshared first (its removal is in the plan): a copy still shared is left for the next pass.
    if (plan.remove.some((change) => change.imageId === copy.imageId) && !unsharedIds.has(copy.imageId)) continue;
    if (
      await attempt(`expire re-encrypted copy ${copy.imageId}`, async () => {
        await ec2.deregister(copy.imageId, copy.snapshotIds);
      })
    ) {
      copiesExpired += 1;
    }
  }
  let grantsRevoked = 0;
  // A scoped pass sees only some images: a grant another image needs could look unneeded, so only a full pass revokes.
  if (invocation.instanceIds === undefined && unsharedIds.size === plan.remove.length) {
    for (const grant of plan.revokeGrants) {
      if (await attempt(`revoke grant ${grant.grantId} on ${grant.keyId}`, () => kms.revokeGrant(grant))) {
        grantsRevoked += 1;
      }
    }
  }
  const done = (imageId: string): boolean =>
    (sharedIds.has(imageId) || !plan.add.some((change) => change.imageId === imageId)) &&
    (unsharedIds.has(imageId) || !plan.remove.some((change) => change.imageId === imageId));
  const shareEvents: ServiceEvent[] = plan.events
    .filter((event) => event.type === 'Share Failed' || done(event.imageId))
    .map((event) => ({
      type:
        event.type === 'Image Shared'
          ? EventType.imageShared
          : event.type === 'Share Revoked'
            ? EventType.shareRevoked
            : EventType.shareFailed,
      time: invocation.now,
      detail:
        event.type === 'Share Failed'
          ? { instanceId: event.instanceId, imageId: event.imageId, reason: event.reason }
          : { instanceId: event.instanceId, imageId: event.imageId, accounts: event.accounts.join(',') },
    }));
  let published = true;
  if (shareEvents.length > 0) {
    published = await attempt('events', () => events.publish(shareEvents));
  }
  // Records (the image's accounts, the instance's error) only once their events are out: else the next pass, seeing
  // nothing changed, would never publish them.
  if (published) {
    const failed = (what: string, failures: ReadonlyMap<string, string>): void => {
      for (const [id, failure] of failures) errors.push(`${id}: ${what}: ${failure}`);
    };
    failed('share record not written', await ec2.writeTags(plan.records.filter((write) => done(write.resourceId))));
    const setErrors = plan.instanceErrors.flatMap((entry) =>
      entry.reason === undefined
        ? []
        : [{ resourceId: entry.instanceId, tags: { [ShareTag.shareError]: entry.reason } }],
    );
    const cleared = plan.instanceErrors.filter((entry) => entry.reason === undefined).map((entry) => entry.instanceId);
    // Neither makes a call when it has nothing to write.
    failed('share error not recorded', await ec2.writeTags(setErrors));
    failed('share error not cleared', await ec2.deleteTags(cleared, [ShareTag.shareError]));
  }
  for (const event of plan.events) {
    outcomes.push({
      instanceId: event.instanceId,
      action: event.type === 'Image Shared' ? 'share' : event.type === 'Share Revoked' ? 'unshare' : 'share-failed',
      imageId: event.imageId,
      ...(event.type === 'Share Failed' ? { reason: event.reason } : { reason: event.accounts.join(',') }),
    });
  }
  return {
    grantsCreated,
    grantsRevoked,
    copiesStarted,
    copiesExpired,
    shared: sharedIds.size,
    unshared: unsharedIds.size,
  };
}
