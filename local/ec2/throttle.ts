import type { QueryParams } from './query';

export interface BucketSpec {
  capacity: number;
  refillPerSecond: number;
}

/** A token bucket on the simulated clock: starts full, refills continuously, never above its capacity. */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly spec: BucketSpec,
    nowMs: number,
  ) {
    this.tokens = spec.capacity;
    this.updatedAt = nowMs;
  }

  /** Takes `count` tokens if the bucket holds them (then true), else takes none (false). */
  take(count: number, nowMs: number): boolean {
    const elapsedSeconds = Math.max(0, nowMs - this.updatedAt) / 1000;
    this.tokens = Math.min(this.spec.capacity, this.tokens + elapsedSeconds * this.spec.refillPerSecond);
    this.updatedAt = Math.max(this.updatedAt, nowMs);
    if (this.tokens < count) return false;
    this.tokens -= count;
    return true;
  }
}

/** EC2's request-rate buckets, per account, Region and API (EC2 developer guide, "Request throttling"). */
const NON_MUTATING: BucketSpec = { capacity: 100, refillPerSecond: 20 };
const UNFILTERED_UNPAGINATED: BucketSpec = { capacity: 50, refillPerSecond: 10 };
const MUTATING: BucketSpec = { capacity: 50, refillPerSecond: 5 };
const REQUEST_BUCKETS: Readonly<Record<string, BucketSpec>> = {
  CopyImage: { capacity: 100, refillPerSecond: 1 },
  CreateTags: { capacity: 100, refillPerSecond: 10 },
  DeleteTags: { capacity: 100, refillPerSecond: 10 },
  DeleteSnapshot: { capacity: 100, refillPerSecond: 5 },
  DeregisterImage: { capacity: 100, refillPerSecond: 5 },
  StartInstances: { capacity: 5, refillPerSecond: 2 },
};
/** Calls that are costly unfiltered and unpaginated get the smaller bucket then. */
const UNFILTERED_SENSITIVE = new Set(['DescribeInstances', 'DescribeInstanceStatus', 'DescribeSnapshots']);

/** EC2's resource-rate buckets: the number of instances a call acts on, per API. */
const RESOURCE_BUCKETS: Readonly<Record<string, BucketSpec>> = {
  RunInstances: { capacity: 1000, refillPerSecond: 2 },
  StartInstances: { capacity: 1000, refillPerSecond: 2 },
  StopInstances: { capacity: 1000, refillPerSecond: 20 },
  TerminateInstances: { capacity: 1000, refillPerSecond: 20 },
};

export interface RequestCost {
  bucket: string;
  spec: BucketSpec;
  resources: number;
}

/** Which request bucket a call draws from, and how many instances it counts against its resource bucket. */
export function requestCost(action: string, params: QueryParams): RequestCost {
  let bucket = action;
  let spec = REQUEST_BUCKETS[action];
  if (spec === undefined) {
    if (action.startsWith('Describe')) {
      const narrowed =
        params.filters().length > 0 ||
        params.string('MaxResults') !== undefined ||
        params.string('NextToken') !== undefined ||
        params.list('InstanceId').length > 0 ||
        params.list('SnapshotId').length > 0;
      if (UNFILTERED_SENSITIVE.has(action) && !narrowed) {
        bucket = `${action}:unfiltered`;
        spec = UNFILTERED_UNPAGINATED;
      } else spec = NON_MUTATING;
    } else spec = MUTATING;
  }
  const resources =
    action === 'RunInstances'
      ? Number(params.string('MaxCount') ?? params.string('MinCount') ?? 1)
      : params.list('InstanceId').length;
  return { bucket, spec, resources };
}

/** Admits or throttles calls with EC2's buckets, on the endpoint's clock. */
export class Throttler {
  private readonly requestBuckets = new Map<string, TokenBucket>();
  private readonly resourceBuckets = new Map<string, TokenBucket>();

  constructor(private readonly nowMs: () => number) {}

  admit(action: string, params: QueryParams): boolean {
    const now = this.nowMs();
    const cost = requestCost(action, params);
    const resourceSpec = RESOURCE_BUCKETS[action];
    const resourceBucket =
      resourceSpec === undefined ? undefined : this.bucket(this.resourceBuckets, action, resourceSpec, now);
    const requestBucket = this.bucket(this.requestBuckets, cost.bucket, cost.spec, now);
    if (!requestBucket.take(1, now)) return false;
    return resourceBucket === undefined || cost.resources === 0 || resourceBucket.take(cost.resources, now);
  }

  private bucket(buckets: Map<string, TokenBucket>, key: string, spec: BucketSpec, now: number): TokenBucket {
    let bucket = buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(spec, now);
      buckets.set(key, bucket);
    }
    return bucket;
  }
}

/** The request bucket of a filtered or paginated call of `action` (what a well-behaved client draws from). */
export function requestBucketSpec(action: string): BucketSpec {
  return REQUEST_BUCKETS[action] ?? (action.startsWith('Describe') ? NON_MUTATING : MUTATING);
}
