// Pure questionnaire logic: which questions show, whether answers are valid, and which answers
// must go when a question becomes hidden (an answer to a hidden question is data nobody meant to
// record: it is pruned, not kept "just in case").
import type { Answer, Answers } from '../model';
import type { Condition, Definition, Question, Text } from './definition';

/** Is this answer a real value (not "doesn't know"/"declines")? Conditions only look at values. */
function valueOf(a: Answer | undefined): Answer | undefined {
  if (!a || a.kind === 'doesNotKnow' || a.kind === 'declines') return undefined;
  return a;
}

export function evaluate(c: Condition, answers: Answers, visible: Set<string>): boolean {
  if ('all' in c) return c.all.every((x) => evaluate(x, answers, visible));
  if ('any' in c) return c.any.some((x) => evaluate(x, answers, visible));
  if ('not' in c) return !evaluate(c.not, answers, visible);
  // A hidden question has no answer as far as the logic is concerned.
  const raw = visible.has(c.question) ? answers[c.question] : undefined;
  if ('answered' in c) return (raw !== undefined) === c.answered;
  const a = valueOf(raw);
  if (!a) return false;
  if ('equals' in c) return a.kind === 'choice' && a.value === c.equals;
  if ('in' in c) return a.kind === 'choice' && c.in.includes(a.value);
  if ('includes' in c) return a.kind === 'choices' && a.value.includes(c.includes);
  if (a.kind !== 'number') return false;
  if (c.min !== undefined && a.value < c.min) return false;
  if (c.max !== undefined && a.value > c.max) return false;
  return true;
}

/** The questions to show, in order. Conditions only refer to earlier questions (checked at parse). */
export function visibleQuestions(def: Definition, answers: Answers): Question[] {
  const visible = new Set<string>();
  const out: Question[] = [];
  for (const q of def.questions) {
    if (!q.showIf || evaluate(q.showIf, answers, visible)) {
      visible.add(q.id);
      out.push(q);
    }
  }
  return out;
}

/** Answers restricted to visible, known questions. Returns a new object. */
export function pruneAnswers(def: Definition, answers: Answers): Answers {
  const out: Answers = {};
  for (const q of visibleQuestions(def, answers)) {
    if (answers[q.id] !== undefined) out[q.id] = answers[q.id];
  }
  return out;
}

/** Sets (or clears with `null`) one answer and prunes what became hidden. */
export function setAnswer(def: Definition, answers: Answers, id: string, answer: Answer | null): Answers {
  const next: Answers = { ...answers };
  if (answer === null) delete next[id];
  else next[id] = answer;
  return pruneAnswers(def, next);
}

export type AnswerIssueCode =
  | 'required'
  | 'wrongKind'
  | 'unknownOption'
  | 'empty'
  | 'duplicateOption'
  | 'exclusiveCombined'
  | 'notInteger'
  | 'belowMin'
  | 'aboveMax'
  | 'tooLong'
  | 'unknownQuestion'
  | 'hiddenQuestion';

export interface AnswerIssue {
  questionId: string;
  code: AnswerIssueCode;
}

/** Checks one answer against its question; `undefined` answer means not answered. */
export function checkAnswer(q: Question, a: Answer | undefined): AnswerIssueCode | null {
  if (a === undefined) return q.required ? 'required' : null;
  if (a.kind === 'doesNotKnow' || a.kind === 'declines') return null;
  switch (q.type) {
    case 'single':
      if (a.kind !== 'choice') return 'wrongKind';
      return q.options.some((o) => o.code === a.value) ? null : 'unknownOption';
    case 'multiple': {
      if (a.kind !== 'choices') return 'wrongKind';
      if (a.value.length === 0) return 'empty';
      if (new Set(a.value).size !== a.value.length) return 'duplicateOption';
      for (const code of a.value) if (!q.options.some((o) => o.code === code)) return 'unknownOption';
      const exclusive = q.options.filter((o) => o.exclusive).map((o) => o.code);
      if (a.value.length > 1 && a.value.some((c) => exclusive.includes(c))) return 'exclusiveCombined';
      return null;
    }
    case 'integer':
      if (a.kind !== 'number') return 'wrongKind';
      if (!Number.isSafeInteger(a.value)) return 'notInteger';
      if (q.min !== undefined && a.value < q.min) return 'belowMin';
      if (q.max !== undefined && a.value > q.max) return 'aboveMax';
      return null;
    case 'text':
      if (a.kind !== 'text') return 'wrongKind';
      // Counted in code points, like Rust's chars().count().
      return [...a.value].length > q.maxLength ? 'tooLong' : null;
  }
}

/** Every issue of a set of answers: visible questions checked, stray answers reported. */
export function validateAnswers(def: Definition, answers: Answers): AnswerIssue[] {
  const issues: AnswerIssue[] = [];
  const visible = visibleQuestions(def, answers);
  const visibleIds = new Set(visible.map((q) => q.id));
  for (const q of visible) {
    const code = checkAnswer(q, answers[q.id]);
    if (code) issues.push({ questionId: q.id, code });
  }
  const known = new Set(def.questions.map((q) => q.id));
  for (const id of Object.keys(answers)) {
    if (!known.has(id)) issues.push({ questionId: id, code: 'unknownQuestion' });
    else if (!visibleIds.has(id)) issues.push({ questionId: id, code: 'hiddenQuestion' });
  }
  return issues;
}

export function issueText(code: AnswerIssueCode, q?: Question): Text {
  const min = q && q.type === 'integer' ? q.min : undefined;
  const max = q && q.type === 'integer' ? q.max : undefined;
  const maxLength = q && q.type === 'text' ? q.maxLength : undefined;
  switch (code) {
    case 'required':
      return { fr: 'Réponse attendue (ou « Ne sait pas » / « Ne souhaite pas répondre »).', en: 'Answer needed (or "Doesn\'t know" / "Declines").' };
    case 'wrongKind':
      return { fr: 'Réponse d’un autre type que la question.', en: 'Answer of the wrong type.' };
    case 'unknownOption':
      return { fr: 'Choix inconnu pour cette version du questionnaire.', en: 'Unknown option for this questionnaire version.' };
    case 'empty':
      return { fr: 'Cochez au moins un choix.', en: 'Tick at least one option.' };
    case 'duplicateOption':
      return { fr: 'Choix en double.', en: 'Duplicate option.' };
    case 'exclusiveCombined':
      return { fr: 'Ce choix ne se combine pas avec les autres.', en: 'This option cannot be combined with others.' };
    case 'notInteger':
      return { fr: 'Nombre entier attendu.', en: 'Whole number expected.' };
    case 'belowMin':
      return { fr: `Au moins ${min}.`, en: `At least ${min}.` };
    case 'aboveMax':
      return { fr: `Au plus ${max}.`, en: `At most ${max}.` };
    case 'tooLong':
      return { fr: `${maxLength} caractères au plus.`, en: `${maxLength} characters at most.` };
    case 'unknownQuestion':
      return { fr: 'Réponse à une question absente de cette version.', en: 'Answer to a question not in this version.' };
    case 'hiddenQuestion':
      return { fr: 'Réponse à une question masquée.', en: 'Answer to a hidden question.' };
  }
}
