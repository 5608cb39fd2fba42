import { describe, expect, it } from 'vitest';
import { AGE_BANDS, OBSERVED_SEXES, SPACE_TYPES } from './model';
import { parseTallyKey, tallyKey, tallySum } from './tally';

describe('tally keys', () => {
  it('are built like the Rust TallyDimension::key', () => {
    expect(tallyKey({ spaceType: 'metroRer', sex: 'female', ageBand: 'from25To34' })).toBe('metroRer:female:from25To34');
  });

  it('are distinct for all 8 × 3 × 8 dimensions and round-trip', () => {
    const keys = new Set<string>();
    for (const spaceType of SPACE_TYPES)
      for (const sex of OBSERVED_SEXES)
        for (const ageBand of AGE_BANDS) {
          const k = tallyKey({ spaceType, sex, ageBand });
          keys.add(k);
          expect(parseTallyKey(k)).toEqual({ spaceType, sex, ageBand });
        }
    expect(keys.size).toBe(192);
  });

  it.each(['', 'street', 'street:male', 'street:male:from65:x', 'street:male:old', 'x:male:from65', 'Street:male:from65'])(
    'rejects malformed key %j',
    (k) => expect(parseTallyKey(k)).toBeNull(),
  );

  it('sums by space type and sex, ignoring unknown keys', () => {
    const t = { 'street:male:from65': 2, 'street:female:unknown': 3, 'woods:male:under18': 1, bogus: 100 };
    expect(tallySum(t)).toBe(6);
    expect(tallySum(t, 'street')).toBe(5);
    expect(tallySum(t, 'street', 'male')).toBe(2);
  });
});
