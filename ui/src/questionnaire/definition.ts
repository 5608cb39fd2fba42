// Questionnaire definitions (format in FORMAT.md): types and a strict parser. A definition comes
// from the night document, written by coordinators; the app must refuse one it cannot render
// faithfully (newer format, typo in skip logic) rather than show a wrong form.

export const SUPPORTED_FORMAT_VERSION = 1;

export interface Text {
  fr: string;
  en: string;
}

export interface Option {
  code: string;
  label: Text;
  /** Multiple choice only: this option cannot be combined with others ("none of these"). */
  exclusive?: boolean;
}

/** Skip logic: conditions on the answers to earlier questions. */
export type Condition =
  | { question: string; equals: string }
  | { question: string; in: string[] }
  | { question: string; includes: string }
  | { question: string; min?: number; max?: number }
  | { question: string; answered: boolean }
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition };

interface QuestionBase {
  id: string;
  label: Text;
  help?: Text;
  /** Heading shown when it changes from the previous question's. */
  section?: Text;
  required: boolean;
  showIf?: Condition;
}

export type Question =
  | (QuestionBase & { type: 'single'; options: Option[] })
  | (QuestionBase & { type: 'multiple'; options: Option[] })
  | (QuestionBase & { type: 'integer'; min?: number; max?: number; unit?: Text })
  | (QuestionBase & { type: 'text'; maxLength: number });

export type QuestionType = Question['type'];

export interface Definition {
  formatVersion: number;
  id: string;
  version: number;
  title: Text;
  questions: Question[];
}

export type DefinitionErrorCode = 'notJson' | 'unsupportedFormatVersion' | 'invalid';

/** A definition the app cannot use. `path` points into the JSON (e.g. `questions[3].showIf`). */
export class DefinitionError extends Error {
  readonly code: DefinitionErrorCode;
  readonly path: string;
  readonly text: Text;
  constructor(code: DefinitionErrorCode, path: string, text: Text) {
    super(`${code} at ${path || '(root)'}: ${text.en}`);
    this.name = 'DefinitionError';
    this.code = code;
    this.path = path;
    this.text = text;
  }
}

const ID = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const QUESTION_KEYS: Record<QuestionType, string[]> = {
  single: ['options'],
  multiple: ['options'],
  integer: ['min', 'max', 'unit'],
  text: ['maxLength'],
};
const BASE_KEYS = ['id', 'type', 'label', 'help', 'section', 'required', 'showIf'];

function invalid(path: string, fr: string, en: string): never {
  throw new DefinitionError('invalid', path, { fr: `Questionnaire invalide (${path}) : ${fr}`, en: `Invalid questionnaire (${path}): ${en}` });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(o: Record<string, unknown>, allowed: string[], path: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) invalid(path, `clé inconnue « ${k} »`, `unknown key "${k}"`);
  }
}

function text(v: unknown, path: string): Text {
  if (!isObject(v)) invalid(path, 'libellé attendu { fr, en }', 'label { fr, en } expected');
  onlyKeys(v, ['fr', 'en'], path);
  if (typeof v.fr !== 'string' || !v.fr.trim() || typeof v.en !== 'string' || !v.en.trim())
    invalid(path, 'libellé français et anglais non vides attendus', 'non-empty French and English labels expected');
  return { fr: v.fr, en: v.en };
}

function integer(v: unknown, path: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    invalid(path, 'entier attendu', 'integer expected');
  return v;
}

