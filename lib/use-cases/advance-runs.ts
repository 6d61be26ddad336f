/**
 * Moving runs forward: image each queued instance whose turn has come (with EC2's reboot, in its group's turn), find
 * instances back healthy from their image's reboot, and record the outcome of images that became available or failed
 * (whether or not their state-change event came).
 */
import { backupFailed, EventType, type ServiceEvent } from '../backup-events';
import { afterWrites, type Cadence, passCadence } from '../decisions/cadence';
import {
  decidePass,
  healthyTags,
  imageOutcomeTags,
  imagingTags,
  needsHealth,
  needsImage,
  outcomeTags,
  type ProgressDecision,
  type RunOutcome,
  runImageName,
} from '../decisions/progress';
import { errorMessage, isTransient } from '../errors';
import type { Instance, TagWrite } from '../model';
import { workRemains } from '../passes';
import { isOptedIn } from '../policy';
import { IN_PROGRESS_STEPS, InstanceTag } from '../tags';
import {
  forEachLimit,
  type InstanceOutcome,
  invocationClock,
  SAFETY_MARGIN_MS,
  type Summary,
  type UseCaseContext,
} from './context';

/** CreateImage calls under way at once: EC2's mutating bucket refills at about 5 a second. */
const CREATE_CONCURRENCY = 4;
/**
 * A pass starts CreateImage calls until this long before the next pass: one that kept calling past it would overlap
 * it, and the next, not yet seeing this one's `imaging` tags, would call again for the same instances (a harmless
 * duplicate, but one that spends the account's CreateImage budget). The rest waits for the next pass.
 */
const NEXT_PASS_MARGIN_MS = 15_000;
/** Seconds between two passes every minute. */
const MINUTE_SECONDS = 60;
/** Outcomes published and recorded together: their instances and images fill one CreateTags call (1,000 ids). */
const RECORD_SLICE = 500;

function outcomeEvent(decision: RunOutcome, now: Date): ServiceEvent {
  const { instanceId, runId } = decision;
  return decision.kind === 'succeeded'
    ? { type: EventType.backupSucceeded, time: now, detail: { instanceId, imageId: decision.image.id, runId } }
    : backupFailed(now, {
        instanceId,
        runId,
        reason: decision.reason,
        ...(decision.imageId === undefined ? {} : { imageId: decision.imageId }),
      });
}

function describe(decision: ProgressDecision, error?: string): InstanceOutcome {
  const imageId =
    decision.kind === 'succeeded' ? decision.image.id : decision.kind === 'failed' ? decision.imageId : undefined;
  return {
    instanceId: decision.instanceId,
    action: decision.kind,
    ...('reason' in decision ? { reason: decision.reason } : {}),
    ...(imageId === undefined ? {} : { imageId }),
    ...(error === undefined ? {} : { error }),
  };
}

/**
 * Decides the next move of each instance in progress (`instances` must be all of them: a group's members down are
 * counted across the fleet), reading only what the decisions need from EC2.
 */
export async function decideRuns(
  instances: readonly Instance[],
  now: Date,
  context: UseCaseContext,
): Promise<ProgressDecision[]> {
  const { config, ec2 } = context;
  const healthIds = instances.filter((instance) => needsHealth(instance, now, config)).map((instance) => instance.id);
  const health = healthIds.length > 0 ? await ec2.findHealth(healthIds) : new Map();
  const namesById = new Map(
    instances.flatMap((instance) => {
      const name = needsImage(instance, now, config) ? runImageName(instance) : undefined;
      return name === undefined ? [] : [[instance.id, name] as const];
    }),
  );
  const images = namesById.size > 0 ? await ec2.findImagesByName([...namesById.values()]) : [];
  const byName = new Map(images.map((image) => [image.name, image]));
  return decidePass(
    instances.map((instance) => {
      const name = namesById.get(instance.id);
      const image = name === undefined ? undefined : byName.get(name);
      return {
        instance,
        ...(image ? { image } : {}),
        ...(health.has(instance.id) ? { health: health.get(instance.id) } : {}),
      };
    }),
    now,
    config,
  );
}

export interface AppliedRuns {
  readonly outcomes: InstanceOutcome[];
  /** The instance and image tags written (those of resources whose tagging failed left out). */
  readonly written: readonly TagWrite[];
}

/**
 * Applies progress decisions. Outcomes are published before they are tagged (a crash repeats an event rather than
 * losing it); images are created before the instance records them (a crash is caught by the name on the next pass).
 * CreateImage calls start until `createPhaseSeconds` before the next pass (when creating images at all).
 */
