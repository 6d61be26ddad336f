import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { BackendState } from './store';

/** The state file: each Region's records and the simulated time they were saved at. */
export interface SavedState {
  format: typeof STATE_FORMAT;
  savedAt: string;
  /** The records of the endpoint's default Region. */
  backend: BackendState;
  /** Which Region `backend` holds (absent in older files: the default Region of the endpoint that loads it). */
  region?: string;
  /** The records of every other Region that has any, by Region (absent in older files). */
  regions?: Record<string, BackendState>;
}

const STATE_FORMAT = 'local-ec2-state/1';

export class StateFileError extends Error {
  override readonly name = 'StateFileError';
}

// Tag maps are written as arrays of [key, value] pairs.
const replacer = (_key: string, value: unknown): unknown => (value instanceof Map ? { $map: [...value] } : value);
const reviver = (_key: string, value: unknown): unknown =>
  typeof value === 'object' && value !== null && '$map' in value && Array.isArray(value.$map)
    ? new Map(value.$map as [string, string][])
    : value;

/** Writes atomically: a temporary file renamed over the old one, so a crash never leaves half a file. */
export function writeStateFile(file: string, state: SavedState): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(state, replacer));
  renameSync(temporary, file);
}

/** Reads a state file; undefined if there is none. A file that is not a valid state is an error, never ignored. */
export function readStateFile(file: string): SavedState | undefined {
  if (!existsSync(file)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'), reviver);
  } catch (err: unknown) {
    throw new StateFileError(`State file ${file} is not valid JSON; fix or remove it`, { cause: err });
  }
  if (!isSavedState(parsed)) {
    throw new StateFileError(`State file ${file} is not a local EC2 state (${STATE_FORMAT}); fix or remove it`);
  }
  return parsed;
}

function isSavedState(value: unknown): value is SavedState {
  if (typeof value !== 'object' || value === null) return false;
  const state = value as Partial<SavedState>;
  const backend = state.backend;
  return (
    state.format === STATE_FORMAT &&
    typeof state.savedAt === 'string' &&
    !Number.isNaN(Date.parse(state.savedAt)) &&
    typeof backend === 'object' &&
    backend !== null &&
    Array.isArray(backend.instances) &&
    Array.isArray(backend.volumes) &&
    Array.isArray(backend.images) &&
    Array.isArray(backend.snapshots) &&
    Array.isArray(backend.copyTokens) &&
    Number.isInteger(backend.nextSeq) &&
    (state.region === undefined || typeof state.region === 'string') &&
    (state.regions === undefined || (typeof state.regions === 'object' && state.regions !== null))
  );
}

/** What a state file holds: the default Region's records, and those of the `others`. */
export function savedState(
  home: { region: string; state: BackendState },
  others: Record<string, BackendState>,
  savedAt: Date,
): SavedState {
  return {
    format: STATE_FORMAT,
    savedAt: savedAt.toISOString(),
    backend: home.state,
    region: home.region,
    ...(Object.keys(others).length === 0 ? {} : { regions: others }),
  };
}
