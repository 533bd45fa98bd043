"""Boxes that other apps add to the run page's overview, so that tracking shows their data without importing them.

Dependencies run ``tracking <- registry``: the registry knows which model versions were registered from a run, the
run page does not. An app registers a provider in its ``AppConfig.ready()``; the run page calls every provider with
the run and the viewer (a user, for the provider to show only what they may read) and shows each section it
returns as a small table::

    from tracking import run_sections

    def registered_versions(run, user):
        rows = [(run_sections.Cell(f"{v.name} version {v.version}"),) for v in ...]
        return run_sections.RunSection("Registered model versions", ("Version",), rows, empty="None.")

    run_sections.register("registry.versions", registered_versions)

A provider makes a fixed number of queries whatever the run holds (the run page's query count is tested).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studio.auth.permissions import User
    from tracking.models import Run


@dataclass(frozen=True)
class Cell:
    """One table cell: plain text, a link when ``url`` is set, code-styled when ``mono``, or a ``<time>`` when
    ``time_ms`` is set (then ``text`` is ignored)."""

    text: str = ""
    url: str = ""
    mono: bool = False
    time_ms: int | None = None


@dataclass(frozen=True)
class RunSection:
    """A box of the run page's overview: a heading and a table of ``columns`` x ``rows``."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    empty: str = "None."  # shown instead of an empty table
    note: str = ""  # a line under the heading


Provider = Callable[["Run", "User"], "RunSection | None"]

# Keyed by name so that registering again (apps are set up again in some test runners) replaces, never duplicates.
_providers: dict[str, Provider] = {}


def register(name: str, provider: Provider) -> None:
    """Add (or replace) the provider called ``name``; the run page shows sections in registration order."""
    _providers[name] = provider


def unregister(name: str) -> None:
    """Remove a provider (tests that register their own use it to clean up)."""
    _providers.pop(name, None)


def sections_for(run: Run, user: User) -> list[RunSection]:
    """Every registered provider's section for this run as ``user`` may see it, leaving out those that are None."""
    sections = (provider(run, user) for provider in list(_providers.values()))
    return [section for section in sections if section is not None]
