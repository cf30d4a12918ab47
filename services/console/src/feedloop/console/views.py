"""What the pages show, computed from the APIs' answers (pure: no I/O, tested on its own)."""

import csv
import io
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from feedloop.console.charts import Series

STATUSES = ("new", "acknowledged", "planned", "in_progress", "resolved", "wont_fix")
OPEN_STATUSES = ("new", "acknowledged", "planned", "in_progress")
FILTER_DIMENSIONS = ("segment", "tier", "channel", "theme", "language")
ISSUE_FEEDBACK_FILTERS = ("segment", "tier", "channel", "language")
"""Shared filters the issue list applies through the issues' feedback (theme: the issue's)."""


def factor_rows(priority: dict[str, Any]) -> list[dict[str, Any]]:
    """Each factor of a priority with its share of the positive contributions (for the bar)."""
    factors = priority.get("factors") or []
    total = sum(max(0.0, float(f["contribution"])) for f in factors) or 1.0
    return [
        {
            "name": f["name"],
            "contribution": float(f["contribution"]),
            "share": max(0.0, float(f["contribution"])) / total,
            "reason": f["reason"],
            "value": f["value"],
            "weight": f["weight"],
        }
        for f in sorted(factors, key=lambda f: -float(f["contribution"]))
    ]


def p_words(p: float | None) -> str:
    """A p-value as people read it."""
    if p is None:
        return "no test"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}"


def impact_words(impact: dict[str, Any]) -> str:
    """The significance test's result as a sentence."""
    before, after = impact.get("rate_before"), impact.get("rate_after")
    if before is None or after is None:
        return "Not enough feedback on the theme before and after the resolution to compare."
    p = impact.get("p_value_fisher")
    change = (
        f"fell from {100 * before:.0f} % to {100 * after:.0f} %"
        if after < before
        else f"rose from {100 * before:.0f} % to {100 * after:.0f} %"
        if after > before
        else f"stayed at {100 * after:.0f} %"
    )
    sentence = f"The complaint rate on {impact.get('theme') or 'the theme'} {change}"
    alpha = float(impact.get("alpha") or 0.05)
    if p is not None and p < alpha:
        verdict = f", significant at {p_words(p)}"
        if impact.get("regressed"):
            verdict += ": a regression"
    else:
        verdict = f", not significant ({p_words(p)})"
    return sentence + verdict + "."


def score_block(result: dict[str, Any], dimension: str | None, value: str | None) -> Any:
    """The KPI block of one period, overall or for one segment, channel or theme."""
    if dimension and value:
        return result.get("by", {}).get(dimension, {}).get(value)
    return result.get("overall")


def _band(score: dict[str, Any] | None, key: str = "interval") -> tuple[float, float] | None:
    pair = (score or {}).get(key)
    return (float(pair[0]), float(pair[1])) if pair else None


def _bands(block: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The 95 % intervals prioritize computed for a block's NPS (adjusted Wald: it holds for a
    handful of answers), first CSAT (a share; a mean has none) and CES easy share (Wilson)."""
    csat = next(iter((block.get("csat") or {}).values()), None)
    ces = next(iter((block.get("ces") or {}).values()), None)
    return _band(block.get("nps")), _band(csat), _band(ces, "easy_interval")


def kpi_series(
    periods: list[tuple[str, dict[str, Any]]], dimension: str | None, value: str | None
) -> dict[str, Any]:
    """NPS, CSAT and CES lines over the periods with their 95 % bands, plus the latest value
    of each."""
    nps: list[float | None] = []
    csat: list[float | None] = []
    ces: list[float | None] = []
    volume: list[float | None] = []
    bands: list[tuple[Any, Any, Any]] = []
    for _, result in periods:
        block = score_block(result, dimension, value) or {}
        nps.append(block["nps"]["score"] if block.get("nps") else None)
        csat_methods = block.get("csat") or {}
        csat.append(next(iter(csat_methods.values()))["score"] if csat_methods else None)
        ces_scales = block.get("ces") or {}
        ces.append(next(iter(ces_scales.values()))["easy_share"] if ces_scales else None)
        volume.append(float(block.get("feedback") or 0))
        bands.append(_bands(block))

    def latest(values: list[float | None]) -> float | None:
        return next((v for v in reversed(values) if v is not None), None)

    return {
        "labels": [label for label, _ in periods],
        "nps": Series("NPS", nps, band=[b[0] for b in bands]),
        "satisfaction": [
            Series("CSAT %", csat, band=[b[1] for b in bands]),
            Series("CES easy %", ces, band=[b[2] for b in bands]),
        ],
        "volume": volume,
        "latest": {"nps": latest(nps), "csat": latest(csat), "ces": latest(ces)},
    }


def period_totals(
    periods: list[tuple[str, dict[str, Any]]], dimension: str | None, value: str | None
) -> dict[str, float | None]:
    """NPS, CSAT and CES over all the periods, added up from each period's counts (so the
    whole period needs no query of its own)."""
    promoters = detractors = nps_n = 0
    csat_hits = csat_n = 0.0
    ces_easy = ces_n = 0.0
    for _, result in periods:
        block = score_block(result, dimension, value) or {}
        if block.get("nps"):
            promoters += block["nps"]["promoters"]
            detractors += block["nps"]["detractors"]
            nps_n += block["nps"]["responses"]
        if block.get("csat"):
            first = next(iter(block["csat"].values()))
            csat_hits += first["score"] * first["responses"] / 100
            csat_n += first["responses"]
        if block.get("ces"):
            first = next(iter(block["ces"].values()))
            ces_easy += first["easy_share"] * first["responses"] / 100
            ces_n += first["responses"]
    return {
        "nps": round(100 * (promoters - detractors) / nps_n, 1) if nps_n else None,
        "csat": round(100 * csat_hits / csat_n, 1) if csat_n else None,
        "ces": round(100 * ces_easy / ces_n, 1) if ces_n else None,
    }


def filter_values(
    periods: list[tuple[str, dict[str, Any]]], chosen: dict[str, str] | None = None
) -> dict[str, list[str]]:
    """Each dimension's values seen in any period (the filter choices), the chosen ones too."""
    seen: dict[str, set[str]] = {d: set() for d in FILTER_DIMENSIONS}
    for _, result in periods:
        for dimension, groups in result.get("by", {}).items():
            if dimension in seen:
                seen[dimension].update(k for k, block in groups.items() if block.get("feedback"))
    for dimension, value in (chosen or {}).items():
        seen.setdefault(dimension, set()).add(value)
    return {d: sorted(v) for d, v in seen.items()}


