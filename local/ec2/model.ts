import type { InstanceStateName } from './events';

/** The records the endpoint holds in memory (and in its state file): plain data, times in epoch milliseconds. */

export const INSTANCE_STATE_CODES: Readonly<Record<InstanceStateName, number>> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export type ImageState = 'pending' | 'available' | 'failed' | 'deregistered';
export type SnapshotState = 'pending' | 'completed' | 'error';

export interface StateReason {
  code: string;
  message: string;
}

/** What backs an instance's root device: an EBS volume, or the host's instance store (no EBS root volume). */
export type RootDeviceType = 'ebs' | 'instance-store';

export interface InstanceRecord {
  id: string;
  seq: number;
  reservationId: string;
  imageId: string;
  instanceType: string;
  state: InstanceStateName;
  stateTransitionReason: string;
  launchTime: number;
  availabilityZone: string;
  rootDeviceType: RootDeviceType;
  rootDeviceName: string;
  volumeIds: string[];
  tags: Map<string, string>;
  /** Launched with `HibernationOptions.Configured=true`: StopInstances may hibernate it. */
  hibernationConfigured: boolean;
  /** Why the instance last stopped (user shutdown or hibernation); cleared by a start. */
  stateReason?: StateReason;
  /** Status checks are `initializing` until then (after launch and start). */
  statusReadyAt: number;
  /**
   * A reboot window (RebootInstances, or CreateImage without NoReboot), during which the instance status check is
   * `initializing`: from the OS shutdown to the first status check that passes after the boot.
   */
  rebootFrom?: number;
  rebootUntil?: number;
  /** From then on (outside a reboot window) the instance status check is `impaired` until a stop and start. */
  impairedFrom?: number;
  /** When the current state's scheduled change happens (the next state, or vanishing once terminated). */
  transitionAt?: number;
  /** The subnet and security groups it was launched into (RunInstances), when given. */
  subnetId?: string;
  securityGroupIds?: string[];
  /** RunInstances' `AssociatePublicIpAddress` for its primary network interface, when given. */
  associatePublicIpAddress?: boolean;
  /** The idempotency token it was launched with. */
  clientToken?: string;
  /** Its volumes could not be restored (a KMS key it may not use): it goes from pending to terminated with this. */
  launchFailure?: StateReason;
}

export interface VolumeRecord {
  id: string;
  seq: number;
  size: number;
  volumeType: string;
  instanceId: string;
  deviceName: string;
  deleteOnTermination: boolean;
  createTime: number;
  tags: Map<string, string>;
  /** Encrypted with this KMS key (its ARN); absent: unencrypted. */
  encrypted?: boolean;
  kmsKeyId?: string;
}

export interface ImageDevice {
  deviceName: string;
  snapshotId: string;
  volumeSize: number;
  volumeType: string;
  deleteOnTermination: boolean;
  /** Whether its snapshot is encrypted, and with which KMS key (its ARN); absent in older state files: unencrypted. */
  encrypted?: boolean;
  kmsKeyId?: string;
}

export interface ImageRecord {
  id: string;
  seq: number;
  name: string;
  description: string | undefined;
  state: ImageState;
  creationDate: number;
  sourceInstanceId: string | undefined;
  sourceImageId: string | undefined;
  rootDeviceName: string;
  devices: ImageDevice[];
  tags: Map<string, string>;
  stateReason?: StateReason;
  deprecationTime?: string;
  /** The request that created the image (the `RequestId` of its state-change events). */
  requestId: string;
  /** The Region of the image a copy was made from (CopyImage's SourceRegion); absent for other images. */
  sourceImageRegion?: string;
  /** Another account that owns the image and shares it with this one; absent for this account's own images. */
  ownerId?: string;
  /** The launch permissions its owner gave: accounts (ModifyImageAttribute `UserId`) and the public (`Group=all`). */
  launchUserIds?: string[];
  launchPublic?: boolean;
  /** A pending image becomes available — or failed, when this is set — at `transitionAt`. */
  failure?: StateReason;
  transitionAt?: number;
}

export interface SnapshotRecord {
  id: string;
  seq: number;
  volumeId: string;
  state: SnapshotState;
  startTime: number;
  /** When a pending snapshot is expected to complete (drives `progress`). */
  completeAt: number;
  volumeSize: number;
  description: string;
  stateMessage?: string;
  tags: Map<string, string>;
  /** Encrypted with this KMS key (its ARN); absent in older state files: unencrypted. */
  encrypted?: boolean;
  kmsKeyId?: string;
  /** The create-volume permissions its owner gave (ModifySnapshotAttribute): accounts, and the public. */
  createVolumeUserIds?: string[];
  createVolumePublic?: boolean;
}
