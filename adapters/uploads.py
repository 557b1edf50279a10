"""Files people send with a command (a CSV to import, a rota's calendar), fetched over HTTP and read as text, the
same way for every platform; what goes wrong is said in words the sender can act on."""

from __future__ import annotations

import asyncio

import aiohttp

from bot.events import Upload

MAX_UPLOAD_BYTES = 2_000_000  # a CSV of 5,000 people is well under this
# A download that stalls gives up instead of holding the command (and its person) forever.
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=5, sock_read=15)
TOO_BIG = "{name} is larger than {mb} MB; split it into smaller files."


def too_big(name: str) -> str:
    return TOO_BIG.format(name=name, mb=MAX_UPLOAD_BYTES // 1_000_000)


async def fetch_text(session: aiohttp.ClientSession, name: str, url: str, platform: str,
                     headers: dict[str, str] | None = None) -> Upload | str:
    """The file at `url` as an Upload, or what is wrong with it."""
    try:
        async with session.get(url, headers=headers or {}, allow_redirects=False,
                               timeout=DOWNLOAD_TIMEOUT) as response:
            if response.status != 200:
                return f"I couldn't fetch {name} from {platform} (HTTP {response.status}); please send it again."
            data = await response.content.read(MAX_UPLOAD_BYTES + 1)
    except (aiohttp.ClientError, asyncio.TimeoutError) as problem:
        return f"I couldn't fetch {name} from {platform} ({problem.__class__.__name__}); please send it again."
    if len(data) > MAX_UPLOAD_BYTES:
        return too_big(name)
    try:
        return Upload(name, data.decode("utf-8-sig"))  # utf-8-sig: Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError:
        if name.lower().endswith(".ics"):
            return f"{name} is not a text file: export your rota as a calendar (.ics) and send it again."
        return f"{name} is not a text file: save it as 'CSV UTF-8' and send it again."
