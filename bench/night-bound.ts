/**
 * The bound of a night: the least time, from the run's start to its last backup recorded, that the service could take
 * at all, whatever its design. It is the longest of three constraints, each a minimum no schedule can beat:
 *
 * - EC2's request buckets ({@link throttleBound}, `throttle-bound.ts`).
 * - A group's turns. An instance imaged with EC2's reboot (CreateImage NoReboot=false) is down from the call until
 *   the service may see it back healthy: its OS shuts down (d), boots (b), and its status checks pass again at the
 *   earliest at the end of the boot (they run every minute, on a grid that may fall right there); and the service
 *   trusts no status check before its grace period g, counted from the minute of the call (`ami-backup:since`). So
 *   each image's reboot takes a slot of s = max(g, d + b). With
 *   at most p members of a group down at once, a group with k members imaged with a reboot needs ⌈k / p⌉ slots one
 *   after another, and its last backup counts only once its image is available too (i seconds after the call):
 *   (⌈k / p⌉ − 1)·s + max(s, i) for the longest group. Members imaged without a reboot are not held back by their group.
 * - The fleet-wide cap: with at most C instances down at once, R instances imaged with a reboot need ⌈R / C⌉ slots,
 *   so (⌈R / C⌉ − 1)·s + max(s, i).
 * - A group's turns behind the CreateImage bucket: of the L groups as long as the longest, one starts its first turn
 *   with the L-th CreateImage call or a later one, which comes no sooner than (L − B) / r (bucket capacity B, refill
 *   r a second); its turns follow, counted from that call's minute. So (L − B) / r, down to the minute, plus the
 *   longest group's turns.
 *
 * With another client taking a share F of each mutating bucket's refill, the buckets' r is what it leaves: r·(1 − F).
 *
 * Each is a lower bound on its own, so their maximum is one too; the service's passes (every minute) and the waits
 * between a pass and the next add to it.
 */
import { requestBucketSpec } from '../local/ec2/throttle';
import { type Bound, throttleBound } from './throttle-bound';

export interface ImageRebootPhases {
  /** The service's wait after the CreateImage call before it trusts status checks. */
  readonly rebootGraceSeconds: number;
  /** EC2's clean OS shutdown before the snapshots. */
  readonly shutdownSeconds: number;
  /** The boot after the snapshots, until the OS is up again. */
  readonly bootSeconds: number;
}

/** The least time an instance is down for its image's reboot, as the service may see it. */
export function rebootSlotSeconds(phases: ImageRebootPhases): number {
  return Math.max(phases.rebootGraceSeconds, phases.shutdownSeconds + phases.bootSeconds);
}

/** `slots` image reboots one after another; the last backup also waits for its image. */
export function serialSeconds(slots: number, slotSeconds: number, imageSeconds: number): number {
  return slots <= 0 ? 0 : (slots - 1) * slotSeconds + Math.max(slotSeconds, imageSeconds);
}

export interface RebootGroups {
  /** Instances imaged with EC2's reboot (running, reboot mode). */
  readonly imagedWithReboot: number;
  /** The most of them in one group; an instance in no group counts as a group of its own. */
  readonly longestGroup: number;
  /** How many groups are that long. */
  readonly longestGroups: number;
}

/** The instances imaged with a reboot and the size of the longest group of them. */
export function rebootGroups(members: readonly { readonly group?: string; readonly reboot: boolean }[]): RebootGroups {
  const byGroup = new Map<string, number>();
  let imagedWithReboot = 0;
  let ungrouped = 0;
  for (const member of members) {
    if (!member.reboot) continue;
    imagedWithReboot += 1;
    if (member.group === undefined) ungrouped += 1;
    else byGroup.set(member.group, (byGroup.get(member.group) ?? 0) + 1);
  }
  const longestGroup = Math.max(ungrouped > 0 ? 1 : 0, ...byGroup.values());
  const longestGroups =
    [...byGroup.values()].filter((size) => size === longestGroup).length + (longestGroup === 1 ? ungrouped : 0);
  return { imagedWithReboot, longestGroup, longestGroups };
}

export interface NightShape extends RebootGroups {
  /** The night's EC2 calls by action. */
  readonly calls: Readonly<Record<string, number>>;
  readonly maxDownPerGroup: number;
  readonly maxConcurrentReboots: number;
  readonly rebootSlotSeconds: number;
  /** From CreateImage to the image available. */
  readonly imageSeconds: number;
  /** The share of each mutating bucket's refill another client takes all night; default 0. */
  readonly competingLoad?: number;
}

export interface NightBound extends Bound {
  readonly throttle: Bound;
  /** The longest group's turns one after another. */
  readonly groupSeconds: number;
  /** The longest group's turns after the last of the longest groups could start its first. */
  readonly staggerSeconds: number;
  /** The fleet-wide cap's slots. */
  readonly capSeconds: number;
}

export function nightBound(shape: NightShape): NightBound {
  const slot = shape.rebootSlotSeconds;
  const competingLoad = shape.competingLoad ?? 0;
  const throttle = throttleBound(
    shape.calls,
    { imageSeconds: shape.imageSeconds, rebootSlotSeconds: slot, imagedWithReboot: shape.imagedWithReboot },
    competingLoad,
  );
  const groupSeconds = serialSeconds(Math.ceil(shape.longestGroup / shape.maxDownPerGroup), slot, shape.imageSeconds);
  const capSeconds = serialSeconds(
    Math.ceil(shape.imagedWithReboot / shape.maxConcurrentReboots),
    slot,
    shape.imageSeconds,
  );
  const bucket = requestBucketSpec('CreateImage', competingLoad);
  const lastFirstCall = Math.max(0, shape.longestGroups - bucket.capacity) / bucket.refillPerSecond;
  const staggerSeconds = groupSeconds === 0 ? 0 : Math.floor(lastFirstCall / 60) * 60 + groupSeconds;
  let bound: Bound = throttle;
  if (groupSeconds > bound.seconds) bound = { seconds: groupSeconds, by: 'group turns' };
  if (staggerSeconds > bound.seconds) bound = { seconds: staggerSeconds, by: 'group turns behind CreateImage' };
  if (capSeconds > bound.seconds) bound = { seconds: capSeconds, by: 'maxConcurrentReboots' };
  return { ...bound, throttle, groupSeconds, staggerSeconds, capSeconds };
}
