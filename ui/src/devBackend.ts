// An in-memory stand-in for the Rust side, for `npm run dev`, tests and the screenshot build
// (`--mode demo`). It follows the `Backend` contract (same errors, same shapes) but stores nothing
// on disk and "syncs" by marking records as acknowledged on a timer. Never used inside the app.
import defaultQuestionnaire from '../../shared/questionnaire/default-2026.json?raw';
import {
  toBackendError,
  type AlertRequest,
  type Backend,
  type BackendError,
  type BackendErrorCode,
  type EncounterDraft,
  type EncounterRecord,
  type SyncStatus,
  type TeamState,
} from './backend';
import { applyEdit, checkDraft, draftToEncounter, isRecordable } from './encounter';
import type { Encounter, EncounterEdit, Millis, Round, SectorCoverage, SectorId, Uuid } from './model';
import { isEditable, openRound, uuidV7 } from './model';
import { parseDefinition, type Definition } from './questionnaire/definition';
import { parseTallyKey, type TallyKey } from './tally';

export interface DevOptions {
  /** Start enrolled, with a few encounters (for the demo and screenshots). */
  seed?: boolean;
  /** Acknowledge pending records every N ms; 0 = only through `syncNow`. */
  syncEveryMs?: number;
  now?: () => Millis;
  random?: (n: number) => Uint8Array;
}

export interface DevBackend extends Backend {
  /** Marks everything as acknowledged by the "server". */
  syncNow(): void;
  /** The next command fails with this code (tests of error paths). */
  failNext(code: BackendErrorCode): void;
}

/** A sector around Les Halles (Paris 1er), enough to draw a map. */
export const DEMO_SECTOR_GEOJSON = JSON.stringify({
  type: 'Polygon',
  coordinates: [
    [
      [2.3412, 48.8627],
      [2.3445, 48.8648],
      [2.3497, 48.8641],
      [2.3522, 48.8619],
      [2.3509, 48.8589],
      [2.3461, 48.8581],
      [2.3419, 48.8597],
      [2.3412, 48.8627],
    ],
  ],
});

/** The seeded draft's id (demo and screenshots open it by address). */
export const DEMO_DRAFT_ID = '019c0b8e-7a00-7000-8000-00000000d1af';

const fail = (code: BackendErrorCode, message: string): BackendError => ({ code, message });

