"""Input downloads follow redirects like PeerTube's runner does, without handing the runner's
tokens to another origin: the runner's real client against redirecting loopback servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offload.runner.client import InstanceClient, RetryPolicy
from offload.runner.errors import RedirectError
from tests.loopback import Answer, Seen, file_answer, loopback_server

CONTENT = b"0123456789" * 100
JOB = "5a3b0f44-8a2c-4c1e-9f6e-2d7a9b1c0e11"
FILE_PATH = f"/api/v1/runners/jobs/{JOB}/files/videos/v1/max-quality"
TOKENS = {"runnerToken": "ptrt-secret", "jobToken": "ptrjt-secret"}


async def _no_sleep(_: float) -> None:
    return None


def _client(url: str) -> InstanceClient:
    return InstanceClient(url, retry=RetryPolicy(attempts=3), sleep=_no_sleep)


def _storage(seen: Seen) -> Answer:
    """Object storage: serves the file to anyone."""
    return file_answer(CONTENT, seen)


def _leaks_tokens(seen: Seen) -> bool:
    return any(
        "secret" in text
        for text in [seen.target, seen.body.decode(errors="replace"), *seen.headers.values()]
    )


class TestAcrossOrigins:
    @pytest.mark.parametrize("status", [307, 308])
    async def test_307_to_another_host_and_port_is_a_plain_get(
        self, tmp_path: Path, status: int
    ) -> None:
        """A 307/308 to another host and port is fetched with a GET without body or tokens; the query string stays."""
        with loopback_server(_storage, host="localhost") as storage:
            location = f"{storage.url}/bucket/v1.mp4?X-Amz-Signature=abc"
            with loopback_server(lambda seen: Answer(status, {"Location": location})) as front:
                async with _client(front.url) as client:
                    await client.download(
                        front.url + FILE_PATH,
                        TOKENS["runnerToken"],
                        TOKENS["jobToken"],
                        tmp_path / "in",
                    )

        [first] = front.seen
        [fetched] = storage.seen

        assert CONTENT == (tmp_path / "in").read_bytes()
        assert ("POST", TOKENS) == (first.method, json.loads(first.body))
        assert ("GET", "/bucket/v1.mp4?X-Amz-Signature=abc", b"", False) == (
            fetched.method,
            fetched.target,
            fetched.body,
            _leaks_tokens(fetched),
        )

    async def test_301_to_another_port_turns_into_a_get(self, tmp_path: Path) -> None:
        """A 301 to another port of the same host name becomes a GET without body, as in PeerTube's runner."""
        with (
            loopback_server(_storage) as storage,
            loopback_server(
                lambda seen: Answer(301, {"Location": f"{storage.url}/bucket/v1.mp4"})
            ) as front,
        ):
            async with _client(front.url) as client:
                await client.download(
                    front.url + FILE_PATH,
                    TOKENS["runnerToken"],
                    TOKENS["jobToken"],
                    tmp_path / "in",
                )

        [fetched] = storage.seen

        assert CONTENT == (tmp_path / "in").read_bytes()
        assert ("GET", b"", False) == (fetched.method, fetched.body, _leaks_tokens(fetched))

    async def test_a_cut_download_resumes_across_the_redirect(self, tmp_path: Path) -> None:
        """The first answer is cut mid-body; the retry follows the redirect again and asks the target for the rest."""

        def flaky_storage(seen: Seen) -> Answer:
            if len(storage.seen) == 1:
                return Answer(200, {}, CONTENT, cut_after=300)
            return _storage(seen)

        with loopback_server(flaky_storage, host="localhost") as storage:
            with loopback_server(
                lambda seen: Answer(307, {"Location": f"{storage.url}/bucket/v1.mp4"})
            ) as front:
                async with _client(front.url) as client:
                    await client.download(
                        front.url + FILE_PATH,
                        TOKENS["runnerToken"],
                        TOKENS["jobToken"],
                        tmp_path / "in",
                    )

        assert CONTENT == (tmp_path / "in").read_bytes()
        assert (2, [None, "bytes=300-"]) == (
            len(front.seen),
            [s.headers.get("range") for s in storage.seen],
        )


class TestWithinTheOrigin:
    async def test_307_on_the_same_origin_keeps_the_post_and_its_tokens(
        self, tmp_path: Path
    ) -> None:
        """A relative 307 on the instance itself repeats the POST with its JSON tokens."""

        def instance(seen: Seen) -> Answer:
            if seen.path == FILE_PATH:
                return Answer(307, {"Location": "/storage/v1.mp4"})
            if seen.method == "POST" and json.loads(seen.body or b"{}") == TOKENS:
                return Answer(200, {}, CONTENT)
            return Answer(403)

        with loopback_server(instance) as server:
            async with _client(server.url) as client:
                await client.download(
                    server.url + FILE_PATH,
                    TOKENS["runnerToken"],
                    TOKENS["jobToken"],
                    tmp_path / "in",
                )

        assert CONTENT == (tmp_path / "in").read_bytes()
        assert [FILE_PATH, "/storage/v1.mp4"] == server.paths()


class TestRefused:
    async def test_a_redirect_loop_stops_after_five_hops(self, tmp_path: Path) -> None:
        """A server that always redirects is given up on after 5 redirects, once, with a clear error."""
        with loopback_server(lambda seen: Answer(302, {"Location": seen.path + "x"})) as server:
            async with _client(server.url) as client:
                with pytest.raises(RedirectError) as caught:
                    await client.download(
                        server.url + FILE_PATH,
                        TOKENS["runnerToken"],
                        TOKENS["jobToken"],
                        tmp_path / "in",
                    )

        assert (6, True) == (len(server.seen), "more than 5 redirects" in str(caught.value))
        assert [] == list(tmp_path.iterdir())

    @pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/v1.mp4"])
    async def test_a_redirect_to_another_scheme_is_refused(
        self, tmp_path: Path, location: str
    ) -> None:
        """A redirect to anything but http(s) fails the download at once and writes nothing."""
        with loopback_server(lambda seen: Answer(307, {"Location": location})) as server:
            async with _client(server.url) as client:
                with pytest.raises(RedirectError) as caught:
                    await client.download(
                        server.url + FILE_PATH,
                        TOKENS["runnerToken"],
                        TOKENS["jobToken"],
                        tmp_path / "in",
                    )

        assert (1, True) == (len(server.seen), location.split(":")[0] in str(caught.value))
        assert [] == list(tmp_path.iterdir())

    async def test_a_redirect_without_location_is_refused(self, tmp_path: Path) -> None:
        """A 3xx without Location is an error naming the status."""
        with loopback_server(lambda seen: Answer(302)) as server:
            async with _client(server.url) as client:
                with pytest.raises(RedirectError, match="302"):
                    await client.download(
                        server.url + FILE_PATH,
                        TOKENS["runnerToken"],
                        TOKENS["jobToken"],
                        tmp_path / "in",
                    )
