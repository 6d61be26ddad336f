import {
  fireTimes,
  nextFireTimes,
  parseSchedule,
  type Schedule,
  ScheduleExpressionError,
} from '../../../../local/runner/schedule';

/** Fire times of `expression` in (after, until], as ISO strings. */
function fires(expression: string, after: string, until: string, rateAnchor?: string): string[] {
  const schedule = parseSchedule(expression);
  const anchor = rateAnchor === undefined ? undefined : new Date(rateAnchor);
  return nextFireTimes(schedule, new Date(after), new Date(until), anchor).map((time) => time.toISOString());
}

const weekday = (iso: string) => new Date(iso).getUTCDay();

// 2024-05-01 is a Wednesday.
describe('cron schedules: AWS documented examples', () => {
  it('cron(0 10 * * ? *) runs at 10:00 every day', () => {
    expect(fires('cron(0 10 * * ? *)', '2024-05-01T00:00:00Z', '2024-05-04T00:00:00Z')).toEqual([
      '2024-05-01T10:00:00.000Z',
      '2024-05-02T10:00:00.000Z',
      '2024-05-03T10:00:00.000Z',
    ]);
  });

  it('cron(15 12 * * ? *) runs at 12:15 every day', () => {
    expect(fires('cron(15 12 * * ? *)', '2024-05-01T12:15:00Z', '2024-05-03T12:14:59Z')).toEqual([
      '2024-05-02T12:15:00.000Z',
    ]);
  });

  it('cron(0 18 ? * MON-FRI *) runs at 18:00 on weekdays only', () => {
    expect(fires('cron(0 18 ? * MON-FRI *)', '2024-05-01T00:00:00Z', '2024-05-08T00:00:00Z')).toEqual([
      '2024-05-01T18:00:00.000Z',
      '2024-05-02T18:00:00.000Z',
      '2024-05-03T18:00:00.000Z',
      '2024-05-06T18:00:00.000Z',
      '2024-05-07T18:00:00.000Z',
    ]);
  });

  it('cron(0 8 1 * ? *) runs at 08:00 on the first of every month', () => {
    const times = fires('cron(0 8 1 * ? *)', '2024-01-01T08:00:00Z', '2025-01-01T08:00:00Z');
    expect(times).toHaveLength(12);
    expect(times[0]).toBe('2024-02-01T08:00:00.000Z');
    expect(times.every((time) => time.slice(8) === '01T08:00:00.000Z')).toBe(true);
  });

  it('cron(0/15 * * * ? *) runs every 15 minutes', () => {
    expect(fires('cron(0/15 * * * ? *)', '2024-05-01T00:00:00Z', '2024-05-01T01:00:00Z')).toEqual([
      '2024-05-01T00:15:00.000Z',
      '2024-05-01T00:30:00.000Z',
      '2024-05-01T00:45:00.000Z',
      '2024-05-01T01:00:00.000Z',
    ]);
  });

  it('cron(0/10 * ? * MON-FRI *) runs every 10 minutes on weekdays and never at the weekend', () => {
    const times = fires('cron(0/10 * ? * MON-FRI *)', '2024-05-03T00:00:00Z', '2024-05-06T00:10:00Z');
    expect(times).toHaveLength(143 + 2);
    expect(times.at(-3)).toBe('2024-05-03T23:50:00.000Z');
    expect(times.at(-2)).toBe('2024-05-06T00:00:00.000Z');
    expect(times.some((time) => [0, 6].includes(weekday(time)))).toBe(false);
  });

  it('cron(0/5 8-17 ? * MON-FRI *) runs every 5 minutes from 08:00 to 17:55 on weekdays', () => {
    const times = fires('cron(0/5 8-17 ? * MON-FRI *)', '2024-05-01T00:00:00Z', '2024-05-02T00:00:00Z');
    expect(times).toHaveLength(10 * 12);
    expect(times[0]).toBe('2024-05-01T08:00:00.000Z');
    expect(times.at(-1)).toBe('2024-05-01T17:55:00.000Z');
    expect(fires('cron(0/5 8-17 ? * MON-FRI *)', '2024-05-04T00:00:00Z', '2024-05-06T00:00:00Z')).toEqual([]);
  });

  it('cron(0/30 20-2 ? * MON-FRI *) wraps its hours past midnight', () => {
    expect(fires('cron(0/30 20-2 ? * MON-FRI *)', '2024-05-01T00:00:00Z', '2024-05-01T23:59:00Z')).toEqual([
      '2024-05-01T00:30:00.000Z',
      '2024-05-01T01:00:00.000Z',
      '2024-05-01T01:30:00.000Z',
      '2024-05-01T02:00:00.000Z',
      '2024-05-01T02:30:00.000Z',
      '2024-05-01T20:00:00.000Z',
      '2024-05-01T20:30:00.000Z',
      '2024-05-01T21:00:00.000Z',
      '2024-05-01T21:30:00.000Z',
      '2024-05-01T22:00:00.000Z',
      '2024-05-01T22:30:00.000Z',
      '2024-05-01T23:00:00.000Z',
      '2024-05-01T23:30:00.000Z',
    ]);
  });

  it('cron(0 9 ? * 2#1 *) runs on the first Monday of each month', () => {
    expect(fires('cron(0 9 ? * 2#1 *)', '2024-05-01T00:00:00Z', '2024-08-01T00:00:00Z')).toEqual([
      '2024-05-06T09:00:00.000Z',
      '2024-06-03T09:00:00.000Z',
      '2024-07-01T09:00:00.000Z',
    ]);
  });

  it('cron(15 10 ? * 6L 2019-2022) runs on the last Friday of each month until 2022', () => {
    expect(fires('cron(15 10 ? * 6L 2019-2022)', '2022-10-01T00:00:00Z', '2024-01-01T00:00:00Z')).toEqual([
      '2022-10-28T10:15:00.000Z',
      '2022-11-25T10:15:00.000Z',
      '2022-12-30T10:15:00.000Z',
    ]);
  });

  it('cron(5,35 14 * * ? *) runs at 14:05 and 14:35', () => {
    expect(fires('cron(5,35 14 * * ? *)', '2024-05-01T00:00:00Z', '2024-05-01T23:59:00Z')).toEqual([
      '2024-05-01T14:05:00.000Z',
      '2024-05-01T14:35:00.000Z',
    ]);
  });
});

