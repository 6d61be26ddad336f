/**
 * AWS schedule expressions (`cron(...)` and `rate(...)`), as EventBridge reads them: UTC, one-minute precision.
 *
 * The cron form is checked against AWS's rules here and translated into a 7-field pattern for `croner`, which knows
 * calendars (`L`, `W`, `#`, month lengths, leap years). AWS numbers days of the week 1–7 from Sunday (croner's
 * "alternative weekdays"), requires `?` in exactly one of the two day fields, lets ranges wrap around (`20-2` in hours)
 * and limits years to 1970–2199.
 */
import { Cron, type CronOptions } from 'croner';

export type RateUnit = 'minute' | 'hour' | 'day';

export interface RateSchedule {
  readonly kind: 'rate';
  readonly expression: string;
  readonly value: number;
  readonly unit: RateUnit;
  readonly intervalMinutes: number;
}

export interface CronSchedule {
  readonly kind: 'cron';
  readonly expression: string;
  /** The same schedule as a croner pattern: second, minute, hour, day of month, month, day of week (1 = Sunday), year. */
  readonly pattern: string;
}

export type Schedule = RateSchedule | CronSchedule;

/** An expression EventBridge would refuse; the message names the expression and what is wrong with it. */
export class ScheduleExpressionError extends Error {
  override readonly name = 'ScheduleExpressionError';

  constructor(
    readonly expression: string,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(`Invalid schedule expression "${expression}": ${problem}`, options);
  }
}

const MINUTES_PER_UNIT: Readonly<Record<RateUnit, number>> = { minute: 1, hour: 60, day: 24 * 60 };
const MINUTE_MS = 60_000;

const CRONER_OPTIONS: CronOptions = {
  mode: '7-part',
  utcOffset: 0,
  alternativeWeekdays: true,
  // One of the day fields is always `?` (any), so AND is what AWS means; croner's default OR would ignore `?`.
  domAndDow: true,
  paused: true,
};

interface FieldRule {
  readonly label: string;
  readonly min: number;
  readonly max: number;
  /** Names that stand for min, min + 1, … (JAN–DEC, SUN–SAT). */
  readonly names?: readonly string[];
  /** Whether a range may wrap past the maximum back to the minimum, like hours `20-2`. */
  readonly wraps: boolean;
  /** Whether the field takes increments (`/`). */
  readonly steps: boolean;
}

const MINUTES: FieldRule = { label: 'Minutes', min: 0, max: 59, wraps: true, steps: true };
const HOURS: FieldRule = { label: 'Hours', min: 0, max: 23, wraps: true, steps: true };
const DAY_OF_MONTH: FieldRule = { label: 'Day-of-month', min: 1, max: 31, wraps: true, steps: true };
const MONTH: FieldRule = {
  label: 'Month',
  min: 1,
  max: 12,
  names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
  wraps: true,
  steps: true,
};
const DAY_OF_WEEK: FieldRule = {
  label: 'Day-of-week',
  min: 1,
  max: 7,
  names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'],
  wraps: true,
  steps: false,
};
const YEAR: FieldRule = { label: 'Year', min: 1970, max: 2199, wraps: false, steps: true };

/** Parses `cron(...)` or `rate(...)`; throws {@link ScheduleExpressionError} naming what is wrong. */
export function parseSchedule(expression: string): Schedule {
  const match = /^(cron|rate)\((.*)\)$/s.exec(expression);
  const [, kind, body] = match ?? [];
  if (kind === 'rate' && body !== undefined) return parseRate(expression, body);
  if (kind === 'cron' && body !== undefined) return parseCron(expression, body);
  throw new ScheduleExpressionError(expression, 'expected cron(fields) or rate(value unit)');
}