function options(v: unknown, path: string): Option[] {
  if (!Array.isArray(v) || v.length === 0) invalid(path, 'liste de choix non vide attendue', 'non-empty list of options expected');
  const seen = new Set<string>();
  return v.map((o, i) => {
    const p = `${path}[${i}]`;
    if (!isObject(o)) invalid(p, 'choix attendu', 'option expected');
    onlyKeys(o, ['code', 'label', 'exclusive'], p);
    if (typeof o.code !== 'string' || !ID.test(o.code)) invalid(`${p}.code`, 'code invalide', 'invalid code');
    if (seen.has(o.code)) invalid(`${p}.code`, `code en double « ${o.code} »`, `duplicate code "${o.code}"`);
    seen.add(o.code);
    const opt: Option = { code: o.code, label: text(o.label, `${p}.label`) };
    if (o.exclusive !== undefined) {
      if (typeof o.exclusive !== 'boolean') invalid(`${p}.exclusive`, 'booléen attendu', 'boolean expected');
      opt.exclusive = o.exclusive;
    }
    return opt;
  });
}

function condition(v: unknown, path: string, earlier: Map<string, Question>): Condition {
  if (!isObject(v)) invalid(path, 'condition attendue', 'condition expected');
  for (const comb of ['all', 'any'] as const) {
    if (comb in v) {
      onlyKeys(v, [comb], path);
      const list = v[comb];
      if (!Array.isArray(list) || list.length === 0) invalid(path, 'liste de conditions attendue', 'list of conditions expected');
      const conds = list.map((c, i) => condition(c, `${path}.${comb}[${i}]`, earlier));
      return comb === 'all' ? { all: conds } : { any: conds };
    }
  }
  if ('not' in v) {
    onlyKeys(v, ['not'], path);
    return { not: condition(v.not, `${path}.not`, earlier) };
  }
  if (typeof v.question !== 'string') invalid(path, 'question attendue', 'question expected');
  const target = earlier.get(v.question);
  // Only earlier questions: the form reads top to bottom and the logic can never loop.
  if (!target) invalid(`${path}.question`, `« ${v.question} » n'est pas une question précédente`, `"${v.question}" is not an earlier question`);
  const q = v.question;
  const codes = target.type === 'single' || target.type === 'multiple' ? target.options.map((o) => o.code) : [];
  const knownCode = (c: unknown, p: string): string => {
    if (typeof c !== 'string' || !codes.includes(c)) invalid(p, 'code de choix inconnu', 'unknown option code');
    return c;
  };
  if ('equals' in v) {
    onlyKeys(v, ['question', 'equals'], path);
    if (target.type !== 'single') invalid(path, '« equals » demande une question à choix unique', '"equals" needs a single-choice question');
    return { question: q, equals: knownCode(v.equals, `${path}.equals`) };
  }
  if ('in' in v) {
    onlyKeys(v, ['question', 'in'], path);
    if (target.type !== 'single') invalid(path, '« in » demande une question à choix unique', '"in" needs a single-choice question');
    if (!Array.isArray(v.in) || v.in.length === 0) invalid(`${path}.in`, 'liste de codes attendue', 'list of codes expected');
    return { question: q, in: v.in.map((c, i) => knownCode(c, `${path}.in[${i}]`)) };
  }
  if ('includes' in v) {
    onlyKeys(v, ['question', 'includes'], path);
    if (target.type !== 'multiple') invalid(path, '« includes » demande une question à choix multiples', '"includes" needs a multiple-choice question');
    return { question: q, includes: knownCode(v.includes, `${path}.includes`) };
  }
  if ('min' in v || 'max' in v) {
    onlyKeys(v, ['question', 'min', 'max'], path);
    if (target.type !== 'integer') invalid(path, '« min »/« max » demandent une question numérique', '"min"/"max" need an integer question');
    const c: { question: string; min?: number; max?: number } = { question: q };
    if (v.min !== undefined) c.min = integer(v.min, `${path}.min`);
    if (v.max !== undefined) c.max = integer(v.max, `${path}.max`);
    return c;
  }
  if ('answered' in v) {
    onlyKeys(v, ['question', 'answered'], path);
    if (typeof v.answered !== 'boolean') invalid(`${path}.answered`, 'booléen attendu', 'boolean expected');
    return { question: q, answered: v.answered };
  }
  invalid(path, 'condition inconnue', 'unknown condition');
}

