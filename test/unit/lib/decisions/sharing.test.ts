import fc from 'fast-check';
import {
  accountOfGrant,
  GRANT_OPERATIONS,
  grantName,
  type KeyManager,
  planSharing,
  REENCRYPTED_SUFFIX,
  reencryptedCopyLookAlikeReasons,
  type ServiceGrant,
  type ShareableImage,
  type SharePlan,
  type ShareSettings,
  type ShareSource,
  unshareBeforeExpiry,
} from '../../../../lib/decisions/sharing';
import type { Image } from '../../../../lib/model';
import { parseSharePolicy } from '../../../../lib/policy';
import { ImageTag, ShareTag, type Tags } from '../../../../lib/tags';
import { ACCOUNT, OURS, OWNER, ownedImage } from '../builders';

const TEAM = '111122223333';
const AUDIT = '444455556666';
const CUSTOMER_KEY = 'arn:aws:kms:us-east-1:123456789012:key/customer';
const OTHER_CUSTOMER_KEY = 'arn:aws:kms:us-east-1:123456789012:key/other';
const AWS_KEY = 'arn:aws:kms:us-east-1:123456789012:key/aws-ebs';
const SHARE_KEY = 'arn:aws:kms:us-east-1:123456789012:key/share';
const KEYS = new Map<string, KeyManager>([
  [CUSTOMER_KEY, 'CUSTOMER'],
  [OTHER_CUSTOMER_KEY, 'CUSTOMER'],
  [AWS_KEY, 'AWS'],
  [SHARE_KEY, 'CUSTOMER'],
]);
const SETTINGS: ShareSettings = {
  homeRegion: 'us-east-1',
  owner: OWNER,
  grantableKeys: [CUSTOMER_KEY, OTHER_CUSTOMER_KEY],
};
const WITH_SHARE_KEY: ShareSettings = { ...SETTINGS, shareKmsKey: SHARE_KEY };

/** An opted-in instance whose share tag is `shareWith` (undefined: no tag, the deployment's default of none). */
function source(instanceId: string, shareWith: string | undefined, shareError?: string): ShareSource {
  const tags: Tags = shareWith === undefined ? {} : { [ShareTag.shareWith]: shareWith };
  return {
    instanceId,
    policy: parseSharePolicy(tags, [], ACCOUNT),
    ...(shareError === undefined ? {} : { shareError }),
  };
}

/** One of the service's images with one snapshot per key given (undefined: unencrypted), shared with `accounts`. */
function shared(
  image: Image,
  options: { keys?: (string | undefined)[]; accounts?: string[]; volumeAccounts?: string[] } = {},
): ShareableImage {
  const accounts = options.accounts ?? [];
  return {
    image,
    launchAccounts: accounts,
    snapshots: (options.keys ?? [undefined]).map((kmsKeyId, index) => ({
      id: `snap-${image.id.slice(4)}${index}`,
      ...(kmsKeyId === undefined ? {} : { kmsKeyId }),
      createVolumeAccounts: options.volumeAccounts ?? accounts,
    })),
  };
}

/** A re-encrypted copy of `backup` made by an earlier pass. */
function reencryptedCopy(id: string, backup: Image, state: Image['state'] = 'available'): Image {
  return {
    ...backup,
    id,
    state,
    name: `${backup.name}${REENCRYPTED_SUFFIX}`,
    tags: {
      [ImageTag.managedBy]: OWNER,
      [ImageTag.instanceId]: backup.tags[ImageTag.instanceId] ?? '',
      [ImageTag.run]: backup.tags[ImageTag.run] ?? '',
      [ShareTag.reencryptedFrom]: backup.id,
    },
  };
}

const grant = (keyId: string, account: string, grantId = `g-${account}`): ServiceGrant => ({ keyId, grantId, account });

