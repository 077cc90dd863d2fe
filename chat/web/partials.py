"""Pieces of the chat page, for htmx and chat.js; each also works as a plain page or link.

The sidebar, a message, the message list, a message's edit form, and renaming or deleting
a conversation (with a confirmation step). With htmx a piece is swapped into the page;
without JavaScript the same URL answers a full page, so nothing depends on script.
"""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from chat import conversations
from chat.engine import stopping
from chat.errors import ChatError
from chat.models import Role
from chat.ownership import aowner_for
from chat.web.display import message_view
from chat.web.pages import (
    owned_conversation_or_404,
    owned_message_or_404,
    page_owner,
    sidebar_context,
)


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware (its documented typing)."""

    htmx: HtmxDetails


def is_current_page(request: HtmxHttpRequest, conversation_id: uuid.UUID) -> bool:
    """Whether the htmx request comes from this conversation's own page."""
    current = request.htmx.current_url_abs_path or ""
    return current.startswith(reverse("chat:conversation", args=[conversation_id]))


@require_http_methods(["GET"])
def sidebar(request: HttpRequest) -> HttpResponse:
    context = sidebar_context(page_owner(request), request.GET.get("current", ""))
    return render(request, "chat/_sidebar.html", context)


@require_http_methods(["GET"])
def message_partial(request: HttpRequest, message_id: uuid.UUID) -> HttpResponse:
    message = owned_message_or_404(page_owner(request), message_id)
    return render(request, "chat/_message.html", {"m": message_view(message)})


@require_http_methods(["GET"])
def messages_partial(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation = owned_conversation_or_404(page_owner(request), conversation_id)
    views = [message_view(m) for m in conversations.messages_of(conversation)]
    return render(request, "chat/_messages.html", {"messages": views})


@require_http_methods(["GET"])
def edit_form(request: HttpRequest, message_id: uuid.UUID) -> HttpResponse:
    message = owned_message_or_404(page_owner(request), message_id)
    if message.role != Role.USER:
        raise Http404("Only your own messages can be edited.")
    return render(request, "chat/_edit_form.html", {"m": message_view(message)})


@require_http_methods(["GET", "POST"])
def rename(request: HtmxHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    owner = page_owner(request)
    conversation = owned_conversation_or_404(owner, conversation_id)
    error = ""
    if request.method == "POST":
        assert owner is not None  # owned_conversation_or_404 ensured it
        try:
            conversation = conversations.rename_conversation(
                owner, conversation_id, request.POST.get("title", "")
            )
        except ChatError as failure:
            error = failure.message
        else:
            if not request.htmx:
                return redirect("chat:conversation", conversation_id)
            current = is_current_page(request, conversation_id)
            context = {
                "c": conversation,
                "current_id": str(conversation_id) if current else "",
                "update_title": current,
            }
            return render(request, "chat/_conversation_item.html", context)
    template = "chat/_rename_form.html" if request.htmx else "chat/rename.html"
    return render(request, template, {"c": conversation, "error": error})


@require_http_methods(["GET"])
def conversation_item(request: HtmxHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """One sidebar entry: what Cancel puts back in place of a rename or delete form."""
    conversation = owned_conversation_or_404(page_owner(request), conversation_id)
    current = str(conversation_id) if is_current_page(request, conversation_id) else ""
    context = {"c": conversation, "current_id": current}
    return render(request, "chat/_conversation_item.html", context)


@require_http_methods(["GET"])
def confirm_delete(request: HtmxHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation = owned_conversation_or_404(page_owner(request), conversation_id)
    template = "chat/_delete_confirm.html" if request.htmx else "chat/delete.html"
    return render(request, template, {"c": conversation})


@require_http_methods(["POST"])
async def delete(request: HtmxHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    # Async so that stopping a running answer happens on the event loop that runs it.
    owner = await aowner_for(await request.auser(), request.session)
    if owner is None:
        raise Http404("Conversation not found.")
    try:
        await stopping.delete_conversation_and_stop(owner, conversation_id)
    except ChatError as error:
        raise Http404(error.message) from error
    if not request.htmx or is_current_page(request, conversation_id):
        home = reverse("chat:home")
        return HttpResponseClientRedirect(home) if request.htmx else redirect(home)
    # An entry of another conversation: swapping in nothing removes it from the list.
    return HttpResponse("")