export function devBackend(opts: DevOptions = {}): DevBackend {
  const now = opts.now ?? (() => Date.now());
  const random =
    opts.random ??
    ((n: number) => {
      const b = new Uint8Array(n);
      crypto.getRandomValues(b);
      return b;
    });
  const id = () => uuidV7(now(), random(10));
  const device = 'dev-device';
  let state: TeamState | null = null;
  /** Enrolled with `WAIT-0000`: the documents arrive at the next `syncNow()`. */
  let pendingUrl: string | null = null;
  const drafts = new Map<Uuid, EncounterDraft>();
  const acknowledged = new Set<string>();
  let pendingOther = 0;
  let sync: SyncStatus = { phase: 'idle', pending: 0, lastSyncAt: null, error: null };
  let nextFailure: BackendErrorCode | null = null;
  const syncListeners = new Set<(s: SyncStatus) => void>();
  const teamListeners = new Set<() => void>();
  let definition: Definition | null = null;

  const pending = (): number => {
    if (!state) return 0;
    return Object.keys(state.team.encounters).filter((k) => !acknowledged.has(k)).length + pendingOther;
  };
  const emitSync = () => {
    sync = { ...sync, pending: pending() };
    for (const l of syncListeners) l(sync);
  };
  const changed = () => {
    emitSync();
    for (const l of teamListeners) l();
  };
  const guard = () => {
    if (nextFailure) {
      const code = nextFailure;
      nextFailure = null;
      throw fail(code, 'injected failure');
    }
  };
  const team = () => {
    if (!state) throw fail('notEnrolled', 'device not enrolled');
    return state;
  };
  // Commands resolve asynchronously and hand out copies, like real IPC.
  const reply = <T>(v: T): Promise<T> => Promise.resolve(v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));
  const run = async <T>(f: () => T): Promise<T> => {
    try {
      guard();
      return await reply(f());
    } catch (e) {
      throw toBackendError(e);
    }
  };

  function enrolState(serverUrl: string): TeamState {
    const nightId = id();
    definition = parseDefinition(defaultQuestionnaire);
    return {
      deviceId: device,
      serverUrl,
      night: {
        id: nightId,
        date: '2026-01-29',
        label: 'Nuit de la Solidarité 2026',
        sectors: { 'S-01-03': { name: 'Les Halles – Beaubourg', arrondissement: 1, geojson: DEMO_SECTOR_GEOJSON } },
        questionnaire: { version: definition.version, definition: defaultQuestionnaire },
        teams: {},
      },
      team: {
        teamId: 'T-042',
        nightId,
        name: 'Équipe 42',
        sectors: ['S-01-03'],
        rounds: {},
        encounters: {},
        tallies: {},
        coverage: {},
      },
    };
  }

  function seed(): void {
    state = enrolState('https://carnet.example.org');
    const t0 = now() - 50 * 60_000;
    const roundId = id();
    state.team.rounds[roundId] = { id: roundId, sectorId: 'S-01-03', checkedInAt: t0, checkedOutAt: null, device };
    const base: Omit<Encounter, 'id' | 'recordedAt'> = {
      spaceType: 'street',
      placeDetail: 'Rue Rambuteau',
      installation: 'tent',
      situation: 'alone',
      counts: { men: 1, women: 0, unknownSex: 0, children: 0, pregnantWomen: 0 },
      interview: 'asleep',
      observedSex: 'male',
      ageBand: 'from45To54',
      alerts: { vulnerableWoman: false, minor: false, health: false },
      position: { lat: 48.8616, lon: 2.3475 },
      distinctiveSigns: null,
      questionnaireVersion: null,
      answers: {},
      sourceDevice: device,
      withdrawn: false,
    };
    const a = id();
    state.team.encounters[a] = { ...base, id: a, recordedAt: t0 + 12 * 60_000 };
    acknowledged.add(a);
    const b = id();
    state.team.encounters[b] = {
      ...base,
      id: b,
      recordedAt: t0 + 31 * 60_000,
      spaceType: 'metroRer',
      placeDetail: 'Châtelet, sortie 4',
      installation: 'none',
      situation: 'coupleWithoutChildren',
      counts: { men: 1, women: 1, unknownSex: 0, children: 0, pregnantWomen: 0 },
      interview: 'accepted',
      observedSex: null,
      ageBand: null,
      position: null,
      questionnaireVersion: 2026,
      answers: { sex: { kind: 'choice', value: 'female' }, ageBand: { kind: 'declines' } },
    };
    // A draft left open mid-questionnaire, as after the app was killed.
    drafts.set(DEMO_DRAFT_ID, {
      id: DEMO_DRAFT_ID,
      startedAt: now() - 3 * 60_000,
      spaceType: 'street',
      placeDetail: 'Square des Innocents',
      installation: 'makeshiftCabinOrVehicle',
      situation: 'alone',
      counts: { men: 0, women: 1, unknownSex: 0, children: 0, pregnantWomen: 0 },
      interview: 'accepted',
      observedSex: null,
      ageBand: null,
      alerts: { vulnerableWoman: false, minor: false, health: false },
      position: { lat: 48.8607, lon: 2.3486 },
      distinctiveSigns: null,
      questionnaireVersion: 2026,
      answers: {
        sex: { kind: 'choice', value: 'female' },
        ageBand: { kind: 'choice', value: 'from25To34' },
        withWhom: { kind: 'choice', value: 'alone' },
        called115: { kind: 'choice', value: 'never' },
      },
    });
    state.team.tallies['street:male:from35To44'] = 2;
    state.team.tallies['street:female:unknown'] = 1;
    sync = { phase: 'idle', pending: 0, lastSyncAt: now() - 4 * 60_000, error: null };
  }
  if (opts.seed) seed();

  function syncNow(): void {
    if (!state && pendingUrl) {
      state = enrolState(pendingUrl);
      pendingUrl = null;
      changed();
    }
    if (!state) return;
    for (const k of Object.keys(state.team.encounters)) acknowledged.add(k);
    pendingOther = 0;
    sync = { phase: 'idle', pending: 0, lastSyncAt: now(), error: null };
    emitSync();
  }
  if (opts.syncEveryMs && opts.syncEveryMs > 0) setInterval(syncNow, opts.syncEveryMs);

  function record(e: Encounter): void {
    team().team.encounters[e.id] = e;
    acknowledged.delete(e.id);
  }

  return {
    syncNow,
    failNext: (code) => {
      nextFailure = code;
    },
    enrol: (serverUrl, code) =>
      run(() => {
        let url: URL;
        try {
          url = new URL(serverUrl.trim());
        } catch {
          throw fail('invalidServerUrl', 'not a URL');
        }
        if (url.protocol !== 'https:' && url.protocol !== 'http:') throw fail('invalidServerUrl', 'not http(s)');
        const c = code.trim().toUpperCase();
        if (c === 'USED-0000') throw fail('enrolmentCodeUsed', 'code already used');
        if (c === 'DOWN-0000') throw fail('serverUnreachable', 'connection refused');
        if (c === 'WAIT-0000') {
          // Enrolled, documents not arrived: they come with the next `syncNow()`.
          pendingUrl = url.toString();
          throw fail('enrolmentPending', 'documents have not arrived yet');
        }
        if (!/^[A-Z0-9]{4}-?[A-Z0-9]{4}$/.test(c)) throw fail('invalidEnrolmentCode', 'unknown code');
        state = enrolState(url.toString());
        changed();
        return state;
      }),
    getTeamState: () => run(() => state),
    getEnrolment: () =>
      run(() =>
        state
          ? { kind: 'team' as const, name: state.team.name, serverUrl: state.serverUrl }
          : pendingUrl
            ? { kind: 'team' as const, name: 'Équipe 42', serverUrl: pendingUrl }
            : null,
      ),
    listDrafts: () => run(() => [...drafts.values()]),
    saveDraft: (draft) =>
      run(() => {
        team();
        // JSON, not structuredClone: callers may pass Svelte state proxies, as IPC would serialise them.
        drafts.set(draft.id, JSON.parse(JSON.stringify(draft)) as EncounterDraft);
      }),
    discardDraft: (draftId) =>
      run(() => {
        drafts.delete(draftId);
      }),
    recordEncounter: (draft) =>
      run(() => {
        const s = team();
        const check = checkDraft(draft, definition);
        const e = draftToEncounter(draft, definition, s.deviceId);
        if (!e || !isRecordable(check)) {
          const err: BackendError = {
            code: 'invalidEncounter',
            message: 'encounter is incomplete or inconsistent',
            issues: [...check.missing.map((m) => `missing:${m}`), ...check.issues],
          };
          throw err;
        }
        if (s.team.encounters[e.id]) throw fail('invalidInput', 'encounter already recorded');
        record(e);
        drafts.delete(draft.id);
        changed();
        return e;
      }),
    editEncounter: (encId: Uuid, edit: EncounterEdit) =>
      run(() => {
        const s = team();
        const e = s.team.encounters[encId];
        if (!e) throw fail('notFound', 'no such encounter');
        if (!isEditable(s.team, e)) throw fail('roundClosed', 'round closed');
        const n = applyEdit(e, edit);
        record(n);
        changed();
        return n;
      }),
    addToTally: (dimension: TallyKey, delta: number) =>
      run(() => {
        const s = team();
        if (!parseTallyKey(dimension) || !Number.isSafeInteger(delta)) throw fail('invalidInput', 'bad tally');
        const v = (s.team.tallies[dimension] ?? 0) + delta;
        s.team.tallies[dimension] = v;
        pendingOther++;
        changed();
        return v;
      }),
    checkIn: (sectorId: SectorId | null) =>
      run(() => {
        const s = team();
        if (openRound(s.team)) throw fail('roundAlreadyOpen', 'round already open');
        const r: Round = { id: id(), sectorId, checkedInAt: now(), checkedOutAt: null, device: s.deviceId };
        s.team.rounds[r.id] = r;
        pendingOther++;
        changed();
        return r;
      }),
    checkOut: () =>
      run(() => {
        const s = team();
        const r = openRound(s.team);
        if (!r) throw fail('noOpenRound', 'no open round');
        r.checkedOutAt = now();
        pendingOther++;
        changed();
        return r;
      }),
    markSectorCovered: (sectorId: SectorId, zeroFound: boolean) =>
      run(() => {
        const s = team();
        if (!s.team.sectors.includes(sectorId)) throw fail('notFound', 'sector not assigned');
        const c: SectorCoverage = {
          status: zeroFound ? 'coveredNoneFound' : 'covered',
          updatedAt: now(),
          device: s.deviceId,
        };
        s.team.coverage[sectorId] = c;
        pendingOther++;
        changed();
        return c;
      }),
    listEncounters: () =>
      run((): EncounterRecord[] =>
        Object.values(team().team.encounters)
          .sort((a, b) => b.recordedAt - a.recordedAt)
          .map((encounter) => ({ encounter, syncState: acknowledged.has(encounter.id) ? 'server' : 'device' })),
      ),
    raiseAlert: (alert: AlertRequest) =>
      run(() => {
        const s = team();
        if (alert.encounterId === null) {
          pendingOther++;
        } else if (s.team.encounters[alert.encounterId]) {
          let e = s.team.encounters[alert.encounterId];
          for (const k of alert.kinds) e = { ...e, alerts: { ...e.alerts, [k]: true } };
          record(e);
        } else if (drafts.has(alert.encounterId)) {
          const d = drafts.get(alert.encounterId)!;
          for (const k of alert.kinds) d.alerts[k] = true;
        } else throw fail('notFound', 'no such encounter');
        changed();
      }),
    getSyncStatus: () => run(() => ({ ...sync, pending: pending() })),
    reconnectNow: () => run(() => syncNow()),
    onSyncStatus: async (handler) => {
      syncListeners.add(handler);
      return () => syncListeners.delete(handler);
    },
    onTeamChanged: async (handler) => {
      teamListeners.add(handler);
      return () => teamListeners.delete(handler);
    },
    // The dev backend has no server to refuse its token.
    onAccessRevoked: async () => () => undefined,
  };
}
