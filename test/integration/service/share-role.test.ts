/**
 * The shareImages role as deployed with a share key and a grantable key, and rotate's unsharing, enforced by the local
 * endpoint for EC2: launch and create-volume permissions on this stage's own images and snapshots only, for accounts
 * only (a request naming the group `all` is refused: public sharing is impossible), re-encrypted copies only in this
 * Region, from this account's images, only with the ownership tag in the request, and deletion of those copies only.
 * KMS is not IAM-gated by the endpoint: its statements are decided by the IAM evaluator the endpoint uses, on the
 * requests the service (and EC2 on its behalf) makes, against a key whose policy lets IAM decide.
 */
import {
  CopyImageCommand,
  CreateImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeregisterImageCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeSnapshotAttributeCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  RunInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { GRANT_OPERATIONS } from '../../../lib/decisions/sharing';
import { ImageTag, InstanceTag, ShareTag } from '../../../lib/tags';
import {
  type IamOptions,
  type IamPrincipal,
  LOCAL_ACCOUNT_ID,
  type LocalEc2,
  SimClock,
  startLocalEc2,
} from '../../../local/ec2';
import { functionAccessKeyId } from '../../../local/runner/functions';
import { clientFor } from '../local-ec2/helpers';
import { deployedIam, EVENING } from './fixtures';

const HOME = 'us-east-1';
const OWNER = 'ami-backup-dev';
const RUN = '20261125T0300Z';
const MINUTE = 60_000;
/** The account backups are shared with. */
const TARGET = '210987654321';
const keyArn = (id: string, region = HOME) => `arn:aws:kms:${region}:${LOCAL_ACCOUNT_ID}:key/${id}`;
/** shareKmsKey: re-encrypted copies are made with it (and it is granted like the others). */
const SHARE_KEY = keyArn('1234abcd-12ab-34cd-56ef-1234567890ab');
/** shareGrantKeys: backups under it are shared as they are, its use granted. */
const GRANT_KEY = keyArn('0987dcba-09fe-87dc-65ba-ab0987654321');
/** A key of the account the deployment does not name. */
const OTHER_KEY = keyArn('11111111-2222-3333-4444-555555555555');
const SHARE_PARAMS = { shareAccounts: TARGET, shareKmsKey: SHARE_KEY, shareGrantKeys: GRANT_KEY };
/** Another account, which shares an image of its own with this one. */
const OUTSIDER = '444455556666';
const OUTSIDER_KEY = 'outsider';

let ec2: LocalEc2;
let iam: IamOptions;
let operator: EC2Client;
let sharer: EC2Client;
let rotator: EC2Client;
const made: EC2Client[] = [];
let instanceId: string;
let ownImage: string;
let ownSnapshot: string;
let foreignImage: string;
let foreignSnapshot: string;
/** The outsider's image, shared with this account (which may launch it): the role may not copy it. */
let outsiderImage: string;

const tags = (entries: Readonly<Record<string, string | undefined>>): Tag[] =>
  Object.entries(entries).flatMap(([Key, Value]) => (Value === undefined ? [] : [{ Key, Value }]));

function as(name: string, region = HOME): EC2Client {
  const client = new EC2Client({
    endpoint: ec2.url,
    region,
    credentials: { accessKeyId: functionAccessKeyId(name), secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  made.push(client);
  return client;
}

/** The error name a call fails with, or `allowed`. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'allowed';
  } catch (error: unknown) {
    return error instanceof Error ? error.name : String(error);
  }
}

/** An available image of the instance, with its snapshot, tagged (image and snapshot) as given. */
async function imageWith(name: string, entries: Readonly<Record<string, string | undefined>>) {
  const image = await operator.send(
    new CreateImageCommand({
      InstanceId: instanceId,
      Name: name,
      NoReboot: true,
      TagSpecifications: [
        { ResourceType: 'image', Tags: tags(entries) },
        { ResourceType: 'snapshot', Tags: tags(entries) },
      ],
    }),
  );
  ec2.clock.advance(60 * MINUTE);
  const imageId = image.ImageId ?? '';
  const described = await operator.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  const snapshotId = described.Images?.[0]?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId ?? '';
  return { imageId, snapshotId };
}

async function launchAccounts(imageId: string): Promise<{ users: string[]; groups: string[] }> {
  const { LaunchPermissions } = await operator.send(
    new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' }),
  );
  return {
    users: (LaunchPermissions ?? []).flatMap((permission) => permission.UserId ?? []),
    groups: (LaunchPermissions ?? []).flatMap((permission) => permission.Group ?? []),
  };
}

async function createVolumeAccounts(snapshotId: string): Promise<{ users: string[]; groups: string[] }> {
  const { CreateVolumePermissions } = await operator.send(
    new DescribeSnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission' }),
  );
  return {
    users: (CreateVolumePermissions ?? []).flatMap((permission) => permission.UserId ?? []),
    groups: (CreateVolumePermissions ?? []).flatMap((permission) => permission.Group ?? []),
  };
}

const launch = (
  client: EC2Client,
  imageId: string,
  change: 'Add' | 'Remove',
  entry: { UserId?: string; Group?: 'all' },
) =>
  outcome(client.send(new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { [change]: [entry] } })));

const createVolume = (
  client: EC2Client,
  snapshotId: string,
  operation: 'add' | 'remove',
  who: { UserIds?: string[]; GroupNames?: 'all'[] },
) =>
  outcome(
    client.send(
      new ModifySnapshotAttributeCommand({
        SnapshotId: snapshotId,
        Attribute: 'createVolumePermission',
        OperationType: operation,
        ...who,
      }),
    ),
  );

/** The tags of a re-encrypted copy, as the service's request sets them on the copy and its snapshots. */
const copyTags = (overrides: Readonly<Record<string, string | undefined>> = {}): Tag[] =>
  tags({
    [ImageTag.managedBy]: OWNER,
    [ImageTag.instanceId]: instanceId,
    [ImageTag.run]: RUN,
    [ShareTag.reencryptedFrom]: ownImage,
    ...overrides,
  });

/** A same-Region, re-encrypted copy of the own backup, as the service requests it. */
const reencryptedCopy = (name: string, tagList: Tag[], sourceImageId = ownImage) =>
  new CopyImageCommand({
    SourceRegion: HOME,
    SourceImageId: sourceImageId,
    Name: name,
    ClientToken: name,
    Encrypted: true,
    KmsKeyId: SHARE_KEY,
    TagSpecifications: [
      { ResourceType: 'image', Tags: tagList },
      { ResourceType: 'snapshot', Tags: tagList },
    ],
  });

/** The images of this name still registered (EC2 lists a deregistered one for a while, in state `deregistered`). */
async function imagesNamed(name: string): Promise<string[]> {
  const { Images } = await operator.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [name] }] }),
  );
  return (Images ?? []).filter((image) => image.State !== 'deregistered').map((image) => image.ImageId ?? '');
}