describe('cron schedules: fields', () => {
  const day = (expression: string) => fires(expression, '2024-05-01T00:00:00Z', '2024-05-01T23:59:00Z');

  it('expands lists, ranges and increments', () => {
    const minutesOf = (expression: string) => day(expression).map((time) => Number(time.slice(14, 16)));
    expect(minutesOf('cron(1/10 0 * * ? *)')).toEqual([1, 11, 21, 31, 41, 51]);
    expect(minutesOf('cron(10-20/5 0 * * ? *)')).toEqual([10, 15, 20]);
    expect(minutesOf('cron(*/20 0 * * ? *)')).toEqual([20, 40]);
    expect(minutesOf('cron(58-2 0 * * ? *)')).toEqual([1, 2, 58, 59]);
    expect(minutesOf('cron(3,1,2-4 0 * * ? *)')).toEqual([1, 2, 3, 4]);
  });

  it('numbers days of the week 1-7 from Sunday, and accepts their names in any case', () => {
    const weekdaysOf = (field: string) =>
      fires(`cron(0 0 ? * ${field} *)`, '2024-05-04T23:00:00Z', '2024-05-11T23:00:00Z').map(weekday);
    expect(weekdaysOf('1')).toEqual([0]);
    expect(weekdaysOf('SUN')).toEqual([0]);
    expect(weekdaysOf('7')).toEqual([6]);
    expect(weekdaysOf('sat')).toEqual([6]);
    expect(weekdaysOf('2,4')).toEqual([1, 3]);
    expect(weekdaysOf('FRI-MON')).toEqual([0, 1, 5, 6]);
    expect(weekdaysOf('*')).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(weekdaysOf('L')).toEqual([6]);
  });

  it('accepts month names and numbers', () => {
    const months = fires('cron(0 0 1 JAN,jul,12 ? *)', '2024-01-01T00:00:00Z', '2025-01-01T00:00:00Z');
    expect(months).toEqual(['2024-07-01T00:00:00.000Z', '2024-12-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z']);
  });

  it('runs on the last day of each month with L, leap day included', () => {
    expect(fires('cron(0 0 L * ? *)', '2024-01-15T00:00:00Z', '2024-05-01T00:00:00Z')).toEqual([
      '2024-01-31T00:00:00.000Z',
      '2024-02-29T00:00:00.000Z',
      '2024-03-31T00:00:00.000Z',
      '2024-04-30T00:00:00.000Z',
    ]);
  });

  it('moves W days to the nearest weekday within the month', () => {
    // 2024-06-15 is a Saturday, 2024-09-15 a Sunday, 2024-06-01 a Saturday, 2024-08-31 a Saturday.
    expect(fires('cron(0 0 15W * ? *)', '2024-06-01T00:00:00Z', '2024-10-01T00:00:00Z')).toEqual([
      '2024-06-14T00:00:00.000Z',
      '2024-07-15T00:00:00.000Z',
      '2024-08-15T00:00:00.000Z',
      '2024-09-16T00:00:00.000Z',
    ]);
    expect(fires('cron(0 0 1W 6 ? *)', '2024-05-01T00:00:00Z', '2024-07-01T00:00:00Z')).toEqual([
      '2024-06-03T00:00:00.000Z',
    ]);
    expect(fires('cron(0 0 LW 8 ? *)', '2024-05-01T00:00:00Z', '2024-09-01T00:00:00Z')).toEqual([
      '2024-08-30T00:00:00.000Z',
    ]);
  });

  it('stops at the last year of its range', () => {
    expect(fires('cron(0 0 1 1 ? 2199)', '2198-06-01T00:00:00Z', '2199-12-31T00:00:00Z')).toEqual([
      '2199-01-01T00:00:00.000Z',
    ]);
    expect([...fireTimes(parseSchedule('cron(0 0 1 1 ? 2020)'), new Date('2024-01-01T00:00:00Z'))]).toEqual([]);
  });

  it('never fires on a date that does not exist', () => {
    expect(fires('cron(0 0 31 2 ? *)', '2024-01-01T00:00:00Z', '2030-01-01T00:00:00Z')).toEqual([]);
  });

  it('excludes the start of the window and includes its end', () => {
    expect(fires('cron(0 * * * ? *)', '2024-05-01T10:00:00Z', '2024-05-01T11:00:00Z')).toEqual([
      '2024-05-01T11:00:00.000Z',
    ]);
    expect(fires('cron(0 * * * ? *)', '2024-05-01T10:00:00Z', '2024-05-01T10:59:59Z')).toEqual([]);
  });
});

