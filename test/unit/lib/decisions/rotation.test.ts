import fc from 'fast-check';
import {
  imageIdOfSnapshot,
  isFirstOfNight,
  lookAlikeReasons,
  ORPHAN_MIN_AGE_SECONDS,
  planRotation,
  type RotationPlan,
  type RotationPolicy,
} from '../../../../lib/decisions/rotation';
import type { Image, ImageState } from '../../../../lib/model';
import { parseRetention, type Retention } from '../../../../lib/policy';
import {
  BackupStep,
  FailureKind,
  formatRestoreResult,
  formatRunId,
  ImageTag,
  InstanceTag,
  imageName,
  OperatorTag,
  RestoreTestTag,
  RotationTag,
  type Tags,
  utcDay,
} from '../../../../lib/tags';
import { anyImageState, daysBefore, NIGHT, OURS, OWNER, ownedImage, secondsAfter, snapshot } from '../builders';

const ID = 'i-0123456789abcdef0';
const OTHER_ID = 'i-0fedcba9876543210';
const FAILED_STATES: readonly ImageState[] = ['failed', 'error', 'invalid'];

function current(retention: Retention): RotationPolicy {
  return { source: 'instance', retention: { ok: true, value: retention } };
}

function policies(entries: Record<string, RotationPolicy> = {}): ReadonlyMap<string, RotationPolicy> {
  return new Map(Object.entries(entries));
}

/** Available images of `ID`, one a night, newest first: `nightly(3)` → made 1, 2 and 3 days ago. */
function nightly(count: number, tags: Tags = {}): Image[] {
  return Array.from({ length: count }, (_, index) =>
    ownedImage(`ami-${String(index + 1).padStart(8, '0')}`, ID, { createdAt: daysBefore(NIGHT, index + 1), tags }),
  );
}

function plan(images: readonly Image[], rules = policies(), now = NIGHT): RotationPlan {
  return planRotation(images, [], rules, OURS, now);
}

function expiredIds(rotation: RotationPlan): string[] {
  return rotation.expired.map((expiry) => expiry.imageId);
}

/** An available image that is no good backup: its verification failed (or its outcome is not recorded yet). */
function unverified(image: Image, recorded: 'failed' | 'unrecorded' = 'failed'): Image {
  const { [InstanceTag.state]: _state, ...tags } = image.tags;
  return {
    ...image,
    tags:
      recorded === 'failed'
        ? {
            ...tags,
            [InstanceTag.state]: BackupStep.failed,
            [InstanceTag.lastError]: `run: ${FailureKind.failedVerification}: not back healthy`,
          }
        : tags,
  };
}

describe('planRotation: unverified images', () => {
  it.each<'failed' | 'unrecorded'>(['failed', 'unrecorded'])(
    'keeps an available image whose verification %s, without counting it: it never pushes a good one out',
    (recorded) => {
      // Prepare: the newest image is not a good backup
      const [newest, ...older] = nightly(3);
      const images = [unverified(newest as Image, recorded), ...older];

      // Act
      const rotation = plan(images, policies({ [ID]: current({ retain: 2 }) }));

      // Assess: both good ones stay, and so does the unverified one
      expect(rotation.instances[0]?.kept).toEqual(['ami-00000001', 'ami-00000002', 'ami-00000003']);
      expect(rotation.expired).toEqual([]);
    },
  );

  it('expires an unverified image once retain good backups are newer than it', () => {
    // Prepare
    const images = nightly(4).map((image, index) => (index === 1 ? unverified(image) : image));

    // Act
    const rotation = plan(images, policies({ [ID]: current({ retain: 1 }) }));

    // Assess
    expect(rotation.instances[0]?.kept).toEqual(['ami-00000001']);
    expect(expiredIds(rotation)).toEqual(['ami-00000002', 'ami-00000003', 'ami-00000004']);
    expect(rotation.expired[0]?.reason).toContain('not a good backup');
  });

  it('keeps every unverified image while no good backup exists', () => {
    const images = nightly(3).map((image) => unverified(image));
    expect(plan(images, policies({ [ID]: current({ retain: 1 }) })).expired).toEqual([]);
  });

  it('keeps an unverified image younger than the retained days', () => {
    const images = nightly(3).map((image, index) => (index === 2 ? unverified(image) : image));
    const rotation = plan(images, policies({ [ID]: current({ retain: 1, retainDays: 5 }) }));
    expect(rotation.expired).toEqual([]);
  });
});

