"""Language identification with py3langid (offline), restricted to the languages we expect."""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from py3langid.langid import MODEL_FILE, LanguageIdentifier

UNDETERMINED = "und"
# The markets a European shop hears from; restricting the candidates keeps short texts from
# being read as Latin or Luxembourgish. Measured in docs/enrich-quality.md.
DEFAULT_LANGUAGES = (
    "en", "de", "fr", "es", "it", "nl", "pt", "sv", "da", "no", "fi", "pl", "cs", "hu", "ro",
    "el", "tr", "ru", "uk", "ar", "he", "ja", "zh", "ko",
)  # fmt: skip
_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]|https?://\S+")
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True, slots=True)
class DetectedLanguage:
    """An ISO 639-1 code (or 'und') and the identifier's probability."""

    code: str
    confidence: float


class LanguageDetector:
    """Names the language of a text; 'und' when it is too short or too unsure to say."""

    def __init__(
        self,
        languages: Sequence[str] | None = DEFAULT_LANGUAGES,
        *,
        min_letters: int = 12,
        min_confidence: float = 0.5,
    ) -> None:
        self.identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        if languages:
            self.identifier.set_languages(list(languages))
        self.min_letters = min_letters
        self.min_confidence = min_confidence

    def detect(self, text: str) -> DetectedLanguage:
        """Returns the language of a text (placeholders and links ignored)."""
        cleaned = _PLACEHOLDER.sub(" ", text)
        if len(_LETTER.findall(cleaned)) < self.min_letters:
            return DetectedLanguage(UNDETERMINED, 0.0)
        code, probability = self.identifier.classify(cleaned)
        probability = float(min(1.0, max(0.0, probability)))
        if probability < self.min_confidence:
            return DetectedLanguage(UNDETERMINED, probability)
        return DetectedLanguage(str(code), round(probability, 4))
