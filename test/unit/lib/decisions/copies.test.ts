import { type CopySettings, type CopySource, copyLookAlikeReasons, planCopies } from '../../../../lib/decisions/copies';
import { planRotation } from '../../../../lib/decisions/rotation';
import type { Image } from '../../../../lib/model';
import { parseCopyPolicy, parseCopyRetention } from '../../../../lib/policy';
import {
  BackupStep,
  CopyTag,
  ImageTag,
  InstanceTag,
  imageName,
  parseCopyRecord,
  type Tags,
} from '../../../../lib/tags';
import { ACCOUNT, daysBefore, NIGHT, OURS, OWNER, ownedImage, secondsAfter } from '../builders';

const HOME = 'us-east-1';
const WEST = 'us-west-2';
const EU = 'eu-west-1';
const SETTINGS: CopySettings = { homeRegion: HOME, imageTimeoutSeconds: 86_400, kmsKeys: {} };
const POLICY_SETTINGS = { homeRegion: HOME, defaultRegions: [], allowedRegions: [WEST, EU] };

/** An opted-in instance whose newest good backup is `image`, copied to `regions`. */
function source(instanceId: string, image: Image | undefined, regions: string[], tags: Tags = {}): CopySource {
  const all = { [CopyTag.copyTo]: regions.join(','), ...tags };
  return {
    instanceId,
    policy: parseCopyPolicy(all, POLICY_SETTINGS),
    retention: parseCopyRetention(all, 7),
    ...(image === undefined ? {} : { image }),
  };
}

/** A copy of `sourceImage` in another Region, as CopyImage tags it (not yet recorded unless `tags` say so). */
function copyOf(
  id: string,
  sourceImage: Image,
  options: { state?: Image['state']; createdAt?: Date; tags?: Tags; sourceImageId?: string } = {},
): Image {
  const instanceId = sourceImage.tags[ImageTag.instanceId] ?? '';
  const run = sourceImage.tags[ImageTag.run] ?? '';
  return {
    id,
    name: imageName(instanceId, run),
    state: options.state ?? 'available',
    createdAt: options.createdAt ?? secondsAfter(sourceImage.createdAt, 600),
    tags: {
      [ImageTag.managedBy]: OWNER,
      [ImageTag.instanceId]: instanceId,
      [ImageTag.run]: run,
      [CopyTag.sourceImage]: sourceImage.id,
      [CopyTag.sourceRegion]: HOME,
      [ImageTag.retain]: '2',
      ...options.tags,
    },
    snapshotIds: [`snap-${id.slice(4)}`],
    ownerId: ACCOUNT,
    sourceImageId: options.sourceImageId ?? sourceImage.id,
  };
}

const byId = (...images: Image[]) => new Map(images.map((image) => [image.id, image]));

