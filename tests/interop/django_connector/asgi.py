"""The ASGI application: the connector's socket.io server (namespace /runners) in front of
Django, as the connector's README shows."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_connector.settings")
django_application = get_asgi_application()

# Imported after Django is set up: the connector's socket module reads its models.
import socketio  # noqa: E402
from django_peertube_runner_connector.socket import sio  # noqa: E402

application = socketio.ASGIApp(sio, django_application)
