import { throttleBound } from '../../../bench/throttle-bound';

// EC2's documented buckets: CreateImage (mutating) 50 / 5 a second; DeregisterImage 100 / 5; CreateTags 100 / 10.
const waits = { imageSeconds: 220, rebootSlotSeconds: 300, imagedWithReboot: 0 };

describe('throttleBound', () => {
  it('is the bucket time of the CreateImage calls, then the last image’s creation', () => {
    expect(throttleBound({ CreateImage: 10_000 }, waits)).toEqual({ seconds: 9_950 / 5 + 220, by: 'CreateImage' });
  });

  it('lets the calls with a reboot come first, each then waiting for its instance’s return', () => {
    // 9,000 of 10,000 with a reboot: their last call at 8,950 / 5 s, back 300 s later; the others end later still.
    const bound = throttleBound({ CreateImage: 10_000 }, { ...waits, imagedWithReboot: 9_000 });
    expect(bound.seconds).toBe(9_950 / 5 + 220);
  });

  it('is set by the return of the instances rebooted when nearly every call reboots one', () => {
    const bound = throttleBound({ CreateImage: 1_000 }, { ...waits, imagedWithReboot: 1_000 });
    expect(bound.seconds).toBe(950 / 5 + 300);
  });

  it('waits for the image when it takes longer than the instance’s return', () => {
    const bound = throttleBound(
      { CreateImage: 50 },
      { imageSeconds: 400, rebootSlotSeconds: 300, imagedWithReboot: 50 },
    );
    expect(bound.seconds).toBe(400);
  });

  it('is set by another bucket when that one is slower', () => {
    expect(throttleBound({ CreateImage: 100, DeregisterImage: 20_100, CreateTags: 5 }, waits)).toEqual({
      seconds: 4_000,
      by: 'DeregisterImage',
    });
  });

  it('counts on what another client leaves of each mutating bucket, and on whole non-mutating ones', () => {
    expect(throttleBound({ CreateImage: 10_000 }, waits, 0.5)).toEqual({
      seconds: 9_950 / 2.5 + 220,
      by: 'CreateImage',
    });
    expect(throttleBound({ DescribeImages: 20_100 }, waits, 0.5)).toEqual({ seconds: 1_000, by: 'DescribeImages' });
  });

  it('is zero for a night without calls', () => {
    expect(throttleBound({}, waits)).toEqual({ seconds: 0, by: 'none' });
  });
});
