/**
 * The service's CloudWatch metrics, in the embedded metric format: written with the function's output at the end of
 * each invocation, so they cost no API call. Namespace `ami-backup`, dimension `stage`. They are counted from what
 * each invocation's summary says it did (outcomes recorded, images expired), not from what it tried.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
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

/** Adds the values to this invocation's metrics (zeros too: an alarm reads a night without failures as 0, not as missing data). */
export function addMetrics(values: MetricValues): void {
  for (const [name, value] of Object.entries(values)) metrics.addMetric(name, MetricUnit.Count, value);
}
