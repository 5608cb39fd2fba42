// Mirrors of `carnet_shared::climate` types as their serde JSON (snake_case, as the server API).
export type AlertLevel = 'vert' | 'jaune' | 'orange' | 'rouge';
export type PlaceKind = 'cool-room' | 'green-space' | 'fountain';
export type Handout = 'eau' | 'eventail' | 'brumisateur' | 'depliant';

export interface Section { id: string; title: string; paragraphs: string[] }
export interface ChecklistItem { id: string; label: string; hint?: string }
export interface Checklist { id: string; title: string; items: ChecklistItem[] }
export interface EmergencyNumber { number: string; label: string; when: string }

export interface Place {
  id: string;
  kind: PlaceKind;
  name: string;
  lat: number;
  lon: number;
  address?: string;
  arrondissement?: string;
  hours?: string;
  available?: boolean;
}

export interface Kit {
  format: number;
  id: string;
  title: string;
  version: string;
  sections: Section[];
  checklists: Checklist[];
  emergency_numbers: EmergencyNumber[];
  places: Place[];
  level_actions: Partial<Record<AlertLevel, string[]>>;
}

export interface AlertState { level: AlertLevel; set_at: number }

/** The `kit` document as the device holds it. */
export interface KitDocument {
  kit: Kit | null;
  published_at: number | null;
  alert: AlertState;
  places: Place[];
}

export interface Nearby { place: Place; distance_m: number }

/** One visit of the group (pseudonymous: a time, an arrondissement, the ticks). */
export interface Visit {
  id: string;
  at: number;
  area: string;
  checklist_id: string;
  ticks: Record<string, boolean>;
  items: Partial<Record<Handout, number>>;
  alert: boolean;
}

/** The group's `field` document. */
export interface Field {
  group_id: string;
  name: string;
  visits: Record<string, Visit>;
  handed_out: Partial<Record<Handout, number>>;
}

/** What the app knows about a device enrolled as a climate volunteer. */
export interface VolunteerState {
  device_id: string;
  server_url: string;
  group_name: string;
  field: Field;
}

/** Paris arrondissements as visits record them (postal codes). */
export const AREAS: { code: string; label: string }[] = Array.from({ length: 20 }, (_, i) => ({
  code: `750${String(i + 1).padStart(2, '0')}`,
  label: i === 0 ? '1er arrondissement' : `${i + 1}e arrondissement`,
}));

/** The group's visits, newest first. */
export function visitsNewestFirst(field: Field): Visit[] {
  return Object.values(field.visits).sort((a, b) => b.at - a.at || b.id.localeCompare(a.id));
}

export const LEVEL_LABELS: Record<AlertLevel, string> = {
  vert: 'Niveau 1 — veille saisonnière',
  jaune: 'Niveau 2 — avertissement chaleur',
  orange: 'Niveau 3 — alerte canicule',
  rouge: 'Niveau 4 — mobilisation maximale',
};

export const KIND_LABELS: Record<PlaceKind, string> = {
  'cool-room': 'Lieu rafraîchi',
  'green-space': 'Espace vert frais',
  fountain: 'Fontaine à boire',
};

/** "80 m", "950 m", "1,6 km", "12 km". */
export function formatDistance(metres: number): string {
  if (metres < 1000) return `${Math.round(metres / 10) * 10} m`;
  const km = metres / 1000;
  return km < 10 ? `${km.toFixed(1).replace('.', ',')} km` : `${Math.round(km)} km`;
}

/** The actions of the kit for the current level (none without a kit). */
export function currentActions(doc: KitDocument): string[] {
  return doc.kit?.level_actions[doc.alert.level] ?? [];
}

/** What volunteers hand out (`carnet_shared::climate::Handout`), in the order shown. */
export const HANDOUTS: { kind: Handout; label: string }[] = [
  { kind: 'eau', label: 'Bouteilles d’eau' },
  { kind: 'eventail', label: 'Éventails' },
  { kind: 'brumisateur', label: 'Brumisateurs' },
  { kind: 'depliant', label: 'Dépliants' },
];