describe('planRotation: images', () => {
  it('keeps the newest N available images and expires the others with their snapshots', () => {
    // Prepare
    const images = nightly(5);

    // Act
    const rotation = plan(images, policies({ [ID]: current({ retain: 2 }) }));

    // Assess
    expect(rotation.instances).toEqual([
      {
        instanceId: ID,
        kept: ['ami-00000001', 'ami-00000002'],
        expired: [
          { imageId: 'ami-00000003', instanceId: ID, reason: 'beyond the newest 2', snapshotIds: ['snap-00000003'] },
          { imageId: 'ami-00000004', instanceId: ID, reason: 'beyond the newest 2', snapshotIds: ['snap-00000004'] },
          { imageId: 'ami-00000005', instanceId: ID, reason: 'beyond the newest 2', snapshotIds: ['snap-00000005'] },
        ],
      },
    ]);
    expect(rotation.expired).toEqual(rotation.instances[0]?.expired);
  });

  it('orders images by creation time, whatever order EC2 lists them in', () => {
    // Prepare
    const images = [...nightly(4)].reverse();

    // Act
    const rotation = plan(images, policies({ [ID]: current({ retain: 1 }) }));

    // Assess
    expect(rotation.instances[0]?.kept).toEqual(['ami-00000001']);
  });

  it('also keeps images younger than the retained days, expiring them only once older', () => {
    // Prepare: made 1 … 6 days ago; a day is counted to the millisecond
    const images = nightly(6);

    // Act
    const rotation = plan(images, policies({ [ID]: current({ retain: 1, retainDays: 3 }) }), secondsAfter(NIGHT, -1));

    // Assess
    expect(rotation.instances[0]?.kept).toEqual(['ami-00000001', 'ami-00000002', 'ami-00000003']);
    expect(rotation.expired[0]).toEqual({
      imageId: 'ami-00000004',
      instanceId: ID,
      reason: 'beyond the newest 1 and older than 3 days',
      snapshotIds: ['snap-00000004'],
    });
  });

  it('expires an image exactly the retained days old', () => {
    expect(expiredIds(plan(nightly(3), policies({ [ID]: current({ retain: 1, retainDays: 2 }) })))).toEqual([
      'ami-00000002',
      'ami-00000003',
    ]);
  });

  it('keeps the newest N even when they are all older than the retained days', () => {
    expect(plan(nightly(4), policies({ [ID]: current({ retain: 3, retainDays: 1 }) })).instances[0]?.kept).toEqual([
      'ami-00000001',
      'ami-00000002',
      'ami-00000003',
    ]);
  });

  it.each(FAILED_STATES)('expires a %s image whatever the retention: it is not a backup', (state) => {
    // Prepare
    const broken = ownedImage('ami-0000000f', ID, { state, createdAt: secondsAfter(NIGHT, -60) });

    // Act
    const rotation = plan([broken, ...nightly(2)], policies({ [ID]: current({ retain: 5 }) }));

    // Assess
    expect(rotation.instances[0]?.kept).toEqual(['ami-00000001', 'ami-00000002']);
    expect(rotation.expired).toEqual([
      { imageId: 'ami-0000000f', instanceId: ID, reason: `image ${state}`, snapshotIds: ['snap-0000000f'] },
    ]);
  });

  it('does not count failed images among the N kept', () => {
    // Prepare
    const broken = ownedImage('ami-0000000f', ID, { state: 'failed', createdAt: secondsAfter(NIGHT, -60) });

    // Act
    const rotation = plan([broken, ...nightly(3)], policies({ [ID]: current({ retain: 2 }) }));

    // Assess
    expect(rotation.instances[0]?.kept).toEqual(['ami-00000001', 'ami-00000002']);
    expect(expiredIds(rotation).sort()).toEqual(['ami-00000003', 'ami-0000000f']);
  });

  it.each<ImageState>(['pending', 'transient'])(
    'expires nothing while the newest backup is %s (it may still fail)',
    (state) => {
      // Prepare
      const inProgress = ownedImage('ami-0000000a', ID, { state, createdAt: secondsAfter(NIGHT, -60) });
      const broken = ownedImage('ami-0000000f', ID, { state: 'failed', createdAt: daysBefore(NIGHT, 10) });

      // Act
      const rotation = plan([inProgress, broken, ...nightly(4)], policies({ [ID]: current({ retain: 1 }) }));

      // Assess
      expect(rotation.expired).toEqual([]);
      expect(rotation.instances[0]).toMatchObject({
        instanceId: ID,
        kept: ['ami-00000001', 'ami-00000002', 'ami-00000003', 'ami-00000004'],
        hold: `newest backup ami-0000000a is ${state}`,
      });
    },
  );

  it('never lists a pending image, even an old one behind a newer good backup', () => {
    // Prepare
    const stuck = ownedImage('ami-0000000a', ID, { state: 'pending', createdAt: daysBefore(NIGHT, 30) });

    // Act
    const rotation = plan([stuck, ...nightly(2)], policies({ [ID]: current({ retain: 1 }) }));

    // Assess
    expect(rotation.instances[0]?.kept).not.toContain('ami-0000000a');
    expect(expiredIds(rotation)).toEqual(['ami-00000002']);
  });

  it.each(['abc', '0', '-1', '1.5', ' 7', '', '٣', '99999999999'])(
    'expires nothing for an instance with retain=%p, and says why',
    (raw) => {
      // Prepare
      const broken = ownedImage('ami-0000000f', ID, { state: 'failed', createdAt: daysBefore(NIGHT, 10) });
      const retention = parseRetention({ [OperatorTag.retain]: raw }, OperatorTag, 7);

      // Act
      const rotation = plan([broken, ...nightly(10)], policies({ [ID]: { source: 'instance', retention } }));

      // Assess
      expect(rotation.expired).toEqual([]);
      expect(rotation.instances[0]?.kept).toHaveLength(10);
      expect(rotation.instances[0]?.hold).toBe(
        `retention unreadable: ${OperatorTag.retain}=${JSON.stringify(raw)} must be a whole number from 1 to 1000`,
      );
    },
  );

  describe('an instance gone or opted out', () => {
    it('is rotated by the retention recorded on its newest good image', () => {
      // Prepare: older images recorded another retention, which no longer applies
      const images = nightly(5, { [ImageTag.retain]: '4' }).map((image, index) =>
        index === 0 ? { ...image, tags: { ...image.tags, [ImageTag.retain]: '2' } } : image,
      );

      // Act
      const rotation = plan(images);

      // Assess
      expect(rotation.instances[0]?.kept).toEqual(['ami-00000001', 'ami-00000002']);
      expect(expiredIds(rotation)).toEqual(['ami-00000003', 'ami-00000004', 'ami-00000005']);
    });

    it('uses the recorded days as well', () => {
      // Prepare
      const images = nightly(5, { [ImageTag.retain]: '1', [ImageTag.retainDays]: '3' });

      // Act
      const rotation = plan(images, policies(), secondsAfter(NIGHT, -1));

      // Assess
      expect(expiredIds(rotation)).toEqual(['ami-00000004', 'ami-00000005']);
    });

    it.each<Tags>([{}, { [ImageTag.retain]: 'abc' }, { [ImageTag.retain]: '2', [ImageTag.retainDays]: '0' }])(
      'expires nothing when its newest good image recorded no readable retention (%p)',
      (tags) => {
        // Prepare: older images recorded a valid one, but the newest rules
        const images = nightly(4, { [ImageTag.retain]: '1' }).map((image, index) =>
          index === 0
            ? {
                ...image,
                tags: {
                  [ImageTag.managedBy]: OWNER,
                  [ImageTag.instanceId]: ID,
                  [ImageTag.run]: image.tags[ImageTag.run] ?? '',
                  [InstanceTag.state]: 'succeeded',
                  ...tags,
                },
              }
            : image,
        );
        const broken = ownedImage('ami-0000000f', ID, { state: 'failed', createdAt: daysBefore(NIGHT, 10) });

        // Act
        const rotation = plan([...images, broken]);

        // Assess
        expect(rotation.expired).toEqual([]);
        expect(rotation.instances[0]?.hold).toMatch(/^retention unreadable: /);
      },
    );

    it('loses its failed images even when no good image is left to record a retention', () => {
      // Prepare
      const broken = ownedImage('ami-0000000f', ID, { state: 'failed', createdAt: daysBefore(NIGHT, 10) });

      // Act
      const rotation = plan([broken]);

      // Assess
      expect(expiredIds(rotation)).toEqual(['ami-0000000f']);
      expect(rotation.instances[0]?.hold).toBeUndefined();
    });

    it('is told apart from an opted-in instance only by the policies given', () => {
      // Prepare
      const images = nightly(3, { [ImageTag.retain]: '1' });

      // Act
      const asRecorded = plan(images);
      const asCurrent = plan(images, policies({ [ID]: current({ retain: 3 }) }));

      // Assess
      expect(expiredIds(asRecorded)).toEqual(['ami-00000002', 'ami-00000003']);
      expect(expiredIds(asCurrent)).toEqual([]);
    });
  });

  describe('ownership', () => {
    it.each<[string, Tags]>([
      ['no ownership tag', { [ImageTag.managedBy]: '' }],
      ['another owner', { [ImageTag.managedBy]: 'ami-backup-dev' }],
      ['an owner that only starts like ours', { [ImageTag.managedBy]: `${OWNER}x` }],
    ])('never lists an image with %s', (_, tags) => {
      // Prepare
      const foreign = nightly(5).map((image) => ({ ...image, tags: { ...image.tags, ...tags } }));
      const brokenForeign = { ...ownedImage('ami-0000000f', ID, { state: 'failed' }), tags: { ...tags } };

      // Act
      const rotation = plan([...foreign, brokenForeign], policies({ [ID]: current({ retain: 1 }) }));

      // Assess
      expect(rotation.instances).toEqual([]);
      expect(rotation.expired).toEqual([]);
    });

    it('never lists an image that does not say which instance it was made of', () => {
      // Prepare
      const anonymous = nightly(3).map((image) => ({ ...image, tags: { [ImageTag.managedBy]: OWNER } }));

      // Act
      const rotation = plan(anonymous, policies({ [ID]: current({ retain: 1 }) }));

      // Assess
      expect(rotation.expired).toEqual([]);
    });
  });

  it('rotates each instance on its own, in instance id order', () => {
    // Prepare
    const other = [1, 2, 3].map((day) =>
      ownedImage(`ami-1000000${day}`, OTHER_ID, { createdAt: daysBefore(NIGHT, day) }),
    );

    // Act
    const rotation = plan(
      [...other, ...nightly(3)],
      policies({ [ID]: current({ retain: 2 }), [OTHER_ID]: current({ retain: 1 }) }),
    );

    // Assess
    expect(rotation.instances.map((each) => each.instanceId)).toEqual([ID, OTHER_ID]);
    expect(expiredIds(rotation)).toEqual(['ami-00000003', 'ami-10000002', 'ami-10000003']);
  });
});

