"""The Microsoft Teams app package: the zip a Teams admin uploads (manifest.json + two icons).

The manifest follows schema 1.19. The icons are drawn here (two overlapping rings: a pair) and
written by a few lines of zlib+struct, so packaging needs no imaging library.
"""

from __future__ import annotations

import json
import math
import re
import struct
import zlib
import zipfile
from pathlib import Path
from typing import Callable, Iterable

SCHEMA_URL = "https://developer.microsoft.com/en-us/json-schemas/teams/v1.19/MicrosoftTeams.schema.json"
MANIFEST_VERSION = "1.19"
NHS_BLUE = "#005EB8"
COLOR_ICON, OUTLINE_ICON = "color.png", "outline.png"
COLOR_SIZE, OUTLINE_SIZE = 192, 32

# The same pattern as the schema's #/definitions/guid: the hyphenated form, no braces.
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")

SHORT_DESCRIPTION = "Paired learning: clinicians buddied with managers for four months."
FULL_DESCRIPTION = (
    "Pairbot runs paired learning programmes in hospitals. A clinician (doctor, nurse, therapist...) "
    "is buddied with a manager for about four months. Pairbot introduces the pair, proposes meeting "
    "and shadowing slots that fit their rotas, asks afterwards whether they met, prompts private "
    "reflections, collects short surveys, nudges pairs that go quiet and tells the programme "
    "coordinator when a nudge is not enough. Participants and coordinators talk to Pairbot in a "
    "personal chat; a pair can also add Pairbot to their own group chat."
)
# Teams lists at most 10 commands per scope: the ones people reach for most ('help' lists the rest).
COMMANDS = [
    ("help", "What you can do and the commands you can use"),
    ("availability", "When you could usually meet. availability Mon 12:00-14:00, Thu 17:00-18:30"),
    ("status", "Coordinators: the cohort at a glance, or one pair. status #12"),
    ("cohort create", "Coordinators: a new cohort. cohort create \"Spring 2027\" --start 2027-03-01"),
    ("enrol", "Coordinators: enrol someone by email. enrol asha@trust.nhs.uk clinician site=North"),
    ("import", "Coordinators: send with a CSV of people attached, to preview and then confirm"),
    ("pair", "Coordinators: propose pairs, each with the reason; then 'pair confirm'"),
    ("pair confirm", "Coordinators: confirm the proposed pairs and introduce them"),
    ("start", "Coordinators: start the cohort's timeline"),
    ("nudge", "Coordinators: nudge a pair to meet. nudge #12"),
]


def check_app_id(app_id: str) -> str:
    """The bot's Microsoft App ID, or ValueError naming the config key."""
    if not app_id or not app_id.strip():
        raise ValueError("[teams] app_id is empty, so it is not a GUID: set it to the Microsoft App ID "
                         "of the bot's Azure registration (or PAIRBOT_TEAMS_APP_ID)")
    if not _GUID.match(app_id):
        raise ValueError(f"[teams] app_id {app_id!r} is not a GUID: expected the Microsoft App ID of the "
                         "bot's Azure registration, like 00000000-0000-0000-0000-000000000000")
    return app_id


