"""What customers read, per language: invitation e-mails and the hosted survey page."""

from typing import Final, TypedDict


class Texts(TypedDict):
    """Every text of one language."""

    subject: str
    reminder_subject: str
    greeting: str
    invite: str
    reminder: str
    nps: str
    nps_low: str
    nps_high: str
    csat: str
    csat_low: str
    csat_high: str
    ces_higher_is_easier: str
    ces_lower_is_easier: str
    ces_low: str
    ces_high: str
    comment: str
    submit: str
    thanks: str
    change: str
    final: str
    expired: str
    invalid: str
    choose: str
    unsubscribe: str
    unsubscribed: str


EN: Final = Texts(
    subject="How did we do? Two minutes of your time",
    reminder_subject="Reminder: how did we do?",
    greeting="Hello,",
    invite="we would like to know how your recent experience went. It takes a minute:",
    reminder="a few days ago we asked how your recent experience went. Your answer still helps:",
    nps="How likely are you to recommend us to a friend or colleague?",
    nps_low="Not at all likely",
    nps_high="Extremely likely",
    csat="How satisfied are you with the help you received?",
    csat_low="Very dissatisfied",
    csat_high="Very satisfied",
    ces_higher_is_easier="The company made it easy for me to handle my request.",
    ces_lower_is_easier="How much effort did you personally have to put in?",
    ces_low="Strongly disagree / very little",
    ces_high="Strongly agree / a lot",
    comment="Anything you would like to tell us? (optional)",
    submit="Send my answer",
    thanks="Thank you, your answer has been recorded.",
    change="You can change it until {until}.",
    final="Your answer was recorded already; it can no longer be changed.",
    expired="This survey link has expired.",
    invalid="This survey link is not valid.",
    choose="Please choose a score.",
    unsubscribe="Stop receiving surveys",
    unsubscribed="You will receive no more surveys from us.",
)
DE: Final = Texts(
    subject="Wie waren wir? Zwei Minuten Ihrer Zeit",
    reminder_subject="Erinnerung: Wie waren wir?",
    greeting="Guten Tag,",
    invite="wir möchten wissen, wie Ihre letzte Erfahrung mit uns war. Es dauert eine Minute:",
    reminder="vor einigen Tagen fragten wir nach Ihrer Erfahrung. Ihre Antwort hilft uns noch:",
    nps="Wie wahrscheinlich ist es, dass Sie uns Freunden oder Kollegen empfehlen?",
    nps_low="Überhaupt nicht wahrscheinlich",
    nps_high="Äußerst wahrscheinlich",
    csat="Wie zufrieden sind Sie mit der erhaltenen Hilfe?",
    csat_low="Sehr unzufrieden",
    csat_high="Sehr zufrieden",
    ces_higher_is_easier="Das Unternehmen hat es mir leicht gemacht, mein Anliegen zu erledigen.",
    ces_lower_is_easier="Wie viel Aufwand mussten Sie persönlich betreiben?",
    ces_low="Stimme gar nicht zu / sehr wenig",
    ces_high="Stimme voll zu / sehr viel",
    comment="Möchten Sie uns noch etwas sagen? (optional)",
    submit="Antwort senden",
    thanks="Danke, Ihre Antwort wurde gespeichert.",
    change="Sie können sie bis {until} ändern.",
    final="Ihre Antwort wurde bereits gespeichert und kann nicht mehr geändert werden.",
    expired="Dieser Umfragelink ist abgelaufen.",
    invalid="Dieser Umfragelink ist ungültig.",
    choose="Bitte wählen Sie eine Bewertung.",
    unsubscribe="Keine Umfragen mehr erhalten",
    unsubscribed="Sie erhalten keine Umfragen mehr von uns.",
)
FR: Final = Texts(
    subject="Comment nous en sommes-nous sortis ? Deux minutes de votre temps",
    reminder_subject="Rappel : votre avis nous intéresse",
    greeting="Bonjour,",
    invite="nous aimerions savoir comment s'est passée votre dernière expérience. Une minute :",
    reminder="il y a quelques jours, nous vous avons demandé votre avis. Il nous aide encore :",
    nps="Quelle est la probabilité que vous nous recommandiez à un ami ou un collègue ?",
    nps_low="Pas du tout probable",
    nps_high="Extrêmement probable",
    csat="Êtes-vous satisfait de l'aide reçue ?",
    csat_low="Très insatisfait",
    csat_high="Très satisfait",
    ces_higher_is_easier="L'entreprise m'a facilité le traitement de ma demande.",
    ces_lower_is_easier="Quel effort avez-vous dû fournir personnellement ?",
    ces_low="Pas du tout d'accord / très peu",
    ces_high="Tout à fait d'accord / beaucoup",
    comment="Souhaitez-vous nous dire autre chose ? (facultatif)",
    submit="Envoyer ma réponse",
    thanks="Merci, votre réponse a été enregistrée.",
    change="Vous pouvez la modifier jusqu'au {until}.",
    final="Votre réponse a déjà été enregistrée ; elle ne peut plus être modifiée.",
    expired="Ce lien de questionnaire a expiré.",
    invalid="Ce lien de questionnaire n'est pas valide.",
    choose="Veuillez choisir une note.",
    unsubscribe="Ne plus recevoir de questionnaires",
    unsubscribed="Vous ne recevrez plus de questionnaires de notre part.",
)
LANGUAGES: Final[dict[str, Texts]] = {"en": EN, "de": DE, "fr": FR}


def language_of(locale: str | None, default: str) -> str:
    """The language to ask in: the locale's primary language when we have it, else `default`."""
    primary = (locale or "").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else default


def texts(language: str) -> Texts:
    """The texts of a language (English when unknown)."""
    return LANGUAGES.get(language, EN)
