/**
 * Small helpers for errors of unknown shape, and batching; which errors are worth retrying (as the SDK classifies
 * them), and the SDK's retry strategy bounded by the invocation's remaining time.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  isServerError,
  isThrottlingError,
  isTransientError,
  MAXIMUM_RETRY_DELAY,
  StandardRetryStrategy,
} from '@smithy/core/retry';
import type {
  RetryErrorInfo,
  RetryStrategyV2,
  SdkError,
  StandardRetryBackoffStrategy,
  StandardRetryToken,
} from '@smithy/types';

/** The EC2 error code of an SDK error (its `name`), or undefined. */
export function errorCode(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error)
    return error.name && error.name !== 'Error' ? `${error.name}: ${error.message}` : error.message;
  return String(error);
}

/**
 * Whether retrying the same call later may succeed, as opposed to a bad request: what the SDK classifies as
 * throttling, transient (500/502/503/504, timeouts, connection resets) or another server fault.
 */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // The classifiers read every SdkError field as optional (a `cause` that is no Error is simply not transient).
  const sdkError = error as SdkError;
  return isThrottlingError(sdkError) || isTransientError(sdkError) || isServerError(sdkError);
}

/** Codes with which EC2 (and EventBridge) refuse a call that IAM does not allow. */
const DENIED_CODES = new Set(['UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException']);

/** Whether a call was refused by IAM (`UnauthorizedOperation`, `AccessDenied`). */
export function isDenied(error: unknown): boolean {
  return error instanceof Error && DENIED_CODES.has(error.name);
}

/** Whether a call was throttled (`RequestLimitExceeded`, `Throttling`, ...), as the SDK classifies it. */
export function isThrottled(error: unknown): boolean {
  // The classifiers read every SdkError field as optional.
  return error instanceof Error && isThrottlingError(error as SdkError);
}

/** Codes with which EC2 refuses a whole call because of ids it names in the message. */
const NAMING_CODES = new Set([
  'InvalidInstanceID.NotFound',
  'InvalidInstanceID.Malformed',
  'InvalidAMIID.NotFound',
  'InvalidAMIID.Malformed',
  'InvalidAMIID.Unavailable',
  'InvalidSnapshot.NotFound',
  'InvalidSnapshotID.Malformed',
  'InvalidID',
]);

/**
 * The ids of `ids` that a refusal names as the reason it refused the whole call ("The instance IDs 'i-1, i-2' do not
 * exist", "The image id '[ami-1]' does not exist", "The snapshot 'snap-1' does not exist."); none for any other error.
 */
export function refusedIds(error: unknown, ids: readonly string[]): string[] {
  if (!(error instanceof Error) || !NAMING_CODES.has(error.name)) return [];
  const named = new Set(error.message.match(/[A-Za-z0-9_.-]+/g) ?? []);
  return ids.filter((id) => named.has(id));
}

/** The SDK's attempts per call unless `AWS_MAX_ATTEMPTS` says otherwise: enough to see a throttled night through. */
export const DEFAULT_MAX_ATTEMPTS = 10;

/** Time an attempt is given: a retry is made only if its attempt starts at least this long before the deadline. */
export const ATTEMPT_RESERVE_MS = 5_000;

/** The remaining time of the invocation whose calls run within {@link withinDeadline}. */
const deadlines = new AsyncLocalStorage<() => number>();

/** Runs `work` so that the SDK's retries of its calls end in time (no deadline when `remainingMs` is undefined). */
export function withinDeadline<T>(remainingMs: (() => number) | undefined, work: () => Promise<T>): Promise<T> {
  return remainingMs === undefined ? work() : deadlines.run(remainingMs, work);
}

/** Milliseconds in which a retry's backoff may still end, for the calls under way (unbounded outside a deadline). */
export function retryTimeLeft(): number {
  const remainingMs = deadlines.getStore();
  return remainingMs === undefined ? Number.POSITIVE_INFINITY : remainingMs() - ATTEMPT_RESERVE_MS;
}

/** The SDK's backoff (full jitter, doubling from the base it sets per error type, capped), cut to the time left. */
class DeadlineBackoff implements StandardRetryBackoffStrategy {
  private delayBase = 0;

  setDelayBase(delayBase: number): void {
    this.delayBase = delayBase;
  }

  computeNextBackoffDelay(retries: number): number {
    const delay = Math.floor(Math.random() * Math.min(this.delayBase * 2 ** retries, MAXIMUM_RETRY_DELAY));
    return Math.max(0, Math.min(delay, retryTimeLeft()));
  }
}

/**
 * The SDK's standard retry strategy (what it retries, its backoff and retry quota) with more attempts, that never
 * retries past the invocation's deadline: a call whose retries would run out of time fails with its last error, and
 * the next invocation carries on from the tags.
 */
export class DeadlineRetryStrategy implements RetryStrategyV2 {
  private readonly standard: StandardRetryStrategy;

  constructor(maxAttempts: number = DEFAULT_MAX_ATTEMPTS) {
    this.standard = new StandardRetryStrategy({ maxAttempts, backoff: new DeadlineBackoff() });
  }

  acquireInitialRetryToken(retryTokenScope: string): Promise<StandardRetryToken> {
    return this.standard.acquireInitialRetryToken(retryTokenScope);
  }

  refreshRetryTokenForRetry(token: StandardRetryToken, errorInfo: RetryErrorInfo): Promise<StandardRetryToken> {
    if (retryTimeLeft() <= 0) return Promise.reject(new Error('no retry: the invocation has no time left for one'));
    return this.standard.refreshRetryTokenForRetry(token, errorInfo);
  }

  recordSuccess(token: StandardRetryToken): void {
    this.standard.recordSuccess(token);
  }
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}
