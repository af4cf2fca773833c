"""Test-project views: hand an uploaded file to the connector's `transcode_video` (and, if
asked, `transcript_video`), and list the connector's jobs for the test to watch."""

import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_peertube_runner_connector.models import RunnerJob
from django_peertube_runner_connector.storage import video_storage
from django_peertube_runner_connector.transcode import transcode_video
from django_peertube_runner_connector.transcript import transcript_video


def _start_transcoding(request: HttpRequest) -> dict[str, str]:
    destination = f"video-{uuid.uuid4()}"
    upload = request.FILES["videoFile"]
    stored = video_storage.save(f"{destination}/{upload.name}", upload)
    video = transcode_video(stored, destination, settings.PUBLIC_URL, base_name="clip")
    if request.POST.get("transcript"):
        transcript_video(destination, settings.PUBLIC_URL)
    return {"video": str(video.uuid), "directory": destination}


@csrf_exempt
async def upload(request: HttpRequest) -> HttpResponse:
    # transcode_video reads the stored file back over HTTP from this server (ffprobe, ffmpeg):
    # off Django's one thread for sync views, or serving that read would wait for this view.
    started = await sync_to_async(_start_transcoding, thread_sensitive=False)(request)
    return JsonResponse(started)


def jobs(request: HttpRequest) -> HttpResponse:
    rows = RunnerJob.objects.order_by("createdAt").values(
        "uuid", "type", "state", "error", "failures", "payload", "privatePayload"
    )
    return JsonResponse({"jobs": [{**row, "uuid": str(row["uuid"])} for row in rows]})
