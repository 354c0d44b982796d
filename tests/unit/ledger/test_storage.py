"""The Store contract on both backends, the directory store's atomic create, and `open_store`."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path

import pytest

from dts_change.core.errors import ConfigurationError, InvalidStoreKeyError, SourceObjectNotFoundError
from dts_change.state.storage import DirectoryStore, OssStore, Store, open_store
from dts_change.state.storage.base import escape_segment, unescape_segment
from dts_change.state.storage.local import TEMP_PREFIX

from .fakes import FakeOssClient

# ---------------------------------------------------------------- contract, both backends


def test_store_get_absent_key_returns_none(store: Store) -> None:
    assert store.get("changes/nothing/000000.json") is None


def test_store_put_if_absent_second_write_returns_false_and_keeps_first(store: Store) -> None:
    assert store.put_if_absent("a/b.json", b"first") is True
    assert store.put_if_absent("a/b.json", b"second") is False
    assert store.get("a/b.json") == b"first"


def test_store_put_overwrites_existing_object(store: Store) -> None:
    store.put("x.json", b"one")
    store.put("x.json", b"two")
    assert store.get("x.json") == b"two"


def test_store_delete_absent_key_is_not_an_error(store: Store) -> None:
    store.delete("never/written.json")
    store.put("k", b"v")
    store.delete("k")
    assert store.get("k") is None


def test_store_list_returns_sorted_keys_under_prefix_relative_to_root(store: Store) -> None:
    for key in ("open/j1/002", "open/j1/001", "open/j2/001", "open-other/x", "changes/k/000000.json"):
        store.put(key, b"{}")
    assert store.list("open/j1/") == ["open/j1/001", "open/j1/002"]
    assert store.list("open/") == ["open/j1/001", "open/j1/002", "open/j2/001"]
    assert store.list("open") == ["open-other/x", "open/j1/001", "open/j1/002", "open/j2/001"]
    assert store.list("") == sorted(
        ["changes/k/000000.json", "open-other/x", "open/j1/001", "open/j1/002", "open/j2/001"]
    )
    assert store.list("missing/") == []


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs/key", "a\x00b", "a//b", "", "a/./b", "a\\b"])
def test_store_unsafe_key_raises_invalid_store_key(store: Store, key: str) -> None:
    with pytest.raises(InvalidStoreKeyError):
        store.put_if_absent(key, b"x")
    with pytest.raises(InvalidStoreKeyError):
        store.get(key)


def test_store_concurrent_put_if_absent_exactly_one_wins(store: Store) -> None:
    # GIVEN many writers racing for the same key
    barrier = threading.Barrier(16)
    results: list[tuple[int, bool]] = []

    def write(index: int) -> None:
        barrier.wait(timeout=5)
        results.append((index, store.put_if_absent("race/key.json", f"writer-{index}".encode())))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(16)]
    # WHEN they all write at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    # THEN exactly one succeeds and the stored bytes are that writer's, complete
    winners = [index for index, ok in results if ok]
    assert len(results) == 16
    assert len(winners) == 1
    assert store.get("race/key.json") == f"writer-{winners[0]}".encode()


# ---------------------------------------------------------------- directory store


def test_directory_store_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.put_if_absent("a/b.json", b"1")
    store.put_if_absent("a/b.json", b"2")
    store.put("a/c.json", b"3")
    names = [p.name for p in tmp_path.rglob("*")]
    assert not [n for n in names if n.startswith(TEMP_PREFIX)]
    assert store.list("") == ["a/b.json", "a/c.json"]


def test_directory_store_list_skips_temporary_files_of_writers_in_progress(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.put("a/b.json", b"1")
    (tmp_path / "a" / f"{TEMP_PREFIX}half-written").write_bytes(b"{")
    assert store.list("a/") == ["a/b.json"]


def test_directory_store_without_hard_links_falls_back_to_exclusive_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a file system that refuses hard links
    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    store = DirectoryStore(tmp_path)
    # WHEN the same key is created twice
    first = store.put_if_absent("k.json", b"first")
    second = store.put_if_absent("k.json", b"second")
    # THEN create-if-absent still holds
    assert (first, second) == (True, False)
    assert store.get("k.json") == b"first"


def test_directory_store_delete_removes_empty_folders_and_writes_still_work(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "root")
    store.put("open/job/1", b"x")
    store.delete("open/job/1")
    assert not (tmp_path / "root" / "open").exists()
    assert store.put_if_absent("open/job/2", b"y") is True
    assert store.list("open/") == ["open/job/2"]


def test_directory_store_relative_root_raises_invalid_store_key() -> None:
    with pytest.raises(InvalidStoreKeyError):
        DirectoryStore("relative/dir")


def test_directory_store_key_naming_a_folder_reads_as_absent(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.put("a/b/c", b"x")
    assert store.get("a/b") is None


# ---------------------------------------------------------------- OSS store


def test_oss_store_keys_live_under_the_prefix(fake_oss: FakeOssClient) -> None:
    store = OssStore(fake_oss, "ledger-bucket", "/deploy/ledger/")
    store.put_if_absent("changes/k/000000.json", b"{}")
    assert list(fake_oss.buckets["ledger-bucket"]) == ["deploy/ledger/changes/k/000000.json"]
    assert store.url == "oss://ledger-bucket/deploy/ledger/"
    assert store.list("changes/") == ["changes/k/000000.json"]


def test_oss_store_list_follows_every_page(fake_oss: FakeOssClient) -> None:
    store = OssStore(fake_oss, "ledger-bucket", "p")
    keys = [f"open/j/{i:03d}" for i in range(10)]
    for key in keys:
        store.put(key, b"")
    assert store.list("open/j/") == keys


def test_oss_store_tags_an_object_with_the_etag_that_put_and_list_both_give(fake_oss: FakeOssClient) -> None:
    store = OssStore(fake_oss, "ledger-bucket", "p")
    # WHEN an object is created, and its name written again with other bytes
    created, tag = store.put_if_absent_tagged("changes/k/000000.json", b"first")
    assert created and tag == hashlib.md5(b"first", usedforsecurity=False).hexdigest().upper()
    assert store.put_if_absent_tagged("changes/k/000000.json", b"again") == (False, None)
    assert store.list_tagged("changes/k/") == [("changes/k/000000.json", tag)]
    store.delete("changes/k/000000.json")
    store.put_if_absent("changes/k/000000.json", b"other")
    # THEN the listing gives the new object another tag
    assert store.list_tagged("changes/k/") != [("changes/k/000000.json", tag)]
    assert store.list("changes/k/") == ["changes/k/000000.json"]


def test_oss_store_missing_bucket_raises_instead_of_reading_absent() -> None:
    store = OssStore(FakeOssClient(buckets=()), "gone-bucket")
    with pytest.raises(SourceObjectNotFoundError) as info:
        store.get("k")
    assert info.value.remote_code == "NoSuchBucket"


# ---------------------------------------------------------------- open_store and escaping


def test_open_store_file_url_returns_directory_store(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/ledger")
    assert isinstance(store, DirectoryStore)
    assert store.put_if_absent("k", b"v") is True
    assert (tmp_path / "ledger" / "k").read_bytes() == b"v"


def test_open_store_oss_url_uses_the_given_client(fake_oss: FakeOssClient) -> None:
    store = open_store("oss://ledger-bucket/dts-change/ledger", oss_client=fake_oss)
    assert isinstance(store, OssStore)
    assert store.url == "oss://ledger-bucket/dts-change/ledger/"
    store.put("k", b"v")
    assert fake_oss.buckets["ledger-bucket"] == {"dts-change/ledger/k": b"v"}


@pytest.mark.parametrize(
    "url",
    [
        "oss://ledger-bucket/prefix",  # no client
        "s3://bucket/prefix",
        "file://relative/dir",
        "file:relative",
        "oss:///prefix-without-bucket",
        "oss://Bad_Bucket/prefix",
        "",
    ],
)
def test_open_store_unusable_url_raises_configuration_error(url: str, fake_oss: FakeOssClient) -> None:
    client = fake_oss if url.startswith("oss://B") else None
    with pytest.raises(ConfigurationError):
        open_store(url, oss_client=client)


@pytest.mark.parametrize("value", ["dtsab12cd/Forward", "_unrouted", "a.b", "..", "表/Reverse", "x%2Fy"])
def test_escape_segment_round_trips_without_slash_dot_or_leading_underscore(value: str) -> None:
    escaped = escape_segment(value)
    assert "/" not in escaped and "." not in escaped and not escaped.startswith("_")
    assert unescape_segment(escaped) == value


def test_store_age_of_an_oss_object_is_date_minus_last_modified_on_the_store_clock() -> None:
    from dts_change.state.storage.oss import _age

    # Both stamps come from OSS: the local clock plays no part; 1 s resolution; never negative
    assert _age("Sun, 06 Dec 2026 03:35:12 GMT", "Sun, 06 Dec 2026 03:34:02 GMT") == 70.0
    assert _age("Sun, 06 Dec 2026 03:35:12 GMT", "Sun, 06 Dec 2026 03:35:13 GMT") == 0.0
    assert _age(None, "Sun, 06 Dec 2026 03:35:12 GMT") is None
    assert _age("not a date", "Sun, 06 Dec 2026 03:35:12 GMT") is None


def test_store_directory_get_with_age_reads_the_file_and_its_age(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "aged")
    store.put_if_absent("a/b.json", b"{}")
    old = os.stat(tmp_path / "aged" / "a" / "b.json").st_mtime - 120
    os.utime(tmp_path / "aged" / "a" / "b.json", (old, old))
    found = store.get_with_age("a/b.json")
    assert found is not None and found[0] == b"{}" and 119 <= (found[1] or 0) < 130
    assert store.get_with_age("a/missing.json") is None
