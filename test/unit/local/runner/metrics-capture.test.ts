import { emfValues } from '../../../../local/runner/metrics-capture';

describe('emfValues', () => {
  it('reads the values of the metrics an embedded-metric-format line declares', () => {
    const line = JSON.stringify({
      _aws: {
        Timestamp: 0,
        CloudWatchMetrics: [
          {
            Namespace: 'ami-backup',
            Dimensions: [['service', 'stage']],
            Metrics: [
              { Name: 'BackupsSucceeded', Unit: 'Count' },
              { Name: 'ImagesExpired', Unit: 'Count' },
            ],
          },
        ],
      },
      service: 'ami-backup',
      stage: 'dev',
      BackupsSucceeded: 3,
      ImagesExpired: [1, 2],
    });
    expect(emfValues(line)).toEqual({ BackupsSucceeded: 3, ImagesExpired: 3 });
  });

  it('leaves other lines alone', () => {
    expect(emfValues('{"level":"INFO","message":"run start"}')).toBeUndefined();
    expect(emfValues('"_aws" but not JSON')).toBeUndefined();
  });
});
