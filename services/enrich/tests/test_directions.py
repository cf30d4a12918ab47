"""Enrich names the pole of a theme a complaint leans to, in several languages."""

from pathlib import Path

import pytest
from feedloop.enrich.service import Enricher
from feedloop.enrich.settings import EnrichSettings

CASES = [
    ("These jeans run small, I had to order a size up.", "sizing_fit", "small"),
    ("Le jean taille petit, j'ai dû prendre une taille au-dessus.", "sizing_fit", "small"),
    ("Die Hose fällt viel zu klein aus.", "sizing_fit", "small"),
    ("The shirt runs large, it is baggy, order a size down.", "sizing_fit", "large"),
    ("La camisa me queda enorme, talla muy grande.", "sizing_fit", "large"),
    ("Het jasje valt veel te groot uit.", "sizing_fit", "large"),
    ("My order arrived late, a week after the promised date.", "delivery", "late"),
    ("La consegna è arrivata con due settimane di ritardo.", "delivery", "late"),
    ("The parcel came too early, days before the delivery date I had booked.", "delivery", "early"),
    ("Das Paket kam zu früh, noch vor dem gewählten Liefertermin.", "delivery", "early"),
    ("Far too expensive for what it is.", "price", "too_high"),
    ("Muito caro, os preços são absurdos.", "price", "too_high"),
    (
        "Two days after I bought the coat, the price dropped by 30%.",
        "price",
        "dropped_after_purchase",
    ),
    (
        "Une semaine après mon achat, le prix a baissé de 20 euros.",
        "price",
        "dropped_after_purchase",
    ),
]


@pytest.mark.parametrize(("text", "theme", "direction"), CASES)
def test_a_complaint_names_the_direction_of_its_theme(
    enricher: Enricher, text: str, theme: str, direction: str
) -> None:
    [enrichment] = enricher.analyse([enricher.document(text)], source="test")
    found = {t.theme: t.direction for t in enrichment.themes}
    assert found.get(theme, "theme not found") == direction, enrichment.themes


def test_a_theme_without_directions_names_none(enricher: Enricher) -> None:
    [enrichment] = enricher.analyse(
        [enricher.document("Customer service never answered my emails.")], source="test"
    )
    assert enrichment.themes and all(t.direction is None for t in enrichment.themes)


# Phrasings the taxonomy's pole examples missed, named by the trained heads (delivery, price);
# none of them is in the heads' training data. Sizing keeps the pole examples (train_heads.py,
# DIRECTION_THEMES): its head read garment names as poles.
UNSEEN = [
    ("The parcel took three weeks instead of three days.", "delivery", "late"),
    ("Still waiting, the package is ten days overdue.", "delivery", "late"),
    ("Way overpriced, nobody pays 90 euros for a t-shirt.", "price", "too_high"),
    pytest.param(
        "Drei Tage nach dem Kauf war die Jacke 40 Euro billiger.",
        "price",
        "dropped_after_purchase",
        marks=pytest.mark.xfail(strict=True, reason="names no pole: a known miss"),
    ),
]


@pytest.mark.parametrize(("text", "theme", "direction"), UNSEEN)
def test_the_direction_heads_name_poles_of_unseen_phrasings(
    enricher: Enricher, text: str, theme: str, direction: str
) -> None:
    [enrichment] = enricher.analyse([enricher.document(text)], source="test")
    found = {t.theme: t.direction for t in enrichment.themes}
    assert found.get(theme, "theme not found") == direction, enrichment.themes


def test_without_trained_heads_the_pole_examples_decide(tmp_path: Path) -> None:
    """A model folder without directions.npz falls back to the taxonomy's examples."""
    model = Path(EnrichSettings().model_dir)
    for f in model.iterdir():
        if f.name != "directions.npz":
            (tmp_path / f.name).symlink_to(f)
    enricher = Enricher(EnrichSettings(model_dir=tmp_path))
    assert enricher.directions.heads is None
    [enrichment] = enricher.analyse(
        [enricher.document("Far too expensive for what it is.")], source="test"
    )
    assert {t.theme: t.direction for t in enrichment.themes}.get("price") == "too_high"
