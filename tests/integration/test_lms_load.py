"""The L&D catalog from an LMS export, published on a real NATS JetStream's intake as
`talentledger lms load catalog.csv` does it: in batches, once, never on the event stream
(the cycles service admits it from the intake: tests/integration/test_intake.py)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from faststream.nats import NatsBroker

from libs.events.envelope import Envelope
from libs.events.schemas.lms import CourseCatalogUpdated
from libs.events.subjects import EVENT_STREAM, INTAKE_STREAM
from talentledger.lms_load import COLUMNS, publish_catalog, read_catalog
from tests.support.backbone import stored
from tests.support.servers import Nats

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ("classroom", "online", "blended", "workshop", "self_paced")
SKILLS = ("coding", "testing", "delivery", "mentoring", "architecture")


def catalog_csv(courses: int, bad: int = 0) -> str:
    """`courses` courses, every third one building two competencies; then `bad` bad rows."""
    rows = [",".join((*COLUMNS, "retired"))]
    for i in range(courses):
        course = f"lms-{i:05d},Practical topic number {i},{FORMATS[i % 5]},{1 + i % 7}.5"
        retired = "true" if i % 11 == 0 else "false"
        rows.append(f"{course},{SKILLS[i % 5]},0,{1 + i % 4},{retired}")
        if i % 3 == 0:
            rows.append(f"{course},{SKILLS[(i + 1) % 5]},1,{2 + i % 4},{retired}")
    rows += [f"broken-{i},Half a course,radio,2,coding,1,2,false" for i in range(bad)]
    return "\n".join(rows) + "\n"


async def intake_envelopes(broker: NatsBroker) -> list[Envelope]:
    """What waits on the intake (nothing admits it in these tests); the event stream has
    nothing."""
    assert (await broker.connection.jetstream().stream_info(EVENT_STREAM)).state.messages == 0
    return [
        Envelope.model_validate_json(message.data or b"")
        for message in await stored(broker, INTAKE_STREAM)
    ]


async def test_a_catalog_is_published_in_batches_and_a_second_load_adds_nothing(
    broker: NatsBroker,
) -> None:
    catalog = read_catalog(catalog_csv(1000))
    assert (catalog.bad_rows, catalog.warnings, len(catalog.courses)) == ([], [], 1000)
    advanced: list[int] = []

    first = await publish_catalog(broker, catalog.courses, "lms-load:tests", advanced.append)
    assert (first.events, first.new, first.items) == (5, 5, 1000)
    assert sum(advanced) == 1000

    envelopes = await intake_envelopes(broker)
    assert len(envelopes) == 5
    published = []
    for envelope in envelopes:
        assert (envelope.event_type, envelope.source, envelope.actor) == (
            "CourseCatalogUpdated",
            "lms",
            "lms-load:tests",
        )
        event = CourseCatalogUpdated.model_validate(envelope.payload)
        assert len(event.courses) <= 200
        published += event.courses
    assert sorted(published, key=lambda c: c.course_id) == sorted(
        catalog.courses, key=lambda c: c.course_id
    )
    assert [len(c.builds) for c in published[:4]] == [2, 1, 1, 2]
    assert published[0].retired

    # Loading the same file again publishes the same event ids: JetStream keeps one copy.
    again = await publish_catalog(broker, read_catalog(catalog_csv(1000)).courses, "lms-load:b")
    assert (again.events, again.new, again.items) == (5, 0, 1000)
    assert len(await intake_envelopes(broker)) == 5


async def cli(*args: str, nats: Nats, home: Path) -> tuple[int, str, str]:
    """Run the CLI as the LMS integration's identity."""
    env = {**os.environ, **nats.env("lms"), "TALENTLEDGER_HOME": str(home), "COLUMNS": "200"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "talentledger.cli",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_command_reports_bad_rows_and_publishes_the_good_courses(
    broker: NatsBroker, nats: Nats, tmp_path: Path
) -> None:
    export = tmp_path / "catalog.csv"
    export.write_text(catalog_csv(250, bad=2), encoding="utf-8")

    code, out, err = await cli(
        "lms", "load", str(export), "--as", "alice", nats=nats, home=tmp_path / "home"
    )
    assert code == 0, out + err
    assert "catalog.csv line 336: format: unknown format 'radio'; use one of" in out
    assert "left out 2 course(s) with bad rows: broken-0, broken-1" in out
    assert "published 250 course(s) in 2 event(s), 2 new; 2 row(s) refused" in out

    code, out, err = await cli(
        "lms", "load", str(export), "--as", "alice", nats=nats, home=tmp_path / "home"
    )
    assert code == 0, out + err
    assert "published 250 course(s) in 2 event(s), 0 new; 2 row(s) refused" in out
    assert len(await intake_envelopes(broker)) == 2
    assert {e.actor for e in await intake_envelopes(broker)} == {"lms-load:alice"}


async def test_the_command_fails_clearly_when_nothing_can_be_published(
    broker: NatsBroker, nats: Nats, tmp_path: Path
) -> None:
    all_bad = tmp_path / "all-bad.csv"
    all_bad.write_text(catalog_csv(0, bad=3), encoding="utf-8")
    not_text = tmp_path / "binary.csv"
    not_text.write_bytes(b"course_id,title\n\xff\xfe\x00broken\n")
    no_header = tmp_path / "columns.csv"
    no_header.write_text("id,name\n1,x\n", encoding="utf-8")

    home = tmp_path / "home"
    runs = {
        name: await cli("lms", "load", str(path), "--as", "a", nats=nats, home=home)
        for name, path in (("all bad", all_bad), ("not text", not_text), ("columns", no_header))
    }
    for code, out, err in runs.values():
        assert code == 1, out + err
        assert "Traceback" not in out + err
    _, out, err = runs["all bad"]
    assert out.count("unknown format 'radio'") == 3
    assert "no course to publish" in err
    assert "is not UTF-8 text" in runs["not text"][2]
    _, out, err = runs["columns"]
    assert "missing columns course_id, title" in out
    assert "no course to publish" in err
    assert await intake_envelopes(broker) == []
