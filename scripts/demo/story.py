"""A realistic apparel-shop story: who says what, through which channel, and when."""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

PRODUCTS = ["slim jeans", "linen shirt", "wool coat", "running shorts", "summer dress", "hoodie"]

SIZING = [
    "The {p} runs really small, I had to send it back for a bigger size.",
    "Ordered my usual size but the {p} is way too tight. Sizes run small!",
    "Size chart is wrong: the {p} in M fits like an S.",
    "Had to return the {p} twice because the sizing is off, it is tiny.",
    "Why do your sizes run so small? The {p} doesn't fit at all.",
    "The {p} is at least one size smaller than labelled. Very disappointed with the fit.",
    "Beautiful {p} but it is cut far too small, the fit is terrible.",
    "Please fix your size guide, the {p} was much too tight around the waist.",
]
# Customers in France, Germany and Spain report the same problem in their own words: one issue.
SIZING_ELSEWHERE = {
    "Le {p} taille vraiment petit, j'ai dû le renvoyer pour une taille au-dessus.": "fr-FR",
    "J'ai pris ma taille habituelle mais le {p} est beaucoup trop serré.": "fr-FR",
    "Der {p} fällt viel zu klein aus, ich musste ihn zurückschicken.": "de-DE",
    "Die Größentabelle stimmt nicht, der {p} in M passt wie ein S.": "de-DE",
    "El {p} talla muy pequeño, tuve que devolverlo y pedir una talla más.": "es-ES",
    "Pedí mi talla de siempre pero el {p} me queda demasiado ajustado.": "es-ES",
}
SIZING += list(SIZING_ELSEWHERE)
# A smaller group says the opposite ("runs large"): it needs the opposite fix, so it must not join
# the "runs small" issue (issue 18). Kept apart from `before`'s mix so the main story is unchanged.
SIZING_LARGE = {
    "The {p} runs really large, I had to send it back for a smaller size.": "en-GB",
    "Ordered my usual size but the {p} is huge and baggy. Sizes run big!": "en-GB",
    "The {p} is at least one size bigger than labelled, it hangs off me.": "en-GB",
    "Le {p} taille très grand, j'ai dû le renvoyer pour une taille en dessous.": "fr-FR",
    "Der {p} fällt viel zu groß aus, ich musste ihn zurückschicken.": "de-DE",
    "El {p} talla muy grande, tuve que devolverlo y pedir una talla menos.": "es-ES",
}
DELIVERY = [
    "My {p} arrived nine days late and the parcel was damaged.",
    "Delivery took forever, still waiting for the {p} after two weeks.",
    "The courier lost my {p} order and nobody tells me where it is.",
]
PRICE = [
    "The {p} is overpriced for what it is.",
    "Prices went up again, the {p} costs far too much now.",
]
QUALITY = [
    "The seams of the {p} came apart after one wash.",
    "Poor quality fabric on the {p}, it pilled within a week.",
]
PRAISE = [
    "Love the {p}, great quality and fast delivery!",
    "The {p} is fantastic, the fabric feels premium. Thank you!",
    "Support helped me exchange the {p} in minutes, excellent service.",
    "Really happy with my {p}, will order again.",
]
AFTER_SIZING = [
    "The new size chart helped, the {p} fits perfectly now.",
    "Finally the {p} fits true to size, great job on the updated size guide.",
]


@dataclass(frozen=True)
class Voice:
    """One piece of feedback the story posts, with what it is about."""

    topic: str
    item: dict[str, Any]


def _channel_fields(channel: str, rng: random.Random, n: int, negative: bool) -> dict[str, Any]:
    if channel == "survey":
        nps = rng.randint(0, 5) if negative else rng.randint(8, 10)
        csat = rng.randint(1, 2) if negative else rng.randint(4, 5)
        ces = rng.randint(1, 3) if negative else rng.randint(5, 7)
        return {
            "survey_id": "post-purchase",
            "answers": [
                {"metric": "nps", "score": nps},
                {"metric": "csat", "score": csat, "method": "top_2_box"},
                {"metric": "ces", "score": ces, "scale_max": 7, "direction": "higher_is_easier"},
            ],
        }
    if channel == "review":
        return {"rating": rng.randint(1, 2) if negative else 5, "platform": "shop"}
    if channel == "support_ticket":
        return {"ticket_id": f"T-{n}", "subject": "About my order", "priority": "normal"}
    if channel == "chat":
        return {"conversation_id": f"chat-{n}"}
    return {"subject": "My order"}


