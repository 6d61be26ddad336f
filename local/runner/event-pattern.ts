/**
 * EventBridge event patterns: validation and matching, following AWS's documented semantics.
 *
 * A pattern mirrors the event's structure. A field whose pattern is an object is matched field by field (AND); a field
 * whose pattern is an array is a leaf whose values are alternatives (OR). Values are compared exactly and
 * case-sensitively; content filters (`prefix`, `suffix`, `anything-but`, `numeric`, `exists`, `equals-ignore-case`,
 * `wildcard`, `cidr`) refine a leaf, and `$or` lists alternative sub-patterns.
 *
 * Arrays in the event are flattened: a leaf matches if any element of the event's array matches, and a nested pattern
 * matches if any object in the array matches it as a whole. Only JSON numbers are compared by value, so 300 and 300.0
 * (indistinguishable once parsed) are equal here, whereas EventBridge compares their text.
 */
import { BlockList, isIP } from 'node:net';

export type ExactValue = string | number | boolean | null;

export interface IgnoringCase {
  readonly 'equals-ignore-case': string;
}

export type NumericOperator = '=' | '<' | '<=' | '>' | '>=';

/** `["=", 5]`, `[">", 0]`, or a range `[">", 0, "<=", 5]` (lower bound first). */
export type NumericCondition =
  | readonly [NumericOperator, number]
  | readonly [NumericOperator, number, NumericOperator, number];

export type AnythingBut =
  | string
  | number
  | readonly string[]
  | readonly number[]
  | { readonly prefix: string }
  | { readonly suffix: string }
  | { readonly 'equals-ignore-case': string | readonly string[] }
  | { readonly wildcard: string | readonly string[] };

export type ContentFilter =
  | { readonly prefix: string | IgnoringCase }
  | { readonly suffix: string | IgnoringCase }
  | { readonly 'equals-ignore-case': string }
  | { readonly wildcard: string }
  | { readonly 'anything-but': AnythingBut }
  | { readonly numeric: NumericCondition }
  | { readonly exists: boolean }
  | { readonly cidr: string };

/** One alternative of a leaf: an exact value or a content filter. */
export type PatternValue = ExactValue | ContentFilter;

/** A validated event pattern (see {@link validatePattern}); `$or` holds alternative sub-patterns. */
export interface EventPattern {
  readonly [field: string]: readonly PatternValue[] | EventPattern | readonly EventPattern[];
}

/** A pattern that EventBridge would refuse; `path` names the offending part, e.g. `detail.state[0].numeric`. */
export class EventPatternError extends Error {
  override readonly name = 'EventPatternError';

  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`Invalid event pattern at ${path || '(root)'}: ${problem}`);
  }
}

const OR_KEY = '$or';

/** EventBridge's documented bounds for numeric matching. */
const NUMERIC_LIMIT = 5e9;

type JsonObject = Readonly<Record<string, unknown>>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isList(value: unknown): value is readonly unknown[] {
  return Array.isArray(value);
}

