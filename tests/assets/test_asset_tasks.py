"""Label Studio tasks of asset files name them as its Local Files storage serves them."""

from __future__ import annotations

import pytest

from playbooks.asset_tasks import file_reference, local_files_url
from playbooks.base import PlanRefused


def test_a_file_is_named_below_the_document_root_and_url_encoded():
    assert local_files_url("/srv/data/a/b c&d.jpg", "/srv/data") == (
        "/data/local-files/?d=a/b%20c%26d.jpg"
    )
    assert local_files_url("/srv/data/x.wav", "/") == "/data/local-files/?d=srv/data/x.wav"


def test_the_data_key_follows_the_kind():
    assert file_reference("/srv/p", "a.jpg", "image", "/srv") == {
        "image": "/data/local-files/?d=p/a.jpg"
    }
    assert set(file_reference("/srv/p", "a.wav", "audio", "/srv")) == {"audio"}
    assert set(file_reference("/srv/p", "a.bin", "other", "/srv")) == {"file"}


def test_a_file_outside_the_document_root_is_refused():
    with pytest.raises(PlanRefused, match="not below Label Studio's document root"):
        local_files_url("/elsewhere/a.jpg", "/srv/data")
    with pytest.raises(PlanRefused, match="not below"):
        local_files_url("/srv/data/../secret.jpg", "/srv/data")