export async function applyRuns(
  decisions: readonly ProgressDecision[],
  now: Date,
  context: UseCaseContext,
  options: { createImages: boolean; passIntervalSeconds?: number },
): Promise<AppliedRuns> {
  const { ec2, events, logger, remainingMs } = context;
  const errors = new Map<string, string>();
  const tagWrites: TagWrite[] = [];
  const written: TagWrite[] = [];
  const more = (): boolean => remainingMs() > SAFETY_MARGIN_MS;
  const clock = invocationClock(now, remainingMs);

  // Image reboots first, in their turns' order: they hold their groups back, while the others only wait for the
  // CreateImage bucket.
  const creations = options.createImages
    ? decisions
        .filter((decision) => decision.kind === 'create-image')
        .sort((a, b) => (a.turn ?? Number.MAX_SAFE_INTEGER) - (b.turn ?? Number.MAX_SAFE_INTEGER))
    : [];
  const createdIds = new Map<string, string>();
  const refused: RunOutcome[] = [];
  const createPhaseMs =
    (options.passIntervalSeconds ?? context.config.passIntervalSeconds) * 1000 - NEXT_PASS_MARGIN_MS;
  const createMore = (): boolean => more() && clock().getTime() - now.getTime() < createPhaseMs;
  const deferred = await forEachLimit(creations, CREATE_CONCURRENCY, createMore, async (decision) => {
    try {
      const created = await ec2.createImage(decision.request);
      createdIds.set(decision.instanceId, created.imageId);
      // The call's minute: the grace period of the image's reboot counts from it.
      tagWrites.push({ resourceId: decision.instanceId, tags: imagingTags(clock(), decision.request.mode) });
      logger.info('image created', {
        instanceId: decision.instanceId,
        imageId: created.imageId,
        imageMode: decision.request.mode,
        existed: created.existed,
      });
    } catch (error: unknown) {
      logger.error('CreateImage failed', { instanceId: decision.instanceId, error: errorMessage(error) });
      // A refused CreateImage is this run's failure; throttling or a server fault is retried on the next pass.
      if (isTransient(error)) {
        errors.set(decision.instanceId, errorMessage(error));
      } else {
        refused.push({
          kind: 'failed',
          instanceId: decision.instanceId,
          runId: decision.runId,
          reason: `CreateImage failed: ${errorMessage(error)}`,
        });
      }
    }
  });
  const deferredIds = new Set(deferred.map((decision) => decision.instanceId));

  for (const decision of decisions) {
    if (decision.kind === 'healthy') tagWrites.push({ resourceId: decision.instanceId, tags: healthyTags(now) });
  }
  const tagErrors = await ec2.writeTags(tagWrites);
  for (const [id, error] of tagErrors) errors.set(id, `tagging failed: ${error}`);
  written.push(...tagWrites.filter((write) => !tagErrors.has(write.resourceId)));

  // Outcomes go in slices, each published then recorded, while time remains: what is left is still due on the next
  // pass, and one that is published but not recorded is published again then (never lost).
  const outcomes = [
    ...decisions.filter(
      (decision): decision is RunOutcome => decision.kind === 'succeeded' || decision.kind === 'failed',
    ),
    ...refused,
  ];
  for (let start = 0; start < outcomes.length; start += RECORD_SLICE) {
    const slice = outcomes.slice(start, start + RECORD_SLICE);
    if (!more()) {
      for (const decision of slice) deferredIds.add(decision.instanceId);
      continue;
    }
    try {
      await events.publish(
        slice.filter((decision) => !decision.alreadyPublished).map((decision) => outcomeEvent(decision, now)),
      );
      // The image first: its tags mark its outcome recorded (and published), and a good one's approval (so that it
      // can be launched from at once). Only then its instance, with the same outcome: an instance never records an
      // outcome its image lacks, and a pass after a crash or a failed call finds it still imaging and records both.
      const imageIdOf = (decision: RunOutcome) =>
        decision.kind === 'succeeded' ? decision.image.id : decision.imageId;
      const onImages = slice.flatMap((decision) => {
        const imageId = imageIdOf(decision);
        return imageId === undefined ? [] : [{ resourceId: imageId, tags: imageOutcomeTags(decision) }];
      });
      const imageErrors = await ec2.writeTags(onImages);
      const onInstances = slice
        .filter((decision) => !decision.imageOnly)
        .filter((decision) => {
          const error = imageErrors.get(imageIdOf(decision) ?? '');
          if (error !== undefined) errors.set(decision.instanceId, `tagging its image failed: ${error}`);
          return error === undefined;
        })
        .map((decision) => ({ resourceId: decision.instanceId, tags: outcomeTags(decision) }));
      const instanceErrors = await ec2.writeTags(onInstances);
      for (const [id, error] of instanceErrors) errors.set(id, `tagging failed: ${error}`);
      written.push(
        ...onImages.filter((write) => !imageErrors.has(write.resourceId)),
        ...onInstances.filter((write) => !instanceErrors.has(write.resourceId)),
      );
    } catch (error: unknown) {
      for (const decision of slice) {
        errors.set(decision.instanceId, `recording the outcome failed: ${errorMessage(error)}`);
      }
      logger.error('recording outcomes failed', { error: errorMessage(error) });
    }
  }

  const refusedById = new Map(refused.map((outcome) => [outcome.instanceId, outcome]));
  const results = decisions.map((planned) => {
    const decision = refusedById.get(planned.instanceId) ?? planned;
    if (deferredIds.has(decision.instanceId)) return { instanceId: decision.instanceId, action: 'deferred' };
    if (decision.kind === 'create-image' && !options.createImages)
      return { instanceId: decision.instanceId, action: 'wait', reason: 'ready for its image' };
    const created = createdIds.get(decision.instanceId);
    const result = { ...describe(decision, errors.get(decision.instanceId)), ...(created ? { imageId: created } : {}) };
    const log = result.error === undefined ? logger.info.bind(logger) : logger.error.bind(logger);
    log('run progress', { runId: decision.runId, ...result });
    return result;
  });
  return { outcomes: results, written };
}

