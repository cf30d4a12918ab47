"""What the pages compute and draw from the APIs' answers."""

import csv
import io
import xml.etree.ElementTree as ET
from typing import Any

from feedloop.console import charts, views
from feedloop.prioritize.kpis import stats


def impact(
    before: float | None, after: float | None, p: float | None, **extra: object
) -> dict[str, object]:
    return {
        "theme": "sizing_fit",
        "rate_before": before,
        "rate_after": after,
        "p_value_fisher": p,
        "alpha": 0.05,
        "regressed": False,
    } | extra


def test_impact_in_words() -> None:
    assert views.impact_words(impact(0.65, 0.08, 1e-17)) == (
        "The complaint rate on sizing_fit fell from 65 % to 8 %, significant at p < 0.001."
    )
    assert views.impact_words(impact(0.30, 0.25, 0.43)).endswith(
        "fell from 30 % to 25 %, not significant (p = 0.430)."
    )
    regression = views.impact_words(impact(0.1, 0.5, 0.002, regressed=True))
    assert regression.endswith("rose from 10 % to 50 %, significant at p = 0.002: a regression.")
    assert views.impact_words(impact(0.5, None, None)).startswith("Not enough feedback")


def test_factor_shares_add_up_and_rank_by_contribution() -> None:
    rows = views.factor_rows(
        {
            "factors": [
                {
                    "name": "reach",
                    "value": 9,
                    "weight": 1,
                    "contribution": 3.0,
                    "reason": "9 customers",
                },
                {
                    "name": "effort",
                    "value": 2,
                    "weight": -1,
                    "contribution": -0.5,
                    "reason": "costly",
                },
                {"name": "trend", "value": 1, "weight": 1, "contribution": 1.0, "reason": "rising"},
            ]
        }
    )
    assert [r["name"] for r in rows] == ["reach", "trend", "effort"]
    assert [round(r["share"], 2) for r in rows] == [0.75, 0.25, 0.0]


def test_csv_export_neutralises_formulas_in_customer_text() -> None:
    issue = {
        "id": "i-1",
        "title": "Sizing",
        "theme": "sizing_fit",
        "status": "new",
        "priority": {"score": 2.5},
        "representative_feedback": [
            {
                "feedback_id": "f-1",
                "customer_id": "c-1",
                "channel": "survey",
                "sentiment": {"label": "negative"},
                "occurred_at": "2026-12-01T10:00:00Z",
                "text": '=HYPERLINK("http://x","click"), too small',
            },
        ],
    }
    rows = list(csv.reader(io.StringIO(views.evidence_csv([issue]))))
    assert rows[0][0] == "issue_id"
    assert rows[1][-1].startswith("'=HYPERLINK")
    assert rows[1][5:9] == ["f-1", "c-1", "survey", "negative"]


def test_kpi_lines_follow_a_filter_and_keep_gaps() -> None:
    block = {
        "feedback": 4,
        "nps": {"score": -50.0},
        "csat": {"top_2_box": {"score": 25.0}},
        "ces": {"1-7 higher_is_easier": {"easy_share": 40.0}},
    }
    periods = [
        ("2026-12-01", {"overall": block, "by": {"theme": {"sizing_fit": block}}}),
        (
            "2026-12-02",
            {"overall": {"feedback": 0, "nps": None, "csat": {}, "ces": {}}, "by": {"theme": {}}},
        ),
    ]
    kpis = views.kpi_series(periods, "theme", "sizing_fit")
    assert kpis["nps"].values == [-50.0, None]
    assert kpis["latest"] == {"nps": -50.0, "csat": 25.0, "ces": 40.0}
    assert views.filter_values(periods)["theme"] == ["sizing_fit"]


