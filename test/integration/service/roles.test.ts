/**
 * Each function's deployed role, enforced by the local endpoint: what one function may do, the others may not, and
 * the abuses a role must refuse (the owner relabelled, snapshots re-tagged, every tag deleted, the operator's tags
 * rewritten) leave the resources as they were.
 */
import {
  CreateImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteTagsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  RebootInstancesCommand,
  RunInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ImageTag, InstanceTag, OperatorTag } from '../../../lib/tags';
import { type LocalEc2, SimClock, startLocalEc2 } from '../../../local/ec2';
import { functionAccessKeyId } from '../../../local/runner/functions';
import { clientFor } from '../local-ec2/helpers';
import { deployedIam, EVENING } from './fixtures';

const FUNCTIONS = ['reboot', 'createImages', 'recordImageState', 'rotate'] as const;
type FunctionName = (typeof FUNCTIONS)[number];
const OWNER = 'ami-backup-dev';

let ec2: LocalEc2;
let operator: EC2Client;
const clients = new Map<FunctionName, EC2Client>();
let optedIn: string;
let notOptedIn: string;
let ownImage: string;
let ownSnapshot: string;

const tags = (entries: Readonly<Record<string, string>>): Tag[] =>
  Object.entries(entries).map(([Key, Value]) => ({ Key, Value }));

function as(name: FunctionName): EC2Client {
  const client = clients.get(name);
  if (client === undefined) throw new Error(`no client for ${name}`);
  return client;
}