beforeAll(async () => {
  iam = await deployedIam(SHARE_PARAMS);
  const outsider = {
    arn: `arn:aws:iam::${OUTSIDER}:user/admin`,
    policies: [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }],
  };
  ec2 = await startLocalEc2({
    clock: SimClock.manual(EVENING),
    throttling: false,
    iam: { principals: { ...iam.principals, [OUTSIDER_KEY]: outsider } },
  });
  operator = clientFor(ec2.url, 3);
  sharer = as('shareImages');
  rotator = as('rotate');
  const launched = await operator.send(
    new RunInstancesCommand({
      ImageId: 'ami-0123456789abcdef0',
      MinCount: 1,
      MaxCount: 1,
      InstanceType: 't3.micro',
      TagSpecifications: [{ ResourceType: 'instance', Tags: tags({ Backup: 'true', Name: 'db' }) }],
    }),
  );
  instanceId = launched.Instances?.[0]?.InstanceId ?? '';
  ec2.clock.advance(MINUTE);
  ({ imageId: ownImage, snapshotId: ownSnapshot } = await imageWith(`ami-backup-${instanceId}-${RUN}`, {
    [ImageTag.managedBy]: OWNER,
    [ImageTag.instanceId]: instanceId,
    [ImageTag.run]: RUN,
  }));
  // Made by someone else: the same name scheme and instance tag, another stage's ownership tag.
  ({ imageId: foreignImage, snapshotId: foreignSnapshot } = await imageWith('look-alike', {
    [ImageTag.managedBy]: 'ami-backup-prod',
    [ImageTag.instanceId]: instanceId,
  }));
  const outsiderClient = new EC2Client({
    endpoint: ec2.url,
    region: HOME,
    credentials: { accessKeyId: OUTSIDER_KEY, secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  made.push(outsiderClient);
  const outsiderInstance = await outsiderClient.send(
    new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }),
  );
  ec2.clock.advance(MINUTE);
  const shared = await outsiderClient.send(
    new CreateImageCommand({
      InstanceId: outsiderInstance.Instances?.[0]?.InstanceId ?? '',
      Name: 'outsider-image',
      NoReboot: true,
    }),
  );
  outsiderImage = shared.ImageId ?? '';
  ec2.clock.advance(60 * MINUTE);
  await outsiderClient.send(
    new ModifyImageAttributeCommand({
      ImageId: outsiderImage,
      LaunchPermission: { Add: [{ UserId: LOCAL_ACCOUNT_ID }] },
    }),
  );
});