function describe(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function childPath(path: string, field: string): string {
  return path ? `${path}.${field}` : field;
}

/** Checks that `pattern` is a pattern EventBridge accepts and returns it typed; throws {@link EventPatternError}. */
export function validatePattern(pattern: unknown): EventPattern {
  checkPatternObject(pattern, '');
  return pattern;
}

function checkPatternObject(pattern: unknown, path: string): asserts pattern is EventPattern {
  if (!isJsonObject(pattern)) {
    throw new EventPatternError(path, `expected an object of fields, got ${describe(pattern)}`);
  }
  const fields = Object.entries(pattern);
  if (fields.length === 0) {
    throw new EventPatternError(path, 'an empty object matches nothing; name at least one field');
  }
  for (const [field, condition] of fields) {
    const fieldPath = childPath(path, field);
    if (field === OR_KEY) {
      checkAlternatives(condition, fieldPath);
    } else if (isList(condition)) {
      checkLeaf(condition, fieldPath);
    } else if (isJsonObject(condition)) {
      checkPatternObject(condition, fieldPath);
    } else {
      throw new EventPatternError(
        fieldPath,
        `expected an array of values or an object of fields, got ${describe(condition)}`,
      );
    }
  }
}

function checkAlternatives(alternatives: unknown, path: string): void {
  if (!isList(alternatives) || alternatives.length < 2) {
    throw new EventPatternError(path, '$or takes an array of at least two patterns');
  }
  alternatives.forEach((alternative, index) => {
    checkPatternObject(alternative, `${path}[${index}]`);
  });
}

function checkLeaf(values: readonly unknown[], path: string): void {
  if (values.length === 0) {
    throw new EventPatternError(path, 'an empty array matches nothing; give at least one value');
  }
  values.forEach((value, index) => {
    checkPatternValue(value, `${path}[${index}]`);
  });
}

function checkPatternValue(value: unknown, path: string): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new EventPatternError(path, `${value} is not a JSON number`);
    return;
  }
  if (!isJsonObject(value)) {
    throw new EventPatternError(path, `expected a string, number, boolean, null or filter, got ${describe(value)}`);
  }
  const entries = Object.entries(value);
  const [entry] = entries;
  if (entry === undefined || entries.length > 1) {
    throw new EventPatternError(path, `a filter has exactly one operator, got ${describe(value)}`);
  }
  const [operator, operand] = entry;
  const operandPath = childPath(path, operator);
  switch (operator) {
    case 'prefix':
    case 'suffix':
      checkStringOrIgnoringCase(operand, operandPath);
      return;
    case 'equals-ignore-case':
      checkString(operand, operandPath);
      return;
    case 'wildcard':
      checkWildcard(operand, operandPath);
      return;
    case 'anything-but':
      checkAnythingBut(operand, operandPath);
      return;
    case 'numeric':
      checkNumeric(operand, operandPath);
      return;
    case 'exists':
      if (typeof operand !== 'boolean') {
        throw new EventPatternError(operandPath, `expected true or false, got ${describe(operand)}`);
      }
      return;
    case 'cidr':
      parseCidr(operand, operandPath);
      return;
    default:
      throw new EventPatternError(path, `unknown filter "${operator}"`);
  }
}

function checkString(operand: unknown, path: string): asserts operand is string {
  if (typeof operand !== 'string') throw new EventPatternError(path, `expected a string, got ${describe(operand)}`);
}

function checkStringOrIgnoringCase(operand: unknown, path: string): void {
  if (typeof operand === 'string') return;
  if (isJsonObject(operand) && Object.keys(operand).length === 1 && 'equals-ignore-case' in operand) {
    checkString(operand['equals-ignore-case'], childPath(path, 'equals-ignore-case'));
    return;
  }
  throw new EventPatternError(path, `expected a string or {"equals-ignore-case": string}, got ${describe(operand)}`);
}

function checkWildcard(operand: unknown, path: string): void {
  checkString(operand, path);
  let previousWasWildcard = false;
  for (let index = 0; index < operand.length; index += 1) {
    const character = operand[index];
    if (character === '*') {
      if (previousWasWildcard) throw new EventPatternError(path, 'consecutive wildcard characters are not allowed');
      previousWasWildcard = true;
      continue;
    }
    previousWasWildcard = false;
    if (character === '\\') {
      const escaped = operand[index + 1];
      if (escaped !== '*' && escaped !== '\\') {
        throw new EventPatternError(path, 'a backslash may only escape "*" or "\\"');
      }
      index += 1;
    }
  }
}

function checkAnythingBut(operand: unknown, path: string): void {
  if (typeof operand === 'string') return;
  if (typeof operand === 'number') {
    checkNumber(operand, path);
    return;
  }
  if (isList(operand)) {
    const allStrings = operand.every((item) => typeof item === 'string');
    const allNumbers = operand.every((item) => typeof item === 'number' && Number.isFinite(item));
    if (operand.length === 0 || !(allStrings || allNumbers)) {
      throw new EventPatternError(path, 'anything-but takes a non-empty list of only strings or only numbers');
    }
    return;
  }
  if (isJsonObject(operand)) {
    const entries = Object.entries(operand);
    const [entry] = entries;
    if (entry !== undefined && entries.length === 1) {
      const [operator, inner] = entry;
      const innerPath = childPath(path, operator);
      if (operator === 'prefix' || operator === 'suffix') {
        checkString(inner, innerPath);
        return;
      }
      if (operator === 'equals-ignore-case' || operator === 'wildcard') {
        const items = isList(inner) ? inner : [inner];
        if (items.length === 0) throw new EventPatternError(innerPath, 'expected at least one string');
        items.forEach((item, index) => {
          const itemPath = isList(inner) ? `${innerPath}[${index}]` : innerPath;
          if (operator === 'wildcard') checkWildcard(item, itemPath);
          else checkString(item, itemPath);
        });
        return;
      }
    }
  }
  throw new EventPatternError(
    path,
    `anything-but takes a string, a number, a list of them, or one of prefix, suffix, equals-ignore-case, wildcard; got ${describe(operand)}`,
  );
}

