/**
 * The night's timeline as one self-contained HTML file: vis-timeline (its standalone build and styles, inlined: no
 * network when it is viewed), the lanes as its groups and items, a legend and the summary's figures. The drawing is
 * the library's; this file only maps the lanes onto it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Item, ItemKind, Timeline } from './lanes';

/** vis-timeline's group: a section (with its lanes nested) or a lane. */
interface VisGroup {
  readonly id: string;
  readonly content: string;
  readonly title?: string;
  readonly order: number;
  readonly className: string;
  /** 1 for a section, 2 for its lanes (vis-timeline's nesting depth, for its indentation). */
  readonly treeLevel: 1 | 2;
  readonly nestedGroups?: readonly string[];
  readonly showNested?: boolean;
}

/** vis-timeline's item. */
interface VisItem {
  readonly id: number;
  readonly group: string;
  readonly start: number;
  readonly end?: number;
  readonly type: 'range' | 'point';
  /** Its band in the lane: one per kind, so that spans of different kinds never hide each other. */
  readonly subgroup: string;
  readonly content: string;
  readonly title: string;
  readonly className: string;
}

export interface VisData {
  readonly groups: readonly VisGroup[];
  readonly items: readonly VisItem[];
  readonly start: number;
  readonly end: number;
  readonly focus: Timeline['focus'];
}

const LEGEND: readonly { kind: ItemKind | 'schedule'; words: string }[] = [
  { kind: 'down', words: 'down: from the OS shutdown for the image until the status check is ok again' },
  { kind: 'image', words: 'image pending: from CreateImage until the image is available (or failed)' },
  { kind: 'copy', words: 'copy pending: from the copy’s start until it is available (or failed)' },
  { kind: 'restore-test', words: 'restore test: from the test instance’s launch until its verdict' },
  { kind: 'expiry', words: 'expired: rotation deregistered one of its images' },
  { kind: 'failure', words: 'failed: the service recorded a failed backup' },
  { kind: 'schedule', words: 'schedule firing (one row per function)' },
];

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

export function visData(timeline: Timeline): VisData {
  const groups: VisGroup[] = [];
  const items: VisItem[] = [];
  const add = (group: string, item: Item): void => {
    items.push({
      id: items.length,
      group,
      start: item.from,
      ...(item.until === undefined ? {} : { end: item.until }),
      type: item.until === undefined ? 'point' : 'range',
      subgroup: item.kind,
      content: escapeHtml(item.label),
      title: escapeHtml(item.detail),
      className: `kind-${item.kind}`,
    });
  };
  for (const section of timeline.sections) {
    const laneIds = section.lanes.map((lane) => `lane-${lane.id}`);
    groups.push({
      id: section.id,
      content: escapeHtml(section.title),
      title: escapeHtml(section.title),
      order: groups.length,
      className: 'section',
      treeLevel: 1,
      ...(laneIds.length === 0 ? {} : { nestedGroups: laneIds, showNested: true }),
    });
    for (const item of section.items) add(section.id, item);
    for (const lane of section.lanes) {
      groups.push({
        id: `lane-${lane.id}`,
        content: escapeHtml(lane.title),
        title: escapeHtml(lane.detail),
        order: groups.length,
        className: 'lane',
        treeLevel: 2,
      });
      for (const item of lane.items) add(`lane-${lane.id}`, item);
    }
  }
  if (timeline.schedules.length > 0) {
    const scheduleIds = timeline.schedules.map((schedule) => `schedule-${schedule.functionName}`);
    groups.push({
      id: 'schedules',
      content: 'schedules',
      order: groups.length,
      className: 'section',
      treeLevel: 1,
      nestedGroups: scheduleIds,
      showNested: true,
    });
    for (const schedule of timeline.schedules) {
      const id = `schedule-${schedule.functionName}`;
      groups.push({
        id,
        content: escapeHtml(schedule.functionName),
        order: groups.length,
        className: 'lane',
        treeLevel: 2,
      });
      for (const at of schedule.firings) {
        const time = new Date(at).toISOString().slice(11, 16);
        items.push({
          id: items.length,
          group: id,
          start: at,
          type: 'point',
          subgroup: 'schedule',
          content: '',
          title: escapeHtml(`${schedule.functionName} fired at ${time} UTC`),
          className: 'kind-schedule',
        });
      }
    }
  }
  return { groups, items, start: timeline.start, end: timeline.end, focus: timeline.focus };
}