afterAll(async () => {
  for (const client of [operator, ...made]) client.destroy();
  await ec2.stop();
});

describe('the shareImages role, on EC2', () => {
  it('was given what the test needs: an own image and a look-alike, each with a snapshot', () => {
    expect([ownImage, foreignImage]).toEqual([expect.stringMatching(/^ami-/), expect.stringMatching(/^ami-/)]);
    expect([ownSnapshot, foreignSnapshot]).toEqual([expect.stringMatching(/^snap-/), expect.stringMatching(/^snap-/)]);
  });

  it('adds and removes launch permission for an account on an image carrying the ownership tag', async () => {
    expect(await launch(sharer, ownImage, 'Add', { UserId: TARGET })).toBe('allowed');
    expect(await launchAccounts(ownImage)).toEqual({ users: [TARGET], groups: [] });
    expect(await launch(sharer, ownImage, 'Remove', { UserId: TARGET })).toBe('allowed');
    expect(await launchAccounts(ownImage)).toEqual({ users: [], groups: [] });
  });

  it('changes no launch permission of an image without this stage’s ownership tag', async () => {
    expect(await launch(sharer, foreignImage, 'Add', { UserId: TARGET })).toBe('UnauthorizedOperation');
    expect(await launchAccounts(foreignImage)).toEqual({ users: [], groups: [] });
  });

  it('adds and removes create-volume permission for an account on its own snapshot, on no other', async () => {
    expect(await createVolume(sharer, ownSnapshot, 'add', { UserIds: [TARGET] })).toBe('allowed');
    expect(await createVolumeAccounts(ownSnapshot)).toEqual({ users: [TARGET], groups: [] });
    expect(await createVolume(sharer, ownSnapshot, 'remove', { UserIds: [TARGET] })).toBe('allowed');
    expect(await createVolume(sharer, foreignSnapshot, 'add', { UserIds: [TARGET] })).toBe('UnauthorizedOperation');
    expect(await createVolumeAccounts(ownSnapshot)).toEqual({ users: [], groups: [] });
    expect(await createVolumeAccounts(foreignSnapshot)).toEqual({ users: [], groups: [] });
  });

  it('cannot make its own snapshot public: adding the group all is refused, alone or with an account', async () => {
    const attempts = {
      group: await createVolume(sharer, ownSnapshot, 'add', { GroupNames: ['all'] }),
      groupAndAccount: await createVolume(sharer, ownSnapshot, 'add', { UserIds: [TARGET], GroupNames: ['all'] }),
      structure: await outcome(
        sharer.send(
          new ModifySnapshotAttributeCommand({
            SnapshotId: ownSnapshot,
            CreateVolumePermission: { Add: [{ UserId: TARGET }, { Group: 'all' }] },
          }),
        ),
      ),
    };
    expect(attempts).toEqual({
      group: 'UnauthorizedOperation',
      groupAndAccount: 'UnauthorizedOperation',
      structure: 'UnauthorizedOperation',
    });
    expect(await createVolumeAccounts(ownSnapshot)).toEqual({ users: [], groups: [] });
  });

  it('copies its own image in this Region only re-encrypted with the ownership tag in the request', async () => {
    const attempts = {
      noOwner: await outcome(sharer.send(reencryptedCopy('no-owner', copyTags({ [ImageTag.managedBy]: undefined })))),
      otherOwner: await outcome(
        sharer.send(reencryptedCopy('other-owner', copyTags({ [ImageTag.managedBy]: 'ami-backup-prod' }))),
      ),
      untagged: await outcome(sharer.send(reencryptedCopy('untagged', []))),
      extraKey: await outcome(
        sharer.send(reencryptedCopy('extra-key', copyTags({ [InstanceTag.state]: 'succeeded' }))),
      ),
      otherRegion: await outcome(as('shareImages', 'us-west-2').send(reencryptedCopy('elsewhere', copyTags()))),
      // Launchable here, but another account's: only this account's images are copied.
      otherAccountsImage: await outcome(sharer.send(reencryptedCopy('outsiders', copyTags(), outsiderImage))),
      tagged: await outcome(sharer.send(reencryptedCopy(`ami-backup-${instanceId}-${RUN}-reencrypted`, copyTags()))),
    };
    expect(attempts).toEqual({
      noOwner: 'UnauthorizedOperation',
      otherOwner: 'UnauthorizedOperation',
      untagged: 'UnauthorizedOperation',
      extraKey: 'UnauthorizedOperation',
      otherRegion: 'UnauthorizedOperation',
      otherAccountsImage: 'UnauthorizedOperation',
      tagged: 'allowed',
    });
    // Refused for its source: the image is another account's (ec2:Owner), however the copy is tagged.
    expect(ec2.denied.filter((denial) => denial.resource.endsWith(`:image/${outsiderImage}`))).toEqual([
      expect.objectContaining({ action: 'ec2:CopyImage', resource: `arn:aws:ec2:${HOME}::image/${outsiderImage}` }),
    ]);
    for (const name of ['no-owner', 'other-owner', 'untagged', 'extra-key', 'outsiders']) {
      expect(await imagesNamed(name)).toEqual([]);
    }
    expect(await imagesNamed(`ami-backup-${instanceId}-${RUN}-reencrypted`)).toHaveLength(1);
  });

  it('deregisters its re-encrypted copies with their snapshots, and no backup', async () => {
    const copy = await operator.send(reencryptedCopy('copy-to-expire', copyTags()));
    ec2.clock.advance(60 * MINUTE);
    const copyId = copy.ImageId ?? '';
    const described = await operator.send(new DescribeImagesCommand({ ImageIds: [copyId] }));
    const copySnapshots = (described.Images?.[0]?.BlockDeviceMappings ?? []).flatMap(
      (mapping) => mapping.Ebs?.SnapshotId ?? [],
    );
    const snapshotsLeft = async (ids: string[]) => {
      const { Snapshots } = await operator.send(
        new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'snapshot-id', Values: ids }] }),
      );
      return (Snapshots ?? []).map((snapshot) => snapshot.SnapshotId);
    };
    const deregister = (imageId: string) =>
      outcome(sharer.send(new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true })));
    expect({
      backup: await deregister(ownImage),
      lookAlike: await deregister(foreignImage),
      deleteBackupSnapshot: await outcome(sharer.send(new DeleteSnapshotCommand({ SnapshotId: ownSnapshot }))),
      copy: await deregister(copyId),
    }).toEqual({
      backup: 'UnauthorizedOperation',
      lookAlike: 'UnauthorizedOperation',
      deleteBackupSnapshot: 'UnauthorizedOperation',
      copy: 'allowed',
    });
    expect(copySnapshots).toHaveLength(1);
    expect(await snapshotsLeft(copySnapshots)).toEqual([]);
    expect(await imagesNamed('copy-to-expire')).toEqual([]);
    expect(await imagesNamed(`ami-backup-${instanceId}-${RUN}`)).toEqual([ownImage]);
    expect(await snapshotsLeft([ownSnapshot, foreignSnapshot])).toEqual([ownSnapshot, foreignSnapshot]);
  });

  it('records whom its own images are shared with, and share errors on opted-in instances, nothing else', async () => {
    const tag = (resource: string, entries: Record<string, string>) =>
      outcome(sharer.send(new CreateTagsCommand({ Resources: [resource], Tags: tags(entries) })));
    const untag = (resource: string, key: string) =>
      outcome(sharer.send(new DeleteTagsCommand({ Resources: [resource], Tags: [{ Key: key }] })));
    expect({
      sharedWith: await tag(ownImage, { [ShareTag.sharedWith]: TARGET }),
      foreignSharedWith: await tag(foreignImage, { [ShareTag.sharedWith]: TARGET }),
      owner: await tag(ownImage, { [ImageTag.managedBy]: 'ami-backup-prod' }),
      snapshot: await tag(ownSnapshot, { [ShareTag.sharedWith]: TARGET }),
      shareError: await tag(instanceId, { [ShareTag.shareError]: 'set shareKmsKey' }),
      state: await tag(instanceId, { [InstanceTag.state]: 'queued' }),
      clearShareError: await untag(instanceId, ShareTag.shareError),
      clearOptIn: await untag(instanceId, 'Backup'),
    }).toEqual({
      sharedWith: 'allowed',
      foreignSharedWith: 'UnauthorizedOperation',
      owner: 'UnauthorizedOperation',
      snapshot: 'UnauthorizedOperation',
      shareError: 'allowed',
      state: 'UnauthorizedOperation',
      clearShareError: 'allowed',
      clearOptIn: 'UnauthorizedOperation',
    });
  });
});

