/**
 * A copy pass: start copies of good backups in the Regions their instances name, record the copies' outcomes (EC2's
 * state-change events for a copy are emitted in its destination Region, where this stack has no rule, so the pass
 * finds them), clean up copies that timed out, and rotate each Region's copies by their own retention. The passes run
 * from a run's start until no copy is wanted or in flight. A pass may die between any two calls: copies are found by
 * their names before any is started, and outcomes are recorded on the copy before its source.
 */
import { EventType, type ServiceEvent } from '../backup-events';
import {
  type CopyPlan,
  type CopyRequest,
  type CopyResult,
  type CopySource,
  copyLookAlikeReasons,
  planCopies,
} from '../decisions/copies';
import { isGood, lookAlikeReasons, planRotation, type RotationPolicy } from '../decisions/rotation';
import { errorCode, errorMessage } from '../errors';
import type { Invocation } from '../input';
import type { Image, Instance } from '../model';
import { parseCopyPolicy, parseCopyRetention } from '../policy';
import { CopyTag, ImageTag, IN_PROGRESS_STEPS, InstanceTag, imageName } from '../tags';
import { forEachLimit, type InstanceOutcome, SAFETY_MARGIN_MS, type Summary, type UseCaseContext } from './context';

/** CopyImage calls under way at once in a Region: its bucket refills at 1 a second. */
const COPY_CONCURRENCY = 2;
/** Deregistrations under way at once in a Region. */
const DELETE_CONCURRENCY = 2;

export interface CopyOutcomeEntry extends InstanceOutcome {
  /** The Region of the copy; absent for an instance whose copies are all held. */
  readonly region?: string;
}

export interface CopySummary extends Summary {
  readonly instances: readonly CopyOutcomeEntry[];
  readonly copiesStarted: number;
  readonly copiesSucceeded: number;
  readonly copiesFailed: number;
  readonly copiesExpired: number;
  /** Images carrying the ownership tag in a destination Region that are not the service's copies: left alone. */
  readonly lookAlikes: readonly string[];
  /** Whether copies are still wanted or in flight: the copy passes go on. */
  readonly workRemains: boolean;
  readonly errors: readonly string[];
}

/** The newest good backup of each instance, by the run its `last-success` names (the service's own images only). */
async function newestGoodBackups(instances: readonly Instance[], context: UseCaseContext): Promise<Map<string, Image>> {
  const names = instances.flatMap((instance) => {
    const run = instance.tags[InstanceTag.lastSuccess];
    return run === undefined ? [] : [imageName(instance.id, run)];
  });
  const images = names.length > 0 ? await context.ec2.findImagesByName(names) : [];
  const ours = { owner: context.config.owner, accountId: context.accountId };
  return new Map(
    images
      .filter((image) => isGood(image) && lookAlikeReasons(image, ours).length === 0)
      .map((image) => [image.tags[ImageTag.instanceId] ?? '', image]),
  );
}

/** The copy's view after this pass recorded its outcome on it (rotation counts a copy good once it is recorded). */
function withOutcome(image: Image, result: CopyResult | undefined): Image {
  return result === undefined ? image : { ...image, tags: { ...image.tags, [InstanceTag.state]: result.state } };
}

function copyEvent(result: CopyResult, now: Date): ServiceEvent {
  return {
    type: result.state === 'succeeded' ? EventType.copySucceeded : EventType.copyFailed,
    time: now,
    detail: {
      instanceId: result.instanceId,
      sourceImageId: result.sourceImageId,
      imageId: result.copyImageId,
      region: result.region,
      ...(result.reason === undefined ? {} : { reason: result.reason }),
    },
  };
}

