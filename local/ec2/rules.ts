import { Ec2ApiError, invalidParameterValue } from './errors';
import type { FilterField } from './filters';
import { type ImageRecord, INSTANCE_STATE_CODES, type InstanceRecord, type SnapshotRecord } from './model';
import type { BlockDeviceMappingInput, TagInput, TagSpecification } from './query';

/** EC2's rules as pure functions over plain data: validation, device layout, status checks, filterable fields. */

export const MAX_USER_TAGS = 50;
export const MAX_TAG_KEY_LENGTH = 128;
export const MAX_TAG_VALUE_LENGTH = 256;
export const ROOT_DEVICE_NAME = '/dev/xvda';
/**
 * The one AMI the endpoint knows as instance-store-backed: RunInstances with it launches an instance whose root device
 * is the host's instance store (no EBS root volume). Every other AMI id launches an EBS-backed instance.
 */
export const INSTANCE_STORE_AMI_ID = 'ami-0e5a1b2c3d4f60718';
/** A public EBS-backed AMI the endpoint knows without registering it, as an account sees Amazon's own AMIs. */
export const BASE_AMI_ID = 'ami-0123456789abcdef0';
/**
 * The AMIs RunInstances accepts without an image in the store (public ones, not listed by DescribeImages with
 * `Owner=self`). Any other AMI must be an image in the store, and available.
 */
export const PUBLIC_AMI_IDS: ReadonlySet<string> = new Set([BASE_AMI_ID, INSTANCE_STORE_AMI_ID]);
/** The root device name of instance-store-backed instances (the paravirtual-era `/dev/sda1`). */
export const INSTANCE_STORE_ROOT_DEVICE_NAME = '/dev/sda1';
export const DEFAULT_VOLUME = { size: 8, type: 'gp3' } as const;
/** AMI names: 3–128 characters from letters, digits, ( ) [ ] space . / - ' @ _ (CreateImage reference). */
export const AMI_NAME = /^[A-Za-z0-9()[\] ./\-'@_]{3,128}$/;
export const MAX_DESCRIPTION_LENGTH = 255;

export type StatusSummary = 'ok' | 'impaired' | 'insufficient-data' | 'not-applicable' | 'initializing';
export type Reachability = 'passed' | 'failed' | 'insufficient-data' | 'initializing';

export interface StatusCheck {
  status: StatusSummary;
  /** Absent when the check does not apply (instance not running). */
  reachability: Reachability | undefined;
}

export interface InstanceStatus {
  instance: InstanceRecord;
  instanceStatus: StatusCheck;
  systemStatus: StatusCheck;
}

/** EC2's state transition reason for a stop or terminate request: `User initiated (2024-05-01 12:00:00 GMT)`. */
export function userInitiated(ms: number): string {
  return `User initiated (${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} GMT)`;
}

export function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}

export function unique(ids: string[]): string[] {
  return [...new Set(ids)];
}

export function sortBySeq<T extends { seq: number }>(items: T[]): T[] {
  return items.sort((a, b) => a.seq - b.seq);
}

export function tagMap(tags: readonly TagInput[]): Map<string, string> {
  return new Map(tags.map((tag) => [tag.key, tag.value ?? '']));
}

/** Tags the user may copy and that count against the limit: all but `aws:` ones. */
export function userTags(tags: ReadonlyMap<string, string>): Map<string, string> {
  return new Map([...tags].filter(([key]) => !key.startsWith('aws:')));
}

export function tagLimitExceeded(): Ec2ApiError {
  return new Ec2ApiError('TagLimitExceeded', 'The maximum number of Tags for a resource has been reached.');
}

export function reservedTagKey(): Ec2ApiError {
  return invalidParameterValue("Tag keys starting with 'aws:' are reserved for internal use");
}

/**
 * EC2's tag rules: no `aws:` keys, key 1–128 characters, value ≤ 256, at most 50 tags at once. Lengths are in UTF-16
 * units, the stricter reading of AWS's "Unicode characters" (a character outside the BMP counts as two).
 */
