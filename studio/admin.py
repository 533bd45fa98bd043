"""The admin site's shared pieces (read-only bases, columns, bulk actions through the services) and the admin of the
audit log, purge jobs, access tokens and permissions.

The admin never bypasses the domain: a hard delete from it would leave orphan files and skip the trash and the audit
log, so no admin deletes and the apps' data is read-only; what changes goes through the services, as bulk actions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value, quote
from django.contrib.auth import get_permission_codename
from django.core.paginator import Paginator
from django.db import models
from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator

from studio.auth import tokens
from studio.auth.views import admin_login
from studio.cleanup import jobs
from studio.errors import StudioError
from studio.models import AccessToken, AuditEntry, Permission, PurgeItem, PurgeItemState, PurgeJob

# How many errors of one bulk action are shown; the rest are counted.
SHOWN_ERRORS = 5


def from_ms(ms: int | None) -> dt.datetime | None:
    """An MLflow millisecond timestamp as an aware datetime (the admin shows it in the site's time zone)."""
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def ms_column(field: str, description: str) -> Callable[[models.Model], str]:
    """A list column or read-only field showing the millisecond timestamp ``field`` as a date and time."""

    @admin.display(description=description, ordering=field)
    def column(obj: models.Model) -> str:
        # Formatted here: a read-only field would show a datetime's repr, where a list column formats it.
        return display_for_value(from_ms(getattr(obj, field)), "-")

    column.__name__ = f"{field}_shown"
    return column


def size_column(field: str, description: str = "Size", *, ordering: str | None = None) -> Callable[[Any], str]:
    """A column showing the byte count ``field`` (a column or an annotation) for people: ``1.2 MB``."""

    @admin.display(description=description, ordering=ordering)
    def column(obj: Any) -> str:
        value = getattr(obj, field)
        return "-" if value is None else filesizeformat(value)

    column.__name__ = f"{field}_shown"
    return column


def text_column(field: str, description: str, length: int = 80) -> Callable[[Any], str]:
    """A column showing the start of a long text (a param's or tag's value can hold thousands of characters)."""

    @admin.display(description=description)
    def column(obj: Any) -> str:
        value = getattr(obj, field)
        return "-" if value is None else Truncator(value).chars(length)

    column.__name__ = f"{field}_shown"
    return column


def admin_url(model: type[models.Model] | models.Model, pk: object = None) -> str:
    """The admin page of an object, or of the ``model`` row with primary key ``pk`` (no need to load it)."""
    pk = model.pk if pk is None else pk
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[quote(pk)])


def change_link(obj: models.Model | None, text: object = None) -> str:
    """A link to ``obj``'s admin page, showing ``text`` or the object itself; a dash when there is no object."""
    if obj is None:
        return "-"
    return format_html('<a href="{}">{}</a>', admin_url(obj), obj if text is None else text)


def id_link(model: type[models.Model], pk: object, text: object = None) -> str:
    """A link to the admin page of the ``model`` row ``pk``, showing ``text`` or the id; a dash for no id."""
    if pk in (None, ""):
        return "-"
    return format_html('<a href="{}">{}</a>', admin_url(model, pk), pk if text is None else text)


def changelist_link(model: type[models.Model], text: object, **filters: object) -> str:
    """A link to ``model``'s admin list with these filters (``run__exact=<id>``)."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, urlencode(filters), text)


def count_subquery(queryset: models.QuerySet, field: str) -> Coalesce:
    """How many rows of ``queryset`` have ``field`` = the outer row's pk, as a correlated subquery: computed for the
    rows of the page only, from an index, where a GROUP BY over a join would aggregate the whole table first."""
    counted = queryset.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=models.BigIntegerField()), 0)


def sum_subquery(queryset: models.QuerySet, field: str, column: str) -> Coalesce:
    """The sum of ``column`` over the rows of ``queryset`` whose ``field`` is the outer row's pk, per shown row."""
    summed = queryset.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(n=Sum(column)).values("n")
    return Coalesce(Subquery(summed, output_field=models.BigIntegerField()), 0)


class BoundedCountPaginator(Paginator):
    """Counts at most ``limit`` rows: a COUNT(*) of a table of millions (metric points, params, request logs) takes
    seconds on every page of the list. Beyond the limit, a search or a filter narrows the list down."""

    limit = 10_000

    @cached_property
    def count(self) -> int:
        """The number of rows, up to ``limit``."""
        return self.object_list[: self.limit].count()


