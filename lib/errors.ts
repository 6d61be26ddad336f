/** Small helpers for errors of unknown shape, and batching. */

/** The EC2 error code of an SDK error (its `name`), or undefined. */
export function errorCode(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error)
    return error.name && error.name !== 'Error' ? `${error.name}: ${error.message}` : error.message;
  return String(error);
}

/** Whether retrying the same call later may succeed (throttling or a server fault), as opposed to a bad request. */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const fault = (error as { $fault?: unknown }).$fault;
  return fault === 'server' || error.name === 'RequestLimitExceeded' || error.name === 'ThrottlingException';
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}
