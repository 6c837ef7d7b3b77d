"""Encrypted chunking of saved plans: a plan over 1 MiB round-trips through chunks of at most 900 KiB;
missing, reordered or foreign chunks are refused."""

from __future__ import annotations

import os

import pytest

from tfcontroller.api.constants import PLAN_CHUNK_BYTES
from tfcontroller.crypto.aead import KeyRing
from tfcontroller.crypto.errors import DecryptionError
from tfcontroller.terraform.plan_store import decode_plan, encode_plan


def test_large_plan_round_trip() -> None:
    ring = KeyRing.generate()
    plan = os.urandom(2 * 1024 * 1024 + 123)
    chunks = encode_plan(plan, ring, "ns/web/plan-main-0123456789-abcdef01")
    assert len(chunks) == 3 and all(len(c) <= PLAN_CHUNK_BYTES for c in chunks)
    assert decode_plan(chunks, ring, "ns/web/plan-main-0123456789-abcdef01") == plan


def test_small_plan_single_chunk() -> None:
    ring = KeyRing.generate()
    assert len(encode_plan(b"tiny", ring, "a")) == 1


def test_damaged_chunk_sets_refused() -> None:
    ring = KeyRing.generate()
    chunks = encode_plan(os.urandom(300_000), ring, "aad", chunk_bytes=100_000)
    assert len(chunks) == 4
    for bad in (chunks[:-1], [chunks[1], chunks[0], *chunks[2:]]):
        with pytest.raises(DecryptionError):
            decode_plan(bad, ring, "aad")
    with pytest.raises(DecryptionError):
        decode_plan(chunks, ring, "other-object")


def test_show_document_round_trip_bound_to_its_plan() -> None:
    """The `show -json` document stored beside a plan is encrypted like it and opens only for that plan."""
    from tfcontroller.terraform.plan_store import decode_show, encode_show

    ring = KeyRing.generate()
    show = {"format_version": "1.2", "resource_changes": [{"address": "x", "change": {"after": {"p": "s3cret"}}}]}
    blob = encode_show(show, ring, "ns/web/plan-a/show")
    assert b"s3cret" not in blob
    assert decode_show(blob, ring, "ns/web/plan-a/show") == show
    with pytest.raises(DecryptionError):
        decode_show(blob, ring, "ns/web/plan-b/show")