export function validateNewTags(tags: readonly TagInput[]): void {
  if (tags.length > MAX_USER_TAGS) throw tagLimitExceeded();
  for (const { key, value } of tags) {
    if (key.startsWith('aws:')) throw reservedTagKey();
    if (key.length === 0 || key.length > MAX_TAG_KEY_LENGTH) {
      throw invalidParameterValue(`Tag key exceeds the maximum length of ${MAX_TAG_KEY_LENGTH} characters`);
    }
    if ((value ?? '').length > MAX_TAG_VALUE_LENGTH) {
      throw invalidParameterValue(`Tag value exceeds the maximum length of ${MAX_TAG_VALUE_LENGTH} characters`);
    }
  }
}

export function validateImageName(name: string): void {
  if (!AMI_NAME.test(name)) {
    throw new Ec2ApiError(
      'InvalidAMIName.Malformed',
      `AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/' and '_'`,
    );
  }
}

export function validateDescription(description: string | undefined): void {
  if (description !== undefined && description.length > MAX_DESCRIPTION_LENGTH) {
    throw invalidParameterValue(`Description must be at most ${MAX_DESCRIPTION_LENGTH} characters`);
  }
}

export function tagsBySpecification(specifications: TagSpecification[], allowed: string[]): Map<string, TagInput[]> {
  const byType = new Map<string, TagInput[]>();
  for (const specification of specifications) {
    if (!allowed.includes(specification.resourceType)) {
      throw invalidParameterValue(
        `'${specification.resourceType}' is not a valid taggable resource type for this operation.`,
      );
    }
    byType.set(specification.resourceType, [...(byType.get(specification.resourceType) ?? []), ...specification.tags]);
  }
  return byType;
}

export interface DeviceLayout {
  deviceName: string;
  size: number;
  type: string;
  deleteOnTermination: boolean;
  /** `Ebs.Encrypted` and `Ebs.KmsKeyId` as given (the key resolved by the store). */
  encrypted?: boolean;
  kmsKeyId?: string;
}

export function deviceLayout(mappings: readonly BlockDeviceMappingInput[]): DeviceLayout[] {
  const root: DeviceLayout = {
    deviceName: ROOT_DEVICE_NAME,
    size: DEFAULT_VOLUME.size,
    type: DEFAULT_VOLUME.type,
    deleteOnTermination: true,
  };
  const extra: DeviceLayout[] = [];
  for (const mapping of mappings) {
    if (mapping.volumeSize !== undefined && (mapping.volumeSize < 1 || mapping.volumeSize > 65_536)) {
      throw invalidParameterValue(`Volume size ${mapping.volumeSize} for ${mapping.deviceName} is out of range`);
    }
    const device = {
      deviceName: mapping.deviceName,
      size: mapping.volumeSize ?? DEFAULT_VOLUME.size,
      type: mapping.volumeType ?? DEFAULT_VOLUME.type,
      deleteOnTermination: mapping.deleteOnTermination ?? mapping.deviceName === ROOT_DEVICE_NAME,
      ...(mapping.encrypted === undefined ? {} : { encrypted: mapping.encrypted }),
      ...(mapping.kmsKeyId === undefined ? {} : { kmsKeyId: mapping.kmsKeyId }),
    };
    if (mapping.deviceName === ROOT_DEVICE_NAME) Object.assign(root, device);
    else extra.push(device);
  }
  return [root, ...extra];
}

/**
 * The first status check at or after `at`: checks run every `interval` ms on a grid from the instance's launch time.
 */
export function nextStatusCheck(instance: InstanceRecord, at: number, interval: number): number {
  if (interval <= 0 || at <= instance.launchTime) return at;
  return instance.launchTime + Math.ceil((at - instance.launchTime) / interval) * interval;
}

/**
 * The status checks of an instance at a time: initializing after launch/start and in a reboot window, impaired
 * (reachability failed) once an impairment has set in, else ok. The system status check stays ok in a reboot.
 */