function question(v: unknown, path: string, earlier: Map<string, Question>): Question {
  if (!isObject(v)) invalid(path, 'question attendue', 'question expected');
  const type = v.type;
  if (type !== 'single' && type !== 'multiple' && type !== 'integer' && type !== 'text')
    invalid(`${path}.type`, 'type single, multiple, integer ou text attendu', 'type single, multiple, integer or text expected');
  onlyKeys(v, [...BASE_KEYS, ...QUESTION_KEYS[type]], path);
  if (typeof v.id !== 'string' || !ID.test(v.id)) invalid(`${path}.id`, 'identifiant invalide', 'invalid id');
  if (earlier.has(v.id)) invalid(`${path}.id`, `identifiant en double « ${v.id} »`, `duplicate id "${v.id}"`);
  if (typeof v.required !== 'boolean') invalid(`${path}.required`, 'booléen attendu', 'boolean expected');
  const base: QuestionBase = { id: v.id, label: text(v.label, `${path}.label`), required: v.required };
  if (v.help !== undefined) base.help = text(v.help, `${path}.help`);
  if (v.section !== undefined) base.section = text(v.section, `${path}.section`);
  if (v.showIf !== undefined) base.showIf = condition(v.showIf, `${path}.showIf`, earlier);
  switch (type) {
    case 'single':
    case 'multiple':
      return { ...base, type, options: options(v.options, `${path}.options`) };
    case 'integer': {
      const q: Question = { ...base, type };
      if (v.min !== undefined) q.min = integer(v.min, `${path}.min`);
      if (v.max !== undefined) q.max = integer(v.max, `${path}.max`);
      if (q.min !== undefined && q.max !== undefined && q.min > q.max) invalid(path, 'min supérieur à max', 'min greater than max');
      if (v.unit !== undefined) q.unit = text(v.unit, `${path}.unit`);
      return q;
    }
    case 'text':
      return { ...base, type, maxLength: integer(v.maxLength, `${path}.maxLength`, 1, 10_000) };
  }
}

/** Parses and checks a definition (JSON text or an already parsed value). Throws `DefinitionError`. */
export function parseDefinition(input: string | unknown): Definition {
  let v: unknown = input;
  if (typeof input === 'string') {
    try {
      v = JSON.parse(input);
    } catch {
      throw new DefinitionError('notJson', '', {
        fr: "Le questionnaire reçu n'est pas lisible (JSON invalide).",
        en: 'The questionnaire received cannot be read (invalid JSON).',
      });
    }
  }
  if (!isObject(v)) invalid('', 'objet attendu', 'object expected');
  const fv = integer(v.formatVersion, 'formatVersion', 1);
  if (fv > SUPPORTED_FORMAT_VERSION) {
    throw new DefinitionError('unsupportedFormatVersion', 'formatVersion', {
      fr: `Ce questionnaire demande une version plus récente de l'application (format ${fv}, cette version lit le format ${SUPPORTED_FORMAT_VERSION}). Mettez l'application à jour.`,
      en: `This questionnaire needs a newer version of the app (format ${fv}, this version reads format ${SUPPORTED_FORMAT_VERSION}). Please update the app.`,
    });
  }
  onlyKeys(v, ['formatVersion', 'id', 'version', 'title', 'questions', '$comment'], '');
  if (typeof v.id !== 'string' || !v.id.trim()) invalid('id', 'identifiant attendu', 'id expected');
  // The encounter stores the version as a Rust u32.
  const version = integer(v.version, 'version', 1, 4_294_967_295);
  const title = text(v.title, 'title');
  if (!Array.isArray(v.questions) || v.questions.length === 0) invalid('questions', 'liste de questions non vide attendue', 'non-empty list of questions expected');
  const earlier = new Map<string, Question>();
  const questions = v.questions.map((q, i) => {
    const parsed = question(q, `questions[${i}]`, earlier);
    earlier.set(parsed.id, parsed);
    return parsed;
  });
  return { formatVersion: fv, id: v.id, version, title, questions };
}
