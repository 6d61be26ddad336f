import fc from 'fast-check';
import { afterWrites, type CadenceSettings, passCadence } from '../../../../lib/decisions/cadence';
import { imagingTags } from '../../../../lib/decisions/progress';
import type { Instance } from '../../../../lib/model';
import { BackupStep, formatRunId, ImageMode, InstanceTag, type Tags } from '../../../../lib/tags';
import { instance, NIGHT, secondsAfter } from '../builders';

const SETTINGS: CadenceSettings = { rebootGraceSeconds: 300, passIntervalSeconds: 300 };
const RUN_ID = formatRunId(NIGHT);
const at = (seconds: number): Date => secondsAfter(NIGHT, seconds);
/** A pass of the regular rule, `seconds` after the run's start (the regular beat runs from it). */
const regularAt = (seconds: number) => ({ at: at(seconds), cadence: 'regular' as const });
const minuteAt = (seconds: number) => ({ at: at(seconds), cadence: 'minutely' as const });

/** An instance of tonight's run imaged in `mode`, its CreateImage call in the minute starting at `since`. */
function imaging(id: string, mode: ImageMode, since: Date, extra: Tags = {}): Instance {
  return instance(id, 'running', {
    [InstanceTag.state]: BackupStep.imaging,
    [InstanceTag.run]: RUN_ID,
    [InstanceTag.since]: since.toISOString(),
    [InstanceTag.imageMode]: mode,
    ...extra,
  });
}

const queued = (id: string): Instance =>
  instance(id, 'running', {
    [InstanceTag.state]: BackupStep.queued,
    [InstanceTag.run]: RUN_ID,
    [InstanceTag.since]: NIGHT.toISOString(),
  });

describe('passCadence', () => {
  it('keeps the regular passes when nothing is down for its image', () => {
    expect(passCadence([], regularAt(0), SETTINGS)).toBe('regular');
    expect(passCadence([queued('i-1'), imaging('i-2', ImageMode.noReboot, at(0))], regularAt(0), SETTINGS)).toBe(
      'regular',
    );
    const back = imaging('i-3', ImageMode.reboot, at(0), { [InstanceTag.healthyAt]: at(300).toISOString() });
    expect(passCadence([back], regularAt(300), SETTINGS)).toBe('regular');
  });

  it("keeps them when every reboot's grace ends as a regular pass looks (its call in the pass's first minute)", () => {
    // A pass at 03:00:00 whose calls all fell before 03:01: their grace ends at 03:05, the next regular pass.
    const down = ['a', 'b', 'c'].map((id) => imaging(`i-${id}`, ImageMode.reboot, at(0)));
    expect(passCadence(down, regularAt(0), SETTINGS)).toBe('regular');
    // A rule firing a little after the minute (EventBridge's rates do) changes nothing.
    expect(passCadence(down, regularAt(30), SETTINGS)).toBe('regular');
  });

  it('goes every minute when a call fell in a later minute of the pass', () => {
    // Called at 03:01:10: trusted from 03:06, which the regular passes would see at 03:10.
    const down = [imaging('i-a', ImageMode.reboot, at(0)), imaging('i-b', ImageMode.reboot, at(60))];
    expect(passCadence(down, regularAt(0), SETTINGS)).toBe('minutely');
  });

  it('goes every minute while an instance is past its grace and not back (a regular pass would look in 5 minutes)', () => {
    expect(passCadence([imaging('i-a', ImageMode.reboot, at(0))], regularAt(300), SETTINGS)).toBe('minutely');
    expect(passCadence([imaging('i-a', ImageMode.reboot, at(0))], regularAt(900), SETTINGS)).toBe('minutely');
  });

  it('goes every minute when the grace period is not a whole number of regular intervals', () => {
    const down = [imaging('i-a', ImageMode.reboot, at(0))];
    expect(passCadence(down, regularAt(0), { rebootGraceSeconds: 400, passIntervalSeconds: 300 })).toBe('minutely');
    expect(passCadence(down, regularAt(0), { rebootGraceSeconds: 600, passIntervalSeconds: 300 })).toBe('regular');
  });

  it('keeps the minute passes while any instance is down (they do not know the regular beat), then hands back', () => {
    const aligned = imaging('i-a', ImageMode.reboot, at(0));
    expect(passCadence([aligned], minuteAt(0), SETTINGS)).toBe('minutely');
    expect(passCadence([aligned, queued('i-b')], minuteAt(240), SETTINGS)).toBe('minutely');
    const back = imaging('i-a', ImageMode.reboot, at(0), { [InstanceTag.healthyAt]: at(300).toISOString() });
    expect(passCadence([back, queued('i-b'), imaging('i-c', ImageMode.noReboot, at(0))], minuteAt(300), SETTINGS)).toBe(
      'regular',
    );
  });

  it('never asks for minute passes when the regular ones already come every minute', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3600 }), { maxLength: 20 }),
        fc.integer({ min: 0, max: 7200 }),
        (sinceSeconds, passSecond) => {
          const down = sinceSeconds.map((seconds, index) =>
            imaging(`i-${index}`, ImageMode.reboot, at(Math.floor(seconds / 60) * 60)),
          );
          return [regularAt(passSecond), minuteAt(passSecond)].every(
            (pass) => passCadence(down, pass, { rebootGraceSeconds: 300, passIntervalSeconds: 60 }) === 'regular',
          );
        },
      ),
    );
  });

  it('asks for them exactly when a regular pass would look a minute or more after a minute pass would', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 600 }), (sinceMinute, passSecond) => {
        const since = at(sinceMinute * 60);
        const dueMs = since.getTime() + 300_000;
        const passMs = at(passSecond).getTime();
        const firstLook = (intervalMs: number): number =>
          passMs + Math.max(1, Math.ceil((dueMs - passMs) / intervalMs)) * intervalMs;
        const expected = firstLook(300_000) - firstLook(60_000) >= 60_000 ? 'minutely' : 'regular';
        return passCadence([imaging('i-a', ImageMode.reboot, since)], regularAt(passSecond), SETTINGS) === expected;
      }),
    );
  });
});

describe('afterWrites', () => {
  it('lays the tags a pass wrote over the instances it read, later writes last', () => {
    const before = [queued('i-a'), queued('i-b')];
    const after = afterWrites(before, [
      { resourceId: 'i-a', tags: imagingTags(at(70), ImageMode.reboot) },
      { resourceId: 'ami-0123', tags: { x: 'y' } },
      { resourceId: 'i-a', tags: { [InstanceTag.healthyAt]: at(400).toISOString() } },
    ]);
    expect(after[0]?.tags).toEqual({
      ...before[0]?.tags,
      [InstanceTag.state]: BackupStep.imaging,
      [InstanceTag.since]: at(60).toISOString(),
      [InstanceTag.imageMode]: ImageMode.reboot,
      [InstanceTag.healthyAt]: at(400).toISOString(),
    });
    expect(after[1]).toBe(before[1]);
    // What the next pass reads decides the cadence: a reboot called at 03:01:10 is seen late by regular passes.
    expect(passCadence(after, regularAt(0), SETTINGS)).toBe('regular');
    expect(
      passCadence(
        afterWrites(before, [{ resourceId: 'i-b', tags: imagingTags(at(70), ImageMode.reboot) }]),
        regularAt(0),
        SETTINGS,
      ),
    ).toBe('minutely');
  });
});
