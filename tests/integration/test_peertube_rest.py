"""The parts of PeerTube's REST API its clients read around videos, on both databases: video
details with files, channel and account, the constants, the public config, channels and
accounts, and the upload's checks with PeerTube's messages."""

from __future__ import annotations

import pytest

from tests.clips import MediaClips, upload
from tests.support import RunningInstance


def test_video_details_carry_what_peertube_clients_read(
    instance: RunningInstance, media_clips: MediaClips
) -> None:
    """A video's files have resolution, size, fps, file and torrent URLs; it has a channel and an account."""
    uuid = upload(instance, media_clips.small).json()["video"]["uuid"]

    with instance.client() as c:
        video = c.get(f"/api/v1/videos/{uuid}").json()
        torrent = c.get(video["files"][0]["torrentUrl"].removeprefix(instance.url))

    file = video["files"][0]
    assert {"id": 240, "label": "240p"} == file["resolution"]
    assert file["size"] > 0 and file["fps"] == 25
    assert file["fileUrl"] == file["fileDownloadUrl"] and file["magnetUri"].startswith(
        "magnet:?xs="
    )
    assert ("root_channel", "root") == (video["channel"]["name"], video["account"]["name"])
    assert video["channel"]["ownerAccount"]["name"] == "root"
    assert {"id": 1, "label": "Public"} == video["privacy"]
    assert 200 == torrent.status_code and torrent.content.startswith(b"d10:created by")
    assert file["fileUrl"].encode() in torrent.content  # the web seed


@pytest.mark.parametrize(
    ("path", "key", "label"),
    [
        ("categories", "1", "Music"),
        ("licences", "7", "Public Domain Dedication"),
        ("languages", "fr", "French"),
        ("privacies", "5", "Password protected"),
    ],
)
def test_constants_are_not_taken_for_video_ids(
    instance: RunningInstance, path: str, key: str, label: str
) -> None:
    """`/videos/categories` and its kin answer PeerTube's id→label maps, not a 400 for a bad id."""
    with instance.client() as c:
        r = c.get(f"/api/v1/videos/{path}")

    assert 200 == r.status_code, r.text
    assert label == r.json()[key]


def test_public_config_and_about(instance: RunningInstance) -> None:
    """`/config` and `/config/about` answer without a token, with the upload constraints."""
    with instance.client() as c:
        config = c.get("/api/v1/config")
        about = c.get("/api/v1/config/about")

    assert 200 == config.status_code and 200 == about.status_code
    assert ".mp4" in config.json()["video"]["file"]["extensions"]
    assert config.json()["signup"]["allowed"] is False
    assert "name" in about.json()["instance"]


def test_channels_and_accounts(instance: RunningInstance) -> None:
    """Each user has one channel: in `/users/me`, `/video-channels`, and under their account."""
    with instance.admin() as c:
        me = c.get("/api/v1/users/me").json()
        channels = c.get("/api/v1/video-channels").json()
        of_root = c.get("/api/v1/accounts/root/video-channels").json()
        one = c.get("/api/v1/video-channels/root_channel")
        missing = c.get("/api/v1/accounts/nobody/video-channels")

    assert ["root_channel"] == [ch["name"] for ch in me["videoChannels"]]
    assert (
        me["videoChannels"][0]["id"]
        == channels["data"][0]["id"]
        == of_root["data"][0]["id"]
        == one.json()["id"]
    )
    assert 1 == channels["total"] == of_root["total"]
    assert 404 == missing.status_code


@pytest.mark.parametrize(
    ("fields", "status", "detail"),
    [
        ({"channelId": "abc"}, 400, "Incorrect request parameters: channelId"),
        ({"privacy": "99"}, 400, "Incorrect request parameters: privacy"),
        ({"category": "100"}, 400, "Incorrect request parameters: category"),
        ({"channelId": "4242"}, 400, 'Unknown video "video channel" for this instance.'),
    ],
)
def test_upload_checks_attributes_as_peertube(
    instance: RunningInstance,
    media_clips: MediaClips,
    fields: dict[str, str],
    status: int,
    detail: str,
) -> None:
    """A bad channel, privacy or category is PeerTube's 400, and no video is made."""
    with instance.admin() as c:
        r = c.post(
            "/api/v1/videos/upload",
            data={"name": "checked", **fields},
            files={"videofile": ("a.mp4", media_clips.small.read_bytes())},
        )
        total = c.get("/api/v1/videos").json()["total"]

    assert status == r.status_code, r.text
    assert detail == r.json()["detail"]
    assert 0 == total


def test_update_renames_and_checks_as_peertube(
    instance: RunningInstance, media_clips: MediaClips
) -> None:
    """`PUT /videos/{id}` renames a video (204, JSON or form); a bad privacy is a 400, an unknown video a 404."""
    uuid = upload(instance, media_clips.small).json()["video"]["uuid"]

    with instance.admin() as c:
        renamed = c.put(f"/api/v1/videos/{uuid}", json={"name": "renamed", "privacy": 1})
        by_form = c.put(f"/api/v1/videos/{uuid}", files={"name": (None, "renamed again")})
        bad = c.put(f"/api/v1/videos/{uuid}", json={"privacy": 99})
        unknown = c.put("/api/v1/videos/999999", json={"name": "nobody's"})
        name = c.get(f"/api/v1/videos/{uuid}").json()["name"]

    assert (204, 204, 400, 404) == (
        renamed.status_code,
        by_form.status_code,
        bad.status_code,
        unknown.status_code,
    )
    assert "renamed again" == name