describe('planCopies', () => {
  const backup = ownedImage('ami-0a01', 'i-0a');

  it("starts one copy of an instance's newest good backup in each Region it names, tagged and named as its source", () => {
    // Act
    const plan = planCopies([source('i-0a', backup, [WEST, EU])], new Map(), byId(backup), OURS, NIGHT, SETTINGS);

    // Assess
    expect(plan.regions.map((work) => [work.region, work.start.length, work.inFlight])).toEqual([
      [EU, 1, 1],
      [WEST, 1, 1],
    ]);
    const request = plan.regions.find((work) => work.region === WEST)?.start[0];
    expect(request).toMatchObject({
      instanceId: 'i-0a',
      sourceImageId: 'ami-0a01',
      sourceRegion: HOME,
      name: backup.name,
      encrypted: false,
      tags: {
        [ImageTag.managedBy]: OWNER,
        [ImageTag.instanceId]: 'i-0a',
        [ImageTag.run]: backup.tags[ImageTag.run],
        [CopyTag.sourceImage]: 'ami-0a01',
        [CopyTag.sourceRegion]: HOME,
        [ImageTag.retain]: '7',
      },
    });
    expect(request?.kmsKeyId).toBeUndefined();
  });

  it('encrypts a copy of an encrypted source, and with the key configured for its Region', () => {
    // Prepare
    const encrypted = { ...backup, encrypted: true };

    // Act
    const plain = planCopies([source('i-0a', encrypted, [WEST])], new Map(), new Map(), OURS, NIGHT, SETTINGS);
    const keyed = planCopies([source('i-0a', backup, [WEST])], new Map(), new Map(), OURS, NIGHT, {
      ...SETTINGS,
      kmsKeys: { [WEST]: 'key-west' },
    });

    // Assess
    expect(plain.regions[0]?.start[0]).toMatchObject({ encrypted: true });
    expect(plain.regions[0]?.start[0]?.kmsKeyId).toBeUndefined();
    expect(keyed.regions[0]?.start[0]).toMatchObject({ encrypted: true, kmsKeyId: 'key-west' });
  });

  it('starts no copy when the copy already exists by name (a rerun), or its Region is recorded on the source', () => {
    // Prepare
    const pending = copyOf('ami-0b01', backup, { state: 'pending' });
    const recorded = { ...backup, tags: { ...backup.tags, [CopyTag.copies]: `${EU}=failed:ami-0c01` } };

    // Act
    const plan = planCopies(
      [source('i-0a', recorded, [WEST, EU])],
      new Map([[WEST, [pending]]]),
      byId(recorded),
      OURS,
      NIGHT,
      SETTINGS,
    );

    // Assess
    expect(plan.regions.flatMap((work) => work.start)).toEqual([]);
    expect(plan.regions.find((work) => work.region === WEST)?.inFlight).toBe(1);
    expect(plan.results).toEqual([]);
  });

  it('copies nothing for an instance without a good backup, or whose copy tags are invalid (held, with why)', () => {
    // Prepare
    const failed = ownedImage('ami-0d01', 'i-0d', { state: 'failed' });

    // Act
    const plan = planCopies(
      [
        source('i-0d', failed, [WEST]),
        source('i-0e', undefined, [WEST]),
        source('i-0f', ownedImage('ami-0f01', 'i-0f'), [WEST, WEST]),
        source('i-10', ownedImage('ami-1001', 'i-10'), [HOME]),
        source('i-11', ownedImage('ami-1101', 'i-11'), [WEST], { [CopyTag.copyRetain]: 'many' }),
      ],
      new Map(),
      new Map(),
      OURS,
      NIGHT,
      SETTINGS,
    );

    // Assess
    expect(plan.regions.flatMap((work) => work.start)).toEqual([]);
    expect(plan.held.map((hold) => hold.instanceId)).toEqual(['i-0f', 'i-10', 'i-11']);
    expect(plan.held[0]?.reason).toMatch(/"us-west-2" is listed twice/);
    expect(plan.held[1]?.reason).toMatch(/"us-east-1" is the source Region/);
    expect(plan.held[2]?.reason).toMatch(/copy-retain="many"/);
  });

  it('records an available copy as succeeded on the copy and then on its source', () => {
    // Prepare
    const copy = copyOf('ami-0b01', backup);

    // Act
    const plan = planCopies(
      [source('i-0a', backup, [WEST])],
      new Map([[WEST, [copy]]]),
      byId(backup),
      OURS,
      NIGHT,
      SETTINGS,
    );

    // Assess
    expect(plan.results).toEqual([
      {
        instanceId: 'i-0a',
        region: WEST,
        sourceImageId: 'ami-0a01',
        copyImageId: 'ami-0b01',
        state: 'succeeded',
      },
    ]);
    expect(plan.regions[0]?.copyTags).toEqual([{ resourceId: 'ami-0b01', tags: { [InstanceTag.state]: 'succeeded' } }]);
    expect(plan.sourceRecords).toEqual([
      { resourceId: 'ami-0a01', tags: { [CopyTag.copies]: `${WEST}=succeeded:ami-0b01` } },
    ]);
    expect(plan.regions[0]?.inFlight).toBe(0);
  });

  it('records a failed copy with its reason, keeping the other Regions recorded on the source', () => {
    // Prepare
    const recorded = { ...backup, tags: { ...backup.tags, [CopyTag.copies]: `${EU}=succeeded:ami-0c01` } };
    const copy = { ...copyOf('ami-0b01', recorded, { state: 'failed' }), stateReason: 'snapshot copy failed' };

    // Act
    const plan = planCopies(
      [source('i-0a', recorded, [WEST, EU])],
      new Map([[WEST, [copy]]]),
      byId(recorded),
      OURS,
      NIGHT,
      SETTINGS,
    );

    // Assess
    expect(plan.results[0]).toMatchObject({ state: 'failed', reason: 'copy failed: snapshot copy failed' });
    expect(plan.regions.find((work) => work.region === WEST)?.copyTags[0]?.tags).toEqual({
      [InstanceTag.state]: 'failed',
      [InstanceTag.lastError]: 'copy failed: snapshot copy failed',
    });
    expect(parseCopyRecord(plan.sourceRecords[0]?.tags[CopyTag.copies])).toEqual(
      new Map([
        [EU, { state: 'succeeded', imageId: 'ami-0c01' }],
        [WEST, { state: 'failed', imageId: 'ami-0b01' }],
      ]),
    );
  });

  it('fails a copy still pending after the image timeout and cleans it up; never starts it again', () => {
    // Prepare
    const copy = copyOf('ami-0b01', backup, { state: 'pending', createdAt: NIGHT });
    const justInTime = secondsAfter(NIGHT, 86_400);
    const late = secondsAfter(NIGHT, 86_401);

    // Act
    const waiting = planCopies(
      [source('i-0a', backup, [WEST])],
      new Map([[WEST, [copy]]]),
      byId(backup),
      OURS,
      justInTime,
      SETTINGS,
    );
    const timedOut = planCopies(
      [source('i-0a', backup, [WEST])],
      new Map([[WEST, [copy]]]),
      byId(backup),
      OURS,
      late,
      SETTINGS,
    );
    const cleaned = { ...backup, tags: { ...backup.tags, [CopyTag.copies]: `${WEST}=failed:ami-0b01` } };
    const after = planCopies([source('i-0a', cleaned, [WEST])], new Map(), byId(cleaned), OURS, late, SETTINGS);

    // Assess
    expect(waiting.results).toEqual([]);
    expect(waiting.regions[0]?.inFlight).toBe(1);
    expect(timedOut.results[0]).toMatchObject({
      state: 'failed',
      reason: 'copy still pending after 86400 s: cleaned up',
    });
    expect(timedOut.regions[0]?.cleanups).toEqual([
      { imageId: 'ami-0b01', snapshotIds: ['snap-0b01'], sourceImageId: 'ami-0a01' },
    ]);
    expect(timedOut.sourceRecords[0]?.tags[CopyTag.copies]).toBe(`${WEST}=failed:ami-0b01`);
    expect(after.regions.flatMap((work) => work.start)).toEqual([]);
  });

  it('after a crash between the two records: writes the source record, publishes nothing again', () => {
    // Prepare
    const copy = copyOf('ami-0b01', backup, { tags: { [InstanceTag.state]: 'succeeded' } });

    // Act
    const plan = planCopies(
      [source('i-0a', backup, [WEST])],
      new Map([[WEST, [copy]]]),
      byId(backup),
      OURS,
      NIGHT,
      SETTINGS,
    );

    // Assess
    expect(plan.results).toEqual([]);
    expect(plan.sourceRecords).toEqual([
      { resourceId: 'ami-0a01', tags: { [CopyTag.copies]: `${WEST}=succeeded:ami-0b01` } },
    ]);
    expect(plan.regions[0]?.start).toEqual([]);
  });

  it('finishes cleaning up a timed-out copy recorded failed but still there', () => {
    // Prepare
    const copy = copyOf('ami-0b01', backup, { state: 'pending', tags: { [InstanceTag.state]: 'failed' } });
    const recorded = { ...backup, tags: { ...backup.tags, [CopyTag.copies]: `${WEST}=failed:ami-0b01` } };

    // Act
    const plan = planCopies(
      [source('i-0a', recorded, [WEST])],
      new Map([[WEST, [copy]]]),
      byId(recorded),
      OURS,
      NIGHT,
      SETTINGS,
    );

    // Assess
    expect(plan.regions[0]?.cleanups.map((cleanup) => cleanup.imageId)).toEqual(['ami-0b01']);
    expect(plan.sourceRecords).toEqual([]);
  });

  it('keeps at most the in-flight limit of copies pending in a Region, the others waiting', () => {
    // Prepare
    const sources = ['i-01', 'i-02', 'i-03'].map((id) => source(id, ownedImage(`ami-${id.slice(2)}01`, id), [WEST]));
    const pending = copyOf('ami-0b01', backup, { state: 'pending' });

    // Act
    const plan = planCopies(sources, new Map([[WEST, [pending]]]), new Map(), OURS, NIGHT, {
      ...SETTINGS,
      maxInFlightPerRegion: 2,
    });

    // Assess
    expect(plan.regions[0]).toMatchObject({ inFlight: 2, waiting: 2 });
    expect(plan.regions[0]?.start.map((request) => request.instanceId)).toEqual(['i-01']);
  });

  it('never touches a look-alike in the destination Region', () => {
    // Prepare
    const foreign = copyOf('ami-0b01', backup, { tags: { [ImageTag.managedBy]: 'ami-backup-prod' } });
    const named = copyOf('ami-0b02', backup, { sourceImageId: 'ami-0fff' });

    // Act
    const plan = planCopies([], new Map([[WEST, [foreign, named]]]), byId(backup), OURS, NIGHT, SETTINGS);

    // Assess
    expect(plan.results).toEqual([]);
    expect(copyLookAlikeReasons(foreign, OURS)).toEqual([`not tagged ${ImageTag.managedBy}=${OWNER}`]);
    expect(copyLookAlikeReasons(named, OURS)).toEqual(['copied from ami-0fff, not ami-0a01']);
  });
});

