import {
  CreateImageCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotAttributeCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  KMSClient,
  ListAliasesCommand,
  ListGrantsCommand,
  RetireGrantCommand,
  RevokeGrantCommand,
} from '@aws-sdk/client-kms';
import type { IamOptions, LocalEc2, PolicyDocument } from '../../../local/ec2';
import { failureOf, MINUTE, startTestEc2 } from './helpers';

const OWNER = '123456789012';
const TARGET = '210987654321';
const BASE_AMI = 'ami-0123456789abcdef0';
/** What EBS needs of a key to restore a volume for another account. */
const VOLUME_OPERATIONS = ['CreateGrant', 'Decrypt', 'DescribeKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom'];

let ec2: LocalEc2;

const credentials = (accessKeyId: string) => ({ accessKeyId, secretAccessKey: 'secret' });
const ec2As = (accessKeyId: string): EC2Client =>
  new EC2Client({ endpoint: ec2.url, region: 'us-east-1', credentials: credentials(accessKeyId), maxAttempts: 1 });
const kmsAs = (accessKeyId: string): KMSClient =>
  new KMSClient({ endpoint: ec2.url, region: 'us-east-1', credentials: credentials(accessKeyId), maxAttempts: 1 });

/** An available image of the owner's, from an instance launched with these root volume settings. */
async function ownerImage(rootVolume: { Encrypted?: boolean; KmsKeyId?: string } = {}): Promise<string> {
  const owner = ec2As('owner');
  const launched = await owner.send(
    new RunInstancesCommand({
      ImageId: BASE_AMI,
      MinCount: 1,
      MaxCount: 1,
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8, ...rootVolume } }],
    }),
  );
  ec2.clock.advance(MINUTE);
  const instanceId = launched.Instances?.[0]?.InstanceId as string;
  const { ImageId } = await owner.send(
    new CreateImageCommand({ InstanceId: instanceId, Name: `backup-${instanceId}`, NoReboot: true }),
  );
  ec2.clock.advance(10 * MINUTE);
  return ImageId as string;
}

/** Launches as the target account, then says where the instance got to a minute later (its state and why). */
async function targetLaunches(imageId: string): Promise<{ state: string | undefined; reason: string | undefined }> {
  const target = ec2As('target');
  const launched = await target.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }));
  const instanceId = launched.Instances?.[0]?.InstanceId as string;
  ec2.clock.advance(2 * MINUTE);
  const described = await target.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = described.Reservations?.[0]?.Instances?.[0];
  return { state: instance?.State?.Name, reason: instance?.StateReason?.Code };
}

const shareWith = (imageId: string, account: string, operation: 'Add' | 'Remove' = 'Add') =>
  ec2As('owner').send(
    new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { [operation]: [{ UserId: account }] } }),
  );

const sharedWithTarget = async (): Promise<string[]> => {
  const { Images } = await ec2As('target').send(new DescribeImagesCommand({ ExecutableUsers: ['self'] }));
  return (Images ?? []).map((image) => image.ImageId as string);
};

