/**
 * Earlier nights for a benchmark's fleet: each instance starts with the images the service made for it on the nights
 * before (good backups, recorded `succeeded`), so that the first night's rotation already holds what a fleet in its
 * steady state holds (retain + 1 images an instance) instead of one image each. Made in the endpoint's in-process
 * backend, as the fleet itself is, on its clock: none of these calls is the service's.
 */
import { randomUUID } from 'node:crypto';
import { parseInstancePolicy, retentionTags } from '../lib/policy';
import { BackupStep, formatRunId, ImageMode, ImageTag, InstanceTag, imageName } from '../lib/tags';
import type { LocalEc2 } from '../local/ec2';
import type { LaunchedMember } from '../local/runner/fleet';

const DAY_MS = 86_400_000;

export interface History {
  readonly ec2: LocalEc2;
  readonly members: readonly LaunchedMember[];
  /** Nights of images per instance (0: none). */
  readonly nights: number;
  /** When the last of those nights' runs started; the others a day apart before it. */
  readonly lastRun: Date;
  /** The deployment's ownership tag value (`OWNER`) and default retention. */
  readonly owner: string;
  readonly defaultRetain: number;
}

/**
 * Makes `nights` images of every member, one a night, each run's at its start, and leaves the clock after the last
 * is available. Made without a reboot (no downtime on the endpoint's timeline), and tagged as the service tags its
 * images: ownership, instance, run, mode, the retention at the time, and the run's outcome. The members' own tags are
 * left as they are. Returns the number of images made.
 */
export function seedHistory(history: History): number {
  const { ec2, members, nights } = history;
  let made = 0;
  for (let night = nights; night >= 1; night -= 1) {
    const runStart = new Date(history.lastRun.getTime() - (night - 1) * DAY_MS);
    ec2.clock.advanceTo(runStart);
    const runId = formatRunId(runStart);
    for (const member of members) {
      const policy = parseInstancePolicy(member.tags, history.defaultRetain);
      const service = {
        [ImageTag.managedBy]: history.owner,
        [ImageTag.instanceId]: member.instanceId,
        [ImageTag.run]: runId,
        [ImageTag.imageMode]: ImageMode.noReboot,
        ...(policy.ok ? retentionTags(policy.value) : {}),
      };
      const recorded = { [InstanceTag.state]: BackupStep.succeeded, [InstanceTag.lastSuccess]: runId };
      const tags = (values: Record<string, string>) => Object.entries(values).map(([key, value]) => ({ key, value }));
      ec2.backend.createImage({
        instanceId: member.instanceId,
        name: imageName(member.instanceId, runId),
        description: `ami-backup of ${member.instanceId}, run ${runId}`,
        noReboot: true,
        tagSpecifications: [
          { resourceType: 'image', tags: tags({ ...service, ...recorded }) },
          { resourceType: 'snapshot', tags: tags(service) },
        ],
        requestId: randomUUID(),
      });
      made += 1;
    }
  }
  // Every image is available an hour after its run's start.
  if (nights > 0) ec2.clock.advanceTo(new Date(history.lastRun.getTime() + 3_600_000));
  return made;
}
