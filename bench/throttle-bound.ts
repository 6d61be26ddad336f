/**
 * The throttle-bound minimum of a night: how long EC2's request buckets alone make the calls it must make last.
 *
 * Each action draws from its own bucket (capacity C, refill r per second), and buckets refill in parallel, so n calls
 * of an action need at least max(0, n − C) / r seconds, and the night at least the longest of these. CreateImage also
 * sits between two waits no rate can shorten: the reboot's grace period before the first call, and the image's own
 * creation after the last. So: max over actions of the bucket time, where CreateImage's is grace + bucket time +
 * image creation.
 */
import { requestBucketSpec } from '../local/ec2/throttle';

export interface Bound {
  readonly seconds: number;
  /** The action whose bucket sets the bound. */
  readonly by: string;
}

export function throttleBound(
  calls: Readonly<Record<string, number>>,
  waits: { rebootGraceSeconds: number; imageSeconds: number },
): Bound {
  let bound: Bound = { seconds: 0, by: 'none' };
  for (const [action, count] of Object.entries(calls)) {
    const spec = requestBucketSpec(action);
    const bucketSeconds = Math.max(0, count - spec.capacity) / spec.refillPerSecond;
    const seconds =
      action === 'CreateImage' && count > 0
        ? waits.rebootGraceSeconds + bucketSeconds + waits.imageSeconds
        : bucketSeconds;
    if (seconds > bound.seconds) bound = { seconds, by: action };
  }
  return bound;
}