describe('planRotation: orphan snapshots', () => {
  const hourAgo = secondsAfter(NIGHT, -ORPHAN_MIN_AGE_SECONDS);
  const description = (imageId: string) => `Created by CreateImage(${ID}) for ${imageId} from vol-0123456789abcdef0`;

  function orphans(images: readonly Image[], snapshots: Parameters<typeof planRotation>[1]): readonly string[] {
    return planRotation(images, snapshots, policies(), OURS, NIGHT).orphanSnapshotIds;
  }

  it('lists an owned snapshot whose image is gone, once it is an hour old', () => {
    // Prepare
    const left = snapshot('snap-0000000a', { startedAt: hourAgo, description: description('ami-0000dead') });
    const young = snapshot('snap-0000000b', {
      startedAt: secondsAfter(hourAgo, 1),
      description: description('ami-0000dead'),
    });

    // Act / Assess
    expect(orphans([], [left, young])).toEqual(['snap-0000000a']);
  });

  it('never lists a snapshot used by a listed image, in any state and whoever owns it', () => {
    // Prepare
    const images = (['available', 'pending', 'failed', 'deregistered'] as const).map((state, index) => ({
      ...ownedImage(`ami-0000000${index}`, ID, { state, snapshotIds: [`snap-0000000${index}`] }),
      tags: index === 0 ? {} : ownedImage('ami-0', ID).tags,
    }));
    const snapshots = [0, 1, 2, 3].map((index) =>
      snapshot(`snap-0000000${index}`, { startedAt: daysBefore(NIGHT, 30), description: description('ami-0000dead') }),
    );

    // Act / Assess
    expect(orphans(images, snapshots)).toEqual([]);
  });

  it('never lists a snapshot whose image is still listed (a new image may not show its snapshots yet)', () => {
    // Prepare
    const image = ownedImage('ami-0000beef', ID, { state: 'pending', snapshotIds: [] });
    const made = snapshot('snap-0000000a', {
      startedAt: daysBefore(NIGHT, 2),
      description: description('ami-0000beef'),
    });

    // Act / Assess
    expect(orphans([image], [made])).toEqual([]);
  });

  it('never lists a pending snapshot', () => {
    expect(orphans([], [snapshot('snap-0000000a', { state: 'pending', startedAt: daysBefore(NIGHT, 2) })])).toEqual([]);
  });

  it.each<Tags>([{}, { [ImageTag.managedBy]: 'ami-backup-dev' }, { [ImageTag.managedBy]: '' }])(
    'never lists a snapshot without our ownership tag (%p)',
    (tags) => {
      expect(orphans([], [snapshot('snap-0000000a', { startedAt: daysBefore(NIGHT, 2), tags })])).toEqual([]);
    },
  );

  it('lists an owned snapshot in error whose image is gone', () => {
    const broken = snapshot('snap-0000000a', {
      state: 'error',
      startedAt: daysBefore(NIGHT, 2),
      description: description('ami-0000dead'),
    });
    expect(orphans([], [broken])).toEqual(['snap-0000000a']);
  });

  it('never lists a snapshot without the instance tag, or that names no image', () => {
    // Prepare
    const old = daysBefore(NIGHT, 2);
    const untagged = snapshot('snap-0000000a', {
      startedAt: old,
      description: description('ami-0000dead'),
      tags: { [ImageTag.managedBy]: OWNER },
    });
    const undescribed = snapshot('snap-0000000b', { startedAt: old, description: 'copied by hand' });

    // Act / Assess
    expect(orphans([], [untagged, undescribed])).toEqual([]);
  });

  it('never lists a snapshot of an image still listed, a look-alike or an image without our tag', () => {
    // Prepare: the images name these snapshots only in their descriptions
    const old = daysBefore(NIGHT, 2);
    const lookAlike = ownedImage('ami-0000beef', ID, { name: 'not-ours', snapshotIds: [] });
    const untagged = { ...ownedImage('ami-0000cafe', ID, { snapshotIds: [] }), tags: {} };
    const snapshots = [
      snapshot('snap-0000000a', { startedAt: old, description: description('ami-0000beef') }),
      snapshot('snap-0000000b', {
        startedAt: old,
        description: description('ami-0000cafe'),
        tags: { [ImageTag.managedBy]: OWNER, [ImageTag.instanceId]: OTHER_ID },
      }),
    ];

    // Act / Assess
    expect(orphans([lookAlike, untagged], snapshots)).toEqual([]);
  });
});

