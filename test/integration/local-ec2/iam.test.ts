import {
  CreateImageCommand,
  CreateTagsCommand,
  DeleteTagsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  RunInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { IamOptions, LocalEc2, PolicyDocument } from '../../../local/ec2';
import { failureOf, MINUTE, startTestEc2 } from './helpers';

const ADMIN_ARN = 'arn:aws:iam::123456789012:user/admin';
const BACKUP_ARN = 'arn:aws:iam::123456789012:role/ami-backup';
const MANAGED_BY = 'ami-backup:managed-by';
const INSTANCE_KEYS = ['ami-backup:last-run', 'ami-backup:state'];

const allowAll: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
};

/** Least privilege as the service asks for it: tag-scoped instance tagging, tagged images, no snapshot deletion. */
const backupPolicy: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: ['ec2:DescribeInstances', 'ec2:DescribeImages', 'ec2:DescribeSnapshots'],
      Resource: '*',
    },
    {
      Effect: 'Allow',
      Action: ['ec2:CreateTags', 'ec2:DeleteTags'],
      Resource: 'arn:aws:ec2:*:*:instance/*',
      Condition: {
        StringEquals: { 'aws:ResourceTag/Backup': 'true' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': INSTANCE_KEYS },
        Null: { 'aws:TagKeys': 'false' },
      },
    },
    { Effect: 'Allow', Action: 'ec2:CreateImage', Resource: 'arn:aws:ec2:*:*:instance/*' },
    {
      Effect: 'Allow',
      Action: 'ec2:CreateImage',
      Resource: ['arn:aws:ec2:*::image/*', 'arn:aws:ec2:*::snapshot/*'],
      Condition: { StringEquals: { [`aws:RequestTag/${MANAGED_BY}`]: 'ami-backup' } },
    },
    {
      Effect: 'Allow',
      Action: 'ec2:CreateTags',
      Resource: ['arn:aws:ec2:*::image/*', 'arn:aws:ec2:*::snapshot/*'],
      Condition: { StringEquals: { 'ec2:CreateAction': 'CreateImage' } },
    },
    { Effect: 'Allow', Action: 'ec2:DeregisterImage', Resource: 'arn:aws:ec2:*::image/*' },
    {
      Effect: 'Allow',
      Action: 'events:PutEvents',
      Resource: 'arn:aws:events:*:*:event-bus/default',
      // events:source is a multivalued key in AWS's authorization data.
      Condition: { 'ForAnyValue:StringEquals': { 'events:source': 'ami-backup' } },
    },
  ],
};

const IAM: IamOptions = {
  principals: {
    ADMINKEY: { arn: ADMIN_ARN, policies: [allowAll] },
    BACKUPKEY: { arn: BACKUP_ARN, policies: [backupPolicy] },
  },
};

let ec2: LocalEc2;
let admin: EC2Client;
let backup: EC2Client;

const ec2ClientFor = (accessKeyId: string): EC2Client =>
  new EC2Client({
    endpoint: ec2.url,
    region: 'us-east-1',
    credentials: { accessKeyId, secretAccessKey: 'secret' },
    maxAttempts: 1,
  });

const eventBridgeFor = (accessKeyId: string): EventBridgeClient =>
  new EventBridgeClient({
    endpoint: ec2.url,
    region: 'us-east-1',
    credentials: { accessKeyId, secretAccessKey: 'secret' },
    maxAttempts: 1,
  });

beforeEach(async () => {
  ({ ec2 } = await startTestEc2({ iam: IAM }));
  admin = ec2ClientFor('ADMINKEY');
  backup = ec2ClientFor('BACKUPKEY');
});
afterEach(async () => {
  await ec2.stop();
});

