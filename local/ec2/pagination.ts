import { invalidParameterCombination, invalidParameterValue } from './errors';

export interface Page<T> {
  items: T[];
  nextToken: string | undefined;
}

/** Items are paged in creation order; a token names the last item returned, so pages stay stable as things change. */
export interface Sequenced {
  seq: number;
}

export interface PageRequest {
  maxResults: number | undefined;
  nextToken: string | undefined;
}

export function encodeToken(seq: number): string {
  return Buffer.from(JSON.stringify({ after: seq })).toString('base64url');
}

export function decodeToken(token: string): number {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof decoded === 'object' && decoded !== null && 'after' in decoded && Number.isInteger(decoded.after)) {
      return decoded.after as number;
    }
  } catch {
    // fall through: any undecodable token is invalid
  }
  throw invalidParameterValue(`The token '${token}' is invalid.`);
}

/** EC2's MaxResults bounds and its rule that MaxResults cannot be combined with explicit ids. */
export function validatePageRequest(
  request: PageRequest,
  limits: { min: number; max: number },
  idCount: number,
  idsParameter: string,
): void {
  const { maxResults } = request;
  if (maxResults === undefined) return;
  if (idCount > 0) {
    throw invalidParameterCombination(`The parameter ${idsParameter} cannot be used with the parameter maxResults`);
  }
  if (maxResults < limits.min || maxResults > limits.max) {
    throw invalidParameterValue(
      `Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value between ${limits.min} and ${limits.max}.`,
    );
  }
}

/** One page of the matching items; without MaxResults, everything after the token. */
export function paginate<T extends Sequenced>(
  items: Iterable<T>,
  matches: (item: T) => boolean,
  request: PageRequest,
): Page<T> {
  const after = request.nextToken === undefined ? Number.NEGATIVE_INFINITY : decodeToken(request.nextToken);
  const limit = request.maxResults ?? Number.POSITIVE_INFINITY;
  const page: T[] = [];
  for (const item of items) {
    if (item.seq <= after || !matches(item)) continue;
    if (page.length === limit) return { items: page, nextToken: encodeToken((page.at(-1) as T).seq) };
    page.push(item);
  }
  return { items: page, nextToken: undefined };
}
