/**
 * Moving runs forward: create the image of each instance whose reboot is over, and record the outcome of images that
 * became available or failed (whether or not their state-change event came).
 */
import { backupFailed, EventType, type ServiceEvent } from '../backup-events';
import {
  decideProgress,
  imagingTags,
  needsHealth,
  outcomeTags,
  type ProgressDecision,
  type RunOutcome,
  runImageName,
} from '../decisions/progress';
import { errorMessage, isTransient } from '../errors';
import type { Image, Instance, TagWrite } from '../model';
import { IN_PROGRESS_STEPS, InstanceTag } from '../tags';
import { forEachLimit, type InstanceOutcome, SAFETY_MARGIN_MS, type Summary, type UseCaseContext } from './context';

/** CreateImage calls under way at once: EC2's mutating bucket refills at about 5 a second. */
const CREATE_CONCURRENCY = 4;
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
    decision.kind === 'succeeded'
      ? decision.image.id
      : decision.kind === 'adopt-image' || decision.kind === 'failed'
        ? decision.imageId
        : undefined;
  return {
    instanceId: decision.instanceId,
    action: decision.kind,
    ...('reason' in decision ? { reason: decision.reason } : {}),
    ...(imageId === undefined ? {} : { imageId }),
    ...(error === undefined ? {} : { error }),
  };
}

/** Decides the next move of each instance in progress, reading only what the decisions need from EC2. */
export async function decideRuns(
  instances: readonly Instance[],
  now: Date,
  context: UseCaseContext,
  knownImages: readonly Image[] = [],
): Promise<ProgressDecision[]> {
  const { config, ec2 } = context;
  const healthIds = instances.filter((instance) => needsHealth(instance, now, config)).map((instance) => instance.id);
  const health = healthIds.length > 0 ? await ec2.findHealth(healthIds) : new Map();
  const names = instances.flatMap((instance) => runImageName(instance) ?? []);
  const unknownNames = names.filter((name) => !knownImages.some((image) => image.name === name));
  const images = [...knownImages, ...(unknownNames.length > 0 ? await ec2.findImagesByName(unknownNames) : [])];
  const byName = new Map(images.map((image) => [image.name, image]));
  return instances.map((instance) => {
    const name = runImageName(instance);
    const image = name === undefined ? undefined : byName.get(name);
    return decideProgress(
      {
        instance,
        ...(image ? { image } : {}),
        ...(health.has(instance.id) ? { health: health.get(instance.id) } : {}),
      },
      now,
      config,
    );
  });
}

/**
 * Applies progress decisions. Outcomes are published before they are tagged (a crash repeats an event rather than
 * losing it); images are created before the instance records them (a crash is caught by the name on the next pass).
 */
export async function applyRuns(
  decisions: readonly ProgressDecision[],
  now: Date,
  context: UseCaseContext,
  options: { createImages: boolean },
): Promise<InstanceOutcome[]> {
  const { ec2, events, logger, remainingMs } = context;
  const errors = new Map<string, string>();
  const tagWrites: TagWrite[] = [];
  const more = (): boolean => remainingMs() > SAFETY_MARGIN_MS;

  const creations = options.createImages ? decisions.filter((decision) => decision.kind === 'create-image') : [];
  const createdIds = new Map<string, string>();
  const refused: RunOutcome[] = [];
  const deferred = await forEachLimit(creations, CREATE_CONCURRENCY, more, async (decision) => {
    try {
      const created = await ec2.createImage(decision.request);
      createdIds.set(decision.instanceId, created.imageId);
      tagWrites.push({ resourceId: decision.instanceId, tags: imagingTags(now) });
      logger.info('image created', {
        instanceId: decision.instanceId,
        imageId: created.imageId,
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
    if (decision.kind === 'adopt-image') {
      tagWrites.push({ resourceId: decision.instanceId, tags: imagingTags(now) });
    }
  }
  for (const [id, error] of await ec2.writeTags(tagWrites)) errors.set(id, `tagging failed: ${error}`);

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
      await events.publish(slice.map((decision) => outcomeEvent(decision, now)));
      // The image gets the same tags, in the same call: they mark its outcome recorded for its state-change event.
      const recorded = slice.flatMap((decision) => {
        const imageId = decision.kind === 'succeeded' ? decision.image.id : decision.imageId;
        const tags = outcomeTags(decision);
        const onInstance = { resourceId: decision.instanceId, tags };
        return imageId === undefined ? [onInstance] : [onInstance, { resourceId: imageId, tags }];
      });
      for (const [id, error] of await ec2.writeTags(recorded)) errors.set(id, `tagging failed: ${error}`);
    } catch (error: unknown) {
      for (const decision of slice) {
        errors.set(decision.instanceId, `recording the outcome failed: ${errorMessage(error)}`);
      }
      logger.error('recording outcomes failed', { error: errorMessage(error) });
    }
  }

  const refusedById = new Map(refused.map((outcome) => [outcome.instanceId, outcome]));
  return decisions.map((planned) => {
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
}

export async function advanceRuns(
  invocation: { now: Date; dryRun: boolean; instanceIds?: readonly string[] },
  context: UseCaseContext,
  options: { createImages: boolean; functionName: string },
): Promise<Summary> {
  const instances = await context.ec2.findInstances({
    tag: { key: InstanceTag.state, values: [...IN_PROGRESS_STEPS] },
    ...(invocation.instanceIds === undefined ? {} : { instanceIds: invocation.instanceIds }),
  });
  const decisions = await decideRuns(instances, invocation.now, context);
  const base = { function: options.functionName, now: invocation.now.toISOString(), dryRun: invocation.dryRun };
  if (invocation.dryRun) return { ...base, instances: decisions.map((decision) => describe(decision)) };
  return { ...base, instances: await applyRuns(decisions, invocation.now, context, options) };
}