describe('planSharing', () => {
  const backup = ownedImage('ami-0a01', 'i-0a');

  it('shares an unencrypted good backup with each account its instance names: launch, create-volume, record, event', () => {
    // Act
    const plan = planSharing([source('i-0a', `${TEAM},${AUDIT}`)], [shared(backup)], KEYS, [], OURS, SETTINGS);

    // Assess
    expect(plan.add).toEqual([{ imageId: 'ami-0a01', snapshotIds: ['snap-0a010'], accounts: [TEAM, AUDIT] }]);
    expect(plan.remove).toEqual([]);
    expect(plan.createGrants).toEqual([]);
    expect(plan.records).toEqual([{ resourceId: 'ami-0a01', tags: { [ShareTag.sharedWith]: `${TEAM},${AUDIT}` } }]);
    expect(plan.events).toEqual([
      { type: 'Image Shared', instanceId: 'i-0a', imageId: 'ami-0a01', accounts: [TEAM, AUDIT] },
    ]);
  });

  it('changes nothing for an image already shared as its instance asks', () => {
    // Prepare
    const recorded = ownedImage('ami-0a01', 'i-0a', { tags: { [ShareTag.sharedWith]: TEAM } });

    // Act
    const plan = planSharing(
      [source('i-0a', TEAM)],
      [shared(recorded, { accounts: [TEAM] })],
      KEYS,
      [],
      OURS,
      SETTINGS,
    );

    // Assess
    expect(plan).toEqual(emptyPlan());
  });

  it('never shares an image that is not a good backup, and revokes it if it was', () => {
    // Prepare
    const failed = ownedImage('ami-0a02', 'i-0a', {
      tags: { [ImageTag.instanceId]: 'i-0a', 'ami-backup:state': 'failed' },
    });

    // Act
    const plan = planSharing([source('i-0a', TEAM)], [shared(failed, { accounts: [TEAM] })], KEYS, [], OURS, SETTINGS);

    // Assess
    expect(plan.add).toEqual([]);
    expect(plan.remove).toEqual([{ imageId: 'ami-0a02', snapshotIds: ['snap-0a020'], accounts: [TEAM] }]);
  });

  it('revokes an account removed from the tag on every image still kept, and the key use it no longer needs', () => {
    // Prepare
    const older = ownedImage('ami-0a00', 'i-0a');
    const images = [
      shared(older, { keys: [CUSTOMER_KEY], accounts: [TEAM, AUDIT] }),
      shared(backup, { keys: [CUSTOMER_KEY], accounts: [TEAM, AUDIT] }),
    ];
    const grants = [grant(CUSTOMER_KEY, TEAM), grant(CUSTOMER_KEY, AUDIT)];

    // Act
    const plan = planSharing([source('i-0a', TEAM)], images, KEYS, grants, OURS, SETTINGS);

    // Assess
    expect(plan.remove.map((change) => [change.imageId, change.accounts])).toEqual([
      ['ami-0a00', [AUDIT]],
      ['ami-0a01', [AUDIT]],
    ]);
    expect(plan.revokeGrants).toEqual([grant(CUSTOMER_KEY, AUDIT)]);
    expect(plan.createGrants).toEqual([]);
    expect(plan.events.filter((event) => event.type === 'Share Revoked')).toHaveLength(2);
  });

  it('revokes everything of an instance opted out (or gone), recording it as shared with none', () => {
    // Prepare
    const recorded = ownedImage('ami-0a01', 'i-0a', { tags: { [ShareTag.sharedWith]: TEAM } });

    // Act
    const plan = planSharing(
      [],
      [shared(recorded, { keys: [CUSTOMER_KEY], accounts: [TEAM] })],
      KEYS,
      [grant(CUSTOMER_KEY, TEAM)],
      OURS,
      SETTINGS,
    );

    // Assess
    expect(plan.remove).toEqual([{ imageId: 'ami-0a01', snapshotIds: ['snap-0a010'], accounts: [TEAM] }]);
    expect(plan.revokeGrants).toEqual([grant(CUSTOMER_KEY, TEAM)]);
    expect(plan.records).toEqual([{ resourceId: 'ami-0a01', tags: { [ShareTag.sharedWith]: '' } }]);
    expect(plan.events).toEqual([{ type: 'Share Revoked', instanceId: 'i-0a', imageId: 'ami-0a01', accounts: [TEAM] }]);
  });

  it('holds an instance whose share tag is invalid: nothing added, nothing revoked, its grants kept', () => {
    // Act
    const plan = planSharing(
      [source('i-0a', `${TEAM},all`)],
      [shared(backup, { keys: [CUSTOMER_KEY], accounts: [AUDIT] })],
      KEYS,
      [grant(CUSTOMER_KEY, AUDIT)],
      OURS,
      SETTINGS,
    );

    // Assess
    expect(plan).toEqual({
      ...emptyPlan(),
      held: [{ instanceId: 'i-0a', reason: `${ShareTag.shareWith}: "all" is not a 12-digit account id` }],
    });
  });

  it('grants each account the documented operations on each customer managed key of the image, named for the account', () => {
    // Act
    const plan = planSharing(
      [source('i-0a', TEAM)],
      [shared(backup, { keys: [CUSTOMER_KEY, OTHER_CUSTOMER_KEY] })],
      KEYS,
      [],
      OURS,
      SETTINGS,
    );

    // Assess
    expect(plan.createGrants).toEqual([
      { keyId: CUSTOMER_KEY, account: TEAM, name: `${OWNER}-${TEAM}`, operations: GRANT_OPERATIONS },
      { keyId: OTHER_CUSTOMER_KEY, account: TEAM, name: `${OWNER}-${TEAM}`, operations: GRANT_OPERATIONS },
    ]);
    expect(GRANT_OPERATIONS).toEqual([
      'CreateGrant',
      'Decrypt',
      'DescribeKey',
      'GenerateDataKey',
      'GenerateDataKeyWithoutPlaintext',
      'ReEncryptFrom',
      'ReEncryptTo',
    ]);
    expect(plan.add.map((change) => change.accounts)).toEqual([[TEAM]]);
  });

  it('fails to share an image encrypted with the AWS managed key without a share key, saying what to set, once', () => {
    // Act
    const plan = planSharing([source('i-0a', TEAM)], [shared(backup, { keys: [AWS_KEY] })], KEYS, [], OURS, SETTINGS);

    // Assess
    const reason =
      "snapshot snap-0a010 is encrypted with the AWS managed key, which cannot be shared: set the deployment's shareKmsKey (a customer managed key) to share a re-encrypted copy";
    expect(plan.add).toEqual([]);
    expect(plan.createGrants).toEqual([]);
    expect(plan.copies).toEqual([]);
    expect(plan.instanceErrors).toEqual([{ instanceId: 'i-0a', reason }]);
    expect(plan.events).toEqual([{ type: 'Share Failed', instanceId: 'i-0a', imageId: 'ami-0a01', reason }]);
    // The next pass finds the error recorded: nothing new to write or publish.
    const again = planSharing(
      [source('i-0a', TEAM, reason)],
      [shared(backup, { keys: [AWS_KEY] })],
      KEYS,
      [],
      OURS,
      SETTINGS,
    );
    expect(again.instanceErrors).toEqual([]);
    expect(again.events).toEqual([]);
  });

  it('clears a share error once the instance can be shared again', () => {
    const plan = planSharing([source('i-0a', TEAM, 'earlier')], [shared(backup)], KEYS, [], OURS, SETTINGS);
    expect(plan.instanceErrors).toEqual([{ instanceId: 'i-0a', reason: undefined }]);
  });

  it('shares an image under a customer managed key the deployment does not name as a re-encrypted copy, or fails', () => {
    const settings = { ...SETTINGS, grantableKeys: [] };
    const images = [shared(backup, { keys: [CUSTOMER_KEY] })];
    const failed = planSharing([source('i-0a', TEAM)], images, KEYS, [], OURS, settings);
    const copied = planSharing([source('i-0a', TEAM)], images, KEYS, [], OURS, { ...settings, shareKmsKey: SHARE_KEY });
    expect(failed.add).toEqual([]);
    expect(failed.createGrants).toEqual([]);
    expect(failed.instanceErrors[0]?.reason).toMatch(
      `snapshot snap-0a010 is encrypted with ${CUSTOMER_KEY}, a key this deployment may not grant: set`,
    );
    expect(copied.copies.map((request) => [request.sourceImageId, request.kmsKeyId])).toEqual([
      ['ami-0a01', SHARE_KEY],
    ]);
  });

  it('treats a key it could not describe as not shareable', () => {
    const plan = planSharing([source('i-0a', TEAM)], [shared(backup, { keys: ['unknown'] })], KEYS, [], OURS, SETTINGS);
    expect(plan.add).toEqual([]);
    expect(plan.instanceErrors[0]?.reason).toMatch(
      /^the key of snapshot snap-0a010 \(unknown\) could not be described/,
    );
  });

  it('with a share key, makes a same-Region copy re-encrypted with it, tagged as the service own, named after its source', () => {
    // Act
    const plan = planSharing(
      [source('i-0a', TEAM)],
      [shared(backup, { keys: [AWS_KEY] })],
      KEYS,
      [],
      OURS,
      WITH_SHARE_KEY,
    );

    // Assess
    expect(plan.copies).toEqual([
      {
        instanceId: 'i-0a',
        region: 'us-east-1',
        sourceImageId: 'ami-0a01',
        sourceRegion: 'us-east-1',
        name: `${backup.name}${REENCRYPTED_SUFFIX}`,
        description: 'ami-backup copy of ami-0a01 re-encrypted for sharing',
        encrypted: true,
        kmsKeyId: SHARE_KEY,
        tags: {
          [ImageTag.managedBy]: OWNER,
          [ImageTag.instanceId]: 'i-0a',
          [ImageTag.run]: backup.tags[ImageTag.run],
          [ShareTag.reencryptedFrom]: 'ami-0a01',
        },
      },
    ]);
    expect(plan.add).toEqual([]);
    expect(plan.events).toEqual([]);
  });

  it('shares the re-encrypted copy once available (granting its key), never its source; waits while it is pending', () => {
    // Prepare
    const copy = reencryptedCopy('ami-0c01', backup);
    const images = [shared(backup, { keys: [AWS_KEY] }), shared(copy, { keys: [SHARE_KEY] })];

    // Act
    const plan = planSharing([source('i-0a', TEAM)], images, KEYS, [], OURS, WITH_SHARE_KEY);
    const pending = planSharing(
      [source('i-0a', TEAM)],
      [
        shared(backup, { keys: [AWS_KEY] }),
        shared(reencryptedCopy('ami-0c01', backup, 'pending'), { keys: [SHARE_KEY] }),
      ],
      KEYS,
      [],
      OURS,
      WITH_SHARE_KEY,
    );

    // Assess
    expect(plan.copies).toEqual([]);
    expect(plan.add).toEqual([{ imageId: 'ami-0c01', snapshotIds: ['snap-0c010'], accounts: [TEAM] }]);
    expect(plan.createGrants.map((request) => [request.keyId, request.account])).toEqual([[SHARE_KEY, TEAM]]);
    expect(plan.events).toEqual([{ type: 'Image Shared', instanceId: 'i-0a', imageId: 'ami-0c01', accounts: [TEAM] }]);
    expect(pending).toEqual(emptyPlan());
  });

  it('reports a re-encrypted copy that failed as the share failure', () => {
    const failed = { ...reencryptedCopy('ami-0c01', backup, 'failed'), stateReason: 'key disabled' };
    const plan = planSharing(
      [source('i-0a', TEAM)],
      [shared(backup, { keys: [AWS_KEY] }), shared(failed, { keys: [SHARE_KEY] })],
      KEYS,
      [],
      OURS,
      WITH_SHARE_KEY,
    );
    expect(plan.instanceErrors).toEqual([
      { instanceId: 'i-0a', reason: 're-encrypted copy ami-0c01 failed: key disabled' },
    ]);
    expect(plan.copies).toEqual([]);
  });

  it('expires a re-encrypted copy with its source (unshared first), and one no account needs any more', () => {
    // Prepare
    const orphan = reencryptedCopy('ami-0c00', ownedImage('ami-0a00', 'i-0a'));
    const unneeded = reencryptedCopy('ami-0c01', backup);
    const images = [
      shared(orphan, { keys: [SHARE_KEY], accounts: [TEAM] }),
      shared(backup, { keys: [AWS_KEY] }),
      shared(unneeded, { keys: [SHARE_KEY] }),
    ];

    // Act
    const plan = planSharing([source('i-0a', '')], images, KEYS, [grant(SHARE_KEY, TEAM)], OURS, WITH_SHARE_KEY);

    // Assess
    expect(plan.expireCopies).toEqual([
      { imageId: 'ami-0c00', snapshotIds: ['snap-0c000'] },
      { imageId: 'ami-0c01', snapshotIds: ['snap-0c010'] },
    ]);
    expect(plan.remove).toEqual([{ imageId: 'ami-0c00', snapshotIds: ['snap-0c000'], accounts: [TEAM] }]);
    expect(plan.revokeGrants).toEqual([grant(SHARE_KEY, TEAM)]);
  });

  it('completes create-volume permission on snapshots left without it (a crash between the two calls)', () => {
    const plan = planSharing(
      [source('i-0a', TEAM)],
      [shared(backup, { accounts: [TEAM], volumeAccounts: [] })],
      KEYS,
      [],
      OURS,
      SETTINGS,
    );
    expect(plan.add).toEqual([{ imageId: 'ami-0a01', snapshotIds: ['snap-0a010'], accounts: [TEAM] }]);
    expect(plan.events).toEqual([]);
  });
});

