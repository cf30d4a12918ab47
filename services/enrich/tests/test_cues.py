"""Direction cues name a sizing pole in seven languages, whatever the product is called."""

import pytest
import yaml
from feedloop.enrich.cues import ThemeCues
from feedloop.enrich.settings import PACKAGE_DIR
from feedloop.enrich.taxonomy import Taxonomy, Theme, load_taxonomy
from pydantic import ValidationError

TAXONOMY = load_taxonomy(PACKAGE_DIR / "taxonomy.yaml")
SIZING = ThemeCues.of(next(t for t in TAXONOMY.themes if t.id == "sizing_fit"))

CASES = [
    # Product names that carry size words do not name the pole; the fit does.
    ("The slim jeans run large, they fall down.", "large"),
    ("The wool coat runs really small.", "small"),
    ("The running shorts are huge.", "large"),
    # "A bigger size" is the remedy for a garment that runs small, "bigger than" the garment.
    ("I had to send it back for a bigger size.", "small"),
    ("It is at least one size bigger than labelled.", "large"),
    ("It is one size smaller than the tag says.", "small"),
    ("Exchanged it for a smaller one.", "large"),
    # Size ladder: the step from the ordered size to the felt one.
    ("Ordered an XL and it fits like an M.", "small"),
    ("In M it fits like an XXL.", "large"),
    ("Ordered a large, fits like a small.", "small"),
    ("Die Größentabelle stimmt nicht, in M passt es wie ein S.", "small"),
    # Other languages.
    ("Le pull taille vraiment petit, prenez une taille au-dessus.", "small"),
    ("La veste est beaucoup trop ample, elle flotte.", "large"),
    ("Die Hose fällt viel zu klein aus.", "small"),
    ("Die Jacke ist viel zu weit und schlabbert.", "large"),
    ("La camisa me queda muy ajustada.", "small"),
    ("El abrigo talla muy grande, pedí una talla menos.", "large"),
    ("Il maglione veste piccolo, prendete una taglia in più.", "small"),
    ("I pantaloni sono troppo larghi.", "large"),
    ("As calças ficam apertadas, tive de pedir um número acima.", "small"),
    ("O casaco é enorme, muito largo.", "large"),
    ("De broek zit veel te strak.", "small"),
    ("De trui valt groot uit, bestel een maat kleiner.", "large"),
]


@pytest.mark.parametrize(("text", "pole"), CASES)
def test_the_cues_name_the_pole(text: str, pole: str) -> None:
    assert SIZING is not None
    assert SIZING.pole(text) == pole, SIZING.counts(text)


@pytest.mark.parametrize(
    "text",
    [
        "The size chart is confusing.",  # no pole at all
        "Too small in the chest, too big in the waist.",  # both poles, neither leads
        "The sleeves are too long.",
        # A product named with a cue word ties with the fit: the vectors decide (a known limit).
        "The oversized hoodie is tight.",
        "The petite blazer is baggy.",
    ],
)
def test_the_cues_name_no_pole_without_a_clear_lead(text: str) -> None:
    assert SIZING is not None
    assert SIZING.pole(text) is None, SIZING.counts(text)


def _theme(**extra: object) -> dict[str, object]:
    return {
        "id": "sizing_fit",
        "name": "Sizing",
        "examples": ["runs small"],
        "directions": {"small": ["runs small"], "large": ["runs large"]},
        **extra,
    }


def test_cues_must_name_the_themes_poles() -> None:
    with pytest.raises(ValidationError, match="direction_cues must name the poles"):
        Theme.model_validate(_theme(direction_cues={"small": {"words": ["tight"]}}))


def test_a_cue_must_be_a_regular_expression() -> None:
    with pytest.raises(ValidationError, match="not a regular expression"):
        Theme.model_validate(
            _theme(direction_cues={"small": {"words": ["(tight"]}, "large": {"words": ["big"]}})
        )


def test_a_ladder_names_the_poles_and_known_sizes() -> None:
    ladder = {"order": ["S", "M"], "link": "like", "below": "small", "above": "wide"}
    with pytest.raises(ValidationError, match="direction_ladder must name the poles"):
        Theme.model_validate(_theme(direction_ladder=ladder))
    ladder = {**ladder, "above": "large", "aliases": {"medium": "L"}}
    with pytest.raises(ValidationError, match="unknown sizes"):
        Theme.model_validate(_theme(direction_ladder=ladder))


def test_a_theme_added_without_cues_keeps_working() -> None:
    """Cues are optional: a taxonomy whose themes have none loads, and names no cue pole."""
    raw = yaml.safe_load((PACKAGE_DIR / "taxonomy.yaml").read_text())
    for theme in raw["themes"]:
        theme.pop("direction_cues", None)
        theme.pop("direction_ladder", None)
    taxonomy = Taxonomy.model_validate(raw)
    assert all(ThemeCues.of(t) is None for t in taxonomy.themes)
