import { randomBytes } from 'node:crypto';
import { Ec2ApiError } from './errors';

export type IdPrefix = 'i' | 'ami' | 'snap' | 'vol' | 'r';

/** A new resource id in EC2's long format: prefix, dash, 17 lowercase hex digits. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

/** EC2 accepts both the short (8 hex digits) and the long (17) form of ids. */
export function isWellFormedId(prefix: IdPrefix, id: string): boolean {
  return new RegExp(`^${prefix}-([0-9a-f]{8}|[0-9a-f]{17})$`).test(id);
}

export function assertInstanceId(id: string): void {
  if (!isWellFormedId('i', id)) throw new Ec2ApiError('InvalidInstanceID.Malformed', `Invalid id: "${id}"`);
}

export function assertImageId(id: string): void {
  if (!isWellFormedId('ami', id)) {
    throw new Ec2ApiError('InvalidAMIID.Malformed', `Invalid id: "${id}" (expecting "ami-...")`);
  }
}

export function assertSnapshotId(id: string): void {
  if (!isWellFormedId('snap', id)) {
    throw new Ec2ApiError('InvalidSnapshotID.Malformed', `Invalid id: "${id}" (expecting "snap-...")`);
  }
}

export function instancesNotFound(ids: readonly string[]): Ec2ApiError {
  return ids.length === 1
    ? new Ec2ApiError('InvalidInstanceID.NotFound', `The instance ID '${ids[0]}' does not exist`)
    : new Ec2ApiError('InvalidInstanceID.NotFound', `The instance IDs '${ids.join(', ')}' do not exist`);
}

export function imagesNotFound(ids: readonly string[]): Ec2ApiError {
  return new Ec2ApiError('InvalidAMIID.NotFound', `The image id '[${ids.join(', ')}]' does not exist`);
}

export function snapshotsNotFound(ids: readonly string[]): Ec2ApiError {
  return ids.length === 1
    ? new Ec2ApiError('InvalidSnapshot.NotFound', `The snapshot '${ids[0]}' does not exist.`)
    : new Ec2ApiError('InvalidSnapshot.NotFound', `The snapshots '${ids.join(', ')}' do not exist.`);
}

export function volumeNotFound(id: string): Ec2ApiError {
  return new Ec2ApiError('InvalidVolume.NotFound', `The volume '${id}' does not exist.`);
}
