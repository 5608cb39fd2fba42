// French first, English on a switch. Every user-facing string lives here (or in the questionnaire
// definition), keyed in English.
import type { Text } from '../questionnaire/definition';

export type Lang = 'fr' | 'en';

function initialLang(): Lang {
  try {
    // `?lang=en` (screenshots, links from the coordinators' guide) wins over the saved choice.
    const q = typeof location !== 'undefined' ? new URLSearchParams(location.search).get('lang') : null;
    if (q === 'en' || q === 'fr') return q;
    return globalThis.localStorage?.getItem('carnet.lang') === 'en' ? 'en' : 'fr';
  } catch {
    return 'fr';
  }
}

export const i18n = $state({ lang: initialLang() as Lang });

export function setLang(l: Lang): void {
  i18n.lang = l;
  try {
    globalThis.localStorage?.setItem('carnet.lang', l);
  } catch {
    /* private mode: the choice just does not persist */
  }
  if (typeof document !== 'undefined') document.documentElement.lang = l;
}

/** The label of a definition text in the current language. */
export function tx(text: Text): string {
  return text[i18n.lang];
}

type Dict = Record<string, [fr: string, en: string]>;

const D: Dict = {
  appName: ['Carnet', 'Carnet'],
  lang: ['English', 'Français'],
  // Enrolment
  'enrol.title': ['Rejoindre mon équipe', 'Join my team'],
  'enrol.intro': [
    'Saisissez l’adresse du serveur et le code à usage unique remis par la coordination, ou collez le contenu du QR code.',
    'Type the server address and the single-use code given by the coordinators, or paste the QR code’s content.',
  ],
  'enrol.server': ['Adresse du serveur', 'Server address'],
  'enrol.code': ['Code d’inscription', 'Enrolment code'],
  'enrol.qr': ['Contenu du QR code (facultatif)', 'QR code content (optional)'],
  'enrol.qrBad': ['Ce QR code n’est pas un code Carnet.', 'This QR code is not a Carnet code.'],
  'enrol.submit': ['Rejoindre', 'Join'],
  'enrol.busy': ['Connexion…', 'Connecting…'],
  'enrol.pendingTitle': ['Inscription enregistrée', 'Enrolment saved'],
  'enrol.pendingTeam': [
    'Cet appareil est inscrit pour « {name} » sur {server}. Les documents de l’équipe ne sont pas encore arrivés : ils arriveront dès que le serveur répondra. Inutile de ressaisir le code, il a déjà servi.',
    'This device is enrolled for “{name}” on {server}. The team’s documents have not arrived yet: they will as soon as the server answers. No need to type the code again, it has been used.',
  ],
  'enrol.pendingVolunteer': [
    'Cet appareil est inscrit pour le groupe « {name} » sur {server}. Le kit et le carnet de visites ne sont pas encore arrivés : ils arriveront dès que le serveur répondra. Inutile de ressaisir le code, il a déjà servi.',
    'This device is enrolled for the group “{name}” on {server}. The kit and the visit log have not arrived yet: they will as soon as the server answers. No need to type the code again, it has been used.',
  ],
  'enrol.pendingWait': ['En attente du serveur…', 'Waiting for the server…'],
  'enrol.retryNow': ['Réessayer maintenant', 'Try again now'],
  'enrol.otherCode': ['Utiliser un autre code', 'Use another code'],
  // Home
  'home.sector': ['Secteur :', 'Sector:'],
  'home.noSector': ['Aucun secteur attribué', 'No sector assigned'],
  'home.checkIn': ['Départ en tournée', 'Start the round'],
  'home.checkOut': ['Fin de tournée', 'End the round'],
  'home.outSince': ['En tournée depuis', 'Out since'],
  'home.notOut': ['Pas en tournée', 'Not on a round'],
  'home.newEncounter': ['Nouvelle rencontre', 'New encounter'],
  'home.tallies': ['Décomptes', 'Tallies'],
  'home.list': ['Rencontres', 'Encounters'],
  'home.covered': ['Secteur couvert', 'Sector covered'],
  'home.coveredZero': ['Secteur couvert, 0 personne rencontrée', 'Sector covered, nobody found'],
  'home.coveredDone': ['Enregistré :', 'Recorded:'],
  'home.drafts': ['Brouillons à reprendre', 'Drafts to resume'],
  'home.toPlace': ['À placer sur la carte', 'To place on the map'],
  'home.placeHint': ['Touchez la carte pour placer la rencontre sélectionnée.', 'Tap the map to place the selected encounter.'],
  'home.confirmZero': ['Confirmer : secteur couvert, personne rencontrée ?', 'Confirm: sector covered, nobody found?'],
  'home.confirm': ['Confirmer', 'Confirm'],
  'home.cancel': ['Annuler', 'Cancel'],
  'map.label': ['Carte du secteur', 'Sector map'],
  'map.none': ['Pas de contour pour ce secteur.', 'No outline for this sector.'],
  // Sync
  'sync.pending': ['{n} en attente d’envoi', '{n} waiting to be sent'],
  'sync.allSent': ['Tout est envoyé', 'Everything is sent'],
  'sync.last': ['dernier envoi {t}', 'last sent {t}'],
  'sync.never': ['jamais envoyé', 'never sent'],
  'sync.syncing': ['Envoi…', 'Sending…'],
  'sync.offline': ['Hors ligne — les données restent sur l’appareil', 'Offline — data stays on this device'],
  'sync.error': ['Erreur d’envoi', 'Sending error'],
  // Encounter form
  'form.title': ['Nouvelle rencontre', 'New encounter'],
  'form.editTitle': ['Modifier la rencontre', 'Edit encounter'],
  'form.autosaved': ['Enregistré sur l’appareil', 'Saved on this device'],
  'form.saving': ['Enregistrement…', 'Saving…'],
  'form.place': ['Lieu', 'Place'],
  'form.spaceType': ['Type d’espace', 'Type of space'],
  'form.placeDetail': ['Précision du lieu (rue, station, niveau…)', 'Place detail (street, station, level…)'],
  'form.installation': ['Installation', 'Shelter'],
  'form.situation': ['Situation', 'Household'],
  'form.counts': ['Personnes', 'People'],
  'form.men': ['Hommes', 'Men'],
  'form.women': ['Femmes', 'Women'],
  'form.unknownSex': ['Sexe inconnu', 'Sex unknown'],
  'form.children': ['Enfants', 'Children'],
  'form.pregnantWomen': ['dont femmes enceintes', 'of whom pregnant'],
  'form.interview': ['Questionnaire proposé', 'Questionnaire offered'],
  'form.observed': ['Observation (sans entretien)', 'Observation (no interview)'],
  'form.observedSex': ['Sexe observé', 'Observed sex'],
  'form.ageBand': ['Tranche d’âge estimée', 'Estimated age band'],
  'form.alerts': ['Alerte', 'Alert'],
  'form.alertHint': ['Une alerte = appeler le 15 ou le 18 sur place.', 'An alert means calling 15 or 18 on the spot.'],
  'form.position': ['Position', 'Position'],
  'form.positionHint': ['Touchez la carte pour placer la rencontre.', 'Tap the map to place the encounter.'],
  'form.positionClear': ['Effacer la position', 'Clear position'],
  'form.signs': ['Signes distinctifs (évite les doublons, effacés après la nuit)', 'Distinctive signs (avoids duplicates, erased after the night)'],
  'form.questionnaire': ['Questionnaire', 'Questionnaire'],
  'form.noQuestionnaire': ['Aucun questionnaire publié pour cette nuit.', 'No questionnaire published for this night.'],
  'form.record': ['Enregistrer la rencontre', 'Record the encounter'],
  'form.recorded': ['Rencontre enregistrée', 'Encounter recorded'],
  'form.discard': ['Abandonner ce brouillon', 'Discard this draft'],
  'form.missing': ['À compléter :', 'Still needed:'],
  'form.locked': ['Tournée close : cette rencontre n’est plus modifiable.', 'Round closed: this encounter can no longer be edited.'],
  'form.withdraw': ['Retirer (saisie par erreur)', 'Withdraw (entered by mistake)'],
  'form.restore': ['Rétablir', 'Restore'],
  'form.back': ['Retour', 'Back'],
  'form.doesNotKnow': ['Ne sait pas', 'Doesn’t know'],
  'form.declines': ['Ne souhaite pas répondre', 'Declines'],
  'form.clear': ['Effacer', 'Clear'],
  // Encounter issues (Rust EncounterIssue codes)
  'issue.noPeople': ['Comptez au moins une personne.', 'Count at least one person.'],
  'issue.pregnantExceedsWomen': ['Plus de femmes enceintes que de femmes.', 'More pregnant women than women.'],
  'issue.countsContradictSituation': ['Les nombres ne correspondent pas à la situation.', 'The counts do not match the household.'],
  'issue.observationWhenInterviewed': ['Sexe et âge observés : seulement sans entretien.', 'Observed sex and age: only without interview.'],
  'issue.answersWithoutInterview': ['Réponses sans questionnaire accepté.', 'Answers without an accepted questionnaire.'],
  'issue.answersWithoutVersion': ['Réponses sans version de questionnaire.', 'Answers without a questionnaire version.'],
  'issue.invalidPosition': ['Position hors limites.', 'Position out of range.'],
  'issue.invalidTime': ['Heure invalide.', 'Invalid time.'],
  'issue.questionnaire': ['Questionnaire incomplet.', 'Questionnaire incomplete.'],
  // Tallies
  'tally.title': ['Décomptes (personnes vues, non interrogées)', 'Tallies (people seen, not interviewed)'],
  'tally.total': ['Total', 'Total'],
  // List
  'list.title': ['Rencontres', 'Encounters'],
  'list.empty': ['Aucune rencontre pour l’instant.', 'No encounter yet.'],
  'list.device': ['sur cet appareil', 'on this device'],
  'list.server': ['sur le serveur', 'on the server'],
  'list.locked': ['close', 'closed'],
  'list.withdrawn': ['retirée', 'withdrawn'],
  'list.people': ['{n} pers.', '{n} people'],
  'list.person': ['1 pers.', '1 person'],
  // Alert
  'alert.button': ['Alerte', 'Alert'],
  'alert.title': ['Alerte', 'Alert'],
  'alert.call': ['Appeler', 'Call'],
  'alert.15': ['SAMU — urgence médicale', 'SAMU — medical emergency'],
  'alert.18': ['Pompiers', 'Fire brigade'],
  'alert.112': ['Urgences (européen)', 'Emergency (European)'],
  'alert.115': ['Samu social — hébergement', 'Samu social — shelter'],
  'alert.flag': ['Signaler sur la rencontre', 'Flag on the encounter'],
  'alert.which': ['Rencontre concernée', 'Which encounter'],
  'alert.current': ['Rencontre en cours de saisie', 'Encounter being recorded'],
  'alert.noEncounter': ['Aucune (alerte seule)', 'None (alert only)'],
  'alert.send': ['Enregistrer l’alerte', 'Record the alert'],
  'alert.sent': ['Alerte enregistrée', 'Alert recorded'],
  'alert.close': ['Fermer', 'Close'],
  // Generic
  'nav.home': ['Accueil', 'Home'],
  // Errors (BackendError codes)
  'error.notEnrolled': ['Cet appareil n’est pas encore inscrit.', 'This device is not enrolled yet.'],
  'error.invalidServerUrl': ['L’adresse du serveur n’est pas valide (ex. https://carnet.paris.fr).', 'The server address is not valid (e.g. https://carnet.paris.fr).'],
  'error.serverUnreachable': ['Le serveur ne répond pas. Vérifiez la connexion et réessayez.', 'The server does not answer. Check the connection and try again.'],
  'error.invalidEnrolmentCode': ['Ce code n’existe pas. Vérifiez-le avec la coordination.', 'This code does not exist. Check it with the coordinators.'],
  'error.enrolmentPending': ['Inscription enregistrée ; les documents arrivent dès que le serveur répond.', 'Enrolment saved; the documents arrive as soon as the server answers.'],
  'error.enrolmentCodeUsed': ['Ce code a déjà servi. Demandez-en un nouveau à la coordination.', 'This code has already been used. Ask the coordinators for a new one.'],
  'error.invalidInput': ['Une donnée saisie n’est pas valide.', 'Something entered is not valid.'],
  'error.invalidEncounter': ['La rencontre est incomplète ou incohérente.', 'The encounter is incomplete or inconsistent.'],
  'error.notFound': ['Élément introuvable sur cet appareil.', 'Item not found on this device.'],
  'error.roundClosed': ['La tournée est close : modification impossible.', 'The round is closed: no more changes.'],
  'error.noOpenRound': ['Aucune tournée en cours.', 'No round under way.'],
  'error.roundAlreadyOpen': ['Une tournée est déjà en cours.', 'A round is already under way.'],
  'error.storage': ['Écriture impossible sur l’appareil (espace plein ?). Rien n’est perdu de ce qui était enregistré.', 'Cannot write on this device (storage full?). Nothing recorded before is lost.'],
  'error.internal': ['Erreur interne de l’application.', 'Internal error in the app.'],
  'error.ipc': ['L’application ne répond pas. Fermez-la et rouvrez-la ; vos données sont sur l’appareil.', 'The app does not respond. Close and reopen it; your data is on the device.'],
  'error.noBackend': ['Cette interface doit être ouverte dans l’application Carnet.', 'This interface must be opened inside the Carnet app.'],
};