describe("rotate's unsharing before expiry", () => {
  it('removes create-volume permission from its own snapshot but adds none, and never the group all', async () => {
    await operator.send(
      new ModifySnapshotAttributeCommand({
        SnapshotId: ownSnapshot,
        Attribute: 'createVolumePermission',
        OperationType: 'add',
        UserIds: [TARGET],
      }),
    );
    expect({
      add: await createVolume(rotator, ownSnapshot, 'add', { UserIds: ['111122223333'] }),
      addAll: await createVolume(rotator, ownSnapshot, 'add', { GroupNames: ['all'] }),
      remove: await createVolume(rotator, ownSnapshot, 'remove', { UserIds: [TARGET] }),
      foreign: await createVolume(rotator, foreignSnapshot, 'remove', { UserIds: [TARGET] }),
    }).toEqual({
      add: 'UnauthorizedOperation',
      addAll: 'UnauthorizedOperation',
      remove: 'allowed',
      foreign: 'UnauthorizedOperation',
    });
    expect(await createVolumeAccounts(ownSnapshot)).toEqual({ users: [], groups: [] });
  });

  it('removes launch permission from its own image, and from no other', async () => {
    await operator.send(
      new ModifyImageAttributeCommand({ ImageId: ownImage, LaunchPermission: { Add: [{ UserId: TARGET }] } }),
    );
    await operator.send(
      new ModifyImageAttributeCommand({ ImageId: foreignImage, LaunchPermission: { Add: [{ UserId: TARGET }] } }),
    );
    expect(await launch(rotator, foreignImage, 'Remove', { UserId: TARGET })).toBe('UnauthorizedOperation');
    expect(await launch(rotator, ownImage, 'Remove', { UserId: TARGET })).toBe('allowed');
    expect(await launchAccounts(ownImage)).toEqual({ users: [], groups: [] });
    expect(await launchAccounts(foreignImage)).toEqual({ users: [TARGET], groups: [] });
  });
});