function parseRate(expression: string, body: string): RateSchedule {
  const parts = body.trim().split(/\s+/);
  const [valueText, unitText] = parts;
  if (parts.length !== 2 || valueText === undefined || unitText === undefined) {
    throw new ScheduleExpressionError(expression, 'a rate is "value unit", like rate(5 minutes)');
  }
  if (!/^\d+$/.test(valueText) || Number(valueText) === 0 || !Number.isSafeInteger(Number(valueText))) {
    throw new ScheduleExpressionError(expression, `the value "${valueText}" is not a positive whole number`);
  }
  const value = Number(valueText);
  const unit = (['minute', 'hour', 'day'] as const).find((name) => unitText === name || unitText === `${name}s`);
  if (unit === undefined) {
    throw new ScheduleExpressionError(expression, `the unit "${unitText}" is not one of minute(s), hour(s), day(s)`);
  }
  const expectedUnit = value === 1 ? unit : `${unit}s`;
  if (unitText !== expectedUnit) {
    throw new ScheduleExpressionError(expression, `a value of ${value} takes the unit "${expectedUnit}"`);
  }
  return { kind: 'rate', expression, value, unit, intervalMinutes: value * MINUTES_PER_UNIT[unit] };
}

function parseCron(expression: string, body: string): CronSchedule {
  const fields = body.trim().split(/\s+/);
  const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = fields;
  if (
    fields.length !== 6 ||
    minutes === undefined ||
    hours === undefined ||
    dayOfMonth === undefined ||
    month === undefined ||
    dayOfWeek === undefined ||
    year === undefined
  ) {
    throw new ScheduleExpressionError(
      expression,
      `expected 6 fields (Minutes Hours Day-of-month Month Day-of-week Year), got ${fields.length}`,
    );
  }
  const fail = (problem: string): never => {
    throw new ScheduleExpressionError(expression, problem);
  };
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    fail('exactly one of Day-of-month and Day-of-week must be "?"');
  }
  const pattern = [
    '0',
    translateList(minutes, MINUTES, fail),
    translateList(hours, HOURS, fail),
    translateDayOfMonth(dayOfMonth, fail),
    translateList(month, MONTH, fail),
    translateDayOfWeek(dayOfWeek, fail),
    translateList(year, YEAR, fail),
  ].join(' ');
  try {
    new Cron(pattern, CRONER_OPTIONS);
  } catch (error: unknown) {
    throw new ScheduleExpressionError(expression, 'the calendar library refused it', { cause: error });
  }
  return { kind: 'cron', expression, pattern };
}

type Fail = (problem: string) => never;

function translateDayOfMonth(field: string, fail: Fail): string {
  if (field === '?') return '*';
  if (field === 'L' || field === 'LW') return field;
  const weekday = /^(\d+)W$/.exec(field);
  if (weekday?.[1] !== undefined) return `${parseValue(weekday[1], DAY_OF_MONTH, fail)}W`;
  if (/[LW]/i.test(field)) fail(`${DAY_OF_MONTH.label}: "L" and "W" stand alone ("L", "LW", "15W"), not in "${field}"`);
  return translateList(field, DAY_OF_MONTH, fail);
}

function translateDayOfWeek(field: string, fail: Fail): string {
  if (field === '?') return '*';
  // `L` alone is the last day of the week: Saturday.
  if (field === 'L') return String(DAY_OF_WEEK.max);
  const last = /^(\w+?)L$/i.exec(field);
  if (last?.[1] !== undefined) return `${parseValue(last[1], DAY_OF_WEEK, fail)}#L`;
  const nth = /^(\w+)#(\d+)$/.exec(field);
  if (nth?.[1] !== undefined && nth[2] !== undefined) {
    const occurrence = Number(nth[2]);
    if (occurrence < 1 || occurrence > 5)
      fail(`${DAY_OF_WEEK.label}: "${field}" asks for occurrence ${occurrence}, not 1–5`);
    return `${parseValue(nth[1], DAY_OF_WEEK, fail)}#${occurrence}`;
  }
  if (field.includes('#')) fail(`${DAY_OF_WEEK.label}: with "#" the field holds one expression only, not "${field}"`);
  return translateList(field, DAY_OF_WEEK, fail);
}