def drill_links(labels: list[str], bucket: str, filters: dict[str, str]) -> list[str]:
    """Per bucket label (a day or a week's Monday), the verbatims page of that bucket."""
    step = timedelta(weeks=1) if bucket == "week" else timedelta(days=1)
    links = []
    for label in labels:
        start = date.fromisoformat(label)
        query = filters | {"since": start.isoformat(), "until": (start + step).isoformat()}
        links.append("/feedback?" + urlencode(query))
    return links


def theme_rows(
    themes: dict[str, list[dict[str, Any]]],
    spikes: Iterable[dict[str, Any]],
    labels: list[str] | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Per theme: totals, mean sentiment and a volume line (over `labels`, the period's
    buckets, else the buckets that have feedback) with spike days marked."""
    seen = {cell["bucket"] for cells in themes.values() for cell in cells}
    labels = sorted(seen | set(labels or []))
    spiked: dict[str, set[str]] = {}
    for spike in spikes:
        spiked.setdefault(spike["theme"], set()).add(spike["day"])
    rows = []
    for theme, cells in themes.items():
        by_bucket = {cell["bucket"]: cell for cell in cells}
        volume = sum(c["volume"] for c in cells)
        sentiment = sum(c["mean_sentiment"] * c["volume"] for c in cells) / volume if volume else 0
        line = Series(
            theme,
            [float(by_bucket[b]["volume"]) if b in by_bucket else 0.0 for b in labels],
            marks={i for i, b in enumerate(labels) if b in spiked.get(theme, set())},
        )
        rows.append(
            {
                "theme": theme,
                "volume": volume,
                "complaints": sum(c["complaints"] for c in cells),
                "praise": sum(c.get("praise", 0) for c in cells),
                "mean_sentiment": round(sentiment, 2),
                "negative_share": sum(c["negative_share"] * c["volume"] for c in cells) / volume
                if volume
                else 0.0,
                "spike_days": sorted(spiked.get(theme, set())),
                "line": line,
            }
        )
    rows.sort(key=lambda r: -r["volume"])
    return labels, rows


def combine_query(filters: dict[str, str], **extra: str | None) -> str:
    """A query string of the shared filters plus the given parameters (empty ones left out)."""
    return urlencode(filters | {k: v for k, v in extra.items() if v})


def next_day(day: str) -> str:
    """The ISO day after an ISO day."""
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


FEEDBACK_COLUMNS = (
    "feedback_id",
    "occurred_at",
    "customer_id",
    "channel",
    "segment",
    "tier",
    "theme",
    "kind",
    "language",
    "sentiment_label",
    "sentiment_score",
    "nps",
    "csat",
    "ces",
    "issue_id",
    "close_outcome",
    "text",
)


def feedback_csv_rows(items: Iterable[dict[str, Any]]) -> str:
    """Feedback items (GET /v1/feedback) as CSV lines, customer-written cells neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    for item in items:
        writer.writerow(
            [
                item["id"],
                item["occurred_at"],
                _cell(item["customer_id"]),
                item["channel"],
                _cell(item["segment"] or ""),
                item["tier"] or "",
                item["theme"] or "",
                item.get("kind") or "",
                item.get("language") or "",
                item["sentiment_label"],
                item["sentiment_score"],
                "" if item["nps"] is None else item["nps"],
                "" if item["csat"] is None else item["csat"],
                "" if item["ces"] is None else item["ces"],
                item["issue_id"] or "",
                item["close_outcome"] or "",
                _cell(item["text"]),
            ]
        )
    return out.getvalue()


def csv_header(columns: Iterable[str]) -> str:
    """One CSV header line."""
    out = io.StringIO()
    csv.writer(out).writerow(list(columns))
    return out.getvalue()


def evidence_csv(details: Iterable[dict[str, Any]]) -> str:
    """The evidence (representative feedback, redacted as stored) of issues, as CSV."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "issue_id",
            "issue_title",
            "theme",
            "status",
            "priority",
            "feedback_id",
            "customer_id",
            "channel",
            "sentiment",
            "occurred_at",
            "text",
        ]
    )
    for issue in details:
        for item in issue.get("representative_feedback", []):
            sentiment = item.get("sentiment") or {}
            writer.writerow(
                [
                    issue["id"],
                    _cell(issue["title"]),
                    issue["theme"],
                    issue["status"],
                    issue["priority"]["score"],
                    item["feedback_id"],
                    _cell(item["customer_id"]),
                    item["channel"],
                    sentiment.get("label", ""),
                    item["occurred_at"],
                    _cell(item["text"]),
                ]
            )
    return out.getvalue()


def _cell(value: str) -> str:
    """Neutralises spreadsheet formulas in customer-written text (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
