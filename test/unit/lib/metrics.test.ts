import { MetricName, outcomeMetrics, rotationMetrics, shareMetrics, startMetrics } from '../../../lib/metrics';

describe('the metrics of an invocation', () => {
  it('counts the outcomes a pass or a batch recorded, not those that failed to record', () => {
    expect(
      outcomeMetrics([
        { instanceId: 'i-1', action: 'succeeded' },
        { instanceId: 'i-2', action: 'succeeded', error: 'tagging failed: throttled' },
        { instanceId: 'i-3', action: 'failed' },
        { instanceId: 'i-4', action: 'wait' },
      ]),
    ).toEqual({ [MetricName.backupsSucceeded]: 1, [MetricName.backupsFailed]: 1 });
  });

  it("counts a run start's recorded failures and its stale instances, zeros included", () => {
    expect(
      startMetrics({
        instances: [
          { instanceId: 'i-1', action: 'queue' },
          { instanceId: 'i-2', action: 'fail' },
          { instanceId: 'i-3', action: 'fail', error: 'publishing the failure failed' },
        ],
        stale: [],
      }),
    ).toEqual({ [MetricName.backupsFailed]: 1, [MetricName.staleInstances]: 0 });
  });

  it('counts what a rotation expired, deleted and found', () => {
    expect(rotationMetrics({ imagesExpired: 3, snapshotsDeleted: 4, lookAlikes: ['ami-1'] })).toEqual({
      [MetricName.imagesExpired]: 3,
      [MetricName.snapshotsDeleted]: 4,
      [MetricName.lookAlikeImages]: 1,
    });
  });

  it('counts what a share pass shared, unshared and could not share', () => {
    expect(
      shareMetrics({
        imagesShared: 2,
        imagesUnshared: 1,
        instances: [
          { instanceId: 'i-1', action: 'share', imageId: 'ami-1' },
          { instanceId: 'i-2', action: 'share-failed', imageId: 'ami-2', reason: 'the AWS managed key' },
        ],
      }),
    ).toEqual({ [MetricName.imagesShared]: 2, [MetricName.sharesRevoked]: 1, [MetricName.shareFailures]: 1 });
  });
});
