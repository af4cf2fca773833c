"""Settings of the test project: SQLite and the "videos" storage in a temp dir, the public URL
(for the download redirects and ffprobe's reads) from the environment."""

import os
from pathlib import Path

DATA_DIR = Path(os.environ["CONNECTOR_DATA_DIR"])
PUBLIC_URL = os.environ["CONNECTOR_PUBLIC_URL"].rstrip("/")

SECRET_KEY = "test-only"  # noqa: S105 - a throwaway server on loopback
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "django_connector.urls"
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "django_peertube_runner_connector.apps.DjangoPeertubeRunnerConnectorConfig",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DATA_DIR / "db.sqlite3")}
}
# Runners post without CSRF tokens or sessions (as in the connector's demo app).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}

# The connector reads its inputs with ffprobe/ffmpeg at storage.url(), and its download
# endpoint redirects runners there: an absolute URL served by this same server (urls.py).
MEDIA_ROOT = str(DATA_DIR / "media")
MEDIA_URL = f"{PUBLIC_URL}/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "videos": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024

TRANSCODING_ALWAYS_TRANSCODE_ORIGINAL_RESOLUTION = False
TRANSCODING_RESOLUTIONS_144P = True
TRANSCODING_RESOLUTIONS_240P = True
TRANSCODING_RESOLUTIONS_360P = False
TRANSCODING_RESOLUTIONS_480P = False
TRANSCODING_RESOLUTIONS_720P = False
TRANSCODING_RESOLUTIONS_1080P = False
TRANSCODING_RESOLUTIONS_1440P = False
TRANSCODING_RESOLUTIONS_2160P = False
TRANSCODING_FPS_MIN = 1
TRANSCODING_FPS_STANDARD = [24, 25, 30]
TRANSCODING_FPS_HD_STANDARD = [50, 60]
TRANSCODING_FPS_AUDIO_MERGE = 25
TRANSCODING_FPS_AVERAGE = 30
TRANSCODING_FPS_MAX = 60
TRANSCODING_FPS_KEEP_ORIGIN_FPS_RESOLUTION_MIN = 720
TRANSCODING_RUNNER_MAX_FAILURE = 5
TRANSCODING_ENDED_CALLBACK_PATH = ""
# The connector reads these once a transcription ends or fails; no callback here.
TRANSCRIPTION_ENDED_CALLBACK_PATH = ""
TRANSCRIPTION_ERROR_CALLBACK_PATH = ""

LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