export async function copyImages(invocation: Invocation, context: UseCaseContext): Promise<CopySummary> {
  const { config, ec2, events, logger, remainingMs } = context;
  const settings = config.copies;
  const ours = { owner: config.owner, accountId: context.accountId };
  const optedIn = await ec2.findInstances({
    tag: { key: config.optIn.key, values: [config.optIn.value] },
    ...(invocation.instanceIds === undefined ? {} : { instanceIds: invocation.instanceIds }),
  });
  const newest = await newestGoodBackups(optedIn, context);
  const sources: CopySource[] = optedIn.map((instance) => {
    const image = newest.get(instance.id);
    return {
      instanceId: instance.id,
      policy: parseCopyPolicy(instance.tags, settings),
      retention: parseCopyRetention(instance.tags, config.defaultRetain),
      ...(image === undefined ? {} : { image }),
    };
  });
  // Copies only ever go to the allowed Regions: each is read whole, its copies' outcomes and its rotation need them.
  const inScope = (image: Image): boolean =>
    invocation.instanceIds === undefined || invocation.instanceIds.includes(image.tags[ImageTag.instanceId] ?? '');
  const copies = new Map<string, Image[]>();
  for (const region of settings.allowedRegions) {
    copies.set(region, (await context.ec2In(region).findOwnedImages(config.owner)).filter(inScope));
  }
  // The sources of copies whose outcome is not recorded yet, besides the newest backups already read.
  const unresolved = [...copies.values()]
    .flat()
    .filter((copy) => copy.tags[InstanceTag.state] === undefined)
    .map((copy) => copy.tags[CopyTag.sourceImage] ?? '')
    .filter((id) => /^ami-[0-9a-f]+$/.test(id) && ![...newest.values()].some((image) => image.id === id));
  const sourcesById = new Map([...newest.values()].map((image) => [image.id, image]));
  if (unresolved.length > 0) {
    for (const image of await ec2.findImagesById([...new Set(unresolved)])) {
      if (lookAlikeReasons(image, ours).length === 0) sourcesById.set(image.id, image);
    }
  }
  const plan = planCopies(sources, copies, sourcesById, ours, invocation.now, {
    homeRegion: settings.homeRegion,
    imageTimeoutSeconds: config.imageTimeoutSeconds,
    kmsKeys: settings.kmsKeys,
  });
  for (const hold of plan.held) logger.warn('copies held: copy tags cannot be used', hold);

  const errors: string[] = [];
  const outcomes: CopyOutcomeEntry[] = [];
  let started = 0;
  let expired = 0;
  /** Copies this pass could not start or record: the passes go on. */
  let unfinished = 0;
  const lookAlikes: string[] = [];
  if (!invocation.dryRun) {
    const applied = await applyPlan(plan, invocation.now, context, errors);
    started = applied.started;
    unfinished = applied.unfinished;
    outcomes.push(...applied.outcomes);
    // Rotation per Region: each copy by its own retention (that of its instance's copy tags, else recorded on it).
    const more = (): boolean => remainingMs() > SAFETY_MARGIN_MS;
    for (const region of settings.allowedRegions) {
      const recorded = new Map(
        applied.recorded.filter((result) => result.region === region).map((r) => [r.copyImageId, r]),
      );
      const images = (copies.get(region) ?? []).map((image) => withOutcome(image, recorded.get(image.id)));
      const policies = new Map<string, RotationPolicy>();
      for (const source of sources) {
        if (source.policy.ok && source.policy.value.regions.includes(region)) {
          policies.set(source.instanceId, { source: 'instance', retention: source.retention });
        }
      }
      const rotation = planRotation(
        images,
        [],
        policies,
        ours,
        invocation.now,
        {
          floor: { retain: config.minRetain, retainDays: config.minRetainDays },
          cap: { perDay: config.maxExpirePerRun },
        },
        copyLookAlikeReasons,
      );
      lookAlikes.push(...rotation.lookAlikes.map((lookAlike) => lookAlike.imageId));
      const regional = context.ec2In(region);
      const counts = rotation.instances.flatMap((entry) => (entry.count === undefined ? [] : [entry.count]));
      const uncounted = new Set<string>();
      for (const [imageId, failure] of counts.length > 0 ? await regional.writeTags(counts) : new Map()) {
        errors.push(`${region} ${imageId}: expiry count not written: ${failure}`);
        const entry = rotation.instances.find((candidate) => candidate.count?.resourceId === imageId);
        if (entry !== undefined) uncounted.add(entry.instanceId);
      }
      const due = rotation.expired.filter((expiry) => !uncounted.has(expiry.instanceId));
      const expiredEvents: ServiceEvent[] = [];
      unfinished += (
        await forEachLimit(due, DELETE_CONCURRENCY, more, async (expiry) => {
          try {
            await regional.deregister(expiry.imageId, expiry.snapshotIds);
            expired += 1;
            outcomes.push({
              instanceId: expiry.instanceId,
              region,
              action: 'expire',
              imageId: expiry.imageId,
              reason: expiry.reason,
            });
            expiredEvents.push({
              type: EventType.imageExpired,
              time: invocation.now,
              detail: { instanceId: expiry.instanceId, imageId: expiry.imageId, region, reason: expiry.reason },
            });
          } catch (error: unknown) {
            errors.push(`${region} ${expiry.imageId}: ${errorMessage(error)}`);
            unfinished += 1;
          }
        })
      ).length;
      if (expiredEvents.length > 0) {
        try {
          await events.publish(expiredEvents);
        } catch (error: unknown) {
          errors.push(`events: ${errorMessage(error)}`);
        }
      }
    }
  } else {
    for (const work of plan.regions) {
      for (const request of work.start) outcomes.push(startOutcome(request, 'copy', 'dry run: would copy'));
    }
  }
  for (const hold of plan.held) outcomes.push({ instanceId: hold.instanceId, action: 'hold', reason: hold.reason });

  const wanted = optedIn.filter((instance) => {
    const policy = parseCopyPolicy(instance.tags, settings);
    return policy.ok && policy.value.regions.length > 0;
  });
  const inProgress = new Set<string>(IN_PROGRESS_STEPS);
  const runsInProgress = wanted.some((instance) => inProgress.has(instance.tags[InstanceTag.state] ?? ''));
  const workRemains =
    runsInProgress ||
    unfinished > 0 ||
    errors.length > 0 ||
    plan.regions.some((work) => work.inFlight > 0 || work.waiting > 0);
  if (!invocation.dryRun && invocation.rule === settings.passesRule && !workRemains) {
    await stopPasses(context, errors);
  }
  for (const outcome of outcomes) logger.info('copy', { ...outcome });
  return {
    function: 'copyImages',
    now: invocation.now.toISOString(),
    dryRun: invocation.dryRun,
    instances: outcomes,
    copiesStarted: started,
    copiesSucceeded: outcomes.filter((outcome) => outcome.action === 'copy-succeeded' && outcome.error === undefined)
      .length,
    copiesFailed: outcomes.filter((outcome) => outcome.action === 'copy-failed' && outcome.error === undefined).length,
    copiesExpired: expired,
    lookAlikes,
    workRemains,
    errors,
  };
}