def build_manifest(app_id: str, *, name: str = "Pairbot", version: str = "1.0.0", developer_url: str,
                   valid_domains: Iterable[str] = ()) -> dict:
    """The manifest.json for schema 1.19: one bot, personal and group-chat scopes."""
    check_app_id(app_id)
    if not 0 < len(name) <= 30:
        raise ValueError(f"the app name {name!r} must be 1 to 30 characters (Teams' short name)")
    if not _SEMVER.match(version):
        raise ValueError(f"the app version {version!r} must look like 1.0.0 (Teams wants major.minor.patch)")
    if not developer_url.lower().startswith("https://"):
        raise ValueError(f"the developer URL {developer_url!r} must start with https://")
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": app_id,
        "developer": {
            "name": "Pairbot",
            "websiteUrl": developer_url,
            "privacyUrl": developer_url,
            "termsOfUseUrl": developer_url,
        },
        "name": {"short": name, "full": f"{name}: paired learning for clinicians and managers"},
        "description": {"short": SHORT_DESCRIPTION, "full": FULL_DESCRIPTION},
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": NHS_BLUE,
        "bots": [{
            "botId": app_id,
            # personal: participants and coordinators; groupChat: a pair adds Pairbot to their chat.
            "scopes": ["personal", "groupChat"],
            "supportsFiles": True,  # a coordinator sends the CSV to import
            "isNotificationOnly": False,
            "commandLists": [{
                "scopes": ["personal"],
                "commands": [{"title": title, "description": text} for title, text in COMMANDS],
            }],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": list(valid_domains),
    }


def build_package(app_id: str, out: Path, **kw) -> Path:
    """Write the Teams app zip and return its path.

    `out` is a directory (created if missing; the zip is named pairbot-teams-<version>.zip) or a
    path ending in .zip. `kw` goes to build_manifest (developer_url is required). The zip holds
    exactly manifest.json, color.png and outline.png at its root, and is byte-identical from one
    build to the next.
    """
    manifest = build_manifest(app_id, **kw)
    out = Path(out)
    path = out if out.suffix.lower() == ".zip" else out / f"pairbot-teams-{manifest['version']}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    files = {
        "manifest.json": (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode(),
        COLOR_ICON: color_icon(),
        OUTLINE_ICON: outline_icon(),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for filename, data in files.items():
            info = zipfile.ZipInfo(filename, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return path


# Icons ------------------------------------------------------------------------------------------

def _png(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int, int]]) -> bytes:
    """A PNG, 8-bit RGBA, no interlace, every row with filter 0."""
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


def _rings(size: int, radius: float, width: float, gap: float) -> Callable[[int, int], float]:
    """Coverage (0..1, anti-aliased) of two overlapping rings centred side by side."""
    centre = size / 2
    centres = [(centre - gap / 2, centre), (centre + gap / 2, centre)]

    def coverage(x: int, y: int) -> float:
        px, py = x + 0.5, y + 0.5
        return max(min(1.0, max(0.0, width / 2 + 0.5 - abs(math.hypot(px - cx, py - cy) - radius)))
                   for cx, cy in centres)

    return coverage


def color_icon() -> bytes:
    """192x192, full colour: NHS blue rings on white, the mark inside Teams' 120px safe area."""
    blue = bytes.fromhex(NHS_BLUE[1:])
    cover = _rings(COLOR_SIZE, radius=33, width=10, gap=42)

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        a = cover(x, y)
        return (*(round(255 + (c - 255) * a) for c in blue), 255)

    return _png(COLOR_SIZE, COLOR_SIZE, pixel)


def outline_icon() -> bytes:
    """32x32, white on transparent (only white pixels, alpha varies), as Teams requires."""
    cover = _rings(OUTLINE_SIZE, radius=8.5, width=2, gap=11)
    return _png(OUTLINE_SIZE, OUTLINE_SIZE, lambda x, y: (255, 255, 255, round(255 * cover(x, y))))


# Validation -------------------------------------------------------------------------------------

def validate_manifest(manifest: dict, schema_path: Path) -> list[str]:
    """Problems with `manifest` against the JSON schema at `schema_path`, one line each; [] when valid.

    Uses the draft the schema declares. Offline: $refs resolve only inside the schema itself and
    the bundled meta-schemas; nothing is fetched. Microsoft's 1.19 schema declares draft-04 but uses
    draft-06 `const` (manifestVersion), which a draft-04 validator would silently ignore, so `const`
    is added when the declared draft lacks it. Needs jsonschema (the `test` extra).
    """
    import jsonschema.validators
    from referencing import Registry

    schema = json.loads(Path(schema_path).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    if "const" not in cls.VALIDATORS:
        cls = jsonschema.validators.extend(cls, {"const": jsonschema.Draft6Validator.VALIDATORS["const"]})
    # An explicit empty registry: jsonschema's default would fetch remote $refs over HTTP.
    validator = cls(schema, registry=Registry())
    problems = []
    for error in sorted(validator.iter_errors(manifest), key=lambda e: [str(p) for p in e.absolute_path]):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        where = where.removeprefix(".") or "(manifest)"
        if error.validator == "maxLength":
            message = f"is {len(error.instance)} characters long; at most {error.validator_value} allowed"
        elif error.validator == "maxItems":
            message = f"has {len(error.instance)} items; at most {error.validator_value} allowed"
        else:
            message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
        problems.append(f"{where}: {message}")
    return problems
