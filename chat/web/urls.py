from __future__ import annotations

from django.urls import path

from chat.web import feed, pages, partials

app_name = "chat"

urlpatterns = [
    path("", pages.chat_page, name="home"),
    path("c/<uuid:conversation_id>/", pages.chat_page, name="conversation"),
    path("c/<uuid:conversation_id>/events/", feed.page_feed_events, name="events"),
    path("c/<uuid:conversation_id>/messages/", partials.messages_partial, name="messages"),
    path("c/<uuid:conversation_id>/item/", partials.conversation_item, name="item"),
    path("c/<uuid:conversation_id>/rename/", partials.rename, name="rename"),
    path("c/<uuid:conversation_id>/delete/", partials.confirm_delete, name="confirm-delete"),
    path("c/<uuid:conversation_id>/delete/confirmed/", partials.delete, name="delete"),
    path("m/<uuid:message_id>/", partials.message_partial, name="message"),
    path("m/<uuid:message_id>/edit/", partials.edit_form, name="edit"),
    path("sidebar/", partials.sidebar, name="sidebar"),
    path("accounts/signup/", pages.signup, name="signup"),
]