describe('rotation of copies in their Region', () => {
  /** Good copies of five nights of an instance, newest first; their sources may be gone. */
  const copies = [0, 1, 2, 3, 4].map((night) => {
    const made = daysBefore(NIGHT, night);
    const sourceImage = ownedImage(`ami-0a0${night}`, 'i-0a', { createdAt: made });
    return copyOf(`ami-0b0${night}`, sourceImage, {
      createdAt: secondsAfter(made, 600),
      tags: { [InstanceTag.state]: BackupStep.succeeded },
    });
  });

  it('keeps the newest copy-retain good copies, whatever became of their sources', () => {
    // Prepare
    const policies = new Map([
      ['i-0a', { source: 'instance' as const, retention: parseCopyRetention({ [CopyTag.copyRetain]: '2' }, 7) }],
    ]);

    // Act
    const plan = planRotation(copies, [], policies, OURS, NIGHT, {}, copyLookAlikeReasons);

    // Assess
    expect(plan.instances[0]?.kept).toEqual(['ami-0b00', 'ami-0b01']);
    expect(plan.expired.map((expiry) => expiry.imageId).sort()).toEqual(['ami-0b02', 'ami-0b03', 'ami-0b04']);
  });

  it('follows the retention recorded on the copies once the instance stops naming the Region', () => {
    // Act (copyOf records retain=2 on each copy)
    const plan = planRotation(copies, [], new Map(), OURS, NIGHT, {}, copyLookAlikeReasons);

    // Assess
    expect(plan.instances[0]?.kept).toEqual(['ami-0b00', 'ami-0b01']);
  });

  it('never expires the last good copy, even with retain-days alone expired', () => {
    // Prepare
    const failedNewer = {
      ...copies[0],
      id: 'ami-0bff',
      state: 'failed' as const,
      tags: { ...copies[0]?.tags },
    } as Image;
    const oldest = copies.slice(4);

    // Act
    const plan = planRotation([failedNewer, ...oldest], [], new Map(), OURS, NIGHT, {}, copyLookAlikeReasons);

    // Assess
    expect(plan.instances[0]?.kept).toEqual(['ami-0b04']);
    expect(plan.expired.map((expiry) => expiry.imageId)).toEqual(['ami-0bff']);
  });

  it('treats an image made by CreateImage in that Region (no source-image tag) as a look-alike, never expired', () => {
    // Prepare
    const native = ownedImage('ami-0c01', 'i-0c', { createdAt: daysBefore(NIGHT, 9) });

    // Act
    const plan = planRotation([native, ...copies], [], new Map(), OURS, NIGHT, {}, copyLookAlikeReasons);

    // Assess
    expect(plan.lookAlikes.map((lookAlike) => lookAlike.imageId)).toEqual(['ami-0c01']);
    expect(plan.expired.map((expiry) => expiry.imageId)).not.toContain('ami-0c01');
  });
});
