/**
 * An image of this service became available or failed: record the outcome on its instance (and on the image, which
 * marks it recorded) at once, instead of waiting for the next sweep. One look-up and one write: images the service
 * does not own, and outcomes already recorded, are ignored.
 */

import { decideImageOutcome, type ImageOutcome } from '../decisions/progress';
import { errorMessage, isTransient } from '../errors';
import type { ImageStateChange } from '../input';
import { applyRuns } from './advance-runs';
import type { Summary, UseCaseContext } from './context';

export interface RecordSummary extends Summary {
  readonly imageId: string;
  /** Why nothing was recorded, when nothing was. */
  readonly ignored?: string;
}

/**
 * Records the outcome; when EC2 throttles (many images completing at once), leaves it to the next createImages sweep,
 * which records every outcome due, rather than failing the invocation into Lambda's retries.
 */
export async function recordImageState(change: ImageStateChange, context: UseCaseContext): Promise<RecordSummary> {
  try {
    return await record(change, context);
  } catch (error: unknown) {
    if (!isTransient(error)) throw error;
    context.logger.warn('EC2 busy: the next sweep records this outcome', {
      imageId: change.imageId,
      error: errorMessage(error),
    });
    return {
      function: 'recordImageState',
      now: change.now.toISOString(),
      dryRun: false,
      imageId: change.imageId,
      instances: [],
      ignored: `EC2 busy (${errorMessage(error)}): the next createImages sweep records this outcome`,
    };
  }
}

async function record(change: ImageStateChange, context: UseCaseContext): Promise<RecordSummary> {
  const { config, ec2, logger } = context;
  const base = { function: 'recordImageState', now: change.now.toISOString(), dryRun: false, imageId: change.imageId };
  const [image] = await ec2.findImagesById([change.imageId]);
  const outcome: ImageOutcome =
    image === undefined
      ? { kind: 'ignore', reason: 'image not found in this account' }
      : decideImageOutcome(image, change.now, config);
  if (outcome.kind === 'ignore') {
    logger.info('image state change ignored', {
      imageId: change.imageId,
      state: change.state,
      ignored: outcome.reason,
    });
    return { ...base, instances: [], ignored: outcome.reason };
  }
  return { ...base, instances: await applyRuns([outcome.decision], change.now, context, { createImages: false }) };
}