def test_period_totals_add_up_the_buckets_counts() -> None:
    def block(promoters: int, detractors: int, n: int, csat: float, ces: float) -> dict[str, Any]:
        return {
            "nps": {"promoters": promoters, "detractors": detractors, "responses": n},
            "csat": {"top_2_box": {"score": csat, "responses": n}},
            "ces": {"1-7 higher_is_easier": {"easy_share": ces, "responses": n}},
        }

    periods: list[tuple[str, dict[str, Any]]] = [
        ("d1", {"overall": block(3, 1, 4, 75.0, 50.0)}),
        ("d2", {"overall": block(0, 6, 6, 0.0, 50.0)}),
        ("d3", {"overall": {}}),
    ]
    assert views.period_totals(periods, None, None) == {"nps": -40.0, "csat": 30.0, "ces": 50.0}


def test_charts_are_well_formed_svg_with_spikes_marked() -> None:
    line = charts.Series("sizing_fit", [1.0, None, 9.0, 2.0], marks={2})
    svg = charts.line_chart(
        ["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"], [line], title="Volume <by> theme"
    )
    root = ET.fromstring(str(svg))
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("aria-label") == "Volume <by> theme"
    assert len(root.findall(f"{ns}polyline")) == 1  # the gap splits the line; one segment left
    marks = [c for c in root.findall(f"{ns}circle") if c.get("class") == "mark"]
    assert len(marks) == 1 and "(spike)" in marks[0].findtext(f"{ns}title", "")
    bars = ET.fromstring(str(charts.before_after(0.65, 0.08, title="Impact")))
    assert [t.text for t in bars.findall(f"{ns}text") if t.get("class") == "value"] == [
        "65 %",
        "8 %",
    ]


def test_drill_links_open_each_buckets_verbatims_with_the_filters() -> None:
    links = views.drill_links(["2026-03-02", "2026-03-09"], "week", {"tier": "gold"})
    assert links == [
        "/feedback?tier=gold&since=2026-03-02&until=2026-03-09",
        "/feedback?tier=gold&since=2026-03-09&until=2026-03-16",
    ]
    assert views.drill_links(["2026-02-28"], "day", {})[0].endswith("until=2026-03-01")


def test_feedback_csv_neutralises_formulas_in_customer_text() -> None:
    item = {
        "id": "f-1",
        "occurred_at": "2026-03-01T10:00:00Z",
        "customer_id": "=cmd",
        "channel": "chat",
        "segment": None,
        "tier": "gold",
        "theme": "sizing",
        "kind": "complaint",
        "language": "de",
        "sentiment_label": "negative",
        "sentiment_score": -0.5,
        "nps": 0,
        "csat": None,
        "ces": None,
        "issue_id": None,
        "close_outcome": None,
        "text": "+1 too small",
    }
    text = views.csv_header(views.FEEDBACK_COLUMNS) + views.feedback_csv_rows([item])
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["customer_id"] == "'=cmd" and row["text"] == "'+1 too small"
    assert (row["nps"], row["csat"], row["tier"]) == ("0", "", "gold")


def test_kpi_lines_carry_bands_and_the_chart_shades_them() -> None:
    def block(promoters: int, detractors: int, n: int) -> dict[str, Any]:
        # What prioritize's /v1/kpis/scores answers: each score with its interval.
        return {
            "overall": {
                "feedback": n,
                "nps": stats.nps_of_counts(n, promoters=promoters, detractors=detractors),
                "csat": {"mean": stats.csat_score("mean", 70.0, n, 0)},
                "ces": {"1-7 higher_is_easier": stats.ces_score(5, n // 2, n)},
            }
        }

    periods = [("2026-03-01", block(5, 2, 10)), ("2026-03-02", block(40, 30, 100))]
    kpis = views.kpi_series(periods, None, None)
    nps_bands = kpis["nps"].band
    assert nps_bands[0] and nps_bands[1]
    assert nps_bands[0][1] - nps_bands[0][0] > nps_bands[1][1] - nps_bands[1][0]  # n 10 vs 100
    assert kpis["satisfaction"][0].band == [None, None]  # a CSAT mean has no share's interval
    svg = str(charts.line_chart(kpis["labels"], [kpis["nps"]], title="NPS", y_min=-100, y_max=100))
    assert svg.count('<polygon class="band"') == 1
    assert "95 % interval" in svg
    ET.fromstring(svg)  # well-formed
