"""ASGI entry point, served by daphne: `daphne chatsite.asgi:application`."""

from __future__ import annotations

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django.setup(set_prefix=False)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402
from chatsite.handlers import HttpApplication  # noqa: E402

http_app: object = HttpApplication()
if settings.DEBUG or os.environ.get("CHAT_SERVE_STATIC") == "1":
    # Static files straight from the app for `make run`; behind nginx, nginx serves them.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    # Any ASGI application will do; the stubs ask for Django's own handler.
    http_app = ASGIStaticFilesHandler(http_app)  # type: ignore[arg-type]

application = ProtocolTypeRouter(
    {
        "http": http_app,
        # Browsers send cookies with cross-site WebSocket requests: the origin check is
        # what stops another site from using a visitor's session here.
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# Everything imported so far lives as long as the process: take it out of the garbage
# collector's walks (a full collection over Django's ~100,000 startup objects paused every
# stream for up to 170 ms with 300 open), and collect the young generation less often.
get_resolver().url_patterns  # noqa: B018 - import every view now, before the freeze
gc.collect()
gc.freeze()
gc.set_threshold(50_000, 20, 100)
