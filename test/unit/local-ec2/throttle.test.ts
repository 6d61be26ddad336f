import { QueryParams } from '../../../local/ec2/query';
import { requestBucketSpec, Throttler } from '../../../local/ec2/throttle';

const createImage = QueryParams.parse('Action=CreateImage&InstanceId=i-1&Name=backup');
const describeImages = QueryParams.parse('Action=DescribeImages&Owner.1=self&MaxResults=1000');

/** Calls of `action` every `everyMs` of the simulated clock for `seconds`; how many the throttler admitted. */
function admitted(throttler: Throttler, clock: { ms: number }, action: string, everyMs: number, seconds: number) {
  const params = action === 'CreateImage' ? createImage : describeImages;
  let count = 0;
  for (let at = 0; at < seconds * 1000; at += everyMs) {
    clock.ms = at;
    if (throttler.admit(action, params)) count += 1;
  }
  return count;
}

describe('Throttler with a competing load', () => {
  it('serves the service what another client leaves of a mutating bucket: its capacity, then half the refill', () => {
    // Prepare: CreateImage's bucket (50, 5 a second), asked 10 times a second for 100 s.
    const alone = { ms: 0 };
    const shared = { ms: 0 };
    const throttlerAlone = new Throttler(() => alone.ms);
    const throttlerShared = new Throttler(() => shared.ms, { competingLoad: 0.5 });

    // Act
    const servedAlone = admitted(throttlerAlone, alone, 'CreateImage', 100, 100);
    const servedShared = admitted(throttlerShared, shared, 'CreateImage', 100, 100);

    // Assess
    expect(servedAlone).toBeGreaterThanOrEqual(50 + 5 * 99);
    expect(servedAlone).toBeLessThanOrEqual(50 + 5 * 100);
    expect(servedShared).toBeGreaterThanOrEqual(50 + 2.5 * 99);
    expect(servedShared).toBeLessThanOrEqual(50 + 2.5 * 100);
    expect(throttlerShared.throttled('CreateImage')).toBe(1000 - servedShared);
    expect(throttlerShared.throttled()).toBe(1000 - servedShared);
  });

  it('leaves the non-mutating buckets whole', () => {
    const clock = { ms: 0 };
    const throttler = new Throttler(() => clock.ms, { competingLoad: 0.5 });

    // DescribeImages' bucket (100, 20 a second), asked 40 times a second for 10 s.
    expect(admitted(throttler, clock, 'DescribeImages', 25, 10)).toBeGreaterThanOrEqual(100 + 20 * 9);
    expect(requestBucketSpec('DescribeImages', 0.5)).toEqual(requestBucketSpec('DescribeImages'));
  });

  it('states the share left in the buckets the bound reads', () => {
    expect(requestBucketSpec('CreateImage', 0.5)).toEqual({ capacity: 50, refillPerSecond: 2.5 });
    expect(requestBucketSpec('DeregisterImage', 0.25)).toEqual({ capacity: 100, refillPerSecond: 3.75 });
  });

  it('refuses a load outside [0, 1)', () => {
    expect(() => new Throttler(() => 0, { competingLoad: 1 })).toThrow(/competingLoad/);
    expect(() => new Throttler(() => 0, { competingLoad: -0.1 })).toThrow(/competingLoad/);
  });
});
