"""The template filters every page uses."""

from __future__ import annotations

import pytest

from studio.templatetags.studio_tags import duration, markdown, metric


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "—"),
        (850, "850 ms"),
        (12_400, "12.4 s"),
        (185_000, "3m 05s"),
        (7_620_000, "2h 07m"),
        (3 * 86_400_000, "3d 0h"),
    ],
)
def test_duration_reads_like_people_say_it(ms: int | None, text: str) -> None:
    assert duration(ms) == text


def test_metric_spells_out_nan_and_infinities() -> None:
    assert [metric(v) for v in (None, float("nan"), float("inf"), -float("inf"), 0.123456789)] == [
        "—",
        "NaN",
        "∞",
        "-∞",
        "0.123457",
    ]


def test_markdown_renders_and_strips_what_could_run() -> None:
    dangerous = '<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror="alert(1)">'
    html = markdown(f"**Churn** model\n\n- a\n- b\n\n{dangerous}")
    assert "<strong>Churn</strong>" in html
    assert "<li>a</li>" in html
    assert "<script" not in html
    assert "javascript:" not in html
    assert "onerror" not in html
    assert markdown("") == ""
