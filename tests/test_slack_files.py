"""Files with coordinator commands in Slack: a CSV sent in the DM with 'import' (fetched with the
bot token), and the 'export' CSV uploaded into the coordinator's DM (files.getUploadURLExternal,
the upload, files.completeUploadExternal), against the fake Slack Web API."""

from __future__ import annotations

import csv
import io
import time

from sqlalchemy import func, select

from bot.models import Participant, PendingImport
from loopback_bot import scenario_runner
from slack_harness import PEOPLE, start_bot, stop_bot

run = scenario_runner(start_bot, stop_bot)


async def send_file(bot, user: str, text: str, name: str, content: bytes, event_id: str):
    """A person's DM message with a file attached, as Slack delivers it (subtype file_share)."""
    channel = await bot.dm_channel(user)
    shared = bot.fake.share_file(name, content)
    return await bot.event({"type": "message", "subtype": "file_share", "channel_type": "im", "channel": channel,
                            "user": user, "text": text, "files": [shared], "ts": f"{time.time():.6f}"}, event_id)


def participants(bot) -> int:
    with bot.db.session() as s:
        return s.scalar(select(func.count()).select_from(Participant))


def test_a_csv_sent_with_import_is_previewed_then_confirmed(tmp_path):
    @run
    async def scenario(bot):
        bot.make_cohort()
        rows = "email,role,site\nasha@trust.example,clinician,North\nben@trust.example,manager,North\n" \
               "ghost@trust.example,manager,\nrita@trust.example,surgeon,\n"
        assert (await send_file(bot, "U0RITA", "import", "people.csv", rows.encode(), "Ev-f1")).status == 200
        await bot.until(lambda: bool(bot.inbox("U0RITA")))
        preview = bot.inbox("U0RITA")[-1]["text"]
        assert "4 people, 2 ready to enrol" in preview
        assert "row 4 (ghost@trust.example): ghost@trust.example is not a person in this workspace" in preview
        assert "row 5 (rita@trust.example): role 'surgeon' is not one of" in preview
        assert participants(bot) == 0
        # The file was fetched with the bot token from its private URL.
        with bot.db.session() as s:
            number = s.scalar(select(PendingImport.id))
        assert (await bot.command("U0RITA", f"import confirm {number}")).status == 200
        await bot.until(lambda: any("Enrolled 2 people" in r["text"] for r in bot.fake.responses))
        assert participants(bot) == 2

    scenario(tmp_path)


def test_a_big_csv_is_looked_up_in_one_directory_walk(tmp_path):
    people = {f"U0P{n:03d}": (f"Person {n}", f"person{n}@trust.example") for n in range(60)}

    async def start(path):
        return await start_bot(path, users={**PEOPLE, **people})

    @scenario_runner(start, stop_bot)
    async def scenario(bot):
        bot.make_cohort()
        lines = ["email,role"] + [f"{email},{'clinician' if n % 2 else 'manager'}"
                                  for n, (_, email) in enumerate(people.values())]
        await send_file(bot, "U0RITA", "import", "big.csv", "\n".join(lines).encode(), "Ev-f2")
        await bot.until(lambda: bool(bot.inbox("U0RITA")), seconds=10)
        assert "60 people, 60 ready to enrol" in bot.inbox("U0RITA")[-1]["text"]
        methods = [c.method for c in bot.fake.calls]
        assert methods.count("users.lookupByEmail") == 0 and 1 <= methods.count("users.list") <= 2

    scenario(tmp_path)


def test_a_file_that_is_not_text_is_named_and_nothing_happens(tmp_path):
    @run
    async def scenario(bot):
        bot.make_cohort()
        await send_file(bot, "U0RITA", "import", "people.xlsx", b"PK\x03\x04\xff\xfe\x00binary", "Ev-f3")
        await bot.until(lambda: bool(bot.inbox("U0RITA")))
        assert "people.xlsx is not a text file: save it as 'CSV UTF-8'" in bot.inbox("U0RITA")[-1]["text"]
        with bot.db.session() as s:
            assert s.scalar(select(func.count()).select_from(PendingImport)) == 0

    scenario(tmp_path)


def test_export_arrives_as_a_csv_file_in_the_coordinators_dm(tmp_path):
    @run
    async def scenario(bot):
        bot.make_cohort()
        await bot.command("U0RITA", "enrol <@U0ASHA|asha> clinician site=North")
        await bot.command("U0RITA", "enrol ben@trust.example manager")
        await bot.until(lambda: len(bot.fake.responses) == 2)
        assert (await bot.command("U0RITA", "export")).status == 200
        await bot.until(lambda: len(bot.fake.responses) == 3)
        assert "sent the file to our direct messages" in bot.fake.responses[-1]["text"]
        uploaded = [f for f in bot.fake.files.values() if f["channels"]]
        assert len(uploaded) == 1 and uploaded[0]["name"].endswith(".csv")
        assert uploaded[0]["channels"] == [await bot.dm_channel("U0RITA")]
        rows = list(csv.DictReader(io.StringIO(uploaded[0]["content"].decode())))
        assert {r["name"] for r in rows} == {"Dr Asha Patel", "Ben Okafor"}
        assert next(r for r in rows if r["name"] == "Dr Asha Patel")["site"] == "North"

    scenario(tmp_path)


def test_a_file_without_a_command_gets_told_how_to_import(tmp_path):
    @run
    async def scenario(bot):
        await send_file(bot, "U0RITA", "", "people.csv", b"email,role\n", "Ev-f4")
        await bot.until(lambda: bool(bot.inbox("U0RITA")))
        assert "with the message 'import'" in bot.inbox("U0RITA")[-1]["text"]

    scenario(tmp_path)