describe('rate schedules', () => {
  it('parses value and unit', () => {
    expect(parseSchedule('rate(5 minutes)')).toEqual<Schedule>({
      kind: 'rate',
      expression: 'rate(5 minutes)',
      value: 5,
      unit: 'minute',
      intervalMinutes: 5,
    });
    expect(parseSchedule('rate(1 hour)')).toMatchObject({ unit: 'hour', intervalMinutes: 60 });
    expect(parseSchedule('rate(7 days)')).toMatchObject({ unit: 'day', intervalMinutes: 7 * 24 * 60 });
    expect(parseSchedule('rate(1 minute)')).toMatchObject({ unit: 'minute', intervalMinutes: 1 });
  });

  it('counts from the anchor, taken to the minute, the first time one interval after it', () => {
    expect(fires('rate(5 minutes)', '2024-05-01T12:00:00Z', '2024-05-01T12:16:00Z', '2024-05-01T12:00:30Z')).toEqual([
      '2024-05-01T12:05:00.000Z',
      '2024-05-01T12:10:00.000Z',
      '2024-05-01T12:15:00.000Z',
    ]);
  });

  it('keeps the anchor phase for windows that start later', () => {
    expect(fires('rate(5 minutes)', '2024-05-01T00:07:00Z', '2024-05-01T00:20:00Z', '2024-05-01T00:01:00Z')).toEqual([
      '2024-05-01T00:11:00.000Z',
      '2024-05-01T00:16:00.000Z',
    ]);
    expect(fires('rate(5 minutes)', '2024-05-01T00:06:00Z', '2024-05-01T00:11:00Z', '2024-05-01T00:01:00Z')).toEqual([
      '2024-05-01T00:11:00.000Z',
    ]);
  });

  it('anchors at the start of the window by default', () => {
    expect(fires('rate(1 hour)', '2024-05-01T10:30:00Z', '2024-05-01T13:00:00Z')).toEqual([
      '2024-05-01T11:30:00.000Z',
      '2024-05-01T12:30:00.000Z',
    ]);
    expect(fires('rate(7 days)', '2024-05-01T03:00:00Z', '2024-05-31T03:00:00Z')).toHaveLength(4);
  });

  it('does not fire before one interval has passed since an anchor inside the window', () => {
    expect(fires('rate(1 day)', '2024-05-01T00:00:00Z', '2024-05-03T12:00:00Z', '2024-05-02T06:00:00Z')).toEqual([
      '2024-05-03T06:00:00.000Z',
    ]);
  });

  it('yields an endless sequence lazily', () => {
    const times = fireTimes(parseSchedule('rate(1 minute)'), new Date('2024-05-01T00:00:00Z'));
    const firstThree = [times.next().value, times.next().value, times.next().value];
    expect(firstThree.map((time) => time?.toISOString())).toEqual([
      '2024-05-01T00:01:00.000Z',
      '2024-05-01T00:02:00.000Z',
      '2024-05-01T00:03:00.000Z',
    ]);
  });
});

