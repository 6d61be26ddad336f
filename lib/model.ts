/**
 * The service's plain view of EC2 resources: what the decisions read. The EC2 adapter maps SDK shapes onto these,
 * so the decisions never import the SDK.
 */
import type { Tags } from './tags';

export type InstanceState = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

export interface Instance {
  readonly id: string;
  readonly state: InstanceState;
  readonly tags: Tags;
  /** Absent when EC2 does not say (read as `ebs`). */
  readonly rootDeviceType?: 'ebs' | 'instance-store';
  /** EC2's code for the last state change, e.g. `Client.UserInitiatedHibernate` for a hibernated instance. */
  readonly stateReasonCode?: string;
  /** Its instance type (`t3.micro`), when EC2 says. */
  readonly instanceType?: string;
  /** When it was last launched or started, when EC2 says. */
  readonly launchedAt?: Date;
}

/** The state reason EC2 gives an instance stopped by hibernation. */
export const HIBERNATED_STATE_REASON = 'Client.UserInitiatedHibernate';

/** EC2's summary of a status check. */
export type CheckStatus = 'ok' | 'impaired' | 'insufficient-data' | 'not-applicable' | 'initializing';

export interface InstanceHealth {
  readonly instanceStatus: CheckStatus;
  readonly systemStatus: CheckStatus;
}

export type ImageState =
  | 'pending'
  | 'available'
  | 'invalid'
  | 'deregistered'
  | 'transient'
  | 'failed'
  | 'error'
  | 'disabled';

export interface Image {
  readonly id: string;
  readonly name: string;
  readonly state: ImageState;
  readonly createdAt: Date;
  readonly tags: Tags;
  readonly snapshotIds: readonly string[];
  /** EC2's reason for a failed image. */
  readonly stateReason?: string;
  /** The account that owns the image (DescribeImages `OwnerId`); absent when EC2 does not say. */
  readonly ownerId?: string;
  /** The instance EC2 made the image from (DescribeImages `SourceInstanceId`); absent for images not made by CreateImage. */
  readonly sourceInstanceId?: string;
  /** For a copy, the image EC2 copied it from (DescribeImages `SourceImageId`), when EC2 says. */
  readonly sourceImageId?: string;
  /** Whether any of its snapshots is encrypted: a copy of it is encrypted too. */
  readonly encrypted?: boolean;
}

export type SnapshotState = 'pending' | 'completed' | 'error' | 'recoverable' | 'recovering';

export interface Snapshot {
  readonly id: string;
  readonly state: SnapshotState;
  readonly startedAt: Date;
  readonly description: string;
  readonly tags: Tags;
}

/** A tag write on one resource; the adapter batches writes with equal tags into one CreateTags call. */
export interface TagWrite {
  readonly resourceId: string;
  readonly tags: Tags;
}
