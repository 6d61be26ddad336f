/**
 * What removing a stage leaves behind: every image that is this stage's own by all of rotation's checks (account,
 * ownership tag, deterministic name, EC2's source instance) is deregistered with its snapshots, and every snapshot
 * carrying the stage's ownership tag that no remaining image uses is deleted. Anything else carrying the tag is a
 * look-alike: listed with its reasons, never touched.
 */
import type { Image, Snapshot } from '../model';
import { ImageTag } from '../tags';
import { lookAlikeReasons, type Ours } from './rotation';

export interface CleanupPlan {
  /** Images to deregister, with their snapshots. */
  readonly images: readonly Image[];
  /** The stage's snapshots no image keeps (left over by a crash, or by EC2 when it did not delete them). */
  readonly snapshots: readonly Snapshot[];
  /** Resources carrying the ownership tag that are not the stage's own, and why. */
  readonly leftAlone: readonly { readonly id: string; readonly reasons: readonly string[] }[];
}

export function planCleanup(images: readonly Image[], snapshots: readonly Snapshot[], ours: Ours): CleanupPlan {
  const own: Image[] = [];
  const leftAlone: { id: string; reasons: string[] }[] = [];
  const kept = new Set<string>();
  for (const image of images) {
    if (image.state === 'deregistered') continue;
    const reasons = lookAlikeReasons(image, ours);
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
  return { images: own, snapshots: leftover, leftAlone };
}