describe('imageIdOfSnapshot', () => {
  it.each([
    [
      'Created by CreateImage(i-0123456789abcdef0) for ami-0abc1234def567890 from vol-0123456789abcdef0',
      'ami-0abc1234def567890',
    ],
    ['Created by CreateImage(i-12345678) for ami-12345678', 'ami-12345678'],
    ['Copied for DestinationAmi ami-0abc1234 from SourceAmi ami-0def5678', undefined],
    ['my own snapshot of ami-0abc1234', undefined],
    ['', undefined],
  ])('reads %p as %p', (description, imageId) => {
    expect(imageIdOfSnapshot(snapshot('snap-0000000a', { description }))).toBe(imageId);
  });
});

describe('planRotation: for any images and any valid retention', () => {
  const imageStates = anyImageState;
  const generatedImage = fc.record({
    instanceId: fc.constantFrom(ID, OTHER_ID),
    state: imageStates,
    ageHours: fc.integer({ min: 0, max: 24 * 400 }),
    owner: fc.constantFrom(OWNER, OWNER, OWNER, 'ami-backup-dev', undefined),
    recordedRetain: fc.constantFrom(undefined, '1', '3', 'abc'),
    forged: fc.constantFrom(undefined, undefined, undefined, 'name', 'source', 'account', 'no-run'),
  });
  const retentions = fc.record(
    { retain: fc.integer({ min: 1, max: 6 }), retainDays: fc.integer({ min: 1, max: 60 }) },
    { requiredKeys: ['retain'] },
  );
  const scenario = fc.record({
    images: fc.array(generatedImage, { maxLength: 25 }),
    policy: fc.option(retentions, { nil: undefined }),
  });

  type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

  function build(generated: Scenario): Image[] {
    return generated.images.map((each, index) => {
      const createdAt = secondsAfter(NIGHT, -each.ageHours * 3600);
      const run = formatRunId(createdAt);
      const tags: Record<string, string> = { [ImageTag.instanceId]: each.instanceId };
      if (each.forged !== 'no-run') tags[ImageTag.run] = run;
      if (each.owner !== undefined) tags[ImageTag.managedBy] = each.owner;
      if (each.recordedRetain !== undefined) tags[ImageTag.retain] = each.recordedRetain;
      return {
        id: `ami-${index.toString(16).padStart(8, '0')}`,
        name: each.forged === 'name' ? `image-${index}` : imageName(each.instanceId, run),
        state: each.state,
        createdAt,
        tags,
        snapshotIds: [`snap-${index.toString(16).padStart(8, '0')}`],
        sourceInstanceId: each.forged === 'source' ? 'i-0aaaaaaaaaaaaaaaa' : each.instanceId,
        ownerId: each.forged === 'account' ? '210987654321' : OURS.accountId,
      };
    });
  }

  const isOurs = (image: Image) =>
    image.tags[ImageTag.managedBy] === OWNER && lookAlikeReasons(image, OURS).length === 0;

  it('never expires a look-alike, and look-alikes change nothing about what expires', () => {
    fc.assert(
      fc.property(scenario, (generated) => {
        const images = build(generated);
        const rules = policies(generated.policy === undefined ? {} : { [ID]: current(generated.policy) });
        const genuine = images.filter((image) => lookAlikeReasons(image, OURS).length === 0);
        const rotation = plan(images, rules);
        expect(expiredIds(rotation)).toEqual(expiredIds(plan(genuine, rules)));
        const lookAlikes = images
          .filter((image) => image.tags[ImageTag.managedBy] === OWNER && !isOurs(image))
          .filter((image) => image.state !== 'deregistered')
          .map((image) => image.id);
        expect(rotation.lookAlikes.map((lookAlike) => lookAlike.imageId)).toEqual([...lookAlikes].sort());
      }),
    );
  });

  it('lists only our images, never a pending one, and never the newest good image of an instance', () => {
    fc.assert(
      fc.property(scenario, (generated) => {
        const images = build(generated);
        const rules = policies(generated.policy === undefined ? {} : { [ID]: current(generated.policy) });
        const rotation = plan(images, rules);
        const byId = new Map(images.map((image) => [image.id, image]));
        for (const expiry of rotation.expired) {
          const image = byId.get(expiry.imageId);
          expect(image !== undefined && isOurs(image)).toBe(true);
          expect(['pending', 'transient']).not.toContain(image?.state);
          expect(image?.tags[ImageTag.instanceId]).toBe(expiry.instanceId);
          const newestGood = images
            .filter((each) => isOurs(each) && each.state === 'available')
            .filter((each) => each.tags[ImageTag.instanceId] === expiry.instanceId)
            .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.id.localeCompare(a.id))[0];
          expect(expiry.imageId).not.toBe(newestGood?.id);
        }
      }),
    );
  });

  it('keeps or expires every good or failed image of a rotated instance, once; expires nothing on hold', () => {
    fc.assert(
      fc.property(scenario, (generated) => {
        const images = build(generated);
        const rules = policies(generated.policy === undefined ? {} : { [ID]: current(generated.policy) });
        const rotation = plan(images, rules);
        for (const each of rotation.instances) {
          const expired = each.expired.map((expiry) => expiry.imageId);
          if (each.hold !== undefined) {
            expect(expired).toEqual([]);
            continue;
          }
          const listed = images
            .filter((image) => isOurs(image) && image.tags[ImageTag.instanceId] === each.instanceId)
            .filter((image) => image.state === 'available' || FAILED_STATES.includes(image.state))
            .map((image) => image.id);
          expect([...each.kept, ...expired].sort()).toEqual([...listed].sort());
        }
      }),
    );
  });

  it('expires a good image only when it is beyond the newest N and older than the retained days', () => {
    fc.assert(
      fc.property(scenario, (generated) => {
        const policy = generated.policy ?? { retain: 1 };
        const images = build(generated);
        const rotation = plan(images, policies({ [ID]: current(policy) }));
        const good = images
          .filter((image) => isOurs(image) && image.tags[ImageTag.instanceId] === ID && image.state === 'available')
          .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.id.localeCompare(a.id));
        for (const expiry of rotation.expired.filter((each) => each.instanceId === ID)) {
          const rank = good.findIndex((image) => image.id === expiry.imageId);
          if (rank === -1) continue; // a failed image
          expect(rank).toBeGreaterThanOrEqual(policy.retain);
          const image = good[rank] as Image; // found just above
          if (policy.retainDays !== undefined) {
            expect(NIGHT.getTime() - image.createdAt.getTime()).toBeGreaterThanOrEqual(policy.retainDays * 86_400_000);
          }
        }
      }),
    );
  });

  it('lists as orphans only our settled, unused snapshots of images that are gone, an hour old or more', () => {
    const snapshots = fc.array(
      fc.record({
        index: fc.integer({ min: 0, max: 30 }),
        state: fc.constantFrom('pending', 'completed', 'error') as fc.Arbitrary<'pending' | 'completed' | 'error'>,
        ageSeconds: fc.integer({ min: 0, max: 7200 }),
        owned: fc.boolean(),
      }),
      { maxLength: 20 },
    );
    fc.assert(
      fc.property(scenario, snapshots, (generated, generatedSnapshots) => {
        const images = build(generated);
        const listed = generatedSnapshots.map((each, position) =>
          snapshot(`snap-${each.index.toString(16).padStart(8, '0')}-${position}`, {
            state: each.state,
            startedAt: secondsAfter(NIGHT, -each.ageSeconds),
            description: `Created by CreateImage(${ID}) for ami-${each.index.toString(16).padStart(8, '0')}`,
            tags: each.owned ? { [ImageTag.managedBy]: OWNER } : {},
          }),
        );
        const orphanIds = planRotation(images, listed, policies(), OURS, NIGHT).orphanSnapshotIds;
        const liveImages = new Set(images.map((image) => image.id));
        for (const id of orphanIds) {
          const found = listed.find((each) => each.id === id);
          expect(found?.tags[ImageTag.managedBy]).toBe(OWNER);
          expect(found?.state).not.toBe('pending');
          expect(liveImages.has(imageIdOfSnapshot(found ?? snapshot('snap-x')) ?? '')).toBe(false);
          expect(NIGHT.getTime() - (found?.startedAt.getTime() ?? NIGHT.getTime())).toBeGreaterThanOrEqual(
            ORPHAN_MIN_AGE_SECONDS * 1000,
          );
        }
      }),
    );
  });
});

