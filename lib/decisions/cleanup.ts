/**
 * What removing a stage leaves behind: every image that is this stage's own by all of rotation's checks (account,
 * ownership tag, deterministic name, EC2's source instance), or one of its copies re-encrypted for sharing by theirs
 * (the name of its source with the suffix, the source EC2 reports), is deregistered with its snapshots, and every snapshot
 * carrying the stage's ownership tag that no remaining image uses is deleted; every restore-test instance of the stage
 * (the ownership tag and the test-instance tag, as restore tests select theirs) not yet terminated is terminated.
 * Anything else carrying the tag is a look-alike: listed with its reasons, never touched.
 */
import type { Image, Instance, Snapshot } from '../model';
import { ImageTag, RestoreTestTag } from '../tags';
import { isTestInstance } from './restore-tests';
import type { Ours } from './rotation';
import { homeImageLookAlikeReasons } from './sharing';

export interface CleanupPlan {
  /** Images to deregister, with their snapshots. */
  readonly images: readonly Image[];
  /** The stage's snapshots no image keeps (left over by a crash, or by EC2 when it did not delete them). */
  readonly snapshots: readonly Snapshot[];
  /** The stage's restore-test instances to terminate (those not already shutting down or terminated). */
  readonly instances: readonly Instance[];
  /** Resources carrying the ownership tag that are not the stage's own, and why. */
  readonly leftAlone: readonly { readonly id: string; readonly reasons: readonly string[] }[];
}

const ENDED: ReadonlySet<string> = new Set(['shutting-down', 'terminated']);

/**
 * `instances` are those carrying the stage's ownership tag (any others are ignored): its restore-test instances are
 * terminated; one without the test-instance tag is listed as left alone.
 */
export function planCleanup(
  images: readonly Image[],
  snapshots: readonly Snapshot[],
  ours: Ours,
  instances: readonly Instance[] = [],
): CleanupPlan {
  const own: Image[] = [];
  const leftAlone: { id: string; reasons: string[] }[] = [];
  const kept = new Set<string>();
  for (const image of images) {
    if (image.state === 'deregistered') continue;
    const reasons = homeImageLookAlikeReasons(image, ours);
    if (reasons.length === 0) {
      own.push(image);
    } else {
      leftAlone.push({ id: image.id, reasons });
      for (const id of image.snapshotIds) kept.add(id);
    }
  }
  const ownSnapshots = new Set(own.flatMap((image) => image.snapshotIds));
  const leftover = snapshots.filter(
    (snapshot) =>
      snapshot.tags[ImageTag.managedBy] === ours.owner &&
      snapshot.tags[ImageTag.instanceId] !== undefined &&
      !kept.has(snapshot.id) &&
      !ownSnapshots.has(snapshot.id),
  );
  const tests: Instance[] = [];
  for (const instance of instances) {
    if (instance.tags[ImageTag.managedBy] !== ours.owner || ENDED.has(instance.state)) continue;
    if (isTestInstance(instance, ours.owner)) tests.push(instance);
    else
      leftAlone.push({
        id: instance.id,
        reasons: [`not a restore-test instance (no ${RestoreTestTag.testInstance} tag)`],
      });
  }
  return { images: own, snapshots: leftover, instances: tests, leftAlone };
}
