"""The Teams app package: exactly the three files Teams wants, icons of the right size, a valid manifest."""

from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from adapters.teams.package import build_manifest, build_package, validate_manifest

APP_ID = "8f0c3a52-1b7e-4d2a-9c55-3e6f1a2b4c7d"
DEVELOPER_URL = "https://pairbot.example.nhs.uk"
SCHEMA = Path(__file__).resolve().parents[1].parent / "shared" / "schemas" / "teams-manifest-1.19.json"


@pytest.fixture
def schema() -> Path:
    if not SCHEMA.is_file():
        reason = f"the Teams manifest schema is missing at {SCHEMA}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI=true: the schema tests must run)")
        pytest.skip(reason + " (../shared/schemas is part of the developer setup)")
    return SCHEMA


def decode_png(data: bytes) -> tuple[int, int, list[list[tuple[int, ...]]]]:
    """Width, height and RGBA rows of an 8-bit RGBA PNG; checks the signature and every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, []
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        at += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (8, 6, 0), "8-bit RGBA, not interlaced"
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = 1 + width * 4
    assert len(raw) == height * stride
    rows = []
    for y in range(height):
        line = raw[y * stride:(y + 1) * stride]
        assert line[0] == 0, "this reader only knows filter 0"
        rows.append([tuple(line[1 + x * 4:5 + x * 4]) for x in range(width)])
    return width, height, rows


@pytest.fixture
def package(tmp_path) -> Path:
    return build_package(APP_ID, tmp_path / "out", developer_url=DEVELOPER_URL)


def test_the_zip_holds_exactly_the_manifest_and_the_two_icons_at_its_root(package):
    assert package.parent.is_dir() and package.suffix == ".zip"
    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest == build_manifest(APP_ID, developer_url=DEVELOPER_URL)
    assert manifest["id"] == manifest["bots"][0]["botId"] == APP_ID
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}


def test_the_colour_icon_is_192px_opaque_nhs_blue_on_white(package):
    with zipfile.ZipFile(package) as archive:
        width, height, rows = decode_png(archive.read("color.png"))
    assert (width, height) == (192, 192)
    pixels = {p for row in rows for p in row}
    assert {a for *_, a in pixels} == {255}
    assert (255, 255, 255, 255) in pixels and (0x00, 0x5E, 0xB8, 255) in pixels
    assert rows[0][0] == (255, 255, 255, 255)


def test_the_outline_icon_is_32px_white_on_transparent(package):
    with zipfile.ZipFile(package) as archive:
        width, height, rows = decode_png(archive.read("outline.png"))
    assert (width, height) == (32, 32)
    pixels = [p for row in rows for p in row]
    assert all(p[:3] == (255, 255, 255) for p in pixels if p[3]), "only white may show"
    assert any(p[3] == 255 for p in pixels) and any(p[3] == 0 for p in pixels)
    assert rows[0][0][3] == 0


def test_the_build_is_reproducible(tmp_path):
    first = build_package(APP_ID, tmp_path / "a.zip", developer_url=DEVELOPER_URL)
    second = build_package(APP_ID, tmp_path / "b.zip", developer_url=DEVELOPER_URL)
    assert first.read_bytes() == second.read_bytes()


def test_the_manifest_in_the_zip_validates_against_the_1_19_schema(package, schema):
    with zipfile.ZipFile(package) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert validate_manifest(manifest, schema) == []
    assert manifest["manifestVersion"] == "1.19" and "v1.19" in manifest["$schema"]


def test_a_manifest_with_valid_domains_validates_too(schema):
    manifest = build_manifest(APP_ID, developer_url=DEVELOPER_URL, valid_domains=["pairbot.example.nhs.uk"])
    assert validate_manifest(manifest, schema) == []


@pytest.mark.parametrize("app_id", ["", "   ", "not-a-guid", "8f0c3a521b7e4d2a9c553e6f1a2b4c7d",
                                    "{8f0c3a52-1b7e-4d2a-9c55-3e6f1a2b4c7d}"])
def test_an_app_id_that_is_not_a_guid_names_the_config_key(app_id, tmp_path):
    with pytest.raises(ValueError, match=r"\[teams\] app_id.*not a GUID"):
        build_package(app_id, tmp_path, developer_url=DEVELOPER_URL)
    assert not list(tmp_path.iterdir()), "nothing is written"


def test_a_too_long_short_description_is_reported_with_its_field(schema):
    manifest = build_manifest(APP_ID, developer_url=DEVELOPER_URL)
    manifest["description"]["short"] = "x" * 81
    problems = validate_manifest(manifest, schema)
    assert len(problems) == 1 and problems[0].startswith("description.short:"), problems
    assert "81" in problems[0] and "80" in problems[0]


def test_the_manifest_version_is_checked_although_the_schema_declares_draft_04(schema):
    manifest = build_manifest(APP_ID, developer_url=DEVELOPER_URL) | {"manifestVersion": "1.17"}
    assert validate_manifest(manifest, schema) == ["manifestVersion: '1.19' was expected"]