class StudioModelAdmin(admin.ModelAdmin):
    """Read-only and without deletes: Studio's data changes through its services (the bulk actions) or not at all."""

    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_trash_permission(self, request: HttpRequest) -> bool:
        """Moving to the trash, restoring and purging need Django's delete permission on the model."""
        return request.user.has_perm(f"{self.opts.app_label}.{get_permission_codename('delete', self.opts)}")

    def apply_each(
        self, request: HttpRequest, objects: Iterable[models.Model], verb: Callable[[Any], object], done: str
    ) -> None:
        """Call a service on each selected object; say how many it did (``done`` with ``{count}``) and why the
        others were refused (the service's StudioError), without stopping at the first refusal."""
        count, errors = 0, []
        for obj in objects:
            try:
                verb(obj)
            except StudioError as error:
                errors.append(f"{obj}: {error.message}")
            else:
                count += 1
        if count:
            self.message_user(request, done.format(count=count), messages.SUCCESS)
        for error in errors[:SHOWN_ERRORS]:
            self.message_user(request, error, messages.ERROR)
        if len(errors) > SHOWN_ERRORS:
            self.message_user(request, f"… and {len(errors) - SHOWN_ERRORS} more refused.", messages.ERROR)


class TrashAdmin(StudioModelAdmin):
    """The trash as bulk actions, each through the services: move to the trash (``delete_one``), restore, purge
    (a purge job). A subclass names the ones it offers in ``actions``."""

    trash_kind: str  # the cleanup kind: "experiment", "run", "logged_model", "registered_model", "model_version"
    trash_label: str  # plural, for messages: "run(s)"

    def delete_one(self, obj: Any, user: str) -> None:
        """Move one object to the trash through its store (for admins that offer "Move to trash")."""
        raise NotImplementedError(f"{type(self).__name__} does not move {self.trash_label} to the trash")

    @admin.action(description="Move to trash", permissions=["trash"])
    def move_to_trash(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        """Soft-delete the selected objects, as the pages and the REST API do."""
        user = request.user.get_username()
        self.apply_each(request, queryset, lambda obj: self.delete_one(obj, user), self._done("moved to the trash"))

    @admin.action(description="Restore from trash", permissions=["trash"])
    def restore(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        """Take the selected objects out of the trash (with an audit entry, as on the trash page)."""
        user, kind = request.user.get_username(), self.trash_kind
        self.apply_each(
            request,
            queryset,
            lambda obj: jobs.restore(kind=kind, object_id=str(obj.pk), user=user),
            self._done("restored"),
        )

    @admin.action(description="Purge (creates a purge job)", permissions=["trash"])
    def purge(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        """Queue a purge job of the selected objects; the service refuses what is not in the trash."""
        self.queue_purge(request, self.trash_kind, queryset.values_list("pk", flat=True))

    def queue_purge(self, request: HttpRequest, kind: str, object_ids: Iterable[object]) -> PurgeJob | None:
        """Create a purge job of these trashed things (the service plans it and refuses what is not in the trash)."""
        try:
            job = jobs.create_job(items=[(kind, str(pk)) for pk in object_ids], user=request.user.get_username())
        except StudioError as error:
            self.message_user(request, error.message, messages.ERROR)
            return None
        message = format_html(
            'Purge job <a href="{}">{}</a> queued: {} item(s), {}. Follow it on the <a href="{}">trash page</a>.',
            admin_url(job),
            job.pk,
            job.total_items,
            filesizeformat(job.planned_bytes),
            reverse("studio:trash"),
        )
        self.message_user(request, message, messages.SUCCESS)
        return job

    def _done(self, what: str) -> str:
        return f"{{count}} {self.trash_label} {what}."


class LargeTableAdmin(StudioModelAdmin):
    """For tables of millions of rows: no full COUNT(*), no facet counts, no sorting but by the primary key."""

    paginator = BoundedCountPaginator
    show_facets = admin.ShowFacets.NEVER
    ordering = ("-pk",)
    sortable_by = ()


class LimitedInlineFormSet(BaseInlineFormSet):
    """Shows the first ``max_rows`` related rows: a run may have thousands of metrics, a purge job thousands of
    items; the parent's page links to the full, searchable list."""

    max_rows = 100

    def get_queryset(self) -> models.QuerySet:
        # Kept: a new slice at each call would query again for every row the formset builds.
        if not hasattr(self, "_limited"):
            self._limited = super().get_queryset()[: self.max_rows]
        return self._limited


class ReadOnlyInline(admin.TabularInline):
    """A read-only table of related rows on an admin page."""

    extra = 0
    can_delete = False
    formset = LimitedInlineFormSet

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


# --- the audit log and purge jobs -------------------------------------------------------------------------------------


@admin.register(AuditEntry)
class AuditEntryAdmin(StudioModelAdmin):
    """Every purge, restore and artifact deletion, newest first."""

    paginator = BoundedCountPaginator
    list_display = ("timestamp", "action", "kind", "object_id", "name", size_column("bytes"), "files", "user")
    list_filter = ("action", "kind", ("timestamp", admin.DateFieldListFilter))
    search_fields = ("user", "name", "object_id")
    ordering = ("-timestamp", "-id")


class PurgeItemInline(ReadOnlyInline):
    model = PurgeItem
    fields = ("position", "kind", "object_id", "name", "parent", size_column("bytes"), "files", "state", "error")
    readonly_fields = fields
    ordering = ("position",)


@admin.register(PurgeJob)
class PurgeJobAdmin(StudioModelAdmin):
    """Purge jobs with their progress; a job's page lists its items."""

    list_display = (
        "id",
        "status",
        "description",
        "created_by",
        "created_at",
        "finished_at",
        "progress",
        size_column("planned_bytes", "Planned size", ordering="planned_bytes"),
    )
    list_filter = ("status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("created_by", "description", "=id")
    ordering = ("-created_at", "-id")
    fields = (
        "status",
        "description",
        "selection",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "progress",
        size_column("planned_bytes", "Planned size"),
        "planned_files",
        "all_items",
        "log",
        "claimed_by",
        "claimed_at",
        "attempt",
    )
    readonly_fields = fields
    inlines = (PurgeItemInline,)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[PurgeJob]:
        items = PurgeItem.objects.all()
        return (
            super()
            .get_queryset(request)
            .annotate(
                done_items=count_subquery(items.filter(state=PurgeItemState.DONE), "job"),
                failed_items=count_subquery(items.filter(state=PurgeItemState.FAILED), "job"),
            )
        )

    @admin.display(description="Progress")
    def progress(self, job: PurgeJob) -> str:
        """Items done of all, and how many failed."""
        failed = f", {job.failed_items} failed" if job.failed_items else ""
        return f"{job.done_items} of {job.total_items} done{failed}"

    @admin.display(description="Items")
    def all_items(self, job: PurgeJob) -> str:
        """A link to the searchable list of all the job's items (the table below shows the first ones)."""
        return changelist_link(PurgeItem, f"All {job.total_items} item(s)", job__exact=job.pk)


@admin.register(PurgeItem)
class PurgeItemAdmin(StudioModelAdmin):
    """The items of every purge job: what each removes, and how it went."""

    paginator = BoundedCountPaginator
    list_display = ("job_link", "position", "kind", "object_id", "name", size_column("bytes"), "files", "state")
    list_display_links = ("position",)
    list_filter = ("state", "kind")
    list_select_related = ("job",)
    search_fields = ("object_id", "name", "parent")
    ordering = ("-job_id", "position")

    @admin.display(description="Job", ordering="job_id")
    def job_link(self, item: PurgeItem) -> str:
        """The job the item belongs to."""
        return change_link(item.job, item.job_id)


# --- access tokens and permissions ------------------------------------------------------------------------------------

# One sign-in form with one rate limit: the admin's login page sends people to Studio's.
admin.site.login = admin_login


@admin.register(AccessToken)
class AccessTokenAdmin(StudioModelAdmin):
    """Everyone's personal access tokens, without their digests; tokens are created by their owners on their page,
    and revoked here (for a leak, or a person who left) or there."""

    list_display = ("name", "user", "prefix_shown", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), ("last_used_at", admin.DateFieldListFilter))
    list_select_related = ("user",)
    search_fields = ("name", "user__username", "prefix")
    ordering = ("-created_at", "-id")
    fields = ("user", "name", "prefix_shown", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke",)

    @admin.display(description="Token", ordering="prefix")
    def prefix_shown(self, token: AccessToken) -> str:
        """The first characters of the secret, as its owner sees them."""
        return f"{token.prefix}…"

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Revoking needs Django's change permission on tokens (superusers have it)."""
        return request.user.has_perm(f"{self.opts.app_label}.{get_permission_codename('change', self.opts)}")

    @admin.action(description="Revoke", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: models.QuerySet[AccessToken]) -> None:
        """Revoke the selected tokens; each stops working on its next request."""
        self.apply_each(
            request,
            queryset.select_related("user"),
            lambda token: tokens.revoke_token(user=token.user, token_id=token.pk),
            "{count} token(s) revoked.",
        )


@admin.register(Permission)
class PermissionAdmin(StudioModelAdmin):
    """Who has which level on which experiment or registered model, across all of them; the permissions page of each
    object changes them."""

    list_display = ("kind", "object_id", "user", "group", "level")
    list_filter = ("kind", "level")
    list_select_related = ("user", "group")
    search_fields = ("user__username", "group__name", "=object_id")
    ordering = ("kind", "object_id", "id")
    fields = ("kind", "object_id", "user", "group", "level")
    readonly_fields = fields