describe('planRotation: look-alikes', () => {
  const forgeries: [string, (image: Image) => Image, RegExp][] = [
    ['named otherwise', (image) => ({ ...image, name: `${image.name}-copy` }), /^named "/],
    ['made from another instance', (image) => ({ ...image, sourceInstanceId: OTHER_ID }), /^made from i-0fedcba/],
    ['made by no instance (a copy)', ({ sourceInstanceId: _source, ...image }) => image, /^made from no instance/],
    ['owned by another account', (image) => ({ ...image, ownerId: '210987654321' }), /^owned by account 2109/],
    ['of an account EC2 does not give', ({ ownerId: _owner, ...image }) => image, /^owned by account \(not given\)/],
    [
      'without a run tag',
      (image) => {
        const { [ImageTag.run]: _run, ...tags } = image.tags;
        return { ...image, tags };
      },
      /^no ami-backup:run tag/,
    ],
  ];

  it.each(forgeries)(
    'never expires or counts an image %s: the real backups stay as they would',
    (_name, forge, reason) => {
      // Prepare: three real nightly backups, retain 3, and four newer forged ones that would push them all out
      const real = nightly(3);
      const forged = [0, 1, 2, 3].map((index) =>
        forge(ownedImage(`ami-f000000${index}`, ID, { createdAt: secondsAfter(NIGHT, -index * 60) })),
      );

      // Act
      const rotation = plan([...forged, ...real], policies({ [ID]: current({ retain: 3 }) }));

      // Assess
      expect(rotation.expired).toEqual([]);
      expect(rotation.instances).toEqual([
        expect.objectContaining({ kept: ['ami-00000001', 'ami-00000002', 'ami-00000003'] }),
      ]);
      expect(rotation.lookAlikes.map((lookAlike) => lookAlike.imageId)).toEqual(forged.map((image) => image.id));
      for (const lookAlike of rotation.lookAlikes) {
        expect(lookAlike.instanceId).toBe(ID);
        expect(lookAlike.reasons).toEqual([expect.stringMatching(reason)]);
      }
    },
  );

  it('never expires a failed look-alike, and does not report one already deregistered', () => {
    // Prepare
    const failed = { ...ownedImage('ami-f0000001', ID, { state: 'failed' }), sourceInstanceId: OTHER_ID };
    const gone = { ...ownedImage('ami-f0000002', ID, { state: 'deregistered' }), name: 'x' };

    // Act
    const rotation = plan([failed, gone, ...nightly(2)], policies({ [ID]: current({ retain: 1 }) }));

    // Assess
    expect(expiredIds(rotation)).toEqual(['ami-00000002']);
    expect(rotation.lookAlikes.map((lookAlike) => lookAlike.imageId)).toEqual(['ami-f0000001']);
  });

  it('does not report an image without our ownership tag: it is simply not ours', () => {
    const other = { ...ownedImage('ami-f0000001', ID), tags: { [ImageTag.managedBy]: 'ami-backup-prod' } };
    expect(plan([other]).lookAlikes).toEqual([]);
  });

  it('treats every image as a look-alike when the account is unknown: nothing is expired', () => {
    const rotation = planRotation(
      nightly(3),
      [],
      policies({ [ID]: current({ retain: 1 }) }),
      {
        owner: OWNER,
        accountId: '',
      },
      NIGHT,
    );
    expect(rotation.expired).toEqual([]);
    expect(rotation.lookAlikes).toHaveLength(3);
  });
});

describe('planRotation: the floor and the per-night cap', () => {
  function limited(images: readonly Image[], rules: ReadonlyMap<string, RotationPolicy>, limits: object): RotationPlan {
    return planRotation(images, [], rules, OURS, NIGHT, limits);
  }

  it('keeps at least the floor whatever the tag says', () => {
    const rotation = limited(nightly(6), policies({ [ID]: current({ retain: 1 }) }), {
      floor: { retain: 4, retainDays: 0 },
    });
    expect(expiredIds(rotation)).toEqual(['ami-00000005', 'ami-00000006']);
  });

  it('keeps the images younger than the days floor', () => {
    const rotation = limited(nightly(6), policies({ [ID]: current({ retain: 1, retainDays: 1 }) }), {
      floor: { retain: 1, retainDays: 3 },
    });
    // 1, 2 and 3 days old: ami-00000003 is exactly 3 days old, not younger
    expect(expiredIds(rotation)).toEqual(['ami-00000003', 'ami-00000004', 'ami-00000005', 'ami-00000006']);
  });

  it('applies the floor to the retention recorded on an image once the instance is gone', () => {
    const images = nightly(5, { [ImageTag.retain]: '1' });
    const rotation = limited(images, policies(), { floor: { retain: 3, retainDays: 0 } });
    expect(expiredIds(rotation)).toEqual(['ami-00000004', 'ami-00000005']);
  });

  it("expires at most the day's cap, oldest first, counted ahead on the newest good image; failed images are not counted", () => {
    // Prepare: retain 1 of 8, and two failed images
    const failed = [11, 12].map((day) =>
      ownedImage(`ami-0000f0${day}`, ID, { state: 'failed', createdAt: daysBefore(NIGHT, day) }),
    );

    // Act
    const rotation = limited([...nightly(8), ...failed], policies({ [ID]: current({ retain: 1 }) }), {
      cap: { perDay: 2 },
    });

    // Assess
    expect(expiredIds(rotation)).toEqual(['ami-0000f011', 'ami-0000f012', 'ami-00000007', 'ami-00000008']);
    expect(rotation.instances[0]?.postponed).toEqual([
      'ami-00000002',
      'ami-00000003',
      'ami-00000004',
      'ami-00000005',
      'ami-00000006',
    ]);
    expect(rotation.instances[0]?.kept).toHaveLength(6);
    expect(rotation.instances[0]?.count).toEqual({
      resourceId: 'ami-00000001',
      tags: { [RotationTag.expiredToday]: `${utcDay(NIGHT)}/2` },
    });
  });

  it.each([
    ['the day’s cap already spent', `${utcDay(NIGHT)}/2`],
    ['an unreadable count', 'two'],
  ])('with %s, expires failed images only, and counts nothing', (_, count) => {
    const failed = ownedImage('ami-0000f011', ID, { state: 'failed', createdAt: daysBefore(NIGHT, 11) });
    const [newest, ...older] = nightly(3);
    const counted = { ...(newest as Image), tags: { ...newest?.tags, [RotationTag.expiredToday]: count } };
    const rotation = limited([counted, ...older, failed], policies({ [ID]: current({ retain: 1 }) }), {
      cap: { perDay: 2 },
    });
    expect(expiredIds(rotation)).toEqual(['ami-0000f011']);
    expect(rotation.instances[0]?.count).toBeUndefined();
  });

  it('counts from zero on a new day, and from what is left on the same one', () => {
    const [newest, ...older] = nightly(6);
    const countOf = (value: string) => {
      const counted = { ...(newest as Image), tags: { ...newest?.tags, [RotationTag.expiredToday]: value } };
      return limited([counted, ...older], policies({ [ID]: current({ retain: 1 }) }), { cap: { perDay: 3 } });
    };
    const yesterday = countOf(`${utcDay(daysBefore(NIGHT, 1))}/3`);
    expect(expiredIds(yesterday)).toEqual(['ami-00000004', 'ami-00000005', 'ami-00000006']);
    expect(yesterday.instances[0]?.count?.tags).toEqual({ [RotationTag.expiredToday]: `${utcDay(NIGHT)}/3` });
    const today = countOf(`${utcDay(NIGHT)}/2`);
    expect(expiredIds(today)).toEqual(['ami-00000006']);
    expect(today.instances[0]?.count?.tags).toEqual({ [RotationTag.expiredToday]: `${utcDay(NIGHT)}/3` });
  });

  it('over a day of any number of invocations, expires at most the cap, then the rest on later days', () => {
    // Prepare: retain cut from 30 to 2
    let images = nightly(30);
    const hours = [6, 7, 8, 9];
    const rules = policies({ [ID]: current({ retain: 2 }) });
    const perNight: number[] = [];

    // Act: six days, each with its four hourly invocations and rotation passes every 15 minutes after them (no new
    // backups, to see the cap alone); each writes its count, then expires
    for (let night = 0; night < 6; night += 1) {
      let expired = 0;
      const times = [
        ...hours.map((hour) => new Date(Date.UTC(2026, 10, 26 + night, hour))),
        ...Array.from({ length: 12 }, (_, pass) => new Date(Date.UTC(2026, 10, 26 + night, 10, 15 * pass))),
      ];
      for (const now of times) {
        const rotation = planRotation(images, [], rules, OURS, now, { cap: { perDay: 5 } });
        const gone = new Set(expiredIds(rotation));
        expired += gone.size;
        const count = rotation.instances[0]?.count;
        images = images
          .filter((image) => !gone.has(image.id))
          .map((image) =>
            image.id === count?.resourceId ? { ...image, tags: { ...image.tags, ...count.tags } } : image,
          );
      }
      perNight.push(expired);
    }

    // Assess
    expect(perNight).toEqual([5, 5, 5, 5, 5, 3]);
    expect(images.map((image) => image.id)).toEqual(['ami-00000001', 'ami-00000002']);
  });
});

describe('isFirstOfNight', () => {
  const at = (hour: number) => new Date(Date.UTC(2026, 10, 26, hour, 0));

  it('says which invocation is the night’s first', () => {
    expect([5, 6, 7, 9].map((hour) => isFirstOfNight(at(hour), [6, 7, 8, 9]))).toEqual([false, true, false, false]);
    expect([22, 23, 0].map((hour) => isFirstOfNight(at(hour), [22, 23, 0]))).toEqual([true, false, false]);
    expect(
      isFirstOfNight(
        at(0),
        Array.from({ length: 24 }, (_, hour) => hour),
      ),
    ).toBe(true);
  });
});

describe('planRotation: restore-tested images', () => {
  const passed = (daysAgo: number): Tags => ({
    [RestoreTestTag.result]: formatRestoreResult({ at: daysBefore(NIGHT, daysAgo), passed: true }),
  });
  const failedTest = (daysAgo: number): Tags => ({
    [RestoreTestTag.result]: formatRestoreResult({
      at: daysBefore(NIGHT, daysAgo),
      passed: false,
      reason: 'timed out',
    }),
  });
  /** Five nightly images of `ID`, newest first, with the given restore-test tags by position. */
  function withTests(tests: Readonly<Record<number, Tags>>): Image[] {
    return nightly(5).map((image, index) => ({ ...image, tags: { ...image.tags, ...tests[index] } }));
  }

  it('keeps the newest image that passed a restore test beyond the retention, while the instance is opted in', () => {
    // Prepare: retain 1; the third image passed its test, the fourth too (older).
    const images = withTests({ 2: passed(2), 3: passed(9) });

    // Act
    const rotation = plan(images, policies({ [ID]: current({ retain: 1 }) }));

    // Assess
    expect(rotation.instances[0]?.kept).toEqual(['ami-00000001', 'ami-00000003']);
    expect(expiredIds(rotation)).toEqual(['ami-00000002', 'ami-00000004', 'ami-00000005']);
  });

  it('keeps no image for a failed restore test', () => {
    const rotation = plan(withTests({ 2: failedTest(2) }), policies({ [ID]: current({ retain: 1 }) }));
    expect(rotation.instances[0]?.kept).toEqual(['ami-00000001']);
  });

  it('keeps nothing more when the tested image is retained anyway', () => {
    const rotation = plan(withTests({ 0: passed(1), 3: passed(9) }), policies({ [ID]: current({ retain: 2 }) }));
    expect(rotation.instances[0]?.kept).toEqual(['ami-00000001', 'ami-00000002']);
  });

  it('no longer holds the tested image once the instance is gone or opted out (its recorded retention rules)', () => {
    const images = withTests({ 2: passed(2) }).map((image) => ({
      ...image,
      tags: { ...image.tags, [ImageTag.retain]: '1' },
    }));
    expect(plan(images).instances[0]?.kept).toEqual(['ami-00000001']);
  });

  it('never counts a tested image that is not a good backup, nor a look-alike', () => {
    // Prepare
    const [newest, second, third] = withTests({ 1: passed(2), 2: passed(3) });
    const images = [newest as Image, unverified(second as Image), { ...(third as Image), ownerId: '999999999999' }];

    // Act
    const rotation = plan(images, policies({ [ID]: current({ retain: 1 }) }));

    // Assess
    expect(rotation.instances[0]?.kept).toEqual(['ami-00000001']);
    expect(rotation.lookAlikes.map((lookAlike) => lookAlike.imageId)).toEqual(['ami-00000003']);
  });

  it('spends none of the nightly cap on the tested image', () => {
    const rotation = planRotation(
      withTests({ 4: passed(5) }),
      [],
      policies({ [ID]: current({ retain: 1 }) }),
      OURS,
      NIGHT,
      {
        cap: { perDay: 3 },
      },
    );
    expect(rotation.instances[0]?.kept).toEqual(['ami-00000001', 'ami-00000005']);
    expect(expiredIds(rotation)).toEqual(['ami-00000002', 'ami-00000003', 'ami-00000004']);
  });

  it('never expires the newest restore-tested good image, for any tests and retention', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<'passed' | 'failed' | 'none'>('passed', 'failed', 'none'), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.integer({ min: 1, max: 8 }),
        fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined }),
        (tests, retain, budget) => {
          const images = nightly(tests.length).map((image, index) => ({
            ...image,
            tags: {
              ...image.tags,
              ...(tests[index] === 'passed'
                ? passed(index + 1)
                : tests[index] === 'failed'
                  ? failedTest(index + 1)
                  : {}),
            },
          }));
          const rotation = planRotation(images, [], policies({ [ID]: current({ retain }) }), OURS, NIGHT, {
            ...(budget === undefined ? {} : { cap: { perDay: budget } }),
          });
          const newestPassed = images[tests.indexOf('passed')];
          if (newestPassed !== undefined) expect(expiredIds(rotation)).not.toContain(newestPassed.id);
          expect(expiredIds(rotation).length).toBeLessThanOrEqual(Math.max(0, tests.length - retain));
        },
      ),
    );
  });
});
