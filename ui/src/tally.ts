// Tally keys, exactly as the Rust `TallyDimension::key`: `spaceType:sex:ageBand`.
import { AGE_BANDS, OBSERVED_SEXES, SPACE_TYPES, type AgeBand, type ObservedSex, type SpaceType } from './model';

export interface TallyDimension {
  spaceType: SpaceType;
  sex: ObservedSex;
  ageBand: AgeBand;
}

export type TallyKey = `${SpaceType}:${ObservedSex}:${AgeBand}`;

export function tallyKey(d: TallyDimension): TallyKey {
  return `${d.spaceType}:${d.sex}:${d.ageBand}`;
}

/** Parses a key; `null` when it is not three known codes. */
export function parseTallyKey(key: string): TallyDimension | null {
  const parts = key.split(':');
  if (parts.length !== 3) return null;
  const [s, x, a] = parts;
  if (!(SPACE_TYPES as readonly string[]).includes(s)) return null;
  if (!(OBSERVED_SEXES as readonly string[]).includes(x)) return null;
  if (!(AGE_BANDS as readonly string[]).includes(a)) return null;
  return { spaceType: s as SpaceType, sex: x as ObservedSex, ageBand: a as AgeBand };
}

/** Sum of the tallies of one type of space (and optionally one sex). */
export function tallySum(
  tallies: Record<string, number>,
  spaceType?: SpaceType,
  sex?: ObservedSex,
): number {
  let sum = 0;
  for (const [key, n] of Object.entries(tallies)) {
    const d = parseTallyKey(key);
    if (!d) continue;
    if (spaceType && d.spaceType !== spaceType) continue;
    if (sex && d.sex !== sex) continue;
    sum += n;
  }
  return sum;
}