describe('ownership', () => {
  const backup = ownedImage('ami-0a01', 'i-0a');

  it('never touches an image that fails the ownership checks: a look-alike backup or re-encrypted copy', () => {
    // Prepare
    const foreign = ownedImage('ami-0f01', 'i-0a', { ownerId: '999999999999' });
    const misnamed = { ...reencryptedCopy('ami-0c01', backup), name: 'something-else' };
    const images = [
      shared(foreign, { accounts: [AUDIT] }),
      shared(backup, { keys: [AWS_KEY] }),
      shared(misnamed, { keys: [SHARE_KEY], accounts: [AUDIT] }),
    ];

    // Act
    const plan = planSharing([source('i-0a', TEAM)], images, KEYS, [], OURS, WITH_SHARE_KEY);

    // Assess
    expect(plan.remove).toEqual([]);
    expect(plan.expireCopies).toEqual([]);
    expect(plan.add).toEqual([]);
    // The look-alike copy is not the backup's copy: a copy of its own is made.
    expect(plan.copies.map((request) => request.sourceImageId)).toEqual(['ami-0a01']);
  });

  it("names each check a re-encrypted copy fails; none for the service's own", () => {
    const copy = reencryptedCopy('ami-0c01', backup);
    expect(reencryptedCopyLookAlikeReasons(copy, OURS)).toEqual([]);
    expect(
      reencryptedCopyLookAlikeReasons(
        {
          ...copy,
          ownerId: '999999999999',
          name: 'x',
          sourceImageId: 'ami-0fff',
          tags: { ...copy.tags, [ImageTag.managedBy]: 'other' },
        },
        OURS,
      ),
    ).toEqual([
      `owned by account 999999999999, not ${ACCOUNT}`,
      `not tagged ${ImageTag.managedBy}=${OWNER}`,
      `named "x", not "${backup.name}${REENCRYPTED_SUFFIX}"`,
      'copied from ami-0fff, not ami-0a01',
    ]);
    const { [ImageTag.run]: _run, ...withoutRun } = copy.tags;
    expect(reencryptedCopyLookAlikeReasons({ ...copy, tags: withoutRun }, OURS)).toEqual([
      `no ${ImageTag.instanceId} or ${ImageTag.run} tag`,
    ]);
  });
});

