// Pure helpers of the coordinator's climate screens: kit edits (items added, removed, moved,
// renamed — ids stay stable), issues per field, progress rows per arrondissement.
import { AREAS, HANDOUTS, type AlertLevel, type Handout, type Kit } from '../../climate/model';

export { HANDOUTS };

/** One problem of an edited kit, at a JSON path of the kit (`checklists[0].items[2].label`). */
export interface KitIssue { path: string; message: string }
export interface KitCheck { ok: boolean; issues: KitIssue[]; kit: Kit | null }
export interface KitPublished { report: { unknown_fields: string[]; missing_sections: string[]; rejected: { path: string; reason: string }[] } }
export interface LevelSet { level: AlertLevel; label: string; set_at: number }

export interface AreaProgress {
  visits: number;
  alerts: number;
  ticked_items: number;
  items: Partial<Record<Handout, number>>;
  last_visit_at: number | null;
}

/** `carnet_shared::climate::Progress` as the server answers it. */
export interface ClimateProgress {
  areas: Record<string, AreaProgress>;
  totals: { groups: number; visits: number; alerts: number; handed_out: Partial<Record<Handout, number>> };
}

/** The four levels with the Météo-France vigilance colours. */
export const LEVELS: { level: AlertLevel; label: string; colour: string }[] = [
  { level: 'vert', label: 'Niveau 1 — veille saisonnière', colour: '#2e7d32' },
  { level: 'jaune', label: 'Niveau 2 — avertissement chaleur', colour: '#f9d71c' },
  { level: 'orange', label: 'Niveau 3 — alerte canicule', colour: '#ef8a00' },
  { level: 'rouge', label: 'Niveau 4 — mobilisation maximale', colour: '#d32f2f' },
];

/** A stable id from a label: lowercase ASCII, digits, `-`; `-2`, `-3`… if taken. */
export function newId(label: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  const base =
    label
      .normalize('NFD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 56) || 'element';
  let id = base;
  for (let n = 2; used.has(id); n++) id = `${base}-${n}`;
  return id;
}

/** A deep copy to edit (the kit read from the server stays as it was). */
export function editable(kit: Kit): Kit {
  // JSON, not structuredClone: the kit may be a Svelte state proxy.
  const copy = JSON.parse(JSON.stringify(kit)) as Kit;
  for (const { level } of LEVELS) copy.level_actions[level] ??= [];
  return copy;
}

export function addItem(kit: Kit, list: number, label: string): Kit {
  const c = kit.checklists[list];
  const text = label.trim();
  if (!c || !text) return kit;
  c.items.push({ id: newId(text, c.items.map((i) => i.id)), label: text });
  return kit;
}

export function removeItem(kit: Kit, list: number, index: number): Kit {
  kit.checklists[list]?.items.splice(index, 1);
  return kit;
}

/** Moves an item up (-1) or down (+1); nothing at the ends. */
export function moveItem(kit: Kit, list: number, index: number, by: -1 | 1): Kit {
  const items = kit.checklists[list]?.items;
  const to = index + by;
  if (!items || to < 0 || to >= items.length) return kit;
  [items[index], items[to]] = [items[to], items[index]];
  return kit;
}

/** Paragraphs as one text, separated by a blank line, and back. */
export function paragraphsText(paragraphs: string[]): string {
  return paragraphs.join('\n\n');
}
export function textParagraphs(text: string): string[] {
  return text.split(/\n\s*\n/).map((p) => p.trim()).filter((p) => p.length > 0);
}

/** One action per line. */
export function textLines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
}

/** The issues at `path` or inside it (`sections[0]` gets `sections[0].paragraphs[1]`). */
export function issuesAt(issues: KitIssue[], path: string): KitIssue[] {
  return issues.filter((i) => i.path === path || i.path.startsWith(`${path}.`) || i.path.startsWith(`${path}[`));
}

export interface AreaRow extends AreaProgress { code: string; label: string; handedOut: number }

/** One row per arrondissement with visits, in arrondissement order. */
export function areaRows(p: ClimateProgress): AreaRow[] {
  return Object.entries(p.areas)
    .map(([code, a]) => ({
      ...a,
      code,
      label: AREAS.find((x) => x.code === code)?.label ?? (code === '75116' ? '16e arrondissement (nord)' : code),
      handedOut: Object.values(a.items).reduce((n, v) => n + (v ?? 0), 0),
    }))
    .sort((a, b) => a.code.localeCompare(b.code));
}

/** "2 bouteilles d’eau, 1 dépliant"-like detail: `Bouteilles d’eau 2 · Dépliants 1`. */
export function itemsDetail(items: Partial<Record<Handout, number>>): string {
  return HANDOUTS.filter((h) => (items[h.kind] ?? 0) > 0)
    .map((h) => `${h.label} ${items[h.kind]}`)
    .join(' · ');
}

/** "1 visite", "0 visite", "3 visites" (French: plural from 2). */
export function plural(n: number, word: string): string {
  return n >= 2 ? `${word}s` : word;
}
