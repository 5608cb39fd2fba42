// Test helpers: the shipped default definition and a small hand-made one.
import defaultJson from '../../../shared/questionnaire/default-2026.json?raw';
import { parseDefinition, type Definition } from './definition';

export const DEFAULT_JSON = defaultJson;
export const defaultDefinition = (): Definition => parseDefinition(defaultJson);

const L = (s: string) => ({ fr: `${s} (fr)`, en: `${s} (en)` });

/** a (single) → b (single, if a=yes) → c (integer, if b=often) ; d (multiple) → e (text, if d includes other). */
export function smallDefinition(): Record<string, unknown> {
  return {
    formatVersion: 1,
    id: 'small',
    version: 7,
    title: L('Small'),
    questions: [
      { id: 'a', type: 'single', label: L('A'), required: true, options: [{ code: 'yes', label: L('Yes') }, { code: 'no', label: L('No') }] },
      { id: 'b', type: 'single', label: L('B'), required: true, showIf: { question: 'a', equals: 'yes' }, options: [{ code: 'often', label: L('Often') }, { code: 'rarely', label: L('Rarely') }] },
      { id: 'c', type: 'integer', label: L('C'), required: true, min: 1, max: 10, showIf: { question: 'b', equals: 'often' } },
      { id: 'd', type: 'multiple', label: L('D'), required: false, options: [{ code: 'x', label: L('X') }, { code: 'other', label: L('Other') }, { code: 'none', label: L('None'), exclusive: true }] },
      { id: 'e', type: 'text', label: L('E'), required: true, maxLength: 5, showIf: { question: 'd', includes: 'other' } },
    ],
  };
}