/** A running instance with these tags, launched by the admin. */
async function instanceTagged(tags: Tag[]): Promise<string> {
  const launched = await admin.send(
    new RunInstancesCommand({
      ImageId: 'ami-0123456789abcdef0',
      MinCount: 1,
      MaxCount: 1,
      TagSpecifications: tags.length === 0 ? undefined : [{ ResourceType: 'instance', Tags: tags }],
    }),
  );
  const instanceId = launched.Instances?.[0]?.InstanceId as string;
  ec2.clock.advance(MINUTE);
  return instanceId;
}

async function tagsOf(instanceId: string): Promise<Record<string, string>> {
  const result = await admin.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const tags = result.Reservations?.[0]?.Instances?.[0]?.Tags ?? [];
  return Object.fromEntries(tags.map((tag) => [tag.Key, tag.Value]));
}

const managedTags = [{ Key: MANAGED_BY, Value: 'ami-backup' }];

describe('an allow-all principal', () => {
  it('is served every call', async () => {
    const instanceId = await instanceTagged([{ Key: 'Name', Value: 'web' }]);

    await admin.send(new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'Owner', Value: 'ops' }] }));
    await admin.send(new DeleteTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'Name' }] }));

    expect(await tagsOf(instanceId)).toEqual({ Owner: 'ops' });
    expect(ec2.denied).toEqual([]);
  });
});

describe('instance tagging scoped by resource tag and tag keys', () => {
  it('is refused a DeleteTags without keys (which would delete every tag), and the tags stay', async () => {
    const instanceId = await instanceTagged([
      { Key: 'Backup', Value: 'true' },
      { Key: 'ami-backup:state', Value: 'idle' },
    ]);

    const failure = await failureOf(backup.send(new DeleteTagsCommand({ Resources: [instanceId] })));

    expect(failure).toMatchObject({ name: 'UnauthorizedOperation', status: 403 });
    expect(failure.message).toMatch(
      new RegExp(
        `^You are not authorized to perform this operation\\. User: ${BACKUP_ARN} is not authorized to perform: ` +
          `ec2:DeleteTags on resource: arn:aws:ec2:us-east-1:123456789012:instance/${instanceId} because no ` +
          'identity-based policy allows the ec2:DeleteTags action\\. Encoded authorization failure message: \\S+$',
      ),
    );
    expect(await tagsOf(instanceId)).toEqual({ Backup: 'true', 'ami-backup:state': 'idle' });
    expect(ec2.denied).toEqual([
      {
        accessKeyId: 'BACKUPKEY',
        principalArn: BACKUP_ARN,
        action: 'ec2:DeleteTags',
        resource: `arn:aws:ec2:us-east-1:123456789012:instance/${instanceId}`,
        at: ec2.clock.now(),
      },
    ]);
    expect(ec2.callCount('DeleteTags')).toBe(1);
  });

  it('is refused a key outside the list, on a tagged instance, changing nothing', async () => {
    const instanceId = await instanceTagged([{ Key: 'Backup', Value: 'true' }]);

    const failure = await failureOf(
      backup.send(
        new CreateTagsCommand({
          Resources: [instanceId],
          Tags: [
            { Key: 'ami-backup:state', Value: 'running' },
            { Key: 'ami-backup:retain', Value: '99' },
          ],
        }),
      ),
    );

    expect(failure).toMatchObject({ name: 'UnauthorizedOperation', status: 403 });
    expect(await tagsOf(instanceId)).toEqual({ Backup: 'true' });
  });

  it('is refused on an instance without Backup=true', async () => {
    const instanceId = await instanceTagged([{ Key: 'Name', Value: 'web' }]);

    const failure = await failureOf(
      backup.send(new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'ami-backup:state', Value: 'x' }] })),
    );

    expect(failure).toMatchObject({ name: 'UnauthorizedOperation', status: 403 });
    expect(await tagsOf(instanceId)).toEqual({ Name: 'web' });
  });

  it('refuses the whole call when one of its resources is refused', async () => {
    const tagged = await instanceTagged([{ Key: 'Backup', Value: 'true' }]);
    const untagged = await instanceTagged([]);

    const failure = await failureOf(
      backup.send(
        new CreateTagsCommand({ Resources: [tagged, untagged], Tags: [{ Key: 'ami-backup:state', Value: 'x' }] }),
      ),
    );

    expect(failure.name).toBe('UnauthorizedOperation');
    expect(failure.message).toContain(`instance/${untagged} because`);
    expect(await tagsOf(tagged)).toEqual({ Backup: 'true' });
    expect(await tagsOf(untagged)).toEqual({});
  });

  it('is allowed the listed keys on a tagged instance', async () => {
    const instanceId = await instanceTagged([{ Key: 'Backup', Value: 'true' }]);

    await backup.send(
      new CreateTagsCommand({
        Resources: [instanceId],
        Tags: [
          { Key: 'ami-backup:state', Value: 'running' },
          { Key: 'ami-backup:last-run', Value: '2026-03-01' },
        ],
      }),
    );
    await backup.send(new DeleteTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'ami-backup:state' }] }));

    expect(await tagsOf(instanceId)).toEqual({ Backup: 'true', 'ami-backup:last-run': '2026-03-01' });
    expect(ec2.denied).toEqual([]);
  });

  it('answers DryRun after authorizing: DryRunOperation when allowed, UnauthorizedOperation when not', async () => {
    const instanceId = await instanceTagged([{ Key: 'Backup', Value: 'true' }]);
    const tagging = (key: string) =>
      backup.send(new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: key, Value: 'x' }], DryRun: true }));

    expect(await failureOf(tagging('ami-backup:state'))).toMatchObject({ name: 'DryRunOperation', status: 412 });
    expect(await failureOf(tagging('Name'))).toMatchObject({ name: 'UnauthorizedOperation', status: 403 });
    expect(await tagsOf(instanceId)).toEqual({ Backup: 'true' });
  });
});

