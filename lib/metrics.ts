/**
 * The service's CloudWatch metrics, in the embedded metric format: written with the function's output at the end of
 * each invocation, so they cost no API call. Namespace `ami-backup`, dimension `stage`. They are counted from what
 * each invocation's summary says it did (outcomes recorded, images expired), not from what it tried; and EC2's
 * refusals and throttles, as the EC2 adapter saw them.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import { isDenied, isThrottled } from './errors';
import { logger } from './logger';
import type { InstanceOutcome } from './use-cases/context';

export const METRICS_NAMESPACE = 'ami-backup';

export const MetricName = {
  backupsSucceeded: 'BackupsSucceeded',
  backupsFailed: 'BackupsFailed',
  imagesExpired: 'ImagesExpired',
  snapshotsDeleted: 'SnapshotsDeleted',
  staleInstances: 'StaleInstances',
  lookAlikeImages: 'LookAlikeImages',
  restoreTestsPassed: 'RestoreTestsPassed',
  restoreTestsFailed: 'RestoreTestsFailed',
  copiesSucceeded: 'CopiesSucceeded',
  copiesFailed: 'CopiesFailed',
  copiesExpired: 'CopiesExpired',
  imagesShared: 'ImagesShared',
  sharesRevoked: 'SharesRevoked',
  shareFailures: 'ShareFailures',
  deniedCalls: 'DeniedCalls',
  throttledCalls: 'ThrottledCalls',
} as const;
export type MetricName = (typeof MetricName)[keyof typeof MetricName];

export type MetricValues = Partial<Record<MetricName, number>>;

/**
 * The service's one metrics store; handlers publish it at the end of each invocation. Its own warnings (no metric in
 * an invocation that failed or was a dry run) go through the service's logger.
 */
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, logger });

/** Outcomes recorded by a pass or a batch of state changes (one that failed to record is not counted: it will be). */
export function outcomeMetrics(outcomes: readonly InstanceOutcome[]): MetricValues {
  const recorded = (action: string) =>
    outcomes.filter((outcome) => outcome.action === action && outcome.error === undefined).length;
  return { [MetricName.backupsSucceeded]: recorded('succeeded'), [MetricName.backupsFailed]: recorded('failed') };
}

/** A run's start: the backups that could not start (recorded failed) and the instances found stale. */
export function startMetrics(summary: {
  readonly instances: readonly InstanceOutcome[];
  readonly stale: readonly unknown[];
}): MetricValues {
  const failed = summary.instances.filter((outcome) => outcome.action === 'fail' && outcome.error === undefined);
  return { [MetricName.backupsFailed]: failed.length, [MetricName.staleInstances]: summary.stale.length };
}

/** A rotation: images expired, snapshots deleted, look-alikes found. */
export function rotationMetrics(summary: {
  readonly imagesExpired: number;
  readonly snapshotsDeleted: number;
  readonly lookAlikes: readonly unknown[];
}): MetricValues {
  return {
    [MetricName.imagesExpired]: summary.imagesExpired,
    [MetricName.snapshotsDeleted]: summary.snapshotsDeleted,
    [MetricName.lookAlikeImages]: summary.lookAlikes.length,
  };
}

/** Restore tests whose result this invocation recorded on their image. */
export function restoreTestMetrics(summary: { readonly passed: number; readonly failed: number }): MetricValues {
  return { [MetricName.restoreTestsPassed]: summary.passed, [MetricName.restoreTestsFailed]: summary.failed };
}

/** A copy pass: copies recorded good or failed, and copies expired in their Regions. */
export function copyMetrics(summary: {
  readonly copiesSucceeded: number;
  readonly copiesFailed: number;
  readonly copiesExpired: number;
}): MetricValues {
  return {
    [MetricName.copiesSucceeded]: summary.copiesSucceeded,
    [MetricName.copiesFailed]: summary.copiesFailed,
    [MetricName.copiesExpired]: summary.copiesExpired,
  };
}

/** A share pass: images shared with more accounts, images unshared from some, and backups that could not be shared. */
export function shareMetrics(summary: {
  readonly imagesShared: number;
  readonly imagesUnshared: number;
  readonly instances: readonly InstanceOutcome[];
}): MetricValues {
  return {
    [MetricName.imagesShared]: summary.imagesShared,
    [MetricName.sharesRevoked]: summary.imagesUnshared,
    [MetricName.shareFailures]: summary.instances.filter((outcome) => outcome.action === 'share-failed').length,
  };
}

/** Adds the values to this invocation's metrics (zeros too: an alarm reads a night without failures as 0, not as missing data). */
export function addMetrics(values: MetricValues): void {
  for (const [name, value] of Object.entries(values)) metrics.addMetric(name, MetricUnit.Count, value);
}

/**
 * EC2's refusals and throttles in this invocation, one per attempt (the SDK's retries included): the EC2 adapter
 * counts each answer, {@link callMetrics} publishes them. A Lambda environment runs one invocation at a time.
 */
const answers = { denied: 0, throttled: 0 };

/** Counts an EC2 error answer: denied by IAM, or throttled; any other is not counted. */
export function countEc2Answer(error: unknown): void {
  if (isThrottled(error)) answers.throttled += 1;
  else if (isDenied(error)) answers.denied += 1;
}

/** This invocation's `DeniedCalls` and `ThrottledCalls` so far. */
export function callCounts(): MetricValues {
  return { [MetricName.deniedCalls]: answers.denied, [MetricName.throttledCalls]: answers.throttled };
}

/**
 * Middy middleware: counts from zero at each invocation's start, and adds `DeniedCalls` and `ThrottledCalls` at its
 * end, failed, dry run or not (they are EC2's answers, whatever the invocation did). Used after `logMetrics`, so that
 * they are added before it publishes.
 */
export function callMetrics(): MiddlewareObj {
  const publish = async (): Promise<void> => {
    addMetrics(callCounts());
  };
  return {
    before: async () => {
      answers.denied = 0;
      answers.throttled = 0;
    },
    after: publish,
    onError: publish,
  };
}
