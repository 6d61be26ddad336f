/**
 * The throttle-bound minimum of a night: how long EC2's request buckets alone make the calls it must make last.
 *
 * Each action draws from its own bucket (capacity C, refill r per second), and buckets refill in parallel, so n calls
 * of an action need at least max(0, n − C) / r seconds, and the night at least the longest of these. CreateImage is
 * followed by a wait no rate can shorten: the image's own creation (i seconds), and for an instance imaged with EC2's
 * reboot, its return (a slot s ≥ i, see `night-bound.ts`) before its backup counts. Those calls may come first, so the
 * last of the R imaged with a reboot comes no sooner than (R − C) / r, and the last of all n no sooner than (n − C) / r:
 * the night lasts at least max((n − C) / r + i, (R − C) / r + max(s, i)).
 *
 * When another client takes a share F of each mutating bucket's refill all night, what is left to the service refills
 * at r·(1 − F): the same formulas with that rate.
 */
import { requestBucketSpec } from '../local/ec2/throttle';

export interface Bound {
  readonly seconds: number;
  /** What sets the bound: an action's bucket, or another constraint of the night. */
  readonly by: string;
}

export interface CreateImageWaits {
  /** From CreateImage to the image available. */
  readonly imageSeconds: number;
  /** From CreateImage with EC2's reboot to the instance back healthy as the service may see it. */
  readonly rebootSlotSeconds: number;
  /** Of the night's CreateImage calls, those for instances imaged with EC2's reboot (NoReboot=false). */
  readonly imagedWithReboot: number;
}

/** Seconds from the night's start to the last CreateImage's backup, at the most the bucket allows. */
function createImageSeconds(count: number, waits: CreateImageWaits, competingLoad: number): number {
  const { capacity, refillPerSecond } = requestBucketSpec('CreateImage', competingLoad);
  const after = (calls: number): number => Math.max(0, calls - capacity) / refillPerSecond;
  const rebooted = Math.min(waits.imagedWithReboot, count);
  const all = after(count) + waits.imageSeconds;
  if (rebooted === 0) return all;
  return Math.max(all, after(rebooted) + Math.max(waits.rebootSlotSeconds, waits.imageSeconds));
}

/** The bound of the night's calls; `competingLoad` is the share of each mutating bucket's refill another client takes. */
export function throttleBound(
  calls: Readonly<Record<string, number>>,
  waits: CreateImageWaits,
  competingLoad = 0,
): Bound {
  let bound: Bound = { seconds: 0, by: 'none' };
  for (const [action, count] of Object.entries(calls)) {
    const spec = requestBucketSpec(action, competingLoad);
    const seconds =
      action === 'CreateImage' && count > 0
        ? createImageSeconds(count, waits, competingLoad)
        : Math.max(0, count - spec.capacity) / spec.refillPerSecond;
    if (seconds > bound.seconds) bound = { seconds, by: action };
  }
  return bound;
}
