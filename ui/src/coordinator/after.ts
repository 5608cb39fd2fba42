// Wording and small computations of the after-the-night screens: exports, conflicts, purge.
import type { EncounterEdit, ExportKind, ExportProgress } from './backend';

export const EXPORTS: { kind: ExportKind; label: string; detail: string }[] = [
  { kind: 'encounters', label: 'Rencontres (CSV)', detail: 'une ligne par rencontre comptée' },
  { kind: 'questionnaires', label: 'Questionnaires (CSV)', detail: 'une ligne par questionnaire rempli' },
  { kind: 'totals', label: 'Totaux (CSV)', detail: 'les chiffres consolidés' },
  { kind: 'geojson', label: 'Carte des rencontres (GeoJSON)', detail: 'positions arrondies' },
];

/** GeoJSON precisions offered (decimals of degrees); the first, coarse one is the default. */
export const PRECISIONS: { decimals: number; label: string }[] = [
  { decimals: 3, label: '≈ 100 m (grossière, par défaut)' },
  { decimals: 2, label: '≈ 1 km (très grossière)' },
  { decimals: 4, label: '≈ 10 m (fine)' },
];

/** Share done (0–1), or null when the server announced no total (indeterminate bar). */
export function exportFraction(p: ExportProgress): number | null {
  if (p.done) return 1;
  if (p.totalRows !== null && p.totalRows > 0) return Math.min(1, p.rows / p.totalRows);
  if (p.totalBytes !== null && p.totalBytes > 0) return Math.min(1, p.bytes / p.totalBytes);
  return null;
}

export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} o`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1).replace('.', ',')} Ko`;
  return `${(bytes / (1024 * 1024)).toFixed(1).replace('.', ',')} Mo`;
}

/** "12 lignes sur 40 · 3,2 Ko". */
export function progressText(p: ExportProgress): string {
  const rows = p.totalRows !== null ? `${p.rows} ligne${p.rows > 1 ? 's' : ''} sur ${p.totalRows}` : `${p.rows} ligne${p.rows > 1 ? 's' : ''}`;
  return `${rows} · ${sizeText(p.bytes)}`;
}

const FIELD_FR: Record<string, string> = {
  spaceType: 'Type d’espace',
  placeDetail: 'Précision du lieu',
  installation: 'Installation',
  situation: 'Situation',
  men: 'Hommes',
  women: 'Femmes',
  unknownSex: 'Sexe inconnu',
  children: 'Enfants',
  pregnantWomen: 'Femmes enceintes',
  interview: 'Entretien',
  observedSex: 'Sexe observé',
  ageBand: 'Tranche d’âge',
  alertVulnerableWoman: 'Alerte femme vulnérable',
  alertMinor: 'Alerte mineur',
  alertHealth: 'Alerte santé',
  position: 'Position',
  distinctiveSigns: 'Signes distinctifs',
  questionnaireVersion: 'Version du questionnaire',
  withdrawn: 'Rencontre retirée',
};

/** The French name of a conflicting field (`answers.<id>` → "Réponse à <id>"). */
export function fieldLabel(field: string): string {
  if (field.startsWith('answers.')) return `Réponse à « ${field.slice('answers.'.length)} »`;
  return FIELD_FR[field] ?? field;
}

/** One conflicting value, as a coordinator reads it. */
export function valueText(edit: EncounterEdit): string {
  let v = edit.value;
  if (edit.field === 'answer' && v && typeof v === 'object' && 'answer' in v) v = (v as { answer: unknown }).answer;
  if (v === null || v === undefined) return '(vide)';
  if (typeof v === 'boolean') return v ? 'oui' : 'non';
  if (typeof v === 'number' || typeof v === 'string') return String(v);
  if (typeof v === 'object' && 'lat' in v && 'lon' in v) {
    const p = v as { lat: number; lon: number };
    return `${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}`;
  }
  return JSON.stringify(v);
}

/** Same edit (field and value)? Used to mark the chosen value. */
export function sameEdit(a: EncounterEdit | null, b: EncounterEdit): boolean {
  return a !== null && JSON.stringify(a) === JSON.stringify(b);
}

/** A fresh id for an export (to cancel it). */
export function newExportId(): string {
  return `exp-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
