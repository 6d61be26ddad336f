/**
 * An image of this service became available or failed: record the outcome on its instance at once, instead of
 * waiting for the next sweep. Images the service does not own, and images of runs already recorded, are ignored.
 */

import { runImageName } from '../decisions/progress';
import { errorMessage, isTransient } from '../errors';
import type { ImageStateChange } from '../input';
import { ImageTag, IN_PROGRESS_STEPS, InstanceTag } from '../tags';
import { applyRuns, decideRuns } from './advance-runs';
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
  const ignore = (ignored: string): RecordSummary => {
    logger.info('image state change ignored', { imageId: change.imageId, state: change.state, ignored });
    return { ...base, instances: [], ignored };
  };

  const [image] = await ec2.findImagesById([change.imageId]);
  if (image === undefined) return ignore('image not found in this account');
  if (image.tags[ImageTag.managedBy] !== config.owner) return ignore('image not managed by this service');
  const instanceId = image.tags[ImageTag.instanceId];
  if (instanceId === undefined) return ignore(`image has no ${ImageTag.instanceId} tag`);
  const [instance] = await ec2.findInstances({ instanceIds: [instanceId] });
  if (instance === undefined) return ignore(`instance ${instanceId} no longer exists`);
  const step = instance.tags[InstanceTag.state];
  if (!IN_PROGRESS_STEPS.some((inProgress) => inProgress === step) || runImageName(instance) !== image.name) {
    return ignore(`instance ${instanceId} is not waiting for this image`);
  }

  const decisions = await decideRuns([instance], change.now, context, [image]);
  return { ...base, instances: await applyRuns(decisions, change.now, context, { createImages: false }) };
}
