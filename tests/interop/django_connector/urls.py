"""The connector's runner API, the media files it redirects runners to, and two views of this
test project (like the connector's demo app): start a transcoding, list the jobs."""

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve
from django_peertube_runner_connector.urls import urlpatterns as connector_urls

from . import views

urlpatterns = [
    *connector_urls,
    path("videos/upload", views.upload),
    path("jobs", views.jobs),
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