describe('without IAM', () => {
  beforeEach(async () => {
    ({ ec2 } = await startTestEc2({ accounts: { owner: OWNER, target: TARGET } }));
  });
  afterEach(() => ec2.stop());

  test('an image shared with another account is listed and launchable there only while shared', async () => {
    const imageId = await ownerImage();
    expect(await sharedWithTarget()).toEqual([]);
    expect((await failureOf(targetLaunches(imageId))).name).toBe('InvalidAMIID.NotFound');

    await shareWith(imageId, TARGET);
    const attribute = await ec2As('owner').send(
      new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' }),
    );
    expect(attribute.LaunchPermissions).toEqual([{ UserId: TARGET }]);
    expect(await sharedWithTarget()).toEqual([imageId]);
    const { Images } = await ec2As('target').send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    expect(Images?.[0]).toMatchObject({ OwnerId: OWNER, Public: false });
    // The target's own images are its own: the shared one is not among them.
    const own = await ec2As('target').send(new DescribeImagesCommand({ Owners: ['self'] }));
    expect(own.Images).toEqual([]);
    expect(await targetLaunches(imageId)).toEqual({ state: 'running', reason: undefined });
    // Only the owner may read or change who may launch it.
    const foreign = await failureOf(
      ec2As('target').send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' })),
    );
    expect(foreign.name).toBe('AuthFailure');

    await shareWith(imageId, TARGET, 'Remove');
    expect(await sharedWithTarget()).toEqual([]);
    expect((await failureOf(targetLaunches(imageId))).name).toBe('InvalidAMIID.NotFound');
  });

  test('launch permissions are checked as EC2 checks them', async () => {
    const imageId = await ownerImage();
    const owner = ec2As('owner');
    const malformed = await failureOf(
      owner.send(new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Add: [{ UserId: '12' }] } })),
    );
    expect(malformed.name).toBe('InvalidUserID.Malformed');
    const unknown = await failureOf(
      owner.send(
        new ModifyImageAttributeCommand({
          ImageId: 'ami-0000000000000000a',
          LaunchPermission: { Add: [{ UserId: TARGET }] },
        }),
      ),
    );
    expect(unknown.name).toBe('InvalidAMIID.NotFound');
    // The older form: OperationType with UserIds.
    await owner.send(
      new ModifyImageAttributeCommand({
        ImageId: imageId,
        Attribute: 'launchPermission',
        OperationType: 'add',
        UserIds: [TARGET],
      }),
    );
    expect(await sharedWithTarget()).toEqual([imageId]);
    const byOwner = await owner.send(new DescribeImagesCommand({ Owners: ['self'], ExecutableUsers: [TARGET] }));
    expect(byOwner.Images?.map((image) => image.ImageId)).toEqual([imageId]);
  });

  test('public sharing (Group=all) is what EC2 does when nothing blocks it', async () => {
    const imageId = await ownerImage();
    await ec2As('owner').send(
      new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Add: [{ Group: 'all' }] } }),
    );
    const { Images } = await ec2As('target').send(new DescribeImagesCommand({ ExecutableUsers: ['all'] }));
    expect(Images?.map((image) => [image.ImageId, image.Public])).toEqual([[imageId, true]]);
    expect(await targetLaunches(imageId)).toEqual({ state: 'running', reason: undefined });
    await ec2As('owner').send(
      new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Remove: [{ Group: 'all' }] } }),
    );
    expect((await failureOf(targetLaunches(imageId))).name).toBe('InvalidAMIID.NotFound');
  });

  test('snapshots record their key and their create-volume permissions', async () => {
    const owner = ec2As('owner');
    const { KeyMetadata } = await kmsAs('owner').send(new CreateKeyCommand({ Description: 'backups' }));
    await kmsAs('owner').send(new CreateAliasCommand({ AliasName: 'alias/backups', TargetKeyId: KeyMetadata?.KeyId }));
    const imageId = await ownerImage({ Encrypted: true, KmsKeyId: 'alias/backups' });
    const { Images } = await owner.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    const snapshotId = Images?.[0]?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId as string;
    expect(Images?.[0]?.BlockDeviceMappings?.[0]?.Ebs).toMatchObject({ Encrypted: true, KmsKeyId: KeyMetadata?.Arn });
    const { Snapshots } = await owner.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
    expect(Snapshots?.[0]).toMatchObject({ Encrypted: true, KmsKeyId: KeyMetadata?.Arn });

    await owner.send(
      new ModifySnapshotAttributeCommand({
        SnapshotId: snapshotId,
        Attribute: 'createVolumePermission',
        CreateVolumePermission: { Add: [{ UserId: TARGET }] },
      }),
    );
    const described = await owner.send(
      new DescribeSnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission' }),
    );
    expect(described.CreateVolumePermissions).toEqual([{ UserId: TARGET }]);
    // The owner finds its snapshots an account may restore, in one describe (RestorableByUserIds).
    const restorable = async (account: string): Promise<string[]> => {
      const { Snapshots: found } = await owner.send(
        new DescribeSnapshotsCommand({ OwnerIds: ['self'], RestorableByUserIds: [account] }),
      );
      return (found ?? []).map((snapshot) => snapshot.SnapshotId as string);
    };
    expect(await restorable(TARGET)).toEqual([snapshotId]);
    expect(await restorable('111122223333')).toEqual([]);
    expect(await restorable('all')).toEqual([]);
    // As images are found by who may launch them (ExecutableUsers).
    const executable = await owner.send(new DescribeImagesCommand({ Owners: ['self'], ExecutableUsers: [TARGET] }));
    expect(executable.Images).toEqual([]);
    await shareWith(imageId, TARGET);
    const nowExecutable = await owner.send(new DescribeImagesCommand({ Owners: ['self'], ExecutableUsers: [TARGET] }));
    expect(nowExecutable.Images?.map((image) => image.ImageId)).toEqual([imageId]);
    const missing = await failureOf(
      owner.send(
        new DescribeSnapshotAttributeCommand({
          SnapshotId: 'snap-0000000000000000a',
          Attribute: 'createVolumePermission',
        }),
      ),
    );
    expect(missing.name).toBe('InvalidSnapshot.NotFound');
  });

  test('an image encrypted with a customer key is launchable by another account only while it holds a grant', async () => {
    const ownerKms = kmsAs('owner');
    const targetKms = kmsAs('target');
    const { KeyMetadata } = await ownerKms.send(new CreateKeyCommand({}));
    const keyArn = KeyMetadata?.Arn as string;
    const imageId = await ownerImage({ Encrypted: true, KmsKeyId: KeyMetadata?.KeyId });
    await shareWith(imageId, TARGET);

    // Shared, but the key is not: the instance goes from pending to terminated, as EC2 reports it.
    expect(await targetLaunches(imageId)).toEqual({ state: 'terminated', reason: 'Client.InternalError' });
    expect((await failureOf(targetKms.send(new DescribeKeyCommand({ KeyId: keyArn })))).name).toBe(
      'AccessDeniedException',
    );

    const grant = await ownerKms.send(
      new CreateGrantCommand({
        KeyId: keyArn,
        GranteePrincipal: `arn:aws:iam::${TARGET}:root`,
        Operations: VOLUME_OPERATIONS as never,
      }),
    );
    const described = await targetKms.send(new DescribeKeyCommand({ KeyId: keyArn }));
    expect(described.KeyMetadata).toMatchObject({ Arn: keyArn, AWSAccountId: OWNER, KeyManager: 'CUSTOMER' });
    expect(await targetLaunches(imageId)).toEqual({ state: 'running', reason: undefined });
    const listed = await ownerKms.send(new ListGrantsCommand({ KeyId: keyArn }));
    expect(listed.Grants).toEqual([
      expect.objectContaining({
        GrantId: grant.GrantId,
        KeyId: keyArn,
        GranteePrincipal: `arn:aws:iam::${TARGET}:root`,
        IssuingAccount: `arn:aws:iam::${OWNER}:root`,
        Operations: VOLUME_OPERATIONS,
      }),
    ]);

    await ownerKms.send(new RevokeGrantCommand({ KeyId: keyArn, GrantId: grant.GrantId }));
    expect((await ownerKms.send(new ListGrantsCommand({ KeyId: keyArn }))).Grants).toEqual([]);
    expect(await targetLaunches(imageId)).toEqual({ state: 'terminated', reason: 'Client.InternalError' });
    const revokedAgain = await failureOf(
      ownerKms.send(new RevokeGrantCommand({ KeyId: keyArn, GrantId: grant.GrantId })),
    );
    expect(revokedAgain.name).toBe('InvalidGrantIdException');

    // A grant the grantee retires with its token is gone too.
    const second = await ownerKms.send(
      new CreateGrantCommand({
        KeyId: keyArn,
        GranteePrincipal: `arn:aws:iam::${TARGET}:root`,
        Operations: ['Decrypt'],
      }),
    );
    await targetKms.send(new RetireGrantCommand({ GrantToken: second.GrantToken }));
    expect((await ownerKms.send(new ListGrantsCommand({ KeyId: keyArn }))).Grants).toEqual([]);
  });

  test('an image encrypted with the AWS managed key aws/ebs cannot be launched by another account, even shared', async () => {
    const ownerKms = kmsAs('owner');
    const managed = await ownerKms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/ebs' }));
    expect(managed.KeyMetadata).toMatchObject({ KeyManager: 'AWS', AWSAccountId: OWNER });
    const aliases = await ownerKms.send(new ListAliasesCommand({}));
    expect(aliases.Aliases?.map((alias) => alias.AliasName)).toContain('alias/aws/ebs');

    const imageId = await ownerImage({ Encrypted: true });
    const { Images } = await ec2As('owner').send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    expect(Images?.[0]?.BlockDeviceMappings?.[0]?.Ebs?.KmsKeyId).toBe(managed.KeyMetadata?.Arn);
    await shareWith(imageId, TARGET);
    expect(await targetLaunches(imageId)).toEqual({ state: 'terminated', reason: 'Client.InternalError' });
    // Its owner cannot grant it to anyone: the AWS managed key's policy allows grants only through EC2.
    const refused = await failureOf(
      ownerKms.send(
        new CreateGrantCommand({
          KeyId: managed.KeyMetadata?.Arn,
          GranteePrincipal: `arn:aws:iam::${TARGET}:root`,
          Operations: VOLUME_OPERATIONS as never,
        }),
      ),
    );
    expect(refused.name).toBe('AccessDeniedException');
    // The owner itself launches from it.
    const launched = await ec2As('owner').send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 }));
    expect(launched.Instances?.[0]?.InstanceId).toBeDefined();
  });

  test("a new key's id follows from its account, Region and number: another endpoint given the same requests gives the same", async () => {
    const arns = async (): Promise<string[]> => [
      (await kmsAs('owner').send(new CreateKeyCommand({}))).KeyMetadata?.Arn as string,
      (await kmsAs('owner').send(new CreateKeyCommand({}))).KeyMetadata?.Arn as string,
      (await kmsAs('target').send(new CreateKeyCommand({}))).KeyMetadata?.Arn as string,
    ];
    const first = await arns();
    expect(new Set(first).size).toBe(3);
    expect(first[0]).toMatch(
      new RegExp(`^arn:aws:kms:us-east-1:${OWNER}:key/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$`),
    );
    expect(first[2]).toMatch(new RegExp(`^arn:aws:kms:us-east-1:${TARGET}:key/`));
    await ec2.stop();
    ({ ec2 } = await startTestEc2({ accounts: { owner: OWNER, target: TARGET } }));
    expect(await arns()).toEqual(first);
  });

  test('KMS is reached through AWS_ENDPOINT_URL_KMS, and each account has its own aws/ebs key', async () => {
    const saved = process.env.AWS_ENDPOINT_URL_KMS;
    process.env.AWS_ENDPOINT_URL_KMS = ec2.url;
    try {
      const client = new KMSClient({ region: 'us-east-1', credentials: credentials('target'), maxAttempts: 1 });
      const { KeyMetadata } = await client.send(new DescribeKeyCommand({ KeyId: 'alias/aws/ebs' }));
      expect(KeyMetadata?.AWSAccountId).toBe(TARGET);
      const missing = await failureOf(client.send(new DescribeKeyCommand({ KeyId: 'alias/none' })));
      expect(missing.name).toBe('NotFoundException');
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_KMS;
      else process.env.AWS_ENDPOINT_URL_KMS = saved;
    }
  });
});

