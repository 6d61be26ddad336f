import fc from 'fast-check';
/** Plain model values for the decision tests: valid by default, with only what a test is about spelled out. */
import type { Image, ImageState, Instance, InstanceState, Snapshot, SnapshotState } from '../../../lib/model';
import { BackupStep, ImageTag, InstanceTag, type Tags } from '../../../lib/tags';

export const OWNER = 'ami-backup-test';
export const OPT_IN = { key: 'Backup', value: 'true' } as const;

/** A fixed point of the simulated clock: the night run of 26 November 2026. */
export const NIGHT = new Date('2026-11-26T03:00:00.000Z');

export function secondsAfter(start: Date, seconds: number): Date {
  return new Date(start.getTime() + seconds * 1000);
}

export function daysBefore(end: Date, days: number): Date {
  return new Date(end.getTime() - days * 86_400_000);
}

export function instance(id: string, state: InstanceState, tags: Tags = {}): Instance {
  return { id, state, tags };
}

/**
 * An image this service made of `instanceId` (ownership and instance tags set; an available one recorded as a good
 * backup, `succeeded`), unless `tags` overrides them.
 */
export function ownedImage(
  id: string,
  instanceId: string,
  options: {
    state?: ImageState;
    createdAt?: Date;
    tags?: Tags;
    snapshotIds?: readonly string[];
    name?: string;
    stateReason?: string;
  } = {},
): Image {
  const state = options.state ?? 'available';
  return {
    id,
    name: options.name ?? `ami-backup-${instanceId}-${id}`,
    state,
    createdAt: options.createdAt ?? NIGHT,
    tags: {
      [ImageTag.managedBy]: OWNER,
      [ImageTag.instanceId]: instanceId,
      ...(state === 'available' ? { [InstanceTag.state]: BackupStep.succeeded } : {}),
      ...options.tags,
    },
    snapshotIds: options.snapshotIds ?? [`snap-${id.slice(4)}`],
    ...(options.stateReason === undefined ? {} : { stateReason: options.stateReason }),
  };
}

export function snapshot(
  id: string,
  options: { state?: SnapshotState; startedAt?: Date; description?: string; tags?: Tags } = {},
): Snapshot {
  return {
    id,
    state: options.state ?? 'completed',
    startedAt: options.startedAt ?? NIGHT,
    description: options.description ?? '',
    tags: options.tags ?? { [ImageTag.managedBy]: OWNER },
  };
}

/** Every state EC2 gives an instance, for property tests. */
export const anyInstanceState = fc.constantFrom<InstanceState>(
  'pending',
  'running',
  'shutting-down',
  'terminated',
  'stopping',
  'stopped',
);

/** Every state EC2 gives an image, for property tests. */
export const anyImageState = fc.constantFrom<ImageState>(
  'pending',
  'available',
  'invalid',
  'deregistered',
  'transient',
  'failed',
  'error',
  'disabled',
);