describe('CreateImage with a required request tag', () => {
  it('is refused without the tag on the image and snapshots, and no image is made', async () => {
    const instanceId = await instanceTagged([{ Key: 'Backup', Value: 'true' }]);

    const failure = await failureOf(
      backup.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'untagged', NoReboot: true })),
    );

    expect(failure).toMatchObject({ name: 'UnauthorizedOperation', status: 403 });
    expect(failure.message).toContain('ec2:CreateImage on resource: arn:aws:ec2:us-east-1::image/*');
    const images = await admin.send(new DescribeImagesCommand({ Owners: ['self'] }));
    expect(images.Images).toEqual([]);
  });

  it('is allowed with the tag on both, tagging them on creation', async () => {
    const instanceId = await instanceTagged([{ Key: 'Backup', Value: 'true' }]);

    const { ImageId } = await backup.send(
      new CreateImageCommand({
        InstanceId: instanceId,
        Name: 'tagged',
        NoReboot: true,
        TagSpecifications: [
          { ResourceType: 'image', Tags: managedTags },
          { ResourceType: 'snapshot', Tags: managedTags },
        ],
      }),
    );

    const images = await admin.send(new DescribeImagesCommand({ ImageIds: [ImageId as string] }));
    expect(images.Images?.[0]?.Tags).toEqual(managedTags);
  });
});

describe('DeregisterImage with DeleteAssociatedSnapshots, without ec2:DeleteSnapshot', () => {
  it('deregisters the image and keeps its snapshots, reporting missing-permissions', async () => {
    const instanceId = await instanceTagged([{ Key: 'Backup', Value: 'true' }]);
    const { ImageId } = await admin.send(
      new CreateImageCommand({ InstanceId: instanceId, Name: 'kept snapshots', NoReboot: true }),
    );
    ec2.clock.advance(60 * MINUTE);
    const described = await admin.send(new DescribeImagesCommand({ ImageIds: [ImageId as string] }));
    const snapshotIds = (described.Images?.[0]?.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId as string);
    expect(snapshotIds.length).toBeGreaterThan(0);

    const result = await backup.send(
      new DeregisterImageCommand({ ImageId: ImageId as string, DeleteAssociatedSnapshots: true }),
    );

    expect(result.DeleteSnapshotResults).toEqual(
      snapshotIds.map((SnapshotId) => ({ SnapshotId, ReturnCode: 'missing-permissions' })),
    );
    const after = await admin.send(new DescribeImagesCommand({ ImageIds: [ImageId as string] }));
    expect(after.Images?.[0]?.State).toBe('deregistered');
    const snapshots = await admin.send(new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds }));
    expect(snapshots.Snapshots?.map((snapshot) => snapshot.SnapshotId)).toEqual(snapshotIds);
    expect(ec2.denied.map((denial) => [denial.action, denial.resource])).toEqual(
      snapshotIds.map((id) => ['ec2:DeleteSnapshot', `arn:aws:ec2:us-east-1::snapshot/${id}`]),
    );
  });
});