/** Patterns as well as colours, and a label on each item: nothing is told by colour alone. */
const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem; color: #111; }
h1 { font-size: 1.3rem; margin: 0 0 .5rem; }
.figures { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; margin: 0 0 .75rem; padding: 0; }
.figures div { border: 1px solid #999; padding: .25rem .6rem; }
.figures dt { font-size: .8rem; } .figures dd { margin: 0; font-size: 1.3rem; font-weight: 600; }
.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; margin: 0 0 .75rem; }
.swatch { display: inline-block; width: 2.2rem; height: .9rem; border: 1px solid #333; vertical-align: middle; margin-right: .3rem; }
#timeline:focus { outline: 3px solid #1d4ed8; }
.vis-item .vis-item-content { color: #000; background: #fff; padding: 0 .2rem; font-size: 12px; }
/* A strip of the pattern shows under the label, and on an instance's row (one span of a kind a night) the label may
   run past a short span; an aggregate lane's spans follow each other closely, so theirs are cut. */
.vis-item.vis-range { padding-bottom: 6px; }
.vis-group.lane .vis-item.vis-range .vis-item-overflow { overflow: visible; }
.vis-labelset .vis-label .vis-inner { max-width: 26rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.vis-label.section { font-weight: 600; background: #eee; }
.kind-down { background: repeating-linear-gradient(45deg, #b91c1c 0 4px, #fecaca 4px 8px); border-color: #7f1d1d; }
.kind-image { background: radial-gradient(#1d4ed8 1.5px, #dbeafe 1.6px) 0 0 / 6px 6px; border-color: #1e3a8a; }
.kind-copy { background: repeating-linear-gradient(0deg, #7c3aed 0 3px, #ede9fe 3px 6px); border-color: #4c1d95; }
.kind-restore-test { background: repeating-linear-gradient(90deg, #047857 0 3px, #d1fae5 3px 6px); border-color: #064e3b; }
.vis-item.vis-point.kind-expiry, .vis-item.vis-point.kind-failure, .vis-item.vis-point.kind-schedule { background: none; }
.swatch.kind-expiry, .vis-point.kind-expiry .vis-dot { border: 4px double #555; border-radius: 0; }
.swatch.kind-failure, .vis-point.kind-failure .vis-dot { border: 4px solid #b91c1c; border-radius: 0; }
.swatch.kind-schedule, .vis-point.kind-schedule .vis-dot { border: 3px solid #111; border-radius: 50%; }
.swatch.kind-expiry, .swatch.kind-failure, .swatch.kind-schedule { width: .6rem; height: .6rem; }
`;

/** Draws the data once the page is loaded, marks the page rendered, and lets the keyboard move and zoom. */
const SCRIPT = `
const data = JSON.parse(document.getElementById('night-data').textContent);
const container = document.getElementById('timeline');
// The render signal: over which window it is drawn, and drawn at all once its first drawing is complete (the first
// redraws still set its initial window). A test waits for these, never for time.
const showWindow = () => {
  const { start, end } = timeline.getWindow();
  Object.assign(document.body.dataset, { windowStart: start.toISOString(), windowEnd: end.toISOString() });
};
const timeline = new vis.Timeline(container, new vis.DataSet(data.items), new vis.DataSet(data.groups), {
  moment: (date) => vis.moment(date).utc(),
  start: data.focus.start, end: data.focus.end, min: data.start, max: data.end, zoomMin: 60000,
  groupOrder: 'order', stack: false, orientation: { axis: 'both' }, showCurrentTime: false, zoomKey: 'ctrlKey',
  margin: { item: { horizontal: 0, vertical: 2 } }, tooltip: { followMouse: true },
  onInitialDrawComplete: () => {
    showWindow();
    document.body.dataset.rendered = 'true';
    timeline.on('changed', showWindow);
  },
});
// At once: an animated move would leave the render signal on a window on the way.
const still = { animation: false };
container.addEventListener('keydown', (event) => {
  const { start, end } = timeline.getWindow();
  const width = end - start;
  const shift = { ArrowLeft: -0.2, ArrowRight: 0.2 }[event.key];
  if (shift !== undefined) timeline.setWindow(start.valueOf() + shift * width, end.valueOf() + shift * width, still);
  else if (event.key === '+' || event.key === '=') timeline.zoomIn(0.5, still);
  else if (event.key === '-') timeline.zoomOut(0.5, still);
  else if (event.key === 'Home') timeline.setWindow(data.start, data.end, still);
  else if (event.key === 'End') timeline.setWindow(data.focus.start, data.focus.end, still);
  else return;
  event.preventDefault();
});
`;

function figuresHtml(timeline: Timeline): string {
  const { figures } = timeline;
  const figure = (name: string, label: string, value: string): string =>
    `<div data-figure="${name}"><dt>${label}</dt><dd>${value}</dd></div>`;
  return [
    figure('backed-up', 'backed up', `${figures.backedUp} of ${figures.instances}`),
    figure('failed', 'failed', String(figures.failed)),
    figure('max-down-at-once', 'max down at once', String(figures.maxDownAtOnce)),
    figure('max-down-in-one-group', 'max down in one group', String(figures.maxDownInOneGroup)),
    figure('ec2-calls', 'EC2 calls', String(figures.ec2Calls)),
  ].join('');
}

/** The vis-timeline build and styles this page inlines. */
function libraryAssets(): { script: string; style: string } {
  const root = dirname(require.resolve('vis-timeline/package.json'));
  // Source map comments would point at files that are not there when the page is viewed.
  const withoutSourceMap = (text: string): string => text.replace(/\/[/*]# sourceMappingURL=\S+/g, '');
  return {
    script: withoutSourceMap(readFileSync(join(root, 'standalone/umd/vis-timeline-graph2d.min.js'), 'utf8')),
    style: withoutSourceMap(readFileSync(join(root, 'styles/vis-timeline-graph2d.min.css'), 'utf8')),
  };
}

/** JSON safe inside a script element: no `</script>` nor `<!--` can end it. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

export function nightReportHtml(timeline: Timeline): string {
  const library = libraryAssets();
  const from = new Date(timeline.start).toISOString().slice(0, 16).replace('T', ' ');
  const to = new Date(timeline.end).toISOString().slice(0, 16).replace('T', ' ');
  const legend = LEGEND.map(
    ({ kind, words }) => `<li><span class="swatch kind-${kind}" aria-hidden="true"></span>${escapeHtml(words)}</li>`,
  ).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ami-backup night report, ${from} to ${to} UTC</title>
<style>${library.style}</style>
<style>${STYLE}</style>
</head>
<body>
<h1>ami-backup: the night from ${from} to ${to} UTC (simulated)</h1>
<dl class="figures">${figuresHtml(timeline)}</dl>
<ul class="legend" aria-label="legend">${legend}</ul>
<p>Times are UTC. Focus the timeline (Tab), then ← → move, + − zoom, Home shows the whole night, End the image reboots it opens on; hover an item for its times.</p>
<div id="timeline" tabindex="0" role="region" aria-label="timeline of the night, one row per instance"></div>
<script type="application/json" id="night-data">${scriptJson(visData(timeline))}</script>
<script>${library.script}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

export function writeNightReport(file: string, timeline: Timeline): void {
  writeFileSync(file, nightReportHtml(timeline));
}