export async function advanceRuns(
  invocation: { now: Date; dryRun: boolean; instanceIds?: readonly string[]; rule?: string },
  context: UseCaseContext,
  options: { createImages: boolean; functionName: string },
): Promise<Summary> {
  // Every instance in progress, even when only some are asked for: the turns of a group depend on all its members.
  const instances = await context.ec2.findInstances({
    tag: { key: InstanceTag.state, values: [...IN_PROGRESS_STEPS] },
  });
  const wanted = invocation.instanceIds === undefined ? undefined : new Set(invocation.instanceIds);
  const decisions = (await decideRuns(instances, invocation.now, context)).filter(
    (decision) => wanted === undefined || wanted.has(decision.instanceId),
  );
  const base = { function: options.functionName, now: invocation.now.toISOString(), dryRun: invocation.dryRun };
  if (invocation.dryRun) return { ...base, instances: decisions.map((decision) => describe(decision)) };
  // A pass of one of the passes' own rules knows that rule is on, and only it turns it off: a sweep or a console pass
  // finding nothing leaves them be (if on, their next pass stops them), so an idle night costs one call a sweep.
  const cadence = context.passes.cadenceOf(invocation.rule);
  const { outcomes, written } = await applyRuns(decisions, invocation.now, context, {
    ...options,
    ...(cadence === 'minutely' ? { passIntervalSeconds: MINUTE_SECONDS } : {}),
  });
  // Only createImages runs passes (recordImageState records outcomes the same way, from the console).
  if (options.createImages) {
    const wholePass = wanted === undefined;
    const next = passCadence(
      afterWrites(instances, written),
      { at: invocation.now, cadence: cadence ?? 'regular' },
      context.config,
    );
    await keepPasses(outcomes, { cadence, wholePass, next }, context);
  }
  return { ...base, instances: outcomes };
}

/**
 * Passes go on while work remains, at the cadence the instances left in flight need, and stop after a whole pass that
 * found none. A run may start between that pass's look and the stop: it is looked for once more after the stop, and
 * passes go back on for it. A failed switch is logged, not fatal: the sweep sets it right.
 */
async function keepPasses(
  outcomes: readonly InstanceOutcome[],
  pass: {
    /** The cadence of the rule that fired this pass; undefined for a sweep or a console pass. */
    readonly cadence: Cadence | undefined;
    /** Whether the pass looked at every instance in flight (not only some asked for). */
    readonly wholePass: boolean;
    /** The cadence the instances in flight need from now on. */
    readonly next: Cadence;
  },
  context: UseCaseContext,
) {
  const { config, ec2, logger, passes } = context;
  try {
    if (workRemains(outcomes)) {
      if (pass.cadence === undefined) await passes.start();
      else if (pass.wholePass && pass.next !== pass.cadence) {
        await passes.switchCadence(pass.cadence, pass.next);
        logger.info('passes change cadence', { from: pass.cadence, to: pass.next });
      }
      return;
    }
    if (pass.cadence === undefined || !pass.wholePass) return;
    await passes.stop(pass.cadence);
    const queued = await ec2.findInstances({ tag: { key: InstanceTag.state, values: [...IN_PROGRESS_STEPS] } });
    if (queued.some((instance) => isOptedIn(instance.tags, config.optIn))) {
      await passes.start();
      return;
    }
    logger.info('no run in flight: passes stop until the next run starts');
  } catch (error: unknown) {
    logger.error('switching the passes failed; the sweep will', { error: errorMessage(error) });
  }
}