describe('an access key without a principal', () => {
  it('fails authentication on EC2 and on EventBridge', async () => {
    const stranger = ec2ClientFor('UNKNOWNKEY');

    expect(await failureOf(stranger.send(new DescribeInstancesCommand({})))).toMatchObject({
      name: 'AuthFailure',
      message: 'AWS was not able to validate the provided access credentials',
      status: 401,
    });
    expect(
      await failureOf(
        eventBridgeFor('UNKNOWNKEY').send(
          new PutEventsCommand({ Entries: [{ Source: 'ami-backup', DetailType: 'Run', Detail: '{}' }] }),
        ),
      ),
    ).toMatchObject({ name: 'UnrecognizedClientException', status: 400 });
    expect(ec2.putEvents).toEqual([]);
  });
});

describe('PutEvents', () => {
  it('is refused on a bus the principal may not put to, and accepted on the one it may', async () => {
    const events = eventBridgeFor('BACKUPKEY');
    const entry = { Source: 'ami-backup', DetailType: 'Backup Run', Detail: '{}' };

    const failure = await failureOf(
      events.send(new PutEventsCommand({ Entries: [{ ...entry, EventBusName: 'ops' }] })),
    );
    await events.send(new PutEventsCommand({ Entries: [entry] }));

    expect(failure).toMatchObject({ name: 'AccessDeniedException', status: 400 });
    expect(failure.message).toBe(
      `User: ${BACKUP_ARN} is not authorized to perform: events:PutEvents on resource: ` +
        'arn:aws:events:us-east-1:123456789012:event-bus/ops because no identity-based policy allows the ' +
        'events:PutEvents action',
    );
    expect(ec2.putEvents.map((put) => put.EventBusName)).toEqual([undefined]);
  });
});

describe('IAM enforced once the endpoint runs (enforceIam)', () => {
  it('serves any key before, then each as its principal, keeping the denials of the gates it replaced', async () => {
    await ec2.stop();
    ({ ec2 } = await startTestEc2());
    const later = ec2ClientFor('LATERKEY');
    // Without IAM: any key is served, in the default account.
    const instanceId = (
      await later.send(new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }))
    ).Instances?.[0]?.InstanceId as string;

    await ec2.enforceIam(IAM);
    expect(await failureOf(later.send(new DescribeInstancesCommand({})))).toMatchObject({ name: 'AuthFailure' });
    const refused = await failureOf(
      ec2ClientFor('BACKUPKEY').send(
        new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'x', Value: 'y' }] }),
      ),
    );
    expect(refused.name).toBe('UnauthorizedOperation');
    const seen = await ec2ClientFor('ADMINKEY').send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    expect(seen.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(instanceId);

    await ec2.enforceIam({ principals: { ADMINKEY: { arn: ADMIN_ARN, policies: [allowAll] } } });
    expect(ec2.denied.map((denial) => [denial.accessKeyId, denial.action])).toEqual([['BACKUPKEY', 'ec2:CreateTags']]);
    expect(await failureOf(ec2ClientFor('BACKUPKEY').send(new DescribeInstancesCommand({})))).toMatchObject({
      name: 'AuthFailure',
    });
  });
});