function checkNumber(value: unknown, path: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new EventPatternError(path, `expected a number, got ${describe(value)}`);
  }
  if (Math.abs(value) > NUMERIC_LIMIT) {
    throw new EventPatternError(path, `${value} is outside the numeric range -5e9..5e9`);
  }
}

function checkOperator(value: unknown, path: string): asserts value is NumericOperator {
  if (value !== '=' && value !== '<' && value !== '<=' && value !== '>' && value !== '>=') {
    throw new EventPatternError(path, `expected one of =, <, <=, >, >=, got ${describe(value)}`);
  }
}

function checkNumeric(operand: unknown, path: string): void {
  if (!isList(operand) || (operand.length !== 2 && operand.length !== 4)) {
    throw new EventPatternError(
      path,
      `expected [operator, number] or a range of two of them, got ${describe(operand)}`,
    );
  }
  const [firstOperator, firstBound, secondOperator, secondBound] = operand;
  checkOperator(firstOperator, `${path}[0]`);
  checkNumber(firstBound, `${path}[1]`);
  if (operand.length === 2) return;
  checkOperator(secondOperator, `${path}[2]`);
  checkNumber(secondBound, `${path}[3]`);
  const isLowerBound = firstOperator === '>' || firstOperator === '>=';
  const isUpperBound = secondOperator === '<' || secondOperator === '<=';
  if (!isLowerBound || !isUpperBound) {
    throw new EventPatternError(path, 'a range is a lower bound (> or >=) followed by an upper bound (< or <=)');
  }
  if (firstBound >= secondBound) {
    throw new EventPatternError(path, `the range's lower bound ${firstBound} is not below ${secondBound}`);
  }
}

interface Cidr {
  readonly network: string;
  readonly prefixLength: number;
  readonly family: 'ipv4' | 'ipv6';
}

function parseCidr(operand: unknown, path: string): Cidr {
  checkString(operand, path);
  const match = /^([^/]+)\/(\d{1,3})$/.exec(operand);
  const network = match?.[1];
  const prefixLength = Number(match?.[2]);
  const version = network === undefined ? 0 : isIP(network);
  const maximumLength = version === 4 ? 32 : 128;
  if (network === undefined || version === 0 || prefixLength > maximumLength) {
    throw new EventPatternError(
      path,
      `expected an IPv4 or IPv6 CIDR block such as 10.0.0.0/24, got ${describe(operand)}`,
    );
  }
  return { network, prefixLength, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** Whether `event` (a parsed JSON event) matches `pattern`. */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  return matchesObject(pattern, isJsonObject(event) ? event : {});
}

function isAlternatives(field: string, condition: EventPattern[string]): condition is readonly EventPattern[] {
  return field === OR_KEY && Array.isArray(condition);
}

function isLeaf(condition: EventPattern[string]): condition is readonly PatternValue[] {
  return Array.isArray(condition);
}

type ExistsFilter = { readonly exists: boolean };

function isExistsFilter(alternative: PatternValue): alternative is ExistsFilter {
  return isJsonObject(alternative) && 'exists' in alternative;
}

function matchesObject(pattern: EventPattern, event: JsonObject): boolean {
  return Object.entries(pattern).every(([field, condition]) => {
    if (isAlternatives(field, condition)) return condition.some((alternative) => matchesObject(alternative, event));
    const value = Object.hasOwn(event, field) ? event[field] : undefined;
    if (isLeaf(condition)) return matchesLeaf(condition, leafValues(value));
    const objects = objectValues(value);
    // A missing parent is an object without fields, so `{"exists": false}` below it still matches.
    if (objects.length === 0) return matchesObject(condition, {});
    return objects.some((object) => matchesObject(condition, object));
  });
}

/** The values a leaf pattern sees: arrays flattened; objects are not leaves, so they count as absent. */
function leafValues(value: unknown): ExactValue[] {
  if (value === undefined || isJsonObject(value)) return [];
  if (Array.isArray(value)) return value.flatMap(leafValues);
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null) {
    return [value];
  }
  return [];
}

