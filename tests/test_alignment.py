"""A pack's alignment template as text: what manifests and GetInfo carry."""

from __future__ import annotations

import pytest

from facesmith.alignment import FFHQ, Template, parse_alignment


def test_ffhq_is_named_by_its_name():
    assert FFHQ.to_manifest() == "ffhq"
    assert parse_alignment("ffhq") == FFHQ


def test_a_pack_template_round_trips():
    template = Template(eye_scale=2.35, mouth_scale=2.115, centre_shift=0.0)
    text = template.to_manifest()
    assert text == "template eye_scale=2.35 mouth_scale=2.115 centre_shift=0"
    assert parse_alignment(text) == template


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "alignment must be"),
        ("FFHQ", "alignment must be"),
        ("template eye_scale=2 mouth_scale=1.8", "must give all of"),
        ("template eye_scale=2 eye_scale=2 mouth_scale=1.8 centre_shift=0", "repeated"),
        ("template eye_scale=2 mouth_scale=1.8 centre_shift=0 tilt=3", "unknown"),
        ("template eye_scale=big mouth_scale=1.8 centre_shift=0", "needs a number"),
        ("template eye_scale=0 mouth_scale=1.8 centre_shift=0", "must be positive"),
        ("template eye_scale=nan mouth_scale=1.8 centre_shift=0", "finite"),
    ],
)
def test_bad_alignments_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_alignment(text)
