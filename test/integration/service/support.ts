/** What the service left on the endpoint, read back through the EC2 API, for tests to assert on. */
import {
  type EC2Client,
  type Image,
  type Instance,
  paginateDescribeImages,
  paginateDescribeInstances,
  paginateDescribeSnapshots,
  type Snapshot,
  type Tag,
} from '@aws-sdk/client-ec2';
import { ImageTag } from '../../../lib/tags';

export const OWNER = 'ami-backup-dev';

export function tagsOf(resource: { Tags?: Tag[] }): Record<string, string> {
  return Object.fromEntries((resource.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
}

export interface Inventory {
  instances: Instance[];
  images: Image[];
  snapshots: Snapshot[];
  instance(name: string): Instance;
  imagesOf(instanceId: string, state?: string): Image[];
  snapshotsOf(image: Image): Snapshot[];
}

export async function inventory(client: EC2Client): Promise<Inventory> {
  const instances: Instance[] = [];
  for await (const page of paginateDescribeInstances({ client }, {})) {
    for (const reservation of page.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
  }
  const images: Image[] = [];
  for await (const page of paginateDescribeImages({ client }, { Owners: ['self'] }))
    images.push(...(page.Images ?? []));
  const snapshots: Snapshot[] = [];
  for await (const page of paginateDescribeSnapshots({ client }, { OwnerIds: ['self'] })) {
    snapshots.push(...(page.Snapshots ?? []));
  }
  return {
    instances,
    images,
    snapshots,
    instance: (name) => {
      const found = instances.find((instance) => tagsOf(instance).Name === name);
      if (found === undefined) throw new Error(`no instance named ${name}`);
      return found;
    },
    imagesOf: (instanceId, state) =>
      images.filter(
        (image) => tagsOf(image)[ImageTag.instanceId] === instanceId && (state === undefined || image.State === state),
      ),
    snapshotsOf: (image) => {
      const ids = new Set((image.BlockDeviceMappings ?? []).map((mapping) => mapping.Ebs?.SnapshotId));
      return snapshots.filter((snapshot) => ids.has(snapshot.SnapshotId));
    },
  };
}
