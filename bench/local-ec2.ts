/**
 * Benchmark of the local EC2 endpoint at scale: 10,000 instances and 70,000 images in memory, then a full paginated
 * DescribeInstances (MaxResults 1000) through the real SDK over HTTP.
 *
 * Seeding goes through the endpoint's in-process model (`LocalEc2.backend`), not 80,000 HTTP calls: the same code
 * paths as RunInstances and CreateImage, without the wire. Usage: `npm run bench:ec2 [-- --json]`.
 */
import { parseArgs } from 'node:util';
import {
  DescribeImagesCommand,
  EC2Client,
  paginateDescribeImages,
  paginateDescribeInstances,
} from '@aws-sdk/client-ec2';
import { SimClock, startLocalEc2 } from '../local/ec2';

const INSTANCES = 10_000;
const IMAGES_PER_INSTANCE = 7;
const INSTANCES_PER_RESERVATION = 100;
const MINUTE = 60_000;

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false } } });

const mebibytes = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

async function main(): Promise<void> {
  const clock = SimClock.manual(new Date('2026-01-01T00:00:00Z'));
  const ec2 = await startLocalEc2({ clock, throttling: false });
  try {
    const seedStart = performance.now();
    const instanceIds: string[] = [];
    for (let launched = 0; launched < INSTANCES; launched += INSTANCES_PER_RESERVATION) {
      const { instances } = ec2.backend.runInstances({
        imageId: 'ami-0123456789abcdef0',
        instanceType: 't3.micro',
        minCount: INSTANCES_PER_RESERVATION,
        maxCount: INSTANCES_PER_RESERVATION,
        tagSpecifications: [{ resourceType: 'instance', tags: [{ key: 'Backup', value: 'true' }] }],
        blockDeviceMappings: [],
      });
      instanceIds.push(...instances.map((instance) => instance.id));
    }
    clock.advance(MINUTE);
    for (let night = 0; night < IMAGES_PER_INSTANCE; night++) {
      for (const instanceId of instanceIds) {
        ec2.backend.createImage({
          instanceId,
          name: `bench-${instanceId}-night-${night}`,
          description: undefined,
          noReboot: true,
          tagSpecifications: [{ resourceType: 'image', tags: [{ key: 'ami-backup:instance-id', value: instanceId }] }],
          requestId: 'seed',
        });
      }
      clock.advance(24 * 60 * MINUTE);
    }
    const seedMs = performance.now() - seedStart;

    const client = new EC2Client({
      endpoint: ec2.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    await client.send(new DescribeImagesCommand({ Owners: ['self'], MaxResults: 5 })); // warm the connection and SDK

    const describeStart = performance.now();
    let described = 0;
    let instancePages = 0;
    for await (const page of paginateDescribeInstances({ client, pageSize: 1000 }, {})) {
      instancePages += 1;
      for (const reservation of page.Reservations ?? []) described += reservation.Instances?.length ?? 0;
    }
    const describeInstancesMs = performance.now() - describeStart;

    const imagesStart = performance.now();
    let images = 0;
    const oneInstance = instanceIds[INSTANCES / 2] as string;
    for await (const page of paginateDescribeImages(
      { client, pageSize: 1000 },
      { Owners: ['self'], Filters: [{ Name: 'tag:ami-backup:instance-id', Values: [oneInstance] }] },
    )) {
      images += page.Images?.length ?? 0;
    }
    const describeImagesOfOneInstanceMs = performance.now() - imagesStart;

    const memory = process.memoryUsage();
    const report = {
      instances: ec2.backend.instances.size,
      images: ec2.backend.images.size,
      snapshots: ec2.backend.snapshots.size,
      seedMs: Math.round(seedMs),
      describeInstances: { instances: described, pages: instancePages, wallMs: Math.round(describeInstancesMs) },
      describeImagesOfOneInstance: { images, wallMs: Math.round(describeImagesOfOneInstanceMs) },
      rssMiB: mebibytes(memory.rss),
      heapUsedMiB: mebibytes(memory.heapUsed),
    };
    if (described !== INSTANCES || images !== IMAGES_PER_INSTANCE) {
      throw new Error(`unexpected results: ${JSON.stringify(report)}`);
    }
    if (values.json) console.log(JSON.stringify(report));
    else {
      console.log(
        `Seeded ${report.instances} instances, ${report.images} images, ${report.snapshots} snapshots in ${report.seedMs} ms`,
      );
      console.log(
        `Full paginated DescribeInstances (MaxResults 1000): ${described} instances in ${instancePages} pages, ${report.describeInstances.wallMs} ms`,
      );
      console.log(
        `Paginated DescribeImages by tag (one instance's images among ${report.images}): ${images} images, ${report.describeImagesOfOneInstance.wallMs} ms`,
      );
      console.log(`Memory: RSS ${report.rssMiB} MiB, heap used ${report.heapUsedMiB} MiB`);
    }
  } finally {
    await ec2.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
