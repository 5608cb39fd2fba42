// The app's shared state: the backend, the team as last read, sync status, encounters and drafts.
// Screens read it and call the backend through it; `team-changed` and `sync-status` keep it fresh.
import type { AccessRevoked, Backend, BackendError, EncounterDraft, EncounterRecord, EnrolmentView, SyncStatus, TeamState } from '../backend';
import { toBackendError } from '../backend';
import type { ClimateBackend } from '../climate/backend';
import type { VolunteerState } from '../climate/model';
import type { AlertKind } from '../model';
import { parseDefinition, DefinitionError, type Definition } from '../questionnaire/definition';

export class AppState {
  backend = $state<Backend | null>(null);
  team = $state<TeamState | null>(null);
  /** The climate commands (inside the app only) and the volunteer's state, when enrolled as one. */
  climate = $state<ClimateBackend | null>(null);
  volunteer = $state<VolunteerState | null>(null);
  /**
   * The enrolment while its documents are on their way (code spent, team or kit not arrived):
   * the app shows it as waiting instead of offering the enrolment form again. `null` otherwise.
   */
  pendingEnrolment = $state<EnrolmentView | null>(null);
  sync = $state<SyncStatus>({ phase: 'idle', pending: 0, lastSyncAt: null, error: null });
  records = $state<EncounterRecord[]>([]);
  drafts = $state<EncounterDraft[]>([]);
  /** The draft or encounter on screen, for the alert sheet's "flag this encounter". */
  currentEncounterId = $state<string | null>(null);
  /** Alert flags raised from the alert sheet for the encounter on screen (the form merges them). */
  raisedFlags = $state<{ id: string; kinds: AlertKind[] } | null>(null);
  loaded = $state(false);
  fatal = $state<BackendError | null>(null);
  /** A lasting message from the server's side (the night closed by the coordination). */
  notice = $state<string | null>(null);
  /** A short message after an action (recorded, alert sent…). */
  toast = $state<string | null>(null);

  definition: { def: Definition | null; error: DefinitionError | null } = $derived.by(() => {
    const q = this.team?.night.questionnaire;
    if (!q) return { def: null, error: null };
    try {
      return { def: parseDefinition(q.definition), error: null };
    } catch (e) {
      return { def: null, error: e instanceof DefinitionError ? e : null };
    }
  });

  async start(backend: Backend, climate: ClimateBackend | null = null): Promise<void> {
    this.backend = backend;
    this.climate = climate;
    await backend.onSyncStatus((s) => {
      const before = this.sync.pending;
      this.sync = s;
      // Acknowledgements change no document (no `team-changed`) but do change which records
      // are "on the server": re-read when the pending count moves.
      if (this.team && s.pending !== before) void this.refresh();
      // Waiting for the documents: every status change may be their arrival.
      else if (this.pendingEnrolment) void this.refresh();
    });
    await backend.onTeamChanged(() => void this.refresh());
    await backend.onAccessRevoked((r) => {
      // A toast about a record just erased ("Rencontre enregistrée") must not sit under the
      // notice that says it is gone.
      this.toast = null;
      this.notice = accessRevokedNotice(r);
      void this.refresh();
    });
    await this.refresh();
    this.loaded = true;
  }

  async refresh(): Promise<void> {
    const b = this.backend;
    if (!b) return;
    try {
      this.team = await b.getTeamState();
      this.volunteer = !this.team && this.climate ? await this.climate.getState() : null;
      this.pendingEnrolment = !this.team && !this.volunteer ? await b.getEnrolment() : null;
      this.sync = await b.getSyncStatus();
      if (this.team) {
        this.records = await b.listEncounters();
        this.drafts = await b.listDrafts();
      }
    } catch (e) {
      this.fatal = toBackendError(e);
    }
  }

  say(message: string): void {
    this.toast = message;
    setTimeout(() => {
      if (this.toast === message) this.toast = null;
    }, 2500);
  }
}

/** The French notice for `access-revoked`. */
export function accessRevokedNotice(r: AccessRevoked): string {
  if (r.outcome === 'erased')
    return 'La coordination a clôturé la nuit : les données de l’équipe ont été effacées de cet appareil.';
  const n = r.pending;
  return `Accès retiré par la coordination. ${n} modification${n > 1 ? 's' : ''} n’${n > 1 ? 'ont' : 'a'} pas atteint le serveur : ${n > 1 ? 'elles restent' : 'elle reste'} sur l’appareil. Prévenez la coordination.`;
}

export const app = new AppState();
