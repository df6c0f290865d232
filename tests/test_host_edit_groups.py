"""How the host adapters list a pack's edits: by group, in the pack's order (Krita's docker
headings, GIMP's "Edit faces…" message naming what the pack offers)."""

from __future__ import annotations

import pytest

from facesmith_host.errors import WorkerError
from facesmith_host.jobs import EditRange, ServerStatus, group_edits


def edit(name: str, group: str = "", kind: str = "") -> EditRange:
    return EditRange(name, -1.0, 1.0, 0.0, group=group, kind=kind)


EDITS = (
    edit("age", "age", "continuous"), edit("mine"), edit("gender", "gender", "binary"),
    edit("bald", "hair", "binary"), edit("young", "age", "binary"), edit("bangs", "hair"),
)  # fmt: skip


def test_edits_are_grouped_in_the_order_groups_first_appear() -> None:
    grouped = [(g, [e.name for e in edits]) for g, edits in group_edits(EDITS)]
    assert grouped == [("", ["mine"]), ("age", ["age", "young"]), ("gender", ["gender"]),
                       ("hair", ["bald", "bangs"])]  # fmt: skip


def test_an_unknown_edit_names_what_the_pack_offers_by_group() -> None:
    status = ServerStatus("127.0.0.1:1", "ffhq", 1024, "cpu", EDITS)
    with pytest.raises(WorkerError) as info:
        status.edit("wings")
    assert ("offers: mine; age: age, young; gender: gender; hair: bald, bangs"
            in info.value.message)  # fmt: skip
    assert status.edit("gender").swappable and not status.edit("age").swappable