function objectValues(value: unknown): JsonObject[] {
  if (isJsonObject(value)) return [value];
  if (Array.isArray(value)) return value.flatMap(objectValues);
  return [];
}

function matchesLeaf(alternatives: readonly PatternValue[], values: readonly ExactValue[]): boolean {
  return alternatives.some((alternative) => {
    if (isExistsFilter(alternative)) return alternative.exists === values.length > 0;
    return values.some((value) => matchesValue(alternative, value));
  });
}

function matchesValue(alternative: Exclude<PatternValue, ExistsFilter>, value: ExactValue): boolean {
  if (!isJsonObject(alternative)) return alternative === value;
  if ('numeric' in alternative) return typeof value === 'number' && satisfiesNumeric(alternative.numeric, value);
  if ('anything-but' in alternative) return !isExcluded(alternative['anything-but'], value);
  if (typeof value !== 'string') return false;
  if ('prefix' in alternative) return hasAffix(value, alternative.prefix, 'start');
  if ('suffix' in alternative) return hasAffix(value, alternative.suffix, 'end');
  if ('equals-ignore-case' in alternative) return equalsIgnoringCase(value, alternative['equals-ignore-case']);
  if ('wildcard' in alternative) return matchesWildcard(value, alternative.wildcard);
  return isInCidr(value, parseCidr(alternative.cidr, 'cidr'));
}

function hasAffix(value: string, affix: string | IgnoringCase, end: 'start' | 'end'): boolean {
  const [subject, expected] =
    typeof affix === 'string' ? [value, affix] : [value.toLowerCase(), affix['equals-ignore-case'].toLowerCase()];
  return end === 'start' ? subject.startsWith(expected) : subject.endsWith(expected);
}

function equalsIgnoringCase(value: string, expected: string): boolean {
  return value.toLowerCase() === expected.toLowerCase();
}

function wildcardExpression(wildcard: string): RegExp {
  let source = '';
  for (let index = 0; index < wildcard.length; index += 1) {
    let character = wildcard[index] ?? '';
    if (character === '*') {
      source += '.*';
      continue;
    }
    if (character === '\\') {
      index += 1;
      character = wildcard[index] ?? '';
    }
    source += character.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

function matchesWildcard(value: string, wildcard: string): boolean {
  return wildcardExpression(wildcard).test(value);
}

function isInCidr(value: string, cidr: Cidr): boolean {
  const version = isIP(value);
  if (version === 0) return false;
  const block = new BlockList();
  block.addSubnet(cidr.network, cidr.prefixLength, cidr.family);
  return block.check(value, version === 4 ? 'ipv4' : 'ipv6');
}

function satisfiesNumeric(condition: NumericCondition, value: number): boolean {
  const [operator, bound, upperOperator, upperBound] = condition;
  if (!compare(value, operator, bound)) return false;
  return upperOperator === undefined || upperBound === undefined || compare(value, upperOperator, upperBound);
}

function compare(value: number, operator: NumericOperator, bound: number): boolean {
  switch (operator) {
    case '=':
      return value === bound;
    case '<':
      return value < bound;
    case '<=':
      return value <= bound;
    case '>':
      return value > bound;
    case '>=':
      return value >= bound;
  }
}

/** Whether `anything-but` rules `value` out. The string forms exclude strings only; other values are never excluded. */
function isExcluded(excluded: AnythingBut, value: ExactValue): boolean {
  if (typeof excluded === 'string' || typeof excluded === 'number') return value === excluded;
  if (isExactList(excluded)) return excluded.some((item) => item === value);
  if (typeof value !== 'string') return false;
  if ('prefix' in excluded) return value.startsWith(excluded.prefix);
  if ('suffix' in excluded) return value.endsWith(excluded.suffix);
  if ('equals-ignore-case' in excluded) {
    return asList(excluded['equals-ignore-case']).some((item) => equalsIgnoringCase(value, item));
  }
  return asList(excluded.wildcard).some((item) => matchesWildcard(value, item));
}

function isExactList(excluded: AnythingBut): excluded is readonly string[] | readonly number[] {
  return Array.isArray(excluded);
}

function asList(items: string | readonly string[]): readonly string[] {
  return typeof items === 'string' ? [items] : items;
}