const CODES: Record<string, Record<string, [string, string]>> = {
  space: {
    street: ['Rue', 'Street'],
    specificSector: ['Secteur spécifique (talus, parcs…)', 'Specific sector (embankments, parks…)'],
    metroRer: ['Métro / RER', 'Metro / RER'],
    woods: ['Bois', 'Woods'],
    sncfStation: ['Gare SNCF', 'SNCF station'],
    hospital: ['Hôpital AP-HP', 'AP-HP hospital'],
    carPark: ['Parking', 'Car park'],
    socialHousing: ['Bailleur social', 'Social housing'],
  },
  installation: {
    none: ['Aucune', 'None'],
    tent: ['Tente', 'Tent'],
    makeshiftCabinOrVehicle: ['Cabane, abri de fortune, véhicule', 'Makeshift cabin or vehicle'],
    other: ['Autre', 'Other'],
  },
  situation: {
    alone: ['Seul·e', 'Alone'],
    coupleWithoutChildren: ['Couple sans enfant', 'Couple, no children'],
    familyWithChildren: ['Famille avec enfant(s)', 'Family with children'],
    groupOfFivePlus: ['Groupe de 5 ou plus', 'Group of 5 or more'],
  },
  interview: {
    accepted: ['Accepté', 'Accepted'],
    refused: ['Refusé', 'Refused'],
    asleep: ['Endormi·e (ne pas réveiller)', 'Asleep (never wake)'],
    languageBarrier: ['Barrière de la langue', 'Language barrier'],
    conditionDoesNotAllow: ['État ne le permet pas', 'Condition does not allow'],
    other: ['Autre', 'Other'],
  },
  sex: {
    male: ['Homme', 'Man'],
    female: ['Femme', 'Woman'],
    unknown: ['Inconnu', 'Unknown'],
  },
  age: {
    under18: ['< 18', '< 18'],
    from18To24: ['18–24', '18–24'],
    from25To34: ['25–34', '25–34'],
    from35To44: ['35–44', '35–44'],
    from45To54: ['45–54', '45–54'],
    from55To64: ['55–64', '55–64'],
    from65: ['65 +', '65 +'],
    unknown: ['Âge ?', 'Age ?'],
  },
  alert: {
    vulnerableWoman: ['Femme vulnérable', 'Vulnerable woman'],
    minor: ['Mineur·e', 'Minor'],
    health: ['Santé', 'Health'],
  },
  coverage: {
    inProgress: ['en cours', 'in progress'],
    covered: ['couvert', 'covered'],
    coveredNoneFound: ['couvert, 0 personne', 'covered, nobody found'],
    notAccessible: ['inaccessible', 'not accessible'],
  },
};

/** A UI string, with `{name}` placeholders filled from `vars`. Unknown keys show the key. */
export function t(key: string, vars: Record<string, string | number> = {}): string {
  const entry = D[key];
  let s = entry ? entry[i18n.lang === 'fr' ? 0 : 1] : key;
  for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, String(v));
  return s;
}

/** The label of a model code (`group` is space, installation, situation, interview, sex, age, alert, coverage). */
export function code(group: string, c: string): string {
  const entry = CODES[group]?.[c];
  return entry ? entry[i18n.lang === 'fr' ? 0 : 1] : c;
}

/** "1 pers." / "3 people". */
export function people(n: number): string {
  return n === 1 ? t('list.person') : t('list.people', { n });
}

/** An arrondissement as written in each language: "1er", "12e" / "arr. 12". */
export function arrondissement(n: number): string {
  if (i18n.lang === 'en') return `arr. ${n}`;
  return n === 1 ? '1er' : `${n}e`;
}

/** Clock time in the current language (local time of the device). */
export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString(i18n.lang === 'fr' ? 'fr-FR' : 'en-GB', { hour: '2-digit', minute: '2-digit' });
}

export const dictionaryKeys = (): string[] => Object.keys(D);