/** The creation tags the service puts on an image of `instanceId` and its snapshots. */
function creationTags(instanceId: string, run: string) {
  const values = tags({
    [ImageTag.managedBy]: OWNER,
    [ImageTag.instanceId]: instanceId,
    [ImageTag.run]: run,
    [ImageTag.imageMode]: 'no-reboot',
  });
  return [
    { ResourceType: 'image' as const, Tags: values },
    { ResourceType: 'snapshot' as const, Tags: values },
  ];
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

async function instanceTags(instanceId: string): Promise<Record<string, string>> {
  const output = await operator.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = output.Reservations?.[0]?.Instances?.[0];
  return Object.fromEntries((instance?.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
}

async function imageTags(imageId: string): Promise<Record<string, string> | undefined> {
  const output = await operator.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  const image = output.Images?.[0];
  return image === undefined
    ? undefined
    : Object.fromEntries((image.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
}

async function snapshotTags(snapshotId: string): Promise<Record<string, string> | undefined> {
  const output = await operator.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
  const snapshot = output.Snapshots?.[0];
  return snapshot === undefined
    ? undefined
    : Object.fromEntries((snapshot.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
}

beforeAll(async () => {
  ec2 = await startLocalEc2({ clock: SimClock.manual(EVENING), throttling: false, iam: await deployedIam() });
  operator = clientFor(ec2.url);
  for (const name of FUNCTIONS) {
    clients.set(
      name,
      new EC2Client({
        endpoint: ec2.url,
        region: 'us-east-1',
        credentials: { accessKeyId: functionAccessKeyId(name), secretAccessKey: 'local' },
        maxAttempts: 1,
      }),
    );
  }
  const launch = async (extra: Readonly<Record<string, string>>) => {
    const output = await operator.send(
      new RunInstancesCommand({
        ImageId: 'ami-0123456789abcdef0',
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 't3.micro',
        TagSpecifications: [{ ResourceType: 'instance', Tags: tags({ Name: 'web', ...extra }) }],
      }),
    );
    return output.Instances?.[0]?.InstanceId ?? '';
  };
  optedIn = await launch({ Backup: 'true', [OperatorTag.retain]: '7' });
  notOptedIn = await launch({});
  ec2.clock.advance(60_000);
  const image = await as('createImages').send(
    new CreateImageCommand({
      InstanceId: optedIn,
      Name: `ami-backup-${optedIn}-20261125T0300Z`,
      NoReboot: true,
      TagSpecifications: creationTags(optedIn, '20261125T0300Z'),
    }),
  );
  ownImage = image.ImageId ?? '';
  ec2.clock.advance(3_600_000);
  const snapshots = await operator.send(
    new DescribeSnapshotsCommand({ Filters: [{ Name: `tag:${ImageTag.instanceId}`, Values: [optedIn] }] }),
  );
  ownSnapshot = snapshots.Snapshots?.[0]?.SnapshotId ?? '';
});

afterAll(async () => {
  for (const client of clients.values()) client.destroy();
  operator.destroy();
  await ec2.stop();
});

describe("each function's role", () => {
  it('was given what the test needs: an own image with a snapshot, made by createImages', () => {
    expect(ownImage).toMatch(/^ami-/);
    expect(ownSnapshot).toMatch(/^snap-/);
  });

  it('lets only createImages create images, and only of opted-in instances with the ownership tag', async () => {
    const create = (name: FunctionName, instanceId: string, run: string, owner = OWNER) =>
      outcome(
        as(name).send(
          new CreateImageCommand({
            InstanceId: instanceId,
            Name: `ami-backup-${instanceId}-${run}`,
            NoReboot: true,
            TagSpecifications: creationTags(instanceId, run).map((spec) => ({
              ...spec,
              Tags: spec.Tags.map((tag) => (tag.Key === ImageTag.managedBy ? { ...tag, Value: owner } : tag)),
            })),
          }),
        ),
      );
    for (const name of ['reboot', 'recordImageState', 'rotate'] as const) {
      expect({ name, outcome: await create(name, optedIn, '20261126T0300Z') }).toEqual({
        name,
        outcome: 'UnauthorizedOperation',
      });
    }
    expect(await create('createImages', notOptedIn, '20261126T0300Z')).toBe('UnauthorizedOperation');
    // Another stage's owner: the image would be that stage's to delete.
    expect(await create('createImages', optedIn, '20261126T0300Z', 'ami-backup-prod')).toBe('UnauthorizedOperation');
    const images = await operator.send(new DescribeImagesCommand({ Owners: ['self'] }));
    expect(images.Images?.map((image) => image.ImageId)).toEqual([ownImage]);
  });

  it('lets no function reboot an instance directly (imaging reboots it)', async () => {
    for (const name of FUNCTIONS) {
      expect(await outcome(as(name).send(new RebootInstancesCommand({ InstanceIds: [optedIn] })))).toBe(
        'UnauthorizedOperation',
      );
    }
  });

  it('lets only rotate deregister its own images and delete their snapshots', async () => {
    for (const name of ['reboot', 'createImages', 'recordImageState'] as const) {
      expect(await outcome(as(name).send(new DeregisterImageCommand({ ImageId: ownImage })))).toBe(
        'UnauthorizedOperation',
      );
      expect(await outcome(as(name).send(new DeleteSnapshotCommand({ SnapshotId: ownSnapshot })))).toBe(
        'UnauthorizedOperation',
      );
    }
    expect(await imageTags(ownImage)).toBeDefined();
    expect(await snapshotTags(ownSnapshot)).toBeDefined();
  });

  it('lets rotate delete nothing that lacks its stage as owner', async () => {
    const foreign = await operator.send(
      new CreateImageCommand({
        InstanceId: notOptedIn,
        Name: 'someone-elses-image',
        NoReboot: true,
        TagSpecifications: [{ ResourceType: 'image', Tags: tags({ [ImageTag.managedBy]: 'ami-backup-prod' }) }],
      }),
    );
    ec2.clock.advance(3_600_000);
    const foreignImage = foreign.ImageId ?? '';
    expect(await outcome(as('rotate').send(new DeregisterImageCommand({ ImageId: foreignImage })))).toBe(
      'UnauthorizedOperation',
    );
    expect(await imageTags(foreignImage)).toEqual({ [ImageTag.managedBy]: 'ami-backup-prod' });
  });

  it('refuses relabelling an image (owner, instance, run) and re-tagging its snapshots, to every function', async () => {
    const before = { image: await imageTags(ownImage), snapshot: await snapshotTags(ownSnapshot) };
    for (const name of FUNCTIONS) {
      for (const key of [ImageTag.managedBy, ImageTag.instanceId, ImageTag.run, ImageTag.retain]) {
        expect(
          await outcome(as(name).send(new CreateTagsCommand({ Resources: [ownImage], Tags: tags({ [key]: 'x' }) }))),
        ).toBe('UnauthorizedOperation');
      }
      expect(
        await outcome(
          as(name).send(
            new CreateTagsCommand({ Resources: [ownSnapshot], Tags: tags({ [InstanceTag.state]: 'succeeded' }) }),
          ),
        ),
      ).toBe('UnauthorizedOperation');
    }
    expect({ image: await imageTags(ownImage), snapshot: await snapshotTags(ownSnapshot) }).toEqual(before);
  });

  it('records outcomes on its own images only through createImages and recordImageState', async () => {
    const record = (name: FunctionName, value: string) =>
      outcome(
        as(name).send(new CreateTagsCommand({ Resources: [ownImage], Tags: tags({ [InstanceTag.state]: value }) })),
      );
    expect(await record('reboot', 'failed')).toBe('UnauthorizedOperation');
    expect(await record('rotate', 'failed')).toBe('UnauthorizedOperation');
    expect(await record('recordImageState', 'succeeded')).toBe('allowed');
    expect((await imageTags(ownImage))?.[InstanceTag.state]).toBe('succeeded');
  });

  it("refuses deleting every tag, or the operator's, and tagging an instance not opted in", async () => {
    const before = await instanceTags(optedIn);
    for (const name of FUNCTIONS) {
      expect(await outcome(as(name).send(new DeleteTagsCommand({ Resources: [optedIn] })))).toBe(
        'UnauthorizedOperation',
      );
      for (const key of ['Backup', 'Name', OperatorTag.retain, OperatorTag.mode]) {
        expect(
          await outcome(as(name).send(new DeleteTagsCommand({ Resources: [optedIn], Tags: [{ Key: key }] }))),
        ).toBe('UnauthorizedOperation');
        expect(
          await outcome(as(name).send(new CreateTagsCommand({ Resources: [optedIn], Tags: tags({ [key]: '1' }) }))),
        ).toBe('UnauthorizedOperation');
      }
      expect(
        await outcome(
          as(name).send(
            new CreateTagsCommand({ Resources: [notOptedIn], Tags: tags({ [InstanceTag.state]: 'queued' }) }),
          ),
        ),
      ).toBe('UnauthorizedOperation');
    }
    expect(await instanceTags(optedIn)).toEqual(before);
    expect(await instanceTags(notOptedIn)).toEqual({ Name: 'web' });
  });

  it('lets each function set on an opted-in instance just the keys it writes', async () => {
    const allowed = async (name: FunctionName, key: string) =>
      (await outcome(as(name).send(new CreateTagsCommand({ Resources: [optedIn], Tags: tags({ [key]: 'v' }) })))) ===
      'allowed';
    const writable = async (name: FunctionName) => {
      const keys: string[] = [];
      for (const key of Object.values(InstanceTag)) if (await allowed(name, key)) keys.push(key);
      return keys;
    };
    const { state, run, since, imageMode, healthyAt, lastSuccess, lastError, policyError, firstRun } = InstanceTag;
    expect(await writable('reboot')).toEqual([state, run, since, lastError, policyError, firstRun]);
    expect(await writable('createImages')).toEqual([state, since, imageMode, healthyAt, lastSuccess, lastError]);
    expect(await writable('recordImageState')).toEqual([state, lastSuccess, lastError]);
    expect(await writable('rotate')).toEqual([]);
    // Only reboot clears a policy error, and nothing else.
    expect(
      await outcome(as('reboot').send(new DeleteTagsCommand({ Resources: [optedIn], Tags: [{ Key: policyError }] }))),
    ).toBe('allowed');
    expect(
      await outcome(as('reboot').send(new DeleteTagsCommand({ Resources: [optedIn], Tags: [{ Key: state }] }))),
    ).toBe('UnauthorizedOperation');
    expect(await instanceTags(optedIn)).not.toHaveProperty(policyError);
  });

  it('lets every function publish to the configured bus only', async () => {
    for (const name of FUNCTIONS) {
      const events = new EventBridgeClient({
        endpoint: ec2.url,
        region: 'us-east-1',
        credentials: { accessKeyId: functionAccessKeyId(name), secretAccessKey: 'local' },
        maxAttempts: 1,
      });
      const put = (bus: string) =>
        outcome(
          events.send(
            new PutEventsCommand({
              Entries: [{ EventBusName: bus, Source: 'ami-backup', DetailType: 'Backup Succeeded', Detail: '{}' }],
            }),
          ),
        );
      expect({ name, default: await put('default'), other: await put('audit') }).toEqual({
        name,
        default: 'allowed',
        other: 'AccessDeniedException',
      });
      events.destroy();
    }
  });

  it('recorded every refusal above as a denial, and the allowed calls as none', () => {
    expect(ec2.denied.length).toBeGreaterThan(0);
    const principals = new Set(ec2.denied.map((denial) => denial.principalArn));
    for (const name of FUNCTIONS) {
      expect(principals).toContain(
        `arn:aws:sts::123456789012:assumed-role/ami-backup-dev-${name.charAt(0).toUpperCase()}${name.slice(1)}Role/ami-backup-dev-${name}`,
      );
    }
    expect(ec2.denied.some((denial) => denial.principalArn.endsWith(':user/operator'))).toBe(false);
  });
});