describe('unshareBeforeExpiry', () => {
  it('removes every account an expiring image is recorded shared with, and only account ids; nothing for an unshared one', () => {
    const image = ownedImage('ami-0a01', 'i-0a');
    const recorded = (value: string) => ({ ...image, tags: { ...image.tags, [ShareTag.sharedWith]: value } });
    expect(unshareBeforeExpiry(recorded(`${TEAM},${AUDIT}`))).toEqual({
      imageId: 'ami-0a01',
      snapshotIds: image.snapshotIds,
      accounts: [AUDIT, TEAM].sort(),
    });
    // A forged record names no group: `all` is never passed on.
    expect(unshareBeforeExpiry(recorded(`all,${TEAM}`))?.accounts).toEqual([TEAM]);
    expect(unshareBeforeExpiry(recorded(''))).toBeUndefined();
    expect(unshareBeforeExpiry(image)).toBeUndefined();
  });
});

describe('grant names', () => {
  it('name the account, and only names of the service own are read back as one', () => {
    expect(accountOfGrant(OWNER, grantName(OWNER, TEAM))).toBe(TEAM);
    expect(accountOfGrant(OWNER, grantName('someone-else', TEAM))).toBeUndefined();
    expect(accountOfGrant(OWNER, `${OWNER}-all`)).toBeUndefined();
    expect(accountOfGrant(OWNER, undefined)).toBeUndefined();
  });
});

