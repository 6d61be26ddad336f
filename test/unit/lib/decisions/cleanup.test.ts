import { planCleanup } from '../../../../lib/decisions/cleanup';
import { REENCRYPTED_SUFFIX } from '../../../../lib/decisions/sharing';
import type { Image, Instance, InstanceState, Snapshot } from '../../../../lib/model';
import { ImageTag, imageName, RestoreTestTag, ShareTag } from '../../../../lib/tags';

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

  it("removes the stage's copies re-encrypted for sharing, and leaves one that fails a copy's checks", () => {
    const source = image('ami-a1', 'i-0000000000000000a');
    const copyOf = (id: string, name: string): Image =>
      image(id, 'i-0000000000000000a', {
        name,
        tags: { ...source.tags, [ShareTag.reencryptedFrom]: source.id },
        sourceImageId: source.id,
      });
    delete (source as { sourceImageId?: string }).sourceImageId;
    const copy = copyOf('ami-c1', `${source.name}${REENCRYPTED_SUFFIX}`);
    const misnamed = copyOf('ami-c2', 'golden-reencrypted');

    const plan = planCleanup([source, copy, misnamed], [], OURS);

    expect(plan.images.map((candidate) => candidate.id)).toEqual(['ami-a1', 'ami-c1']);
    expect(plan.leftAlone.map((entry) => entry.id)).toEqual(['ami-c2']);
    expect(plan.leftAlone[0]?.reasons.join('; ')).toMatch(/named "golden-reencrypted"/);
  });

  it('has nothing left to do once done: a second plan over what remains is empty', () => {
    const plan = planCleanup([], [], OURS, []);
    expect(plan).toEqual({ images: [], snapshots: [], instances: [], leftAlone: [] });
  });

  it('skips images already deregistered', () => {
    expect(planCleanup([image('ami-e5', 'i-0000000000000000e', { state: 'deregistered' })], [], OURS).images).toEqual(
      [],
    );
  });
});

function instance(id: string, tags: Record<string, string>, state: InstanceState = 'running'): Instance {
  return { id, state, tags };
}

const TEST_TAGS = {
  [ImageTag.managedBy]: OURS.owner,
  [RestoreTestTag.testInstance]: '20261129T1200Z',
  [RestoreTestTag.imageId]: 'ami-a1',
  [ImageTag.instanceId]: 'i-0000000000000000a',
};

describe("planCleanup of the stage's restore-test instances", () => {
  it('terminates those carrying the ownership and test-instance tags, and nothing else', () => {
    const test = instance('i-1000000000000000a', TEST_TAGS);
    const stopped = instance('i-1000000000000000b', TEST_TAGS, 'stopped');
    const pending = instance('i-1000000000000000c', TEST_TAGS, 'pending');
    const otherStage = instance('i-1000000000000000d', { ...TEST_TAGS, [ImageTag.managedBy]: 'ami-backup-dev' });
    const { [ImageTag.managedBy]: _owner, ...unowned } = TEST_TAGS;
    const noOwner = instance('i-1000000000000000e', unowned);
    const { [RestoreTestTag.testInstance]: _test, ...notATest } = TEST_TAGS;
    const ownedNotATest = instance('i-1000000000000000f', notATest);

    const plan = planCleanup([], [], OURS, [test, stopped, pending, otherStage, noOwner, ownedNotATest]);

    expect(plan.instances.map(({ id }) => id)).toEqual([
      'i-1000000000000000a',
      'i-1000000000000000b',
      'i-1000000000000000c',
    ]);
    // Carrying the stage's tag without being a test instance: listed, never terminated. Others' are not listed.
    expect(plan.leftAlone).toEqual([
      { id: 'i-1000000000000000f', reasons: [expect.stringMatching(/not a restore-test instance/)] },
    ]);
  });

  it('has nothing to do for test instances already ended', () => {
    const ended = [
      instance('i-2000000000000000a', TEST_TAGS, 'shutting-down'),
      instance('i-2000000000000000b', TEST_TAGS, 'terminated'),
    ];
    expect(planCleanup([], [], OURS, ended)).toEqual({ images: [], snapshots: [], instances: [], leftAlone: [] });
  });
});
