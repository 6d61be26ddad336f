import fc from 'fast-check';
/** Plain model values for the decision tests: valid by default, with only what a test is about spelled out. */
import type { Image, ImageState, Instance, InstanceState, Snapshot, SnapshotState } from '../../../lib/model';
import { BackupStep, formatRunId, ImageTag, InstanceTag, imageName, type Tags } from '../../../lib/tags';

export const OWNER = 'ami-backup-test';
/** The account the service runs in. */
export const ACCOUNT = '123456789012';
/** Who the service is, as rotation is told. */
export const OURS = { owner: OWNER, accountId: ACCOUNT } as const;
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
 * An image this service made of `instanceId` (ownership, instance and run tags set, named from them, owned by
 * {@link ACCOUNT} and made from `instanceId`; an available one recorded as a good backup, `succeeded`), unless the
 * options override them.
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
    /** EC2's `SourceInstanceId` (default `instanceId`; null: none). */
    sourceInstanceId?: string | null;
    /** EC2's `OwnerId` (default {@link ACCOUNT}; null: none). */
    ownerId?: string | null;
  } = {},
): Image {
  const state = options.state ?? 'available';
  const createdAt = options.createdAt ?? NIGHT;
  // Images of one night differ by their id: the run is the night's, the id's digits make it unique.
  const run = `${formatRunId(createdAt)}`;
  const tags: Tags = {
    [ImageTag.managedBy]: OWNER,
    [ImageTag.instanceId]: instanceId,
    [ImageTag.run]: run,
    ...(state === 'available' ? { [InstanceTag.state]: BackupStep.succeeded } : {}),
    ...options.tags,
  };
  const name =
    options.name ??
    (tags[ImageTag.instanceId] !== undefined && tags[ImageTag.run] !== undefined
      ? imageName(tags[ImageTag.instanceId] ?? instanceId, tags[ImageTag.run] ?? run)
      : `ami-backup-${instanceId}-${id}`);
  const sourceInstanceId =
    options.sourceInstanceId === undefined ? (tags[ImageTag.instanceId] ?? instanceId) : options.sourceInstanceId;
  const ownerId = options.ownerId === undefined ? ACCOUNT : options.ownerId;
  return {
    id,
    name,
    state,
    createdAt,
    tags,
    snapshotIds: options.snapshotIds ?? [`snap-${id.slice(4)}`],
    ...(options.stateReason === undefined ? {} : { stateReason: options.stateReason }),
    ...(sourceInstanceId === null ? {} : { sourceInstanceId }),
    ...(ownerId === null ? {} : { ownerId }),
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
    tags: options.tags ?? { [ImageTag.managedBy]: OWNER, [ImageTag.instanceId]: 'i-0123456789abcdef0' },
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
