// The only module that talks to Tauri. Inside the app it turns every `Backend` method into an
// `invoke` of the matching command and every failure into a `BackendError`; outside Tauri (dev
// server, tests, the screenshot build) it hands out the in-memory `devBackend`.
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import {
  COMMANDS,
  EVENTS,
  toBackendError,
  type AccessRevoked,
  type Backend,
  type BackendError,
  type SyncStatus,
} from './backend';
import { climateBackend, type ClimateBackend } from './climate/backend';

/** Is the page running inside Tauri (or under `mockIPC`)? */
export function inTauri(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toBackendError(e);
  }
}

/** A raw command call, for the modes with their own error codes (`coordinator/backend.ts`). */
export function invokeCommand<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  return invoke<T>(cmd, args);
}

export function tauriBackend(): Backend {
  return {
    enrol: (serverUrl, code) => call(COMMANDS.enrol, { serverUrl, code }),
    getTeamState: () => call(COMMANDS.getTeamState),
    getEnrolment: () => call(COMMANDS.getEnrolment),
    listDrafts: () => call(COMMANDS.listDrafts),
    saveDraft: (draft) => call(COMMANDS.saveDraft, { draft }),
    discardDraft: (id) => call(COMMANDS.discardDraft, { id }),
    recordEncounter: (draft) => call(COMMANDS.recordEncounter, { draft }),
    editEncounter: (id, edit) => call(COMMANDS.editEncounter, { id, edit }),
    addToTally: (dimension, delta) => call(COMMANDS.addToTally, { dimension, delta }),
    checkIn: (sectorId) => call(COMMANDS.checkIn, { sectorId }),
    checkOut: () => call(COMMANDS.checkOut),
    markSectorCovered: (sectorId, zeroFound) => call(COMMANDS.markSectorCovered, { sectorId, zeroFound }),
    listEncounters: () => call(COMMANDS.listEncounters),
    raiseAlert: (alert) => call(COMMANDS.raiseAlert, { alert }),
    reconnectNow: () => call(COMMANDS.reconnectNow),
    getSyncStatus: () => call(COMMANDS.getSyncStatus),
    onSyncStatus: async (handler) => {
      try {
        return await listen<SyncStatus>(EVENTS.syncStatus, (e) => handler(e.payload));
      } catch (e) {
        throw toBackendError(e);
      }
    },
    onTeamChanged: async (handler) => {
      try {
        return await listen(EVENTS.teamChanged, () => handler());
      } catch (e) {
        throw toBackendError(e);
      }
    },
    onAccessRevoked: async (handler) => {
      try {
        return await listen<AccessRevoked>(EVENTS.accessRevoked, (e) => handler(e.payload));
      } catch (e) {
        throw toBackendError(e);
      }
    },
  };
}

/** The climate commands inside the app; `null` outside Tauri (the dev backend has no climate mode). */
export function getClimateBackend(): ClimateBackend | null {
  return inTauri() ? climateBackend(call) : null;
}

/** Builds flags baked in by Vite: the dev backend exists only in dev, tests and `--mode demo`. */
const devAllowed =
  import.meta.env.DEV || import.meta.env.MODE === 'test' || import.meta.env.VITE_DEV_BACKEND === '1';

/** The backend for this run. Rejects with a `BackendError` when there is none (a plain browser). */
export async function getBackend(): Promise<Backend> {
  if (inTauri()) return tauriBackend();
  if (devAllowed) {
    const { devBackend } = await import('./devBackend');
    const seeded = typeof location !== 'undefined' && new URLSearchParams(location.search).has('demo');
    return devBackend({ seed: seeded, syncEveryMs: 4000 });
  }
  const err: BackendError = { code: 'ipc', message: 'not running inside the app' };
  throw err;
}
