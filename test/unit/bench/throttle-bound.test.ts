import { throttleBound } from '../../../bench/throttle-bound';

// EC2's documented buckets: CreateImage (mutating) 50 / 5 a second; DeregisterImage 100 / 5; CreateTags 100 / 10.
const waits = { rebootGraceSeconds: 300, imageSeconds: 220, imagedWithoutReboot: 0 };

describe('throttleBound', () => {
  it('is the grace period, the bucket time of the rebooted instances, then the image creation', () => {
    expect(throttleBound({ CreateImage: 10_000 }, waits)).toEqual({
      seconds: 300 + 9_950 / 5 + 220,
      by: 'CreateImage',
    });
  });

  it('lets instances imaged without a reboot use the grace period, but the bucket keeps at most its capacity', () => {
    // 1,000 unrebooted calls fit in the 1,550 tokens of the grace period; the bucket then holds 50, not 550.
    const bound = throttleBound({ CreateImage: 10_000 }, { ...waits, imagedWithoutReboot: 1_000 });
    expect(bound.seconds).toBe(300 + (9_000 - 50) / 5 + 220);
  });

  it('counts the unrebooted calls the grace period cannot absorb against the rebooted ones', () => {
    // 2,000 unrebooted calls: 1,550 tokens by the end of the grace period, so 450 are still to come after it.
    const bound = throttleBound({ CreateImage: 3_000 }, { ...waits, imagedWithoutReboot: 2_000 });
    expect(bound.seconds).toBe((3_000 - 50) / 5 + 220);
  });

  it('needs no grace period when no instance is rebooted', () => {
    expect(throttleBound({ CreateImage: 550 }, { ...waits, imagedWithoutReboot: 550 }).seconds).toBe(100 + 220);
  });

  it('is set by another bucket when that one is slower', () => {
    expect(throttleBound({ CreateImage: 100, DeregisterImage: 20_100, CreateTags: 5 }, waits)).toEqual({
      seconds: 4_000,
      by: 'DeregisterImage',
    });
  });

  it('is zero for a night without calls', () => {
    expect(throttleBound({}, waits)).toEqual({ seconds: 0, by: 'none' });
  });
});