function startOutcome(request: CopyRequest, action: string, reason: string, error?: string): CopyOutcomeEntry {
  return {
    instanceId: request.instanceId,
    region: request.region,
    action,
    reason,
    ...(error === undefined ? {} : { error }),
  };
}

/**
 * Applies a copy plan: per Region, outcomes are published, then recorded on the copies; then on their sources (home
 * Region); then timed-out copies whose source records the failure are deregistered (never before: a source without
 * the record would have its copy started again); then new copies start, until EC2 says the Region's concurrent copies
 * are at their limit.
 */
async function applyPlan(
  plan: CopyPlan,
  now: Date,
  context: UseCaseContext,
  errors: string[],
): Promise<{ outcomes: CopyOutcomeEntry[]; recorded: CopyResult[]; started: number; unfinished: number }> {
  const { ec2, events, logger, remainingMs } = context;
  const outcomes: CopyOutcomeEntry[] = [];
  const recorded: CopyResult[] = [];
  let unfinished = 0;
  for (const work of plan.regions) {
    const results = plan.results.filter((result) => result.region === work.region);
    if (results.length === 0) continue;
    try {
      await events.publish(results.map((result) => copyEvent(result, now)));
    } catch (error: unknown) {
      // Not recorded either: the next pass publishes and records them.
      errors.push(`events: ${errorMessage(error)}`);
      unfinished += results.length;
      continue;
    }
    const failures = await context.ec2In(work.region).writeTags(work.copyTags);
    for (const result of results) {
      const failure = failures.get(result.copyImageId);
      if (failure === undefined) recorded.push(result);
      else errors.push(`${work.region} ${result.copyImageId}: outcome not recorded: ${failure}`);
      outcomes.push({
        instanceId: result.instanceId,
        region: work.region,
        action: result.state === 'succeeded' ? 'copy-succeeded' : 'copy-failed',
        imageId: result.copyImageId,
        ...(result.reason === undefined ? {} : { reason: result.reason }),
        ...(failure === undefined ? {} : { error: failure }),
      });
    }
  }
  // A source records only outcomes its copies carry (this pass's written ones, or found recorded on the copy).
  const unwritten = new Set(
    plan.results.filter((result) => !recorded.includes(result)).map((result) => result.sourceImageId),
  );
  const sourceWrites = plan.sourceRecords.filter((write) => !unwritten.has(write.resourceId));
  const sourceFailures = sourceWrites.length > 0 ? await ec2.writeTags(sourceWrites) : new Map<string, string>();
  for (const [imageId, failure] of sourceFailures) errors.push(`${imageId}: copies not recorded: ${failure}`);
  const sourceRecorded = (sourceImageId: string): boolean =>
    !unwritten.has(sourceImageId) && !sourceFailures.has(sourceImageId);

  let started = 0;
  const more = (): boolean => remainingMs() > SAFETY_MARGIN_MS;
  for (const work of plan.regions) {
    const regional = context.ec2In(work.region);
    for (const cleanup of work.cleanups) {
      // A source gone records nothing (''): the copy alone carries its failure.
      if (cleanup.sourceImageId !== '' && !sourceRecorded(cleanup.sourceImageId)) continue;
      try {
        await regional.deregister(cleanup.imageId, cleanup.snapshotIds);
        logger.warn('timed-out copy deregistered', { region: work.region, imageId: cleanup.imageId });
      } catch (error: unknown) {
        errors.push(`${work.region} ${cleanup.imageId}: ${errorMessage(error)}`);
      }
    }
    let atLimit = false;
    unfinished += (
      await forEachLimit(
        work.start,
        COPY_CONCURRENCY,
        () => more() && !atLimit,
        async (request) => {
          try {
            const copy = await regional.copyImage(request);
            started += copy.existed ? 0 : 1;
            outcomes.push({
              ...startOutcome(request, 'copy', copy.existed ? 'copy already started' : 'copy started'),
              imageId: copy.imageId,
            });
          } catch (error: unknown) {
            // EC2's limit on concurrent copies into the Region: the others wait for a later pass.
            if (errorCode(error) === 'ResourceLimitExceeded') atLimit = true;
            errors.push(`${work.region} ${request.sourceImageId}: ${errorMessage(error)}`);
            outcomes.push(startOutcome(request, 'copy', 'copy not started', errorMessage(error)));
          }
        },
      )
    ).length;
  }
  return { outcomes, recorded, started, unfinished };
}

/**
 * No copy wanted or in flight: the copy passes stop, then look once more for a run started meanwhile (whose start
 * turned them on just before they were turned off) and turn themselves on again for it.
 */
async function stopPasses(context: UseCaseContext, errors: string[]): Promise<void> {
  const { config, ec2, copyPasses, logger } = context;
  try {
    await copyPasses.disable();
    const instances = await ec2.findInstances({ tag: { key: config.optIn.key, values: [config.optIn.value] } });
    const inProgress = new Set<string>(IN_PROGRESS_STEPS);
    const restarted = instances.some((instance) => {
      const policy = parseCopyPolicy(instance.tags, config.copies);
      return policy.ok && policy.value.regions.length > 0 && inProgress.has(instance.tags[InstanceTag.state] ?? '');
    });
    if (restarted) await copyPasses.enable();
  } catch (error: unknown) {
    errors.push(`copy passes: ${errorMessage(error)}`);
    logger.error('switching the copy passes failed', { error: errorMessage(error) });
  }
}
