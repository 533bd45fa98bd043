"""Template tags every page uses: MLflow's millisecond timestamps, durations, metric values; what the viewer may do."""

from __future__ import annotations

import datetime as dt
import math

import markdown as _markdown
import nh3
from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


def _from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


@register.simple_tag
def timestamp(ms: int | None) -> str:
    """A ``<time>`` element in UTC; ``studio.js`` shows it in the reader's own time zone."""
    if ms is None:
        return "—"
    moment = _from_ms(ms)
    iso = moment.isoformat(timespec="milliseconds")
    return format_html('<time datetime="{}">{}</time>', iso, moment.strftime("%Y-%m-%d %H:%M:%S UTC"))


@register.filter
def duration(milliseconds: int | float | None) -> str:
    """A span of milliseconds for people: ``850 ms``, ``12.4 s``, ``3m 05s``, ``2h 07m``, ``3d 4h``."""
    if milliseconds is None or milliseconds < 0:
        return "—"
    if milliseconds < 1000:
        return f"{int(milliseconds)} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


@register.simple_tag
def run_duration(start_ms: int | None, end_ms: int | None, now_ms: int | None = None) -> str:
    """How long a run took, or has been going when it has no end yet and ``now_ms`` is given."""
    if start_ms is None:
        return "—"
    end = end_ms if end_ms is not None else now_ms
    return duration(end - start_ms) if end is not None else "—"


@register.filter
def metric(value: float | None) -> str:
    """A metric value in at most 6 significant digits; NaN and infinities spelled out."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.6g}"


@register.filter
def markdown(text: str | None) -> str:
    """A description in Markdown as sanitized HTML: no scripts, styles, event handlers or ``javascript:`` links."""
    if not text:
        return ""
    rendered = _markdown.markdown(text, extensions=["fenced_code", "tables", "sane_lists"], output_format="html")
    return mark_safe(nh3.clean(rendered, link_rel="noopener noreferrer nofollow"))


@register.simple_tag(takes_context=True)
def may(context: template.Context, kind: str, object_id: int, level: str) -> bool:
    """Whether the viewer has ``level`` on the object (``{% may "experiment" e.pk "MANAGE" as can_manage %}``), so a
    page offers only what the viewer can do; always true while ``STUDIO_AUTH`` is off."""
    from django.conf import settings

    from studio.auth import permissions

    if not settings.STUDIO_AUTH:
        return True
    request = context.get("request")
    if request is None or object_id in (None, ""):
        return False
    return permissions.level(request.user, kind, int(object_id)) >= permissions.parse_level(level)