function emptyPlan(): SharePlan {
  return {
    createGrants: [],
    add: [],
    remove: [],
    revokeGrants: [],
    copies: [],
    expireCopies: [],
    records: [],
    instanceErrors: [],
    events: [],
    held: [],
  };
}

describe('planSharing properties', () => {
  const accountPool = [TEAM, AUDIT, '777788889999'];
  const keyPool = [undefined, CUSTOMER_KEY, OTHER_CUSTOMER_KEY, AWS_KEY];
  const instancePool = ['i-0a', 'i-0b', 'i-0c'];
  /** A share tag: some of the pool, sometimes with an invalid entry (`all`, the own account, a short id). */
  const shareTags = fc.oneof(
    fc.subarray(accountPool).map((ids) => ids.join(',')),
    fc.subarray([...accountPool, 'all', ACCOUNT, '12345']).map((ids) => ids.join(',')),
  );
  const world = fc.record({
    sources: fc.uniqueArray(fc.record({ id: fc.constantFrom(...instancePool), tag: shareTags }), {
      selector: (entry) => entry.id,
    }),
    images: fc.uniqueArray(
      fc.record({
        n: fc.integer({ min: 0, max: 30 }),
        instanceId: fc.constantFrom(...instancePool),
        good: fc.boolean(),
        keys: fc.array(fc.constantFrom(...keyPool), { minLength: 1, maxLength: 3 }),
        accounts: fc.subarray(accountPool),
        volumeAccounts: fc.subarray(accountPool),
      }),
      { selector: (entry) => entry.n },
    ),
    grants: fc.subarray(
      [CUSTOMER_KEY, OTHER_CUSTOMER_KEY].flatMap((keyId) => accountPool.map((account) => grant(keyId, account))),
    ),
  });

  type World = typeof world extends fc.Arbitrary<infer Value> ? Value : never;

  function build(input: World): [ShareSource[], ShareableImage[]] {
    const sources = input.sources.map((entry) => source(entry.id, entry.tag));
    const images = input.images.map((entry) =>
      shared(
        ownedImage(`ami-${entry.n.toString(16).padStart(4, '0')}`, entry.instanceId, {
          ...(entry.good ? {} : { tags: { 'ami-backup:state': 'failed' } }),
        }),
        { keys: entry.keys, accounts: entry.accounts, volumeAccounts: entry.volumeAccounts },
      ),
    );
    return [sources, images];
  }

  /** Each image's launch accounts once the plan's removals and additions are applied. */
  function applied(images: readonly ShareableImage[], plan: SharePlan): Map<string, Set<string>> {
    const launch = new Map(images.map((shared) => [shared.image.id, new Set(shared.launchAccounts)]));
    for (const change of plan.remove) for (const a of change.accounts) launch.get(change.imageId)?.delete(a);
    for (const change of plan.add) for (const a of change.accounts) launch.get(change.imageId)?.add(a);
    return launch;
  }

  it('adds only 12-digit accounts a valid policy of the image instance names, to good backups with shareable keys', () => {
    fc.assert(
      fc.property(world, (input) => {
        const [sources, images] = build(input);
        const plan = planSharing(sources, images, KEYS, input.grants, OURS, SETTINGS);
        for (const change of plan.add) {
          const shared = images.find((candidate) => candidate.image.id === change.imageId);
          const policy = sources.find((s) => s.instanceId === shared?.image.tags[ImageTag.instanceId])?.policy;
          expect(policy?.ok).toBe(true);
          expect(shared?.image.tags['ami-backup:state']).toBe('succeeded');
          expect(shared?.snapshots.some((snapshot) => snapshot.kmsKeyId === AWS_KEY)).toBe(false);
          for (const account of change.accounts) {
            expect(account).toMatch(/^[0-9]{12}$/);
            expect(policy?.ok === true && policy.value.accounts.includes(account)).toBe(true);
          }
        }
      }),
    );
  });

  it('leaves each image shared with exactly what its policy asks; a held instance keeps what it had', () => {
    fc.assert(
      fc.property(world, (input) => {
        const [sources, images] = build(input);
        const plan = planSharing(sources, images, KEYS, input.grants, OURS, SETTINGS);
        const after = applied(images, plan);
        for (const shared of images) {
          const policy = sources.find((s) => s.instanceId === shared.image.tags[ImageTag.instanceId])?.policy;
          const shareable = !shared.snapshots.some((snapshot) => snapshot.kmsKeyId === AWS_KEY);
          const expected =
            policy?.ok === false
              ? shared.launchAccounts
              : policy?.ok === true && shareable && shared.image.tags['ami-backup:state'] === 'succeeded'
                ? policy.value.accounts
                : [];
          expect([...(after.get(shared.image.id) ?? [])].sort()).toEqual([...new Set(expected)].sort());
        }
      }),
    );
  });

  it('keeps a grant exactly while an image shared with its account (after the plan) needs its key', () => {
    fc.assert(
      fc.property(world, (input) => {
        const [sources, images] = build(input);
        const plan = planSharing(sources, images, KEYS, input.grants, OURS, SETTINGS);
        const after = applied(images, plan);
        const isHeld = (shared: ShareableImage) =>
          sources.find((s) => s.instanceId === shared.image.tags[ImageTag.instanceId])?.policy.ok === false;
        const uses = (shared: ShareableImage, accounts: Iterable<string>) =>
          shared.snapshots.flatMap((snapshot) =>
            snapshot.kmsKeyId === undefined || !SETTINGS.grantableKeys.includes(snapshot.kmsKeyId)
              ? []
              : [...accounts].map((account) => `${snapshot.kmsKeyId} ${account}`),
          );
        const needed = new Set(
          images
            .filter((shared) => !isHeld(shared))
            .flatMap((shared) => uses(shared, after.get(shared.image.id) ?? [])),
        );
        // A held image's accounts, by launch or create-volume permission, keep their key use (never created anew).
        const held = new Set(
          images
            .filter(isHeld)
            .flatMap((shared) =>
              uses(shared, [...shared.launchAccounts, ...shared.snapshots.flatMap((s) => s.createVolumeAccounts)]),
            ),
        );
        const revoked = new Set(plan.revokeGrants.map((g) => `${g.keyId} ${g.account}`));
        const kept = input.grants.map((g) => `${g.keyId} ${g.account}`).filter((key) => !revoked.has(key));
        const grantsAfter = new Set([...kept, ...plan.createGrants.map((g) => `${g.keyId} ${g.account}`)]);
        for (const key of needed) expect(grantsAfter.has(key)).toBe(true);
        for (const key of grantsAfter) expect(needed.has(key) || held.has(key)).toBe(true);
        for (const key of revoked) expect(needed.has(key) || held.has(key)).toBe(false);
        for (const request of plan.createGrants) expect(needed.has(`${request.keyId} ${request.account}`)).toBe(true);
      }),
    );
  });

  it('is done after one pass: planning again on the outcome changes nothing', () => {
    fc.assert(
      fc.property(world, (input) => {
        const [sources, images] = build(input);
        const plan = planSharing(sources, images, KEYS, input.grants, OURS, SETTINGS);
        const after = applied(images, plan);
        const next = images.map((shared) => {
          if (plan.held.some((entry) => entry.instanceId === shared.image.tags[ImageTag.instanceId])) return shared;
          const accounts = [...(after.get(shared.image.id) ?? [])];
          const record = plan.records.find((write) => write.resourceId === shared.image.id)?.tags;
          return {
            image: { ...shared.image, tags: { ...shared.image.tags, ...record } },
            launchAccounts: accounts,
            snapshots: shared.snapshots.map((snapshot) => ({ ...snapshot, createVolumeAccounts: accounts })),
          };
        });
        const revoked = new Set(plan.revokeGrants);
        const grants = [
          ...input.grants.filter((g) => !revoked.has(g)),
          ...plan.createGrants.map((g) => grant(g.keyId, g.account)),
        ];
        const errors = new Map(plan.instanceErrors.map((entry) => [entry.instanceId, entry.reason]));
        const nextSources = sources.map((s) => {
          const reason = errors.has(s.instanceId) ? errors.get(s.instanceId) : s.shareError;
          return reason === undefined ? { instanceId: s.instanceId, policy: s.policy } : { ...s, shareError: reason };
        });
        const again = planSharing(nextSources, next, KEYS, grants, OURS, SETTINGS);
        expect({ ...again, held: [] }).toEqual(emptyPlan());
      }),
    );
  });

  it('with a share key: never shares an image under the AWS managed key, copies it once, and expires a copy only unshared', () => {
    const copyWorld = fc.record({
      base: world,
      copies: fc.uniqueArray(
        fc.record({
          of: fc.integer({ min: 0, max: 35 }),
          state: fc.constantFrom<Image['state']>('available', 'pending', 'failed'),
          accounts: fc.subarray(accountPool),
        }),
        { selector: (entry) => entry.of },
      ),
    });
    fc.assert(
      fc.property(copyWorld, ({ base, copies }) => {
        const [sources, backups] = build(base);
        const copyImages = copies.map((entry) => {
          const source = ownedImage(`ami-${entry.of.toString(16).padStart(4, '0')}`, 'i-0a');
          return shared(reencryptedCopy(`ami-c${entry.of.toString(16).padStart(3, '0')}`, source, entry.state), {
            keys: [SHARE_KEY],
            accounts: entry.accounts,
          });
        });
        const images = [...backups, ...copyImages];
        const plan = planSharing(sources, images, KEYS, [], OURS, WITH_SHARE_KEY);
        const awsManaged = new Set(
          backups
            .filter((item) => item.snapshots.some((snapshot) => snapshot.kmsKeyId === AWS_KEY))
            .map((item) => item.image.id),
        );
        for (const change of plan.add) expect(awsManaged.has(change.imageId)).toBe(false);
        const copied = plan.copies.map((request) => request.sourceImageId);
        expect(new Set(copied).size).toBe(copied.length);
        for (const id of copied) {
          expect(awsManaged.has(id)).toBe(true);
          expect(copyImages.some((copy) => copy.image.tags[ShareTag.reencryptedFrom] === id)).toBe(false);
        }
        for (const expired of plan.expireCopies) {
          const copy = copyImages.find((item) => item.image.id === expired.imageId);
          expect(plan.add.some((change) => change.imageId === expired.imageId)).toBe(false);
          const removed = plan.remove.find((change) => change.imageId === expired.imageId)?.accounts ?? [];
          expect(removed).toEqual([...new Set(copy?.launchAccounts ?? [])].sort());
        }
      }),
    );
  });
});