describe('with IAM', () => {
  /** A sharer that may share images and snapshots with accounts, never with everyone. */
  const sharerPolicy: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: ['ec2:ModifyImageAttribute', 'ec2:ModifySnapshotAttribute'], Resource: '*' },
      {
        Effect: 'Deny',
        Action: 'ec2:ModifySnapshotAttribute',
        Resource: '*',
        Condition: { StringEquals: { 'ec2:Add/group': 'all' } },
      },
      {
        Effect: 'Deny',
        Action: 'ec2:ModifyImageAttribute',
        Resource: '*',
        Condition: { StringNotEquals: { 'ec2:Attribute': 'launchPermission' } },
      },
    ],
  };
  const allowAll: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
  };
  const IAM: IamOptions = {
    principals: {
      owner: { arn: `arn:aws:iam::${OWNER}:user/admin`, policies: [allowAll] },
      sharer: { arn: `arn:aws:iam::${OWNER}:role/sharer`, policies: [sharerPolicy] },
      target: { arn: `arn:aws:iam::${TARGET}:user/admin`, policies: [allowAll] },
    },
  };

  beforeEach(async () => {
    ({ ec2 } = await startTestEc2({ iam: IAM }));
  });
  afterEach(() => ec2.stop());

  test('IAM sees whom a snapshot is shared with and can refuse public sharing', async () => {
    const imageId = await ownerImage();
    const { Images } = await ec2As('owner').send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    const snapshotId = Images?.[0]?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId as string;
    const sharer = ec2As('sharer');

    const publicly = await failureOf(
      sharer.send(
        new ModifySnapshotAttributeCommand({
          SnapshotId: snapshotId,
          CreateVolumePermission: { Add: [{ Group: 'all' }] },
        }),
      ),
    );
    expect(publicly).toMatchObject({ name: 'UnauthorizedOperation', status: 403 });
    await sharer.send(
      new ModifySnapshotAttributeCommand({
        SnapshotId: snapshotId,
        CreateVolumePermission: { Add: [{ UserId: TARGET }] },
      }),
    );
    // ec2:Attribute names what ModifyImageAttribute changes: the sharer may change launch permissions only.
    await sharer.send(
      new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Add: [{ UserId: TARGET }] } }),
    );
    const description = await failureOf(
      sharer.send(new ModifyImageAttributeCommand({ ImageId: imageId, Description: { Value: 'renamed' } })),
    );
    expect(description.name).toBe('UnauthorizedOperation');
    expect(ec2.denied.map((denial) => denial.action)).toEqual([
      'ec2:ModifySnapshotAttribute',
      'ec2:ModifyImageAttribute',
    ]);
    // The target account (its principal's) sees the image shared with it.
    expect(await sharedWithTarget()).toEqual([imageId]);
  });
});
