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

/** Whether the action changes something (its request bucket is a mutating one). */
function isMutating(action: string): boolean {
  return !action.startsWith('Describe');
}

/**
 * A mutating bucket as one client sees it while another takes `competingLoad` (0 to 1) of its refill all the time:
 * the same capacity, refilled at what the other leaves. (Taking a share of each refill continuously and refilling
 * less are the same bucket: it fills up to its capacity either way.) Non-mutating buckets are left whole.
 */
function sharedSpec(action: string, spec: BucketSpec, competingLoad: number): BucketSpec {
  return isMutating(action) ? { ...spec, refillPerSecond: spec.refillPerSecond * (1 - competingLoad) } : spec;
}

export interface ThrottlerOptions {
  /**
   * Another client of the account takes this share (0 to 1) of each mutating request bucket's refill, all the time
   * (a benchmark's competing load); default 0.
   */
  competingLoad?: number;
}

/** Admits or throttles calls with EC2's buckets, on the endpoint's clock. */
export class Throttler {
  private readonly requestBuckets = new Map<string, TokenBucket>();
  private readonly resourceBuckets = new Map<string, TokenBucket>();
  private readonly throttledCalls = new Map<string, number>();
  private readonly competingLoad: number;

  constructor(
    private readonly nowMs: () => number,
    options: ThrottlerOptions = {},
  ) {
    this.competingLoad = options.competingLoad ?? 0;
    if (!(this.competingLoad >= 0 && this.competingLoad < 1)) {
      throw new Error(`competingLoad must be at least 0 and under 1, not ${this.competingLoad}`);
    }
  }

  admit(action: string, params: QueryParams): boolean {
    const admitted = this.take(action, params);
    if (!admitted) this.throttledCalls.set(action, (this.throttledCalls.get(action) ?? 0) + 1);
    return admitted;
  }

  /** Calls throttled so far (all actions, or one). */
  throttled(action?: string): number {
    return action === undefined
      ? [...this.throttledCalls.values()].reduce((sum, count) => sum + count, 0)
      : (this.throttledCalls.get(action) ?? 0);
  }

  private take(action: string, params: QueryParams): boolean {
    const now = this.nowMs();
    const cost = requestCost(action, params);
    const resourceSpec = RESOURCE_BUCKETS[action];
    const resourceBucket =
      resourceSpec === undefined ? undefined : this.bucket(this.resourceBuckets, action, resourceSpec, now);
    const requestSpec = sharedSpec(action, cost.spec, this.competingLoad);
    const requestBucket = this.bucket(this.requestBuckets, cost.bucket, requestSpec, now);
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

/**
 * The request bucket of a filtered or paginated call of `action` (what a well-behaved client draws from), as left to
 * it by another client taking `competingLoad` of each mutating bucket's refill.
 */
export function requestBucketSpec(action: string, competingLoad = 0): BucketSpec {
  const spec = REQUEST_BUCKETS[action] ?? (isMutating(action) ? MUTATING : NON_MUTATING);
  return sharedSpec(action, spec, competingLoad);
}