/** Turns a list of values, ranges and increments into the explicit, ascending list of values it stands for. */
function translateList(field: string, rule: FieldRule, fail: Fail): string {
  if (field === '*') return '*';
  const values = new Set<number>();
  for (const item of field.split(',')) {
    for (const value of expandItem(item, rule, fail)) values.add(value);
  }
  return [...values].sort((a, b) => a - b).join(',');
}

function expandItem(item: string, rule: FieldRule, fail: Fail): number[] {
  const [range, stepText, ...extra] = item.split('/');
  if (range === undefined || range === '' || extra.length > 0) fail(`${rule.label}: "${item}" is not a value or range`);
  let step = 1;
  if (stepText !== undefined) {
    if (!rule.steps) fail(`${rule.label} does not take increments ("/"), got "${item}"`);
    if (!/^\d+$/.test(stepText) || Number(stepText) === 0) fail(`${rule.label}: the increment in "${item}" is not ≥ 1`);
    step = Number(stepText);
  }
  const [startText, endText, ...more] = (range ?? '').split('-');
  if (startText === undefined || more.length > 0) fail(`${rule.label}: "${item}" is not a value or range`);
  let start = rule.min;
  let end = rule.max;
  if (startText !== '*') {
    start = parseValue(startText ?? '', rule, fail);
    // `5/15` runs from 5 to the end of the field; a lone `5` is just 5.
    end = endText !== undefined ? parseValue(endText, rule, fail) : stepText !== undefined ? rule.max : start;
  } else if (endText !== undefined) {
    fail(`${rule.label}: "${item}" is not a value or range`);
  }
  if (start > end && !rule.wraps) fail(`${rule.label}: the range "${item}" runs backwards`);
  const span = rule.max - rule.min + 1;
  const length = ((end - start + span) % span) + 1;
  const values: number[] = [];
  for (let offset = 0; offset < length; offset += step) {
    values.push(rule.min + ((start - rule.min + offset) % span));
  }
  return values;
}

function parseValue(text: string, rule: FieldRule, fail: Fail): number {
  const nameIndex = rule.names?.indexOf(text.toUpperCase()) ?? -1;
  if (nameIndex >= 0) return rule.min + nameIndex;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < rule.min || value > rule.max) {
    const names = rule.names ? ` or ${rule.names[0]}–${rule.names.at(-1)}` : '';
    fail(`${rule.label}: "${text}" is not in ${rule.min}–${rule.max}${names}`);
  }
  return value;
}

/**
 * The times at which `schedule` fires strictly after `after`, in order (an endless sequence unless a cron's years run
 * out).
 *
 * A rate schedule counts from when its rule was created: it fires every interval after `rateAnchor` (taken to the
 * minute), the first time one interval after it. `rateAnchor` defaults to `after`, as for a rule created then.
 */
export function* fireTimes(schedule: Schedule, after: Date, rateAnchor: Date = after): Generator<Date> {
  if (schedule.kind === 'cron') {
    const job = new Cron(schedule.pattern, CRONER_OPTIONS);
    for (let next = job.nextRun(after); next !== null; next = job.nextRun(next)) yield next;
    return;
  }
  const intervalMs = schedule.intervalMinutes * MINUTE_MS;
  const anchorMs = Math.floor(rateAnchor.getTime() / MINUTE_MS) * MINUTE_MS;
  const intervalsElapsed = Math.floor((after.getTime() - anchorMs) / intervalMs);
  for (let count = Math.max(1, intervalsElapsed + 1); ; count += 1) yield new Date(anchorMs + count * intervalMs);
}

/** The times at which `schedule` fires in (`after`, `until`], in order; see {@link fireTimes} for `rateAnchor`. */
export function nextFireTimes(schedule: Schedule, after: Date, until: Date, rateAnchor: Date = after): Date[] {
  const times: Date[] = [];
  for (const time of fireTimes(schedule, after, rateAnchor)) {
    if (time.getTime() > until.getTime()) break;
    times.push(time);
  }
  return times;
}
