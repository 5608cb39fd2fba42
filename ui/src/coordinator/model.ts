// Wording and small computations of the coordinator screens (French).
import type { SectorProgress, SectorState } from './backend';

export const STATE_FR: Record<SectorState, string> = {
  notStarted: 'Non commencé',
  inProgress: 'En cours',
  silent: 'Sans nouvelles',
  covered: 'Couvert',
  coveredNoneFound: 'Couvert, 0 personne',
  notAccessible: 'Inaccessible',
};

/** Same palette as the server's map (colour-blind-safe); the text always says the state too. */
export const STATE_COLOUR: Record<SectorState, string> = {
  notStarted: '#d9d9d9',
  inProgress: '#56b4e9',
  silent: '#e69f00',
  covered: '#009e73',
  coveredNoneFound: '#a6dba0',
  notAccessible: '#cc79a7',
};

function people(n: number): string {
  return n <= 1 ? `${n} personne` : `${n} personnes`;
}

/** One sector's state in words: "Couvert — 3 personnes", "Sans nouvelles depuis 42 min"… */
export function sectorStatus(s: SectorProgress): string {
  switch (s.state) {
    case 'covered':
      return `Couvert — ${people(s.persons)}`;
    case 'coveredNoneFound':
      return 'Couvert — 0 personne';
    case 'silent':
      return s.minutesSinceChange === null ? 'Sans nouvelles' : `Sans nouvelles depuis ${s.minutesSinceChange} min`;
    case 'inProgress':
      return `En cours — ${people(s.persons)}`;
    default:
      return STATE_FR[s.state];
  }
}

/** "il y a 4 min", "à l’instant", "jamais". */
export function since(minutes: number | null): string {
  if (minutes === null) return 'jamais';
  if (minutes < 1) return 'à l’instant';
  if (minutes < 60) return `il y a ${minutes} min`;
  return `il y a ${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')}`;
}

/** A share (0–1) as a French percentage with one decimal: "14,3 %". */
export function percent(share: number | null): string {
  if (share === null || !Number.isFinite(share)) return '—';
  return `${(share * 100).toLocaleString('fr-FR', { minimumFractionDigits: 1, maximumFractionDigits: 1 })} %`;
}

/** Integers with French grouping: "3 507". */
export function count(n: number): string {
  return n.toLocaleString('fr-FR');
}

/** The server's SVG map as an image URL (an `<img>` never runs scripts; CSP allows `data:`). */
export function svgDataUrl(svg: string): string {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

/** Sectors needing attention first (silent, then in progress…), then by name. */
export function sortSectors(sectors: SectorProgress[]): SectorProgress[] {
  const rank: Record<SectorState, number> = {
    silent: 0,
    inProgress: 1,
    notStarted: 2,
    notAccessible: 3,
    covered: 4,
    coveredNoneFound: 5,
  };
  return [...sectors].sort((a, b) => rank[a.state] - rank[b.state] || a.name.localeCompare(b.name, 'fr'));
}