/** The request context of a KMS call (multivalued keys as lists). */
type KmsContext = Readonly<Record<string, string | readonly string[]>>;

/**
 * IAM's decision on one KMS request of a role, on a key whose policy is KMS's default one (the account's root allowed
 * `kms:*`: IAM policies decide for the account's principals). Context keys must all apply to the action.
 */
async function kmsDecision(
  principal: IamPrincipal,
  action: string,
  key: string,
  context: KmsContext = {},
): Promise<string> {
  const keyAccount = key.split(':')[4] ?? '';
  const result = await runSimulation(
    {
      request: {
        principal: principal.arn,
        action: `kms:${action}`,
        resource: { resource: key, accountId: keyAccount },
        contextVariables: Object.fromEntries(
          Object.entries(context).map(([name, value]) => [name, typeof value === 'string' ? value : [...value]]),
        ),
      },
      identityPolicies: principal.policies.map((policy, index) => ({ name: `policy-${index + 1}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'Enable IAM User Permissions',
            Effect: 'Allow',
            Principal: { AWS: `arn:aws:iam::${keyAccount}:root` },
            Action: 'kms:*',
            Resource: '*',
          },
        ],
      },
    },
    {},
  );
  if (result.resultType !== 'single') throw new Error(`${action} on ${key}: ${JSON.stringify(result)}`);
  expect({ action, ignored: result.result.ignoredContextKeys ?? [] }).toEqual({ action, ignored: [] });
  return result.overallResult;
}

const root = (account: string) => `arn:aws:iam::${account}:root`;
/** The context of the service's own CreateGrant (a direct call: no kms:ViaService). */
const grant = (operations: readonly string[], grantee = root(TARGET)): KmsContext => ({
  'kms:GrantOperations': [...operations],
  'kms:GranteePrincipal': grantee,
  'kms:CallerAccount': LOCAL_ACCOUNT_ID,
});
/** The context of EC2 using a key for the service while it copies an image in this Region. */
const viaEc2 = (region = HOME): KmsContext => ({
  'kms:ViaService': `ec2.${region}.amazonaws.com`,
  'kms:CallerAccount': LOCAL_ACCOUNT_ID,
});

describe('the shareImages role, on KMS', () => {
  let sharerIdentity: IamPrincipal;

  beforeAll(() => {
    const principal = iam.principals[functionAccessKeyId('shareImages')];
    if (principal === undefined) throw new Error('no shareImages principal');
    sharerIdentity = principal;
  });

  it('creates grants on the named keys, of the launch operations only, to an account root only', async () => {
    const decide = (key: string, context: KmsContext) => kmsDecision(sharerIdentity, 'CreateGrant', key, context);
    expect({
      shareKey: await decide(SHARE_KEY, grant(GRANT_OPERATIONS)),
      grantKey: await decide(GRANT_KEY, grant(GRANT_OPERATIONS)),
      fewerOperations: await decide(GRANT_KEY, grant(['Decrypt', 'DescribeKey'])),
    }).toEqual({ shareKey: 'Allowed', grantKey: 'Allowed', fewerOperations: 'Allowed' });
    expect({
      otherKey: await decide(OTHER_KEY, grant(GRANT_OPERATIONS)),
      encrypt: await decide(GRANT_KEY, grant([...GRANT_OPERATIONS, 'Encrypt'])),
      retireGrant: await decide(GRANT_KEY, grant([...GRANT_OPERATIONS, 'RetireGrant'])),
      role: await decide(GRANT_KEY, grant(GRANT_OPERATIONS, `arn:aws:iam::${TARGET}:role/admin`)),
      user: await decide(GRANT_KEY, grant(GRANT_OPERATIONS, `arn:aws:iam::${TARGET}:user/alice`)),
      ownAccount: await decide(GRANT_KEY, grant(GRANT_OPERATIONS, root(LOCAL_ACCOUNT_ID))),
      service: await decide(GRANT_KEY, grant(GRANT_OPERATIONS, 'ec2.amazonaws.com')),
    }).toEqual({
      otherKey: 'ImplicitlyDenied',
      encrypt: 'ImplicitlyDenied',
      retireGrant: 'ImplicitlyDenied',
      role: 'ImplicitlyDenied',
      user: 'ImplicitlyDenied',
      ownAccount: 'ImplicitlyDenied',
      service: 'ImplicitlyDenied',
    });
  });

  it('lists and revokes grants on the named keys only, and describes any key of its account here', async () => {
    const decide = (action: string, key: string) => kmsDecision(sharerIdentity, action, key);
    expect({
      list: [await decide('ListGrants', SHARE_KEY), await decide('ListGrants', GRANT_KEY)],
      revoke: [await decide('RevokeGrant', SHARE_KEY), await decide('RevokeGrant', GRANT_KEY)],
      listOther: await decide('ListGrants', OTHER_KEY),
      revokeOther: await decide('RevokeGrant', OTHER_KEY),
      retire: await decide('RetireGrant', GRANT_KEY),
      describe: await decide('DescribeKey', OTHER_KEY),
      describeElsewhere: await decide('DescribeKey', keyArn('1234abcd-12ab-34cd-56ef-1234567890ab', 'us-west-2')),
    }).toEqual({
      list: ['Allowed', 'Allowed'],
      revoke: ['Allowed', 'Allowed'],
      listOther: 'ImplicitlyDenied',
      revokeOther: 'ImplicitlyDenied',
      retire: 'ImplicitlyDenied',
      describe: 'Allowed',
      describeElsewhere: 'ImplicitlyDenied',
    });
  });

  it('lets EC2 in this Region use the share key for re-encrypted copies, and nothing use it directly', async () => {
    const decide = (action: string, key: string, context: KmsContext) =>
      kmsDecision(sharerIdentity, action, key, context);
    const copyUse = ['GenerateDataKeyWithoutPlaintext', 'ReEncryptTo', 'Decrypt', 'DescribeKey'];
    const throughEc2: string[] = [];
    for (const action of copyUse) throughEc2.push(await decide(action, SHARE_KEY, viaEc2()));
    expect(throughEc2).toEqual(copyUse.map(() => 'Allowed'));
    expect(await decide('CreateGrant', SHARE_KEY, { ...viaEc2(), 'kms:GrantIsForAWSResource': 'true' })).toBe(
      'Allowed',
    );
    expect({
      direct: await decide('Decrypt', SHARE_KEY, { 'kms:CallerAccount': LOCAL_ACCOUNT_ID }),
      encrypt: await decide('Encrypt', SHARE_KEY, viaEc2()),
      otherRegion: await decide('ReEncryptTo', SHARE_KEY, viaEc2('us-west-2')),
      otherService: await decide('Decrypt', SHARE_KEY, { 'kms:ViaService': `rds.${HOME}.amazonaws.com` }),
      // Backups under a grantable key are shared as they are, never copied: EC2 has no use of it for the role.
      grantKey: await decide('ReEncryptTo', GRANT_KEY, viaEc2()),
      otherKey: await decide('Decrypt', OTHER_KEY, viaEc2()),
    }).toEqual({
      direct: 'ImplicitlyDenied',
      encrypt: 'ImplicitlyDenied',
      otherRegion: 'ImplicitlyDenied',
      otherService: 'ImplicitlyDenied',
      grantKey: 'ImplicitlyDenied',
      otherKey: 'ImplicitlyDenied',
    });
  });

  it('grants nothing on any key when the deployment names none', async () => {
    const unset = await deployedIam();
    const principal = unset.principals[functionAccessKeyId('shareImages')];
    if (principal === undefined) throw new Error('no shareImages principal');
    expect({
      grant: await kmsDecision(principal, 'CreateGrant', SHARE_KEY, grant(GRANT_OPERATIONS)),
      list: await kmsDecision(principal, 'ListGrants', GRANT_KEY),
      revoke: await kmsDecision(principal, 'RevokeGrant', GRANT_KEY),
      copy: await kmsDecision(principal, 'ReEncryptTo', SHARE_KEY, viaEc2()),
    }).toEqual({
      grant: 'ImplicitlyDenied',
      list: 'ImplicitlyDenied',
      revoke: 'ImplicitlyDenied',
      copy: 'ImplicitlyDenied',
    });
  });
});

describe('the endpoint', () => {
  it('recorded the refusals above as denials of the shareImages and rotate roles only', () => {
    const principals = new Set(ec2.denied.map((denial) => denial.principalArn));
    expect([...principals].sort()).toEqual([
      `arn:aws:sts::${LOCAL_ACCOUNT_ID}:assumed-role/ami-backup-dev-RotateRole/ami-backup-dev-rotate`,
      `arn:aws:sts::${LOCAL_ACCOUNT_ID}:assumed-role/ami-backup-dev-ShareImagesRole/ami-backup-dev-shareImages`,
    ]);
  });
});
