/**
 * The night's picture, before any drawing: a section per `ami-backup:group` (and one for instances in none), a lane
 * per instance with its spans and markers labelled in words, the schedules' firings, and the summary's figures. A
 * fleet over a size gets one aggregate lane per section instead, and its worst instances listed on their own.
 * Pure: events in, lanes out.
 */
import { type DownInterval, peak } from '../runner/downtime';
import type { Figures, InstanceFacts, MarkerKind, NightEvents, Span, SpanKind } from './events';

export type ItemKind = SpanKind | MarkerKind;

export interface Item {
  readonly kind: ItemKind;
  readonly from: number;
  /** Spans only: where they end (excluded). */
  readonly until?: number;
  /** What a person reads on it. */
  readonly label: string;
  /** The details, with times in UTC. */
  readonly detail: string;
}

export interface Lane {
  readonly id: string;
  /** Its name and outcome, in words. */
  readonly title: string;
  /** Its instance id, and why it failed. */
  readonly detail: string;
  readonly items: readonly Item[];
}

export interface Section {
  readonly id: string;
  /** The group and how many were down at once in it. */
  readonly title: string;
  /** Items of the section itself: an aggregate of its members' when they are not drawn one by one. */
  readonly items: readonly Item[];
  readonly lanes: readonly Lane[];
}

export interface ScheduleLane {
  readonly functionName: string;
  readonly firings: readonly number[];
}

export interface Timeline {
  readonly start: number;
  readonly end: number;
  /** Where the page opens: the first night's image reboots (the whole timeline if none). */
  readonly focus: { readonly start: number; readonly end: number };
  readonly figures: Figures;
  readonly sections: readonly Section[];
  readonly schedules: readonly ScheduleLane[];
}

export interface TimelineOptions {
  /** Fleets larger than this get aggregate lanes (default 200). */
  readonly maxInstanceLanes?: number;
  /** How many of the worst instances keep a lane of their own then (default 20). */
  readonly worstListed?: number;
}

const NO_GROUP = 'no group';
const DAY_MS = 86_400_000;
const FOCUS_MARGIN_MS = 600_000;

/** From the first image reboot to the last one back within a day of it, with a margin. */
function focusOf(events: NightEvents): Timeline['focus'] {
  const down = events.spans.filter((span) => span.kind === 'down');
  // Folded, not spread: a large fleet's spans are more than a call's arguments may be.
  const first = down.reduce((earliest, span) => Math.min(earliest, span.from), Number.POSITIVE_INFINITY);
  const back = down.filter((span) => span.ending === 'done' && span.from < first + DAY_MS);
  if (back.length === 0) return { start: events.start, end: events.end };
  const last = back.reduce((latest, span) => Math.max(latest, span.until), Number.NEGATIVE_INFINITY);
  return {
    start: Math.max(events.start, first - FOCUS_MARGIN_MS),
    end: Math.min(events.end, last + FOCUS_MARGIN_MS),
  };
}

/** Whole seconds, in hours, minutes and seconds, leaving out the parts that are zero. */
export function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds === 0) return '0 s';
  const parts = [
    [Math.floor(seconds / 3600), 'h'],
    [Math.floor(seconds / 60) % 60, 'min'],
    [seconds % 60, 's'],
  ] as const;
  return parts
    .filter(([value]) => value > 0)
    .map(([value, unit]) => `${value} ${unit}`)
    .join(' ');
}

function utc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

const SPAN_WORDS: Record<SpanKind, string> = {
  down: 'down',
  image: 'image pending',
  copy: 'copy pending',
  'restore-test': 'restore test',
};

function spanLabel(span: Span): string {
  const words =
    span.reencrypted === true
      ? `${SPAN_WORDS[span.kind]}, re-encrypted for sharing`
      : span.region === undefined
        ? SPAN_WORDS[span.kind]
        : `${SPAN_WORDS[span.kind]} to ${span.region}`;
  const length = duration(span.until - span.from);
  switch (span.ending) {
    case 'failed':
      return `${words} ${length}, failed`;
    case 'passed':
      return `${words} ${length}, passed`;
    case 'open':
      return `${words} ${length}, not over at the end`;
    default:
      return `${words} ${length}`;
  }
}

function spanItem(span: Span): Item {
  const label = spanLabel(span);
  return {
    kind: span.kind,
    from: span.from,
    until: span.until,
    label,
    detail: `${label}: ${utc(span.from)} to ${utc(span.until)}`,
  };
}

function instanceItems(events: NightEvents, instanceId: string, spans: readonly Span[]): Item[] {
  const markers = events.markers
    .filter((marker) => marker.instanceId === instanceId)
    .map((marker): Item => {
      const label = marker.kind === 'expiry' ? `expired ${marker.detail}` : `failed: ${marker.detail}`;
      return { kind: marker.kind, from: marker.at, label, detail: `${label} at ${utc(marker.at)}` };
    });
  return [...spans.map(spanItem), ...markers].sort((a, b) => a.from - b.from);
}

function laneDetail(instance: InstanceFacts): string {
  return instance.error === null ? instance.instanceId : `${instance.instanceId}: ${instance.error}`;
}

