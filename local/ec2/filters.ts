import { invalidParameterValue } from './errors';
import type { Filter } from './query';

/** EC2 filter value syntax: `*` any run of characters, `?` exactly one, `\` escapes the next character. */
export function wildcardToRegExp(pattern: string): RegExp {
  let source = '';
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index] as string;
    if (char === '\\' && index + 1 < pattern.length) {
      index++;
      source += escapeRegExp(pattern[index] as string);
    } else if (char === '*') source += '[\\s\\S]*';
    else if (char === '?') source += '[\\s\\S]';
    else source += escapeRegExp(char);
  }
  return new RegExp(`^${source}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Reads what a filter looks at on a resource: one value, several (tags), or nothing. */
export type FilterField<T> = (resource: T) => string | readonly string[] | undefined;

export interface TaggedResource {
  tags: ReadonlyMap<string, string>;
}

/** A compiled filter set: values of one filter OR'd, filters AND'd, matching case-sensitive. */
export type ResourcePredicate<T> = (resource: T) => boolean;

/**
 * Compiles EC2 filters against the fields a resource type supports (plus `tag:KEY`, `tag-key`, `tag-value` for all).
 * An unknown filter name is `InvalidParameterValue`, as EC2 answers.
 */
export function compileFilters<T extends TaggedResource>(
  filters: readonly Filter[],
  fields: Readonly<Record<string, FilterField<T>>>,
): ResourcePredicate<T> {
  const tests = filters.map((filter): ResourcePredicate<T> => {
    // Values without wildcards are looked up rather than tried one by one (a filter may hold 200 ids).
    const literals = new Set(filter.values.filter(isLiteral));
    const patterns = filter.values.filter((value) => !isLiteral(value)).map(wildcardToRegExp);
    const matchesAny = (value: string): boolean =>
      literals.has(value) || patterns.some((pattern) => pattern.test(value));
    if (filter.name.startsWith('tag:')) {
      const key = filter.name.slice('tag:'.length);
      return (resource) => {
        const value = resource.tags.get(key);
        return value !== undefined && matchesAny(value);
      };
    }
    if (filter.name === 'tag-key') return (resource) => [...resource.tags.keys()].some(matchesAny);
    if (filter.name === 'tag-value') return (resource) => [...resource.tags.values()].some(matchesAny);
    const field = Object.hasOwn(fields, filter.name) ? fields[filter.name] : undefined;
    if (field === undefined) throw invalidParameterValue(`The filter '${filter.name}' is invalid`);
    return (resource) => {
      const value = field(resource);
      if (value === undefined) return false;
      return typeof value === 'string' ? matchesAny(value) : value.some(matchesAny);
    };
  });
  return (resource) => tests.every((test) => test(resource));
}

/** A value without wildcards or escapes matches exactly itself. */
function isLiteral(value: string): boolean {
  return !/[*?\\]/.test(value);
}

/** A filter's values when all are literal. */
function literalValues(filter: Filter): readonly string[] | undefined {
  return filter.values.every(isLiteral) ? filter.values : undefined;
}

/**
 * The only resources that can pass the filters, found by look-ups instead of a scan: for each filter on a field with a
 * look-up (an id, a name) and no wildcard, the resources holding one of its values; the fewest of them, in creation
 * order. Undefined when no filter has a look-up. The filters still apply to what this returns.
 */
export function filterCandidates<T extends { seq: number }>(
  filters: readonly Filter[],
  lookups: Readonly<Record<string, (value: string) => Iterable<T>>>,
): T[] | undefined {
  let fewest: Set<T> | undefined;
  for (const filter of filters) {
    const lookup = Object.hasOwn(lookups, filter.name) ? lookups[filter.name] : undefined;
    const values = lookup === undefined ? undefined : literalValues(filter);
    if (lookup === undefined || values === undefined) continue;
    const found = new Set<T>();
    for (const value of values) for (const resource of lookup(value)) found.add(resource);
    if (fewest === undefined || found.size < fewest.size) fewest = found;
  }
  return fewest === undefined ? undefined : [...fewest].sort((a, b) => a.seq - b.seq);
}