describe('parseSchedule errors', () => {
  it.each<[string, string]>([
    ['rate(1 minutes)', 'takes the unit "minute"'],
    ['rate(5 minute)', 'takes the unit "minutes"'],
    ['rate(1 hours)', 'takes the unit "hour"'],
    ['rate(0 minutes)', 'positive whole number'],
    ['rate(-1 minutes)', 'positive whole number'],
    ['rate(1.5 hours)', 'positive whole number'],
    ['rate(5 weeks)', 'minute(s), hour(s), day(s)'],
    ['rate(5)', 'value unit'],
    ['rate(5 minutes now)', 'value unit'],
    ['every 5 minutes', 'cron(fields) or rate(value unit)'],
    ['CRON(0 10 * * ? *)', 'cron(fields) or rate(value unit)'],
    ['cron(0 10 * * ?)', 'expected 6 fields'],
    ['cron(0 0 10 * * ? *)', 'expected 6 fields'],
    ['cron(* * * * * *)', 'exactly one of Day-of-month and Day-of-week'],
    ['cron(0 10 ? * ? *)', 'exactly one of Day-of-month and Day-of-week'],
    ['cron(0 10 1 * MON *)', 'exactly one of Day-of-month and Day-of-week'],
    ['cron(60 * * * ? *)', 'Minutes: "60" is not in 0–59'],
    ['cron(0 24 * * ? *)', 'Hours: "24" is not in 0–23'],
    ['cron(? 10 * * ? *)', 'Minutes: "?"'],
    ['cron(0 0 0 * ? *)', 'Day-of-month: "0" is not in 1–31'],
    ['cron(0 0 32W * ? *)', 'Day-of-month: "32"'],
    ['cron(0 0 L,15 * ? *)', 'stand alone'],
    ['cron(0 0 1 13 ? *)', 'Month: "13" is not in 1–12 or JAN–DEC'],
    ['cron(0 0 1 FOO ? *)', 'Month: "FOO"'],
    ['cron(0 0 ? * 0 *)', 'Day-of-week: "0" is not in 1–7 or SUN–SAT'],
    ['cron(0 0 ? * 8 *)', 'Day-of-week: "8"'],
    ['cron(0 0 ? * 1/2 *)', 'Day-of-week does not take increments'],
    ['cron(0 0 ? * 3#1,6#3 *)', 'one expression only'],
    ['cron(0 0 ? * 2#6 *)', 'occurrence 6'],
    ['cron(0 0 ? * XL *)', 'Day-of-week: "X"'],
    ['cron(0 0 1 * ? 1969)', 'Year: "1969" is not in 1970–2199'],
    ['cron(0 0 1 * ? 2200)', 'Year: "2200"'],
    ['cron(0 0 1 * ? 2022-2019)', 'runs backwards'],
    ['cron(0/0 * * * ? *)', 'increment'],
    ['cron(1-2-3 * * * ? *)', 'not a value or range'],
    ['cron(*-5 * * * ? *)', 'not a value or range'],
    ['cron(1/2/3 * * * ? *)', 'not a value or range'],
    ['cron(, * * * ? *)', 'not a value or range'],
    ['cron(a * * * ? *)', 'Minutes: "a"'],
  ])('rejects %s', (expression, problem) => {
    const attempt = () => parseSchedule(expression);
    expect(attempt).toThrow(ScheduleExpressionError);
    expect(attempt).toThrow(problem);
    expect(attempt).toThrow(expression);
  });
});
