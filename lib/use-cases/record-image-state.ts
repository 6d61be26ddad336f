/**
 * Images of this service became available or failed: record their outcomes on their instances (and on the images,
 * which marks them recorded) at once, instead of waiting for the next sweep. A batch of state changes costs one
 * look-up of its images and, for its successes, one write: images the service does not own, and outcomes already
 * recorded, are ignored.
 */

import { decideImageOutcome, type RunOutcome } from '../decisions/progress';
import { errorMessage, isTransient } from '../errors';
import type { ImageStateChange } from '../input';
import { ImageTag } from '../tags';
import { applyRuns } from './advance-runs';
import type { Summary, UseCaseContext } from './context';

export interface IgnoredChange {
  readonly imageId: string;
  /** Why nothing was recorded for it. */
  readonly reason: string;
}

export interface RecordSummary extends Summary {
  readonly ignored: readonly IgnoredChange[];
}

/**
 * Records the outcomes; when EC2 throttles (many images completing at once), leaves them to the next createImages
 * sweep, which records every outcome due, rather than failing the batch into redeliveries.
 */
export async function recordImageStates(
  changes: readonly ImageStateChange[],
  context: UseCaseContext,
): Promise<RecordSummary> {
  // The latest time of the batch: every change in it had happened by then.
  const now = new Date(Math.max(...changes.map((change) => change.now.getTime())));
  const base = { function: 'recordImageState', now: now.toISOString(), dryRun: false };
  try {
    return { ...base, ...(await record(changes, now, context)) };
  } catch (error: unknown) {
    if (!isTransient(error)) throw error;
    const reason = `EC2 busy (${errorMessage(error)}): the next createImages sweep records this outcome`;
    context.logger.warn('EC2 busy: the next sweep records these outcomes', {
      imageIds: changes.map((change) => change.imageId),
      error: errorMessage(error),
    });
    return { ...base, instances: [], ignored: changes.map((change) => ({ imageId: change.imageId, reason })) };
  }
}

async function record(
  changes: readonly ImageStateChange[],
  now: Date,
  context: UseCaseContext,
): Promise<Pick<RecordSummary, 'instances' | 'ignored'>> {
  const { config, ec2, logger } = context;
  // EventBridge delivers at least once: an image named twice in a batch is recorded once.
  const latest = new Map<string, ImageStateChange>();
  for (const change of changes) {
    const seen = latest.get(change.imageId);
    if (seen === undefined || seen.now < change.now) latest.set(change.imageId, change);
  }
  const images = new Map((await ec2.findImagesById([...latest.keys()])).map((image) => [image.id, image]));
  // Their instances too: one imaged with EC2's reboot must be back healthy, and one no longer opted in is not tagged.
  const instanceIds = [...new Set([...images.values()].flatMap((image) => image.tags[ImageTag.instanceId] ?? []))];
  const instances = new Map(
    (instanceIds.length > 0 ? await ec2.findInstances({ instanceIds }) : []).map((instance) => [instance.id, instance]),
  );
  const decisions: RunOutcome[] = [];
  const ignored: IgnoredChange[] = [];
  for (const change of latest.values()) {
    const image = images.get(change.imageId);
    const outcome =
      image === undefined
        ? { kind: 'ignore' as const, reason: 'image not found in this account' }
        : decideImageOutcome(image, instances.get(image.tags[ImageTag.instanceId] ?? ''), change.now, config);
    if (outcome.kind === 'record') {
      decisions.push(outcome.decision);
    } else {
      logger.info('image state change ignored', {
        imageId: change.imageId,
        state: change.state,
        ignored: outcome.reason,
      });
      ignored.push({ imageId: change.imageId, reason: outcome.reason });
    }
  }
  const recorded =
    decisions.length > 0 ? (await applyRuns(decisions, now, context, { createImages: false })).outcomes : [];
  return { instances: recorded, ignored };
}
