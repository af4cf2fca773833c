"""The studio edit request as the domain checks it: PeerTube's task rules and the duration an
edit's output must have."""

from __future__ import annotations

from typing import Any

import pytest

from offload.domain.studio import (
    InvalidStudioTask,
    InvalidStudioTasks,
    StudioTask,
    edited_duration,
    parse_tasks,
)


def _form(*tasks: dict[str, Any]) -> dict[str, Any]:
    """Tasks as a multipart form nests them: {"0": {...}, "1": {...}} with string values."""
    return {str(i): t for i, t in enumerate(tasks)}


def test_form_and_json_tasks_read_the_same() -> None:
    form = _form(
        {"name": "cut", "options": {"start": "1", "end": "3"}},
        {"name": "add-intro"},
        {"name": "remove-segments", "options": {"segments": {"0": {"start": "0", "end": "1"}}}},
    )
    json_body = [
        {"name": "cut", "options": {"start": 1, "end": 3}},
        {"name": "add-intro", "options": {}},
        {"name": "remove-segments", "options": {"segments": [{"start": 0, "end": 1}]}},
    ]
    files = ["tasks.1.options.file"]

    assert (
        parse_tasks(form, files)
        == parse_tasks(json_body, files)
        == [
            StudioTask("cut", 0, start=1, end=3),
            StudioTask("add-intro", 1),
            StudioTask("remove-segments", 2, segments=((0, 1),)),
        ]
    )


@pytest.mark.parametrize(
    ("raw", "files", "error"),
    [
        (None, [], InvalidStudioTasks),
        ("cut", [], InvalidStudioTasks),
        (
            {"0": {"name": "cut", "options": {"end": 1}}, "2": {"name": "cut"}},
            [],
            InvalidStudioTasks,
        ),
        ([{"options": {}}], [], InvalidStudioTasks),
        ([{"name": "cut", "options": {"start": -1, "end": 2}}], [], InvalidStudioTask),
        ([{"name": "cut", "options": {"start": True, "end": 2}}], [], InvalidStudioTask),
        ([{"name": "cut", "options": {"start": "1.5", "end": 2}}], [], InvalidStudioTask),
        ([{"name": "cut", "options": {"start": 2, "end": 2}}], [], InvalidStudioTask),
        ([{"name": "remove-segments", "options": {"segments": []}}], [], InvalidStudioTask),
        (
            [{"name": "remove-segments", "options": {"segments": [{"start": 3, "end": 1}]}}],
            [],
            InvalidStudioTask,
        ),
        ([{"name": "add-watermark"}], ["tasks.1.options.file"], InvalidStudioTask),
        ([{"name": "cut", "options": {"end": 2}}], ["tasks.0.options.file"], InvalidStudioTask),
    ],
)
def test_what_peertube_refuses_is_refused(raw: Any, files: list[str], error: type) -> None:
    with pytest.raises(error):
        parse_tasks(raw, files)


def test_the_edited_duration_follows_the_tasks_in_order() -> None:
    """A 10 s video: a 2 s intro (12 s), cut 1–9 of that (8 s), remove 0–1 and 0.5–3 (5 s left:
    overlapping segments count once), a 1 s outro (6 s)."""
    tasks = [
        StudioTask("add-intro", 0),
        StudioTask("cut", 1, start=1, end=9),
        StudioTask("remove-segments", 2, segments=((0, 1), (0, 3))),
        StudioTask("add-outro", 3),
    ]
    lengths = {0: 2.0, 3: 1.0}

    assert 6.0 == edited_duration(tasks, 10.0, lambda t: lengths[t.index])


def test_a_cut_past_the_video_as_it_stands_is_refused() -> None:
    """Seconds 11–12 exist once a 2 s intro made the 10 s video 12 s long, not before it."""
    intro_first = [StudioTask("add-intro", 0), StudioTask("cut", 1, start=11, end=12)]
    cut_first = [StudioTask("cut", 0, start=11, end=12), StudioTask("add-intro", 1)]

    assert 1.0 == edited_duration(intro_first, 10.0, lambda t: 2.0)
    with pytest.raises(InvalidStudioTask, match="lasts 10.00 s"):
        edited_duration(cut_first, 10.0, lambda t: 2.0)


def test_a_cut_to_the_rounded_up_end_is_the_end() -> None:
    """A client showing whole seconds offers 5 as the end of a 4.02 s video."""
    assert pytest.approx(3.02) == edited_duration(
        [StudioTask("cut", 0, start=1, end=5)], 4.02, lambda t: 0
    )
    with pytest.raises(InvalidStudioTask):
        edited_duration([StudioTask("cut", 0, start=1, end=6)], 4.02, lambda t: 0)


def test_watermark_tasks_carry_the_instance_geometry() -> None:
    wire = StudioTask("add-watermark", 0).to_wire("https://i/task-files/a.png")
    assert {
        "name": "add-watermark",
        "options": {
            "file": "https://i/task-files/a.png",
            "watermarkSizeRatio": 0.1,
            "horizontalMarginRatio": 0.05,
            "verticalMarginRatio": 0.05,
        },
    } == wire
