import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CopyImageCommand,
  CreateImageCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  type EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { type Ec2Event, type LocalEc2, SimClock } from '../../../local/ec2';
import { clientIn, failureOf, MINUTE, START, startTestEc2 } from './helpers';

const BASE_AMI = 'ami-0123456789abcdef0';

let ec2: LocalEc2;
let clock: SimClock;
let east: EC2Client;
let west: EC2Client;

beforeEach(async () => {
  ({ ec2, clock } = await startTestEc2());
  east = clientIn(ec2.url, 'us-east-1');
  west = clientIn(ec2.url, 'us-west-2');
});
afterEach(async () => {
  await ec2.stop();
});

async function launch(client: EC2Client): Promise<string> {
  const launched = await client.send(new RunInstancesCommand({ ImageId: BASE_AMI, MinCount: 1, MaxCount: 1 }));
  return launched.Instances?.[0]?.InstanceId as string;
}

const instanceIds = async (client: EC2Client): Promise<string[]> =>
  ((await client.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((reservation) =>
    (reservation.Instances ?? []).map((instance) => instance.InstanceId as string),
  );

/** An unsigned EC2 Query request sent with this Host header (as to EC2's own endpoint of a Region). */
function unsignedTo(host: string, params: Record<string, string>): Promise<{ status: number; body: string }> {
  const body = new URLSearchParams({ Version: '2016-11-15', ...params }).toString();
  const url = new URL(ec2.url);
  return new Promise((resolve, reject) => {
    const sent = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/',
        headers: { host, 'content-type': 'application/x-www-form-urlencoded' },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    sent.on('error', reject);
    sent.end(body);
  });
}

describe('each Region keeps its own resources', () => {
  it('describes only the Region’s instances, images and snapshots; another Region’s ids are not found', async () => {
    const eastInstance = await launch(east);
    const westInstance = await launch(west);
    expect(await instanceIds(east)).toEqual([eastInstance]);
    expect(await instanceIds(west)).toEqual([westInstance]);
    const described = await west.send(new DescribeInstancesCommand({ InstanceIds: [westInstance] }));
    expect(described.Reservations?.[0]?.Instances?.[0]?.Placement?.AvailabilityZone).toBe('us-west-2a');
    expect(await failureOf(west.send(new DescribeInstancesCommand({ InstanceIds: [eastInstance] })))).toMatchObject({
      name: 'InvalidInstanceID.NotFound',
    });

    clock.advance(MINUTE);
    const { ImageId } = await east.send(
      new CreateImageCommand({ InstanceId: eastInstance, Name: 'east-image', NoReboot: true }),
    );
    expect(
      (await east.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images?.map((image) => image.ImageId),
    ).toEqual([ImageId]);
    expect((await west.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images).toEqual([]);
    expect((await west.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots).toEqual([]);
    expect((await east.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots).toHaveLength(1);
    expect(await failureOf(west.send(new DescribeImagesCommand({ ImageIds: [ImageId as string] })))).toMatchObject({
      name: 'InvalidAMIID.NotFound',
    });
    expect(
      await failureOf(
        west.send(new CreateTagsCommand({ Resources: [eastInstance], Tags: [{ Key: 'k', Value: 'v' }] })),
      ),
    ).toMatchObject({ name: 'InvalidInstanceID.NotFound' });
    // A name is unique within its Region only.
    await west.send(new CreateImageCommand({ InstanceId: westInstance, Name: 'east-image', NoReboot: true }));
    expect(ec2.regions).toEqual(['us-east-1', 'us-west-2']);
    expect(ec2.backendIn('us-west-2').images.size).toBe(1);
  });

  it('serves an unsigned request in the Region of its host name, else in the default Region', async () => {
    const run = { Action: 'RunInstances', ImageId: BASE_AMI, MinCount: '1', MaxCount: '1' };
    const inIreland = await unsignedTo('ec2.eu-west-1.amazonaws.com', run);
    expect(inIreland.status).toBe(200);
    const local = await unsignedTo('127.0.0.1', run);
    expect(local.status).toBe(200);
    const idOf = (body: string): string => /<instanceId>(i-[0-9a-f]+)<\/instanceId>/.exec(body)?.[1] ?? '';
    expect(await instanceIds(clientIn(ec2.url, 'eu-west-1'))).toEqual([idOf(inIreland.body)]);
    expect(await instanceIds(east)).toEqual([idOf(local.body)]);
  });

  it('throttles each Region with its own buckets', async () => {
    ec2.setThrottling(true);
    // Unfiltered, unpaginated DescribeInstances: a bucket of 50 per account and Region.
    for (let call = 0; call < 50; call++) await east.send(new DescribeInstancesCommand({}));
    expect(await failureOf(east.send(new DescribeInstancesCommand({})))).toMatchObject({
      name: 'RequestLimitExceeded',
      status: 503,
    });
    await west.send(new DescribeInstancesCommand({}));
    expect(ec2.throttledCount('DescribeInstances')).toBe(1);
  });

  it('delivers a Region’s events to its own subscribers; subscribeAll sees every Region', async () => {
    const home: Ec2Event[] = [];
    const oregon: Ec2Event[] = [];
    const all: Ec2Event[] = [];
    ec2.events.subscribe((event) => home.push(event));
    ec2.events.subscribe((event) => oregon.push(event), { region: 'us-west-2' });
    ec2.events.subscribeAll((event) => all.push(event));
    const eastInstance = await launch(east);
    const westInstance = await launch(west);
    expect(home.map((event) => event.resources)).toEqual([
      [`arn:aws:ec2:us-east-1:123456789012:instance/${eastInstance}`],
    ]);
    expect(oregon.map((event) => [event.region, event.resources])).toEqual([
      ['us-west-2', [`arn:aws:ec2:us-west-2:123456789012:instance/${westInstance}`]],
    ]);
    expect(all.map((event) => event.region)).toEqual(['us-east-1', 'us-west-2']);
  });
});

it('records every Region’s changes in one audit, each entry naming its Region', async () => {
  const audited = await startTestEc2({ audit: true });
  try {
    const auditedEast = clientIn(audited.ec2.url, 'us-east-1');
    const instanceId = await launch(auditedEast);
    audited.clock.advance(MINUTE);
    const { ImageId: sourceId } = await auditedEast.send(
      new CreateImageCommand({ InstanceId: instanceId, Name: 'source', NoReboot: true }),
    );
    audited.clock.advance(10 * MINUTE);
    const { ImageId: copyId } = await clientIn(audited.ec2.url, 'us-west-2').send(
      new CopyImageCommand({ SourceImageId: sourceId, SourceRegion: 'us-east-1', Name: 'copy' }),
    );
    audited.clock.advance(60 * MINUTE);
    expect(audited.ec2.audit.map(({ region, kind, id }) => [region, kind, id])).toEqual([
      ['us-east-1', 'image-created', sourceId],
      ['us-east-1', 'image-available', sourceId],
      ['us-west-2', 'image-available', copyId],
    ]);
  } finally {
    await audited.ec2.stop();
  }
});

describe('the state file', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'local-ec2-regions-'));
  });
  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('keeps every Region’s resources, pending copies included, in their Regions', async () => {
    const stateFile = join(directory, 'state.json');
    const first = await startTestEc2({ stateFile });
    const firstEast = clientIn(first.ec2.url, 'us-east-1');
    const firstWest = clientIn(first.ec2.url, 'us-west-2');
    const eastInstance = await launch(firstEast);
    const westInstance = await launch(firstWest);
    first.clock.advance(MINUTE);
    const { ImageId: sourceId } = await firstEast.send(
      new CreateImageCommand({ InstanceId: eastInstance, Name: 'source', NoReboot: true }),
    );
    first.clock.advance(10 * MINUTE);
    const { ImageId: copyId } = await firstWest.send(
      new CopyImageCommand({ SourceImageId: sourceId, SourceRegion: 'us-east-1', Name: 'copy', ClientToken: 'kept' }),
    );
    await first.ec2.stop();

    const second = await startTestEc2({ stateFile, clock: SimClock.manual(new Date(START.getTime() + 11 * MINUTE)) });
    try {
      const secondEast = clientIn(second.ec2.url, 'us-east-1');
      const secondWest = clientIn(second.ec2.url, 'us-west-2');
      expect(await instanceIds(secondEast)).toEqual([eastInstance]);
      expect(await instanceIds(secondWest)).toEqual([westInstance]);
      const copied = async () =>
        (await secondWest.send(new DescribeImagesCommand({ ImageIds: [copyId as string] }))).Images?.[0];
      expect((await copied())?.State).toBe('pending');
      // The client token still stands for the copy.
      const again = await secondWest.send(
        new CopyImageCommand({ SourceImageId: sourceId, SourceRegion: 'us-east-1', Name: 'copy', ClientToken: 'kept' }),
      );
      expect(again.ImageId).toBe(copyId);
      second.clock.advance(60 * MINUTE);
      expect((await copied())?.State).toBe('available');
    } finally {
      await second.ec2.stop();
    }
  });
});