export function instanceStatusAt(instance: InstanceRecord, now: number): InstanceStatus {
  if (instance.state !== 'running') {
    const notApplicable: StatusCheck = { status: 'not-applicable', reachability: undefined };
    return { instance, instanceStatus: notApplicable, systemStatus: notApplicable };
  }
  const initializing: StatusCheck = { status: 'initializing', reachability: 'initializing' };
  const ok: StatusCheck = { status: 'ok', reachability: 'passed' };
  if (now < instance.statusReadyAt) return { instance, instanceStatus: initializing, systemStatus: initializing };
  const rebooting =
    instance.rebootFrom !== undefined &&
    instance.rebootUntil !== undefined &&
    now >= instance.rebootFrom &&
    now < instance.rebootUntil;
  if (rebooting) return { instance, instanceStatus: initializing, systemStatus: ok };
  const impaired = instance.impairedFrom !== undefined && now >= instance.impairedFrom;
  return { instance, instanceStatus: impaired ? { status: 'impaired', reachability: 'failed' } : ok, systemStatus: ok };
}

export const INSTANCE_FILTERS: Readonly<Record<string, FilterField<InstanceRecord>>> = {
  'instance-id': (instance) => instance.id,
  'instance-state-name': (instance) => instance.state,
  'instance-state-code': (instance) => String(INSTANCE_STATE_CODES[instance.state]),
  'instance-type': (instance) => instance.instanceType,
  'image-id': (instance) => instance.imageId,
  'reservation-id': (instance) => instance.reservationId,
  'availability-zone': (instance) => instance.availabilityZone,
  'root-device-type': (instance) => instance.rootDeviceType,
  'root-device-name': (instance) => instance.rootDeviceName,
  'hibernation-options.configured': (instance) => String(instance.hibernationConfigured),
  'state-reason-code': (instance) => instance.stateReason?.code,
  'subnet-id': (instance) => instance.subnetId,
  'instance.group-id': (instance) => instance.securityGroupIds,
  'client-token': (instance) => instance.clientToken,
};

export type ListedInstanceStatus = InstanceStatus & { seq: number; tags: Map<string, string> };

export const INSTANCE_STATUS_FILTERS: Readonly<Record<string, FilterField<ListedInstanceStatus>>> = {
  'instance-state-name': (status) => status.instance.state,
  'instance-state-code': (status) => String(INSTANCE_STATE_CODES[status.instance.state]),
  'availability-zone': (status) => status.instance.availabilityZone,
  'instance-status.status': (status) => status.instanceStatus.status,
  'instance-status.reachability': (status) => status.instanceStatus.reachability,
  'system-status.status': (status) => status.systemStatus.status,
  'system-status.reachability': (status) => status.systemStatus.reachability,
};

export const IMAGE_FILTERS: Readonly<Record<string, FilterField<ImageRecord>>> = {
  name: (image) => image.name,
  state: (image) => image.state,
  'image-id': (image) => image.id,
  'source-instance-id': (image) => image.sourceInstanceId,
  description: (image) => image.description,
  'creation-date': (image) => new Date(image.creationDate).toISOString(),
  'block-device-mapping.snapshot-id': (image) => image.devices.map((device) => device.snapshotId),
  'is-public': (image) => String(image.launchPublic === true),
  'root-device-type': () => 'ebs',
};

export function snapshotFilters(account: string): Readonly<Record<string, FilterField<SnapshotRecord>>> {
  return {
    status: (snapshot) => snapshot.state,
    'snapshot-id': (snapshot) => snapshot.id,
    description: (snapshot) => snapshot.description,
    'volume-id': (snapshot) => snapshot.volumeId,
    'volume-size': (snapshot) => String(snapshot.volumeSize),
    'owner-id': () => account,
    'start-time': (snapshot) => new Date(snapshot.startTime).toISOString(),
  };
}
