/** The timeline's page: self-contained, and nothing in the night's names can break out of its text. */

import { nightReportHtml, visData } from '../../../../local/timeline/html';
import type { Timeline } from '../../../../local/timeline/lanes';

const START = Date.UTC(2026, 10, 28, 20);
const MINUTE = 60_000;

const timeline: Timeline = {
  start: START,
  end: START + 24 * 60 * MINUTE,
  focus: { start: START + 410 * MINUTE, end: START + 440 * MINUTE },
  figures: { instances: 1, backedUp: 1, failed: 0, maxDownAtOnce: 1, maxDownInOneGroup: 1, ec2Calls: 12 },
  sections: [
    {
      id: 'section-0',
      title: 'group <web>: 1 instance(s), at most 1 down at once',
      items: [],
      lanes: [
        {
          id: 'i-a',
          title: '</script><b>web</b> · backed up',
          detail: 'i-a',
          items: [
            { kind: 'down', from: START + 420 * MINUTE, until: START + 422 * MINUTE, label: 'down 2 min', detail: 'd' },
            { kind: 'expiry', from: START + 600 * MINUTE, label: 'expired ami-1', detail: 'e' },
          ],
        },
      ],
    },
  ],
  schedules: [{ functionName: 'reboot', firings: [START + 420 * MINUTE] }],
};

describe('visData', () => {
  it('nests each lane in its section, then the schedules, and draws spans as ranges and markers as points', () => {
    const data = visData(timeline);
    expect(data.groups.map((group) => [group.id, group.treeLevel, group.nestedGroups])).toEqual([
      ['section-0', 1, ['lane-i-a']],
      ['lane-i-a', 2, undefined],
      ['schedules', 1, ['schedule-reboot']],
      ['schedule-reboot', 2, undefined],
    ]);
    expect(data.items.map((item) => [item.group, item.type, item.className, item.content])).toEqual([
      ['lane-i-a', 'range', 'kind-down', 'down 2 min'],
      ['lane-i-a', 'point', 'kind-expiry', 'expired ami-1'],
      ['schedule-reboot', 'point', 'kind-schedule', ''],
    ]);
    expect(data.groups[1]?.content).toBe('&#60;/script&#62;&#60;b&#62;web&#60;/b&#62; · backed up');
  });
});

describe('nightReportHtml', () => {
  const html = nightReportHtml(timeline);

  it('inlines the library and loads nothing from elsewhere', () => {
    expect(html).toContain('vis-timeline and vis-graph2d');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/);
  });

  it('keeps the night’s names inside its data: one closing script tag per script', () => {
    expect(html.match(/<script/g)).toHaveLength(3);
    expect(html.match(/<\/script>/g)).toHaveLength(3);
    expect(html).toContain('<dd>1 of 1</dd>');
  });
});
