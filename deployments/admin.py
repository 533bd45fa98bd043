"""The admin of deployments: endpoints, deployments, their events and the gateway's request log, read-only, with
"Stop" and "Start" as bulk actions through the same services as the REST API. Key hashes are never shown."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from deployments import gateway, services
from deployments.models import Deployment, DeploymentEvent, Endpoint, RequestLog
from registry.models import ModelVersion
from studio.admin import (
    BoundedCountPaginator,
    LargeTableAdmin,
    ReadOnlyInline,
    StudioModelAdmin,
    changelist_link,
    count_subquery,
    id_link,
    text_column,
)


class DeploymentInline(ReadOnlyInline):
    model = Deployment
    fields = (
        "name",
        "model_name",
        "model_version_number",
        "runtime",
        "instances",
        "traffic_weight",
        "mirror",
        "status",
        "updated_at",
    )
    readonly_fields = fields
    ordering = ("name",)
    show_change_link = True


@admin.register(Endpoint)
class EndpointAdmin(StudioModelAdmin):
    """Scoring endpoints with their deployments; the keys show as their prefixes only."""

    list_display = (
        "name",
        "description",
        "deployment_count",
        "deleting",
        "primary_key_prefix",
        "secondary_key_prefix",
        "user_id",
        "created_at",
        "updated_at",
    )
    list_filter = ("deleting",)
    search_fields = ("name", "description")
    ordering = ("-updated_at",)
    exclude = ("primary_key_hash", "secondary_key_hash")
    readonly_fields = ("requests",)
    inlines = (DeploymentInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Endpoint]:
        return (
            super()
            .get_queryset(request)
            .annotate(deployment_count=count_subquery(Deployment.objects.all(), "endpoint"))
        )

    @admin.display(description="Deployments", ordering="deployment_count")
    def deployment_count(self, endpoint: Endpoint) -> int:
        """How many deployments the endpoint holds."""
        return endpoint.deployment_count

    @admin.display(description="Request log")
    def requests(self, endpoint: Endpoint) -> str:
        """A link to the endpoint's requests."""
        return changelist_link(RequestLog, "Requests", endpoint__exact=endpoint.pk)


@admin.register(Deployment)
class DeploymentAdmin(StudioModelAdmin):
    """Deployments with their model, runtime, traffic and status; stop and start."""

    actions = ("stop", "start")
    list_display = (
        "name",
        "endpoint",
        "model_name",
        "version",
        "runtime",
        "instances",
        "traffic_weight",
        "mirror",
        "status",
        text_column("status_message", "Message", 60),
        "updated_at",
    )
    list_filter = ("status", "runtime", "mirror")
    list_select_related = ("endpoint",)
    search_fields = ("name", "endpoint__name", "model_name")
    ordering = ("-updated_at",)
    readonly_fields = ("events",)

    def has_lifecycle_permission(self, request: HttpRequest) -> bool:
        """Stopping and starting servers needs Django's change permission on deployments."""
        return request.user.has_perm("deployments.change_deployment")

    @admin.action(description="Stop", permissions=["lifecycle"])
    def stop(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        """Stop the selected deployments' servers (their traffic goes to the others), as the REST API does."""
        self._change(request, queryset, services.stop_deployment, "{count} deployment(s) stopping.")

    @admin.action(description="Start", permissions=["lifecycle"])
    def start(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        """Start the selected stopped or failed deployments again, as the REST API does."""
        self._change(request, queryset, services.start_deployment, "{count} deployment(s) queued to start.")

    def _change(
        self, request: HttpRequest, queryset: QuerySet[Deployment], verb: Callable[..., Deployment], done: str
    ) -> None:
        self.apply_each(
            request, queryset.select_related("endpoint"), lambda d: verb(endpoint=d.endpoint.name, name=d.name), done
        )
        gateway.ROUTES.clear()  # this process routes by the new split at once; the others within a second

    @admin.display(description="Version", ordering="model_version_number")
    def version(self, deployment: Deployment) -> str:
        """The deployed version, linking to it while it exists."""
        return id_link(ModelVersion, deployment.model_version_id, deployment.model_version_number)

    @admin.display(description="Events")
    def events(self, deployment: Deployment) -> str:
        """A link to the deployment's event log."""
        return changelist_link(DeploymentEvent, "Events", deployment__exact=deployment.pk)


@admin.register(DeploymentEvent)
class DeploymentEventAdmin(StudioModelAdmin):
    """Every deployment's log: steps, runtime output, failures."""

    paginator = BoundedCountPaginator
    list_display = ("time", "deployment", "kind", text_column("message", "Message", 120))
    list_filter = ("kind",)
    list_select_related = ("deployment",)
    search_fields = ("message", "deployment__name", "deployment__endpoint__name")
    ordering = ("-id",)


class StatusClassFilter(admin.SimpleListFilter):
    """By class of HTTP status, without a DISTINCT over the whole log."""

    title = "status"
    parameter_name = "status_class"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("2", "2xx"), ("4", "4xx"), ("5", "5xx")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[RequestLog]) -> QuerySet[RequestLog]:
        if self.value() in ("2", "4", "5"):
            low = int(self.value()) * 100
            return queryset.filter(status__gte=low, status__lt=low + 100)
        return queryset


@admin.register(RequestLog)
class RequestLogAdmin(LargeTableAdmin):
    """The scoring gateway's requests (millions of rows: newest first by id, filtered by endpoint, status, time)."""

    list_display = (
        "time",
        "endpoint",
        "deployment_name",
        "status",
        "latency_ms",
        "request_bytes",
        "response_bytes",
        "mirror",
        "error",
    )
    list_filter = ("endpoint", StatusClassFilter, "mirror", ("time", admin.DateFieldListFilter))
    list_select_related = ("endpoint",)
    search_fields = ("deployment_name__exact", "error")