function asIntervals(spans: readonly Span[]): DownInterval[] {
  return spans
    .filter((span) => span.kind === 'down')
    .map((span) => ({ instanceId: span.instanceId, from: span.from, until: span.until, back: span.ending === 'done' }));
}

/** One span per stretch in which some member had a span of the kind, labelled with the most at once. */
function aggregateSpans(kind: SpanKind, spans: readonly Span[]): Item[] {
  const edges = spans
    .filter((span) => span.kind === kind)
    .flatMap((span) => [
      { at: span.from, delta: 1 },
      { at: span.until, delta: -1 },
    ])
    .sort((a, b) => a.at - b.at || a.delta - b.delta);
  const items: Item[] = [];
  let open = 0;
  let most = 0;
  let from = 0;
  for (const edge of edges) {
    if (open === 0) {
      from = edge.at;
      most = 0;
    }
    open += edge.delta;
    most = Math.max(most, open);
    if (open === 0) {
      const label = `${SPAN_WORDS[kind]}: up to ${most} at once`;
      items.push({ kind, from, until: edge.at, label, detail: `${label}, ${utc(from)} to ${utc(edge.at)}` });
    }
  }
  return items;
}

/** Markers of a kind, counted per minute. */
function aggregateMarkers(kind: MarkerKind, events: NightEvents, members: ReadonlySet<string>): Item[] {
  const perMinute = new Map<number, number>();
  for (const marker of events.markers) {
    if (marker.kind !== kind || !members.has(marker.instanceId)) continue;
    const minute = Math.floor(marker.at / 60_000) * 60_000;
    perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1);
  }
  return [...perMinute].map(([minute, count]) => {
    const label = `${count} ${kind === 'expiry' ? 'expired' : 'failed'}`;
    return { kind, from: minute, label, detail: `${label} in the minute from ${utc(minute)}` };
  });
}

/** Failed first, then by downtime, longest first; instances with nothing to show are left out. */
function worst(instances: readonly InstanceFacts[], count: number): InstanceFacts[] {
  return instances
    .filter((instance) => instance.outcome === 'failed' || instance.downtimeSeconds > 0)
    .sort(
      (a, b) =>
        Number(b.outcome === 'failed') - Number(a.outcome === 'failed') ||
        b.downtimeSeconds - a.downtimeSeconds ||
        a.name.localeCompare(b.name),
    )
    .slice(0, count);
}

export function nightTimeline(events: NightEvents, options: TimelineOptions = {}): Timeline {
  const maxInstanceLanes = options.maxInstanceLanes ?? 200;
  const aggregate = events.instances.length > maxInstanceLanes;
  const spansOf = new Map<string, Span[]>();
  for (const span of events.spans) {
    const list = spansOf.get(span.instanceId);
    if (list === undefined) spansOf.set(span.instanceId, [span]);
    else list.push(span);
  }
  const byGroup = new Map<string, InstanceFacts[]>();
  for (const instance of events.instances) {
    const group = instance.group ?? NO_GROUP;
    const list = byGroup.get(group);
    if (list === undefined) byGroup.set(group, [instance]);
    else list.push(instance);
  }
  // Named groups in order, instances in none last.
  const groups = [...byGroup.keys()].sort(
    (a, b) => Number(a === NO_GROUP) - Number(b === NO_GROUP) || a.localeCompare(b),
  );
  const lane = (instance: InstanceFacts): Lane => ({
    id: instance.instanceId,
    title: `${instance.name} · ${instance.outcome}`,
    detail: laneDetail(instance),
    items: instanceItems(events, instance.instanceId, spansOf.get(instance.instanceId) ?? []),
  });
  const sections = groups.map((group, index): Section => {
    const members = byGroup.get(group) ?? [];
    const spans = members.flatMap((member) => spansOf.get(member.instanceId) ?? []);
    const down = peak(asIntervals(spans)).count;
    const title =
      group === NO_GROUP
        ? `no group: ${members.length} instance(s)`
        : `group ${group}: ${members.length} instance(s), at most ${down} down at once`;
    if (!aggregate) return { id: `section-${index}`, title, items: [], lanes: members.map(lane) };
    const ids = new Set(members.map((member) => member.instanceId));
    const kinds: SpanKind[] = ['down', 'image', 'copy', 'restore-test'];
    const items = [
      ...kinds.flatMap((kind) => aggregateSpans(kind, spans)),
      ...aggregateMarkers('expiry', events, ids),
      ...aggregateMarkers('failure', events, ids),
    ].sort((a, b) => a.from - b.from);
    return { id: `section-${index}`, title, items, lanes: [] };
  });
  if (aggregate) {
    const listed = worst(events.instances, options.worstListed ?? 20);
    if (listed.length > 0) {
      sections.unshift({
        id: 'worst',
        title: `worst ${listed.length} of ${events.instances.length} instances (failed, then longest down)`,
        items: [],
        lanes: listed.map(lane),
      });
    }
  }
  const firings = new Map<string, number[]>();
  for (const firing of events.firings) {
    const list = firings.get(firing.functionName);
    if (list === undefined) firings.set(firing.functionName, [firing.at]);
    else list.push(firing.at);
  }
  return {
    start: events.start,
    end: events.end,
    focus: focusOf(events),
    figures: events.figures,
    sections,
    schedules: [...firings].map(([functionName, at]) => ({ functionName, firings: at })),
  };
}
