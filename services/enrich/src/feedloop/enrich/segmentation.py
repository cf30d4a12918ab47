"""Cuts feedback text into sentence-sized segments: one opinion each, bounded in count and size."""

import re

# Sentence ends, line breaks, dashes and bullets used as separators (en and em dash included).
# Linear on any input: whitespace runs are taken possessively (\s++), and an alternative that
# must see something after a run may start only where the run starts ((?<!\s)); otherwise each
# of the n positions of a long run rescans the rest of it, quadratic in n.
_SENTENCE_END = re.compile(
    r"(?<=[.!?\u2026])\s++(?=\S)"
    r"|(?<![^\S\n])[^\S\n]*+\n\s*+"
    r"|(?<!\s)\s++[-\u2013\u2014\u2022]\s++"
    r"|(?<=;)\s++"
)
# A contrast splits one sentence into two opinions ("great fabric, but it runs small").
_CONTRAST = re.compile(
    r"(?:,\s*+|(?<!\s)\s++)(?=(?:but|however|although|though|whereas|except|aber|jedoch|allerdings|"
    r"mais|cependant|pero|sin embargo|aunque|maar|echter|alleen)\b)",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")
MIN_WORDS = 3
CHUNK_WORDS = 60


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def _chunks(sentence: str) -> list[str]:
    # Past ~128 tokens the models truncate: long run-on text is cut into word windows.
    words = sentence.split()
    if len(words) <= CHUNK_WORDS:
        return [sentence]
    return [" ".join(words[i : i + CHUNK_WORDS]) for i in range(0, len(words), CHUNK_WORDS)]


def segment(text: str, *, max_segments: int = 48) -> list[str]:
    """Splits a text into sentence-sized segments (clauses of contrast apart, fragments merged)."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        clauses = [c.strip(" ,") for c in _CONTRAST.split(sentence)]
        if len(clauses) > 1 and min(_words(c) for c in clauses) < MIN_WORDS:
            clauses = [sentence.strip()]
        pieces += [chunk for clause in clauses if clause for chunk in _chunks(clause)]
    merged: list[str] = []
    for piece in pieces:
        if merged and (_words(piece) < MIN_WORDS or _words(merged[-1]) < MIN_WORDS):
            merged[-1] = f"{merged[-1]} {piece}"
        elif _words(piece) > 0 or not merged:
            merged.append(piece)
        else:
            merged[-1] = f"{merged[-1]} {piece}"
    return [m for m in merged if m.strip()][:max_segments]
