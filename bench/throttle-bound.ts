/**
 * The throttle-bound minimum of a night: how long EC2's request buckets alone make the calls it must make last.
 *
 * Each action draws from its own bucket (capacity C, refill r per second), and buckets refill in parallel, so n calls
 * of an action need at least max(0, n − C) / r seconds, and the night at least the longest of these. CreateImage also
 * sits between two waits no rate can shorten: the reboot's grace period g before the calls for rebooted instances,
 * and the image's own creation after the last call. Instances imaged without a reboot may take tokens during the
 * grace period, but the bucket holds at most C of what it refilled then, so the last CreateImage comes no sooner than
 * g + max(0, R − min(C, C + r·g − Q)) / r for R rebooted and Q unrebooted instances, nor than (R + Q − C) / r.
 */
import { requestBucketSpec } from '../local/ec2/throttle';

export interface Bound {
  readonly seconds: number;
  /** The action whose bucket sets the bound. */
  readonly by: string;
}

export interface NightWaits {
  readonly rebootGraceSeconds: number;
  readonly imageSeconds: number;
  /** Of the night's CreateImage calls, those for instances imaged without a reboot (no grace period to wait). */
  readonly imagedWithoutReboot: number;
}

/** Seconds from the reboot to the last CreateImage call, at the most the bucket allows. */
function lastCreateImageSeconds(count: number, waits: NightWaits): number {
  const { capacity, refillPerSecond } = requestBucketSpec('CreateImage');
  const unrebooted = Math.min(waits.imagedWithoutReboot, count);
  const rebooted = count - unrebooted;
  const overall = Math.max(0, count - capacity) / refillPerSecond;
  if (rebooted === 0) return overall;
  const tokensAtGrace = Math.max(
    0,
    Math.min(capacity, capacity + refillPerSecond * waits.rebootGraceSeconds - unrebooted),
  );
  const afterGrace = waits.rebootGraceSeconds + Math.max(0, rebooted - tokensAtGrace) / refillPerSecond;
  return Math.max(overall, afterGrace);
}

export function throttleBound(calls: Readonly<Record<string, number>>, waits: NightWaits): Bound {
  let bound: Bound = { seconds: 0, by: 'none' };
  for (const [action, count] of Object.entries(calls)) {
    const spec = requestBucketSpec(action);
    const seconds =
      action === 'CreateImage' && count > 0
        ? lastCreateImageSeconds(count, waits) + waits.imageSeconds
        : Math.max(0, count - spec.capacity) / spec.refillPerSecond;
    if (seconds > bound.seconds) bound = { seconds, by: action };
  }
  return bound;
}
