"""The 'Test connection' button on a change page, and the list action of the same name.

Model configs and MCP servers both have one; each admin says how to test its objects
(`run_connection_test`), which reports to the user through admin messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

T = TypeVar("T")


def on_own_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a probe from a sync admin view, on an event loop of its own in a thread of its own.

    asgiref's async_to_sync would run it on the server's loop when called from a request
    thread, and a probe that closes its clients afterwards would then close pools that
    running answers use.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-connection") as pool:
        return pool.submit(asyncio.run, coroutine).result()


class TestConnectionMixin(admin.ModelAdmin):
    change_form_template = "admin/chat/change_form_test_connection.html"
    # What the button does, shown as its tooltip.
    test_connection_help = ""

    def run_connection_test(self, request: HttpRequest, objects: list[Any]) -> None:
        raise NotImplementedError

    @admin.action(description="Test connection", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self.run_connection_test(request, list(queryset))

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        view = self.admin_site.admin_view(require_POST(self.test_connection_view))
        return [
            path(
                "<path:object_id>/test-connection/",
                view,
                name=f"{opts.app_label}_{opts.model_name}_test_connection",
            ),
            *super().get_urls(),
        ]

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The change page's button: tests the saved settings of one object."""
        obj: Model | None = self.get_object(request, object_id)
        if obj is None:
            raise Http404
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        self.run_connection_test(request, [obj])
        opts = obj._meta
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        )

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {"test_connection_help": self.test_connection_help, **(extra_context or {})}
        return super().changeform_view(request, object_id, form_url, context)