def voice(
    *,
    run: str,
    n: int,
    topic: str,
    text: str,
    when: datetime,
    rng: random.Random,
    negative: bool = True,
    locale: str = "en-GB",
) -> Voice:
    """Builds one feedback item of the story."""
    channel = rng.choice(["survey", "survey", "review", "support_ticket", "chat", "email"])
    customer = f"{run}-cust-{n}"
    tier = rng.choice(["standard", "standard", "premium", "enterprise"])
    item = {
        "channel": channel,
        "source_system": "shop",
        "external_id": f"{run}-{n}",
        "customer": {
            "id": customer,
            "email": f"{customer}@example.com",
            "tier": tier,
            "segment": rng.choice(["women", "men"]),
            "value": {"arr": rng.choice([120, 480, 2400]), "currency": "EUR"},
        },
        "text": text,
        "locale": locale,
        "occurred_at": when.isoformat(),
        "order_refs": [f"O-{run}-{n}"],
        **_channel_fields(channel, rng, n, negative),
    }
    return Voice(topic=topic, item=item)


def before(run: str, customers: int, seed: int = 7, *, runs_large: int = 0) -> list[Voice]:
    """The weeks before the fix: many say sizes run small, some other complaints, some praise.

    `runs_large` more customers (numbered after the others) say the opposite: sizes run large.
    """
    rng = random.Random(seed)
    now = datetime.now(UTC)
    mix = (
        [("sizing", SIZING, True)] * 45
        + [("delivery", DELIVERY, True)] * 15
        + [("price", PRICE, True)] * 8
        + [("quality", QUALITY, True)] * 7
        + [("praise", PRAISE, False)] * 25
    )
    voices = []
    for n in range(customers):
        topic, texts, negative = rng.choice(mix)
        when = now - timedelta(days=rng.uniform(0.5, 10), minutes=rng.randint(0, 600))
        template = rng.choice(texts)
        text = template.format(p=rng.choice(PRODUCTS))
        locale = SIZING_ELSEWHERE.get(template, "en-GB")
        voices.append(
            voice(
                run=run,
                n=n,
                topic=topic,
                text=text,
                when=when,
                rng=rng,
                negative=negative,
                locale=locale,
            )
        )
    large = random.Random(seed + 1)
    for n in range(customers, customers + runs_large):
        template = large.choice(list(SIZING_LARGE))
        when = now - timedelta(days=large.uniform(0.5, 10), minutes=large.randint(0, 600))
        text = template.format(p=large.choice(PRODUCTS))
        voices.append(
            voice(
                run=run,
                n=n,
                topic="sizing_large",
                text=text,
                when=when,
                rng=large,
                locale=SIZING_LARGE[template],
            )
        )
    return voices


def after(run: str, customers: int, start: int, seed: int = 11) -> list[Voice]:
    """After the fix: sizing complaints are rare, praise of the fit appears."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    mix = (
        [("sizing", SIZING, True)] * 6
        + [("delivery", DELIVERY, True)] * 15
        + [("price", PRICE, True)] * 8
        + [("praise", PRAISE + AFTER_SIZING, False)] * 71
    )
    voices = []
    for k in range(customers):
        n = start + k
        topic, texts, negative = rng.choice(mix)
        text = rng.choice(texts).format(p=rng.choice(PRODUCTS))
        voices.append(
            voice(run=run, n=n, topic=topic, text=text, when=now, rng=rng, negative=negative)
        )
    return voices


QUESTION = "Does the medium correspond to UK 12 or 14? I would like to order the {p}."
PROMOTER = "Love the {p}, the fabric is wonderful and it arrived in two days. Thank you!"


def _single(
    run: str, n: int, *, seed: int, topic: str, template: str, hours_ago: float, **channel: Any
) -> Voice:
    """One customer's item on the channel given (`channel`'s fields replace the random one's)."""
    rng = random.Random(seed)
    v = voice(
        run=run,
        n=n,
        topic=topic,
        text=template.format(p=rng.choice(PRODUCTS)),
        when=datetime.now(UTC) - timedelta(hours=hours_ago),
        rng=rng,
        negative=False,
    )
    base = ("source_system", "external_id", "customer", "text", "locale", "occurred_at")
    return Voice(topic=topic, item={k: v.item[k] for k in (*base, "order_refs")} | channel)


def promoter(run: str, n: int, seed: int = 13) -> Voice:
    """A customer who answers the survey with a 10 and warm words: the thank-you policy's own."""
    return _single(
        run,
        n,
        seed=seed,
        topic="promoter",
        template=PROMOTER,
        hours_ago=2,
        channel="survey",
        survey_id="post-purchase",
        answers=[{"metric": "nps", "score": 10}],
    )


def question(run: str, n: int, seed: int = 17) -> Voice:
    """A customer who asks something tied to their order: it waits in the answer queue."""
    return _single(
        run,
        n,
        seed=seed,
        topic="question",
        template=QUESTION,
        hours_ago=1,
        channel="email",
        subject="Size question",
    )
