import { planCleanup } from '../../../../lib/decisions/cleanup';
import type { Image, Snapshot } from '../../../../lib/model';
import { ImageTag, imageName } from '../../../../lib/tags';

const OURS = { owner: 'ami-backup-prod', accountId: '111122223333' };
const RUN = '20261126T0300Z';

function image(id: string, instanceId: string, overrides: Partial<Image> = {}): Image {
  return {
    id,
    name: imageName(instanceId, RUN),
    state: 'available',
    createdAt: new Date('2026-11-26T03:05:00Z'),
    tags: { [ImageTag.managedBy]: OURS.owner, [ImageTag.instanceId]: instanceId, [ImageTag.run]: RUN },
    snapshotIds: [`snap-${id.slice(4)}`],
    ownerId: OURS.accountId,
    sourceInstanceId: instanceId,
    ...overrides,
  };
}

function snapshot(id: string, tags: Record<string, string>): Snapshot {
  return { id, state: 'completed', startedAt: new Date('2026-11-26T03:05:00Z'), description: '', tags };
}

const OWN_TAGS = { [ImageTag.managedBy]: OURS.owner, [ImageTag.instanceId]: 'i-0000000000000000a' };

describe('planCleanup', () => {
  it("removes the stage's own images and the snapshots no image keeps, and leaves look-alikes with their reasons", () => {
    const own = image('ami-a1', 'i-0000000000000000a');
    const renamed = image('ami-b2', 'i-0000000000000000b', { name: 'golden-image' });
    const otherAccount = image('ami-c3', 'i-0000000000000000c', { ownerId: '444455556666' });
    const otherStage = image('ami-d4', 'i-0000000000000000d', {
      tags: {
        [ImageTag.managedBy]: 'ami-backup-dev',
        [ImageTag.instanceId]: 'i-0000000000000000d',
        [ImageTag.run]: RUN,
      },
    });
    const snapshots = [
      snapshot('snap-a1', OWN_TAGS),
      snapshot('snap-b2', OWN_TAGS),
      snapshot('snap-orphan', OWN_TAGS),
      snapshot('snap-untagged', { [ImageTag.managedBy]: OURS.owner }),
      snapshot('snap-dev', { ...OWN_TAGS, [ImageTag.managedBy]: 'ami-backup-dev' }),
    ];

    const plan = planCleanup([own, renamed, otherAccount, otherStage], snapshots, OURS);

    expect(plan.images.map((candidate) => candidate.id)).toEqual(['ami-a1']);
    // snap-a1 goes with its image, snap-b2 stays with the look-alike that uses it.
    expect(plan.snapshots.map((candidate) => candidate.id)).toEqual(['snap-orphan']);
    expect(plan.leftAlone.map((entry) => entry.id)).toEqual(['ami-b2', 'ami-c3', 'ami-d4']);
    expect(plan.leftAlone[0]?.reasons.join('; ')).toMatch(/named "golden-image"/);
    expect(plan.leftAlone[1]?.reasons.join('; ')).toMatch(/owned by account 444455556666/);
    expect(plan.leftAlone[2]?.reasons.join('; ')).toMatch(/not tagged ami-backup:managed-by=ami-backup-prod/);
  });

  it('has nothing left to do once done: a second plan over what remains is empty', () => {
    const plan = planCleanup([], [], OURS);
    expect(plan).toEqual({ images: [], snapshots: [], leftAlone: [] });
  });

  it('skips images already deregistered', () => {
    expect(planCleanup([image('ami-e5', 'i-0000000000000000e', { state: 'deregistered' })], [], OURS).images).toEqual(
      [],
    );
  });
});
