"""The MCP server over a real stdio round trip: the server runs as `python -m datamig.mcp_server`
in a subprocess and an official-SDK client talks to it.

The first tests need no services (a config whose runs folder is a tmp folder); the last one
migrates district 42 of the private test estate as a dry run, end to end."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import psycopg
import pytest
import yaml
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
TOOLS = {"analyze_datastores", "select_districts", "migrate", "validate_migration", "rollback", "get_report",
         "list_runs"}
RUN = "mig-20260301-101500-d42"
PLANTED = "pw-Planted-mcp-4417"

pytestmark = pytest.mark.timeout(900)


def _config(tmp_path: Path) -> Path:
    raw = yaml.safe_load((ROOT / "config" / "datamig.yaml").read_text())
    # relative, as the shipped data/runs is: the server resolves it against the checkout, whatever
    # directory a running migrate's dbt has moved the process into
    raw.setdefault("extract", {})["out_dir"] = os.path.relpath(tmp_path / "runs", ROOT)
    path = tmp_path / "datamig.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _params(tmp_path: Path, extra: dict | None = None) -> StdioServerParameters:
    env = dict(os.environ)
    env.setdefault("DATAMIG_STATE_DIR", str(tmp_path / "state"))
    env.update({"DATAMIG_CONFIG": str(_config(tmp_path)), "CERT_SP_PASSWORD": PLANTED, **(extra or {})})
    python = str(PYTHON if PYTHON.exists() else Path(sys.executable))
    return StdioServerParameters(command=python, args=["-m", "datamig.mcp_server"], env=env, cwd=str(ROOT))


def _session(tmp_path: Path, extra: dict | None = None, timeout: float = 60) -> Client:
    return Client(_params(tmp_path, extra), read_timeout_seconds=timeout)


def _run_state(tmp_path: Path) -> None:
    phases = {p: {"status": "done", "seconds": 1.0, "started_at": None, "error": None, "summary": {}}
              for p in ("preflight", "extract", "transform", "gate", "load", "verify", "report")}
    path = tmp_path / "runs" / RUN / "run-state.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"run_id": RUN, "district": 42, "options": {"dry_run": False, "strategy": "auto"},
                                "status": "succeeded", "created_at": "2026-03-01T10:15:00+00:00",
                                "phases": phases}))
    # its gate passed on this verdict: without it list_runs says the run is no longer validated
    (path.parent / "validation-report.json").write_text(json.dumps({"status": "PASSED"}))


def test_tools_are_listed_with_their_input_schemas(tmp_path):
    async def main():
        async with _session(tmp_path) as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in anyio.run(main)}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and tool.input_schema["type"] == "object"
        assert tool.output_schema is not None  # structured (JSON) results
    migrate = tools["migrate"].input_schema
    assert migrate.get("required", []) == []   # a district, or a run to resume
    assert {"type": "integer", "minimum": 1, "maximum": 2**63 - 1} in migrate["properties"]["district"]["anyOf"]
    assert migrate["properties"]["dry_run"]["default"] is True
    assert migrate["properties"]["strategy"]["default"] == "auto"
    assert set(migrate["properties"]["strategy"]["enum"]) == {"auto", "insert", "upsert", "merge"}
    assert "resume" in migrate["properties"]
    rollback = tools["rollback"].input_schema
    assert rollback["required"] == ["run_id"] and rollback["properties"]["confirm"]["default"] is False
    assert tools["select_districts"].input_schema.get("required", []) == []
    assert "top" in tools["select_districts"].input_schema["properties"]
    for name in ("validate_migration", "get_report"):
        assert tools[name].input_schema["required"] == ["run_id"]
    assert tools["list_runs"].input_schema.get("properties", {}) == {}


# (readOnly, destructive, idempotent, openWorld): only list_runs leaves everything as it was; the
# others write files (analysis, manifests, reports, the run folder) and migrate and rollback CERT
HINTS = {"analyze_datastores": (False, False, True, True), "select_districts": (False, False, True, True),
         "migrate": (False, True, False, True), "validate_migration": (False, False, True, True),
         "rollback": (False, True, False, True), "get_report": (False, False, True, False),
         "list_runs": (True, False, True, False)}


def test_every_tool_carries_the_hints_hosts_confirm_by(tmp_path):
    """Hosts decide from a tool's annotations what needs the user's confirmation: there were none."""
    async def main():
        async with _session(tmp_path) as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in anyio.run(main)}
    assert set(HINTS) == TOOLS
    for name, tool in tools.items():
        hints = tool.annotations
        assert hints is not None, name
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint,
                hints.open_world_hint) == HINTS[name], name
        assert hints.title and hints.title == tool.title, name


def test_server_reports_the_packages_version(tmp_path):
    """serverInfo.version was '' to every client."""
    from importlib.metadata import version

    async def main():
        async with _session(tmp_path) as client:
            return client.server_info

    info = anyio.run(main)
    assert info.name == "datamig" and info.version == version("datamig") != ""


def test_list_runs_rollback_refusal_and_errors(tmp_path):
    _run_state(tmp_path)

    async def main():
        async with _session(tmp_path) as client:
            runs = await client.call_tool("list_runs", {})
            refused = await client.call_tool("rollback", {"run_id": RUN})
            refused_false = await client.call_tool("rollback", {"run_id": RUN, "confirm": False})
            missing = await client.call_tool("validate_migration", {"run_id": "mig-20990101-000000-d42"})
            bad = await client.call_tool("get_report", {"run_id": "not-a-run"})
            outside = await client.call_tool("validate_migration", {"run_id": "../../etc"})
            nothing = await client.call_tool("migrate", {})
            return runs, refused, refused_false, missing, bad, outside, nothing

    runs, refused, refused_false, missing, bad, outside, nothing = anyio.run(main)

    assert not runs.is_error
    listed = runs.structured_content["runs"]
    assert [r["run_id"] for r in listed] == [RUN]
    assert listed[0]["status"] == "succeeded" and listed[0]["phases"]["load"]["status"] == "done"

    for result in (refused, refused_false):
        assert not result.is_error
        body = result.structured_content
        assert body["status"] == "REFUSED" and body["rolled_back"] is False
        assert "confirm=true" in body["reason"]
        assert body["run"] == {"status": "succeeded", "district": 42}
    assert (tmp_path / "runs" / RUN / "run-state.json").exists()

    for result in (missing, bad, outside, nothing):  # usage errors: tool errors, one line, no secret
        assert result.is_error
        text = result.content[0].text
        assert "\n" not in text and PLANTED not in text
    assert "run mig-20990101-000000-d42 not found under " in missing.content[0].text
    assert "not a run id" in bad.content[0].text and "'../../etc' is not a run id" in outside.content[0].text
    assert "give a district" in nothing.content[0].text
    assert not (tmp_path / "runs").joinpath("mig-0").exists() and sorted(p.name for p in (tmp_path / "runs").iterdir()) == [RUN]


def test_every_tool_taking_a_run_id_refuses_one_that_is_not(tmp_path):
    """get_report read <reports>/<run_id>.json as given: '../secret' (or an absolute path) returned
    any JSON file on the machine; resume "" started a new migration of district 0."""
    _run_state(tmp_path)
    (tmp_path / "secret.json").write_text(json.dumps({"planted": PLANTED}))
    secret = str(tmp_path / "secret")

    async def main():
        async with _session(tmp_path) as client:
            calls = [("get_report", {"run_id": "../secret"}), ("get_report", {"run_id": secret}),
                     ("get_report", {"run_id": "../" * 12 + secret.lstrip("/")}),
                     ("validate_migration", {"run_id": "../secret"}), ("rollback", {"run_id": "../secret"}),
                     ("rollback", {"run_id": "../secret", "confirm": True}), ("migrate", {"resume": ""}),
                     ("migrate", {"resume": "", "district": 42}), ("migrate", {"resume": "../secret"})]
            return [(name, args, await client.call_tool(name, args)) for name, args in calls]

    for name, args, result in anyio.run(main):
        assert result.is_error, (name, args, result.structured_content)
        text = result.content[0].text
        assert "is not a run id" in text and "\n" not in text and PLANTED not in text, (name, args, text)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [RUN]   # no run started
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("name, args, named", [
    ("migrate", {"district": 0}, "migrate: district: Input should be greater than or equal to 1"),
    ("migrate", {"district": "42x"}, "migrate: district: Input should be a valid integer"),
    # JSON's true was taken as 1 (bool is an int in Python): a migration of district 1
    ("migrate", {"district": True}, "migrate: district: Input should be a valid integer, not a boolean (true)"),
    ("migrate", {"district": False, "resume": RUN}, "migrate: district: Input should be a valid integer"),
    ("select_districts", {"top": True}, "select_districts: top: Input should be a valid integer, not a boolean"),
    ("migrate", {"district": 42, "strategy": "fast"}, "migrate: strategy: Input should be 'auto', 'insert'"),
    ("select_districts", {"top": 0}, "select_districts: top: Input should be greater than or equal to 1"),
    ("validate_migration", {}, "validate_migration: run_id: Field required"),
    ("rollback", {"run_id": None, "confirm": True}, "rollback: run_id: Input should be a valid string"),
])
def test_arguments_the_schema_refuses_are_one_line_naming_the_argument(tmp_path, name, args, named):
    """The SDK's own refusal was pydantic's report: four lines, the last a link to pydantic's site."""
    text = _refused_call(tmp_path, name, args)
    assert named in text and "pydantic" not in text, text


def _refused_call(tmp_path, name: str, args: dict, env: dict | None = None) -> str:
    """The one-line tool error of a call refused before it ran (no runs folder made)."""
    async def main():
        async with _session(tmp_path, env) as client:
            return await client.call_tool(name, args)

    result = anyio.run(main)
    assert result.is_error
    text = result.content[0].text
    assert "\n" not in text, text
    assert not (tmp_path / "runs").exists()  # nothing started
    return text


@pytest.mark.parametrize("name, args, named, kind", [
    ("migrate", {"district": 42, "dry_run": "false"}, "dry_run", "a string"),
    ("migrate", {"district": 42, "dry_run": "no"}, "dry_run", "a string"),
    ("migrate", {"district": 42, "dry_run": 0}, "dry_run", "an integer"),
    ("migrate", {"district": 42, "dry_run": None}, "dry_run", "null"),
    ("rollback", {"run_id": RUN, "confirm": "yes"}, "confirm", "a string"),
    ("rollback", {"run_id": RUN, "confirm": 1}, "confirm", "an integer"),
])
def test_a_boolean_argument_takes_a_json_boolean_only(tmp_path, name, args, named, kind):
    """pydantic's lax mode took "false", "no", "0", 0 and 1 as booleans: `dry_run: "no"` was a
    migration that writes CERT, `confirm: "yes"` a rollback."""
    from conftest import SALT

    # with a salt, a migrate taken on would get as far as its run folder
    text = _refused_call(tmp_path, name, args, {"DATAMIG_SALT": SALT})
    assert text.endswith(f"{name}: {named}: Input should be a JSON boolean (true or false), not {kind}"), text


@pytest.mark.parametrize("name, args, named", [
    ("migrate", {"district": "42", "dry_run": True}, "district"),
    ("select_districts", {"top": "3"}, "top"),
])
def test_an_integer_argument_takes_no_string(tmp_path, name, args, named):
    """pydantic's lax mode took "42" for a district: an agent's quoting slip ran as if typed."""
    text = _refused_call(tmp_path, name, args)
    assert text.endswith(f"{name}: {named}: Input should be a valid integer, not a string"), text


def test_a_json_boolean_is_taken(tmp_path):
    """The same arguments as JSON booleans get past the check, to the tool's own answer."""
    _run_state(tmp_path)

    async def main():
        async with _session(tmp_path) as client:
            refused = await client.call_tool("rollback", {"run_id": RUN, "confirm": False})
            missing = await client.call_tool("migrate", {"resume": "mig-20990101-000000-d42", "dry_run": False})
            return refused, missing

    refused, missing = anyio.run(main)
    assert not refused.is_error and refused.structured_content["status"] == "REFUSED"
    assert missing.is_error and "mig-20990101-000000-d42 not found" in missing.content[0].text, missing.content
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [RUN]


def test_an_argument_no_tool_takes_is_refused_not_ignored(tmp_path):
    """It was dropped in silence: `dryrun: false` (for dry_run) ran a migration, a dry run after all;
    `run_id` on migrate (for resume) started a new run of the district instead of resuming."""
    _run_state(tmp_path)

    async def main():
        async with _session(tmp_path) as client:
            return [await client.call_tool(name, args) for name, args in (
                ("migrate", {"district": 42, "dryrun": False}), ("migrate", {"district": 42, "run_id": RUN}),
                ("rollback", {"run_id": RUN, "confirmed": True}), ("list_runs", {"all": True}))]

    dryrun, run_id, confirmed, every = anyio.run(main)
    for result, tool, named in ((dryrun, "migrate", "'dryrun'"), (run_id, "migrate", "'run_id'"),
                                (confirmed, "rollback", "'confirmed'"), (every, "list_runs", "'all'")):
        assert result.is_error
        text = result.content[0].text
        assert "\n" not in text and f"{tool}: unknown argument {named}" in text, text
    assert "(district, dry_run, strategy, resume)" in dryrun.content[0].text
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [RUN]


def test_an_error_outside_datamigs_own_still_names_its_reason(tmp_path):
    """A config path that is a folder: the loader's OSError reaches the agent as one line."""
    folder = tmp_path / "a-folder"
    folder.mkdir()

    async def main():
        async with _session(tmp_path, {"DATAMIG_CONFIG": str(folder)}) as client:
            return await client.call_tool("list_runs", {})

    result = anyio.run(main)
    assert result.is_error
    text = result.content[0].text
    assert "\n" not in text and "a-folder" in text and text != "Error executing tool list_runs"


def test_migrate_dry_run_of_district_42_end_to_end(tiny_estate, cfg, tmp_path):
    if not (ROOT / "python" / "datamig" / "transform" / "run.py").exists():
        pytest.skip("the transform phase (python/datamig/transform/run.py) has not landed yet")
    from conftest import SALT

    extra = {**tiny_estate["env"], "DATAMIG_STATE_DIR": os.environ["DATAMIG_STATE_DIR"], "DATAMIG_SALT": SALT}
    progress: list[tuple[float, float | None, str | None]] = []

    in_dbt = anyio.Event()
    during: dict = {}

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))
        if sum((m or "").startswith("transform:") for _, _, m in progress) >= 3:  # dbt is running
            in_dbt.set()

    async def meanwhile(client) -> None:
        """Other calls while the migrate's dbt runs: it moved the whole process into its run
        folder, and a review's list_runs then read no runs (its config path relative)."""
        await in_dbt.wait()
        during["runs"] = await client.call_tool("list_runs", {})
        during["second"] = await client.call_tool("migrate", {"district": 42})

    async def main():
        async with _session(tmp_path, extra, timeout=840) as client:
            async with anyio.create_task_group() as tg:
                tg.start_soon(meanwhile, client)
                result = await client.call_tool("migrate", {"district": 42}, progress_callback=on_progress)
            run_id = (result.structured_content or {}).get("run_id")
            runs = await client.call_tool("list_runs", {})
            report = await client.call_tool("get_report", {"run_id": run_id}) if run_id else None
            return result, runs, report

    result, runs, report = anyio.run(main)
    try:
        assert not during["runs"].is_error, during["runs"].content[0].text
        assert [(r["run_id"], r["status"]) for r in during["runs"].structured_content["runs"]] == [
            (result.structured_content["run_id"], "running")]
        assert during["second"].is_error
        assert "another migrate or validate_migration is running" in during["second"].content[0].text
        assert not result.is_error, result.content[0].text if result.content else result
        body = result.structured_content
        assert body["district"] == 42 and body["run_id"].startswith("mig-") and body["run_id"].endswith("-d42")
        phases = body["phases"]
        assert list(phases) == ["preflight", "extract", "transform", "gate", "load", "verify", "report"]
        failed = {n: p["error"] for n, p in phases.items() if p["status"] == "failed"}
        assert body["status"] == "dry_run", f"dry run did not finish: {failed}"
        assert phases["verify"]["status"] == "skipped"
        assert all(p["status"] == "done" for n, p in phases.items() if n != "verify")
        assert all(p["seconds"] is not None for n, p in phases.items() if n != "verify")
        assert body["rows"] > 0
        assert set(body["reports"]) == {"json", "md", "html"}
        assert Path(body["run_dir"]).parent == tmp_path / "runs"

        # progress: one notification at least per phase, increasing, phase names in the messages
        assert len(progress) >= 6
        values = [v for v, _, _ in progress]
        assert values == sorted(values) and len(set(values)) == len(values)
        assert {t for _, t, _ in progress} == {7}
        said = " ".join(m or "" for _, _, m in progress)
        for phase in ("preflight", "extract", "transform", "gate", "load", "report"):
            assert f"{phase}:" in said

        assert [r["run_id"] for r in runs.structured_content["runs"]] == [body["run_id"]]
        assert report is not None and not report.is_error
        summary = report.structured_content["summary"]
        assert summary["status"] == "DRY_RUN" and summary["district"] == 42
        assert summary["run_status"] == "dry_run"  # the report migrate wrote read "running"
        written = json.loads(Path(body["reports"]["json"]).read_text())["summary"]
        assert written["run_status"] == "dry_run" and written["status"] == "DRY_RUN"
        assert report.structured_content["load"]["status"] == "DRY_RUN"
        text = json.dumps(report.structured_content)
        for name, value in extra.items():
            if any(m in name.upper() for m in ("PASSWORD", "SALT", "SECRET", "TOKEN")) and len(value) >= 4:
                assert value not in text, f"{name} leaked into the report"
    finally:
        run_id = (result.structured_content or {}).get("run_id")
        if run_id:  # the reports go to data/reports of the checkout (the server runs there)
            for suffix in ("json", "md", "html"):
                (ROOT / "data" / "reports" / f"{run_id}.{suffix}").unlink(missing_ok=True)


def test_progress_from_many_threads_leaves_in_order(monkeypatch):
    """dbt calls the progress callback from each of its node threads: every notification the
    server sends must still be higher than the one before (the protocol's rule)."""
    import threading
    import time

    from datamig import mcp_server
    from datamig.mcp_server import PHASES, _Progress

    redact = mcp_server.scrub.text

    def slow_redact(text, env):  # between taking a value and sending it: widen the window
        time.sleep(0.001)
        return redact(text, env)

    monkeypatch.setattr(mcp_server.scrub, "text", slow_redact)

    sent: list[float] = []

    class Recorder:  # the one method of the SDK's Context the server's progress uses
        async def report_progress(self, value, total, message):
            sent.append(value)
            await anyio.sleep(0)  # let another thread's notification try to overtake this one

    def phase_worker(progress, phase):
        for _ in range(50):
            progress.phase_message(phase, "dbt build: a node done")

    async def main():
        progress = _Progress(Recorder(), total=len(PHASES))
        for phase in PHASES[:3]:
            threads = [threading.Thread(target=phase_worker, args=(progress, phase)) for _ in range(4)]
            await anyio.to_thread.run_sync(lambda: [t.start() for t in threads] and [t.join() for t in threads])

    anyio.run(main)
    assert len(sent) == 3 * 4 * 50
    assert all(b > a for a, b in zip(sent, sent[1:]))


def test_a_cancelled_migrate_stops_before_its_next_phase(tiny_estate, cfg, tmp_path):
    """A migrate whose client cancelled it ran on to its end, the load included, and held the
    one-dbt-tool lock meanwhile. Now the cancelled call returns at once and the run stops before
    its next phase: cancelled, resumable, and the lock free again."""
    from conftest import SALT

    extra = {**tiny_estate["env"], "DATAMIG_STATE_DIR": os.environ["DATAMIG_STATE_DIR"], "DATAMIG_SALT": SALT}
    in_transform = anyio.Event()
    returned: list = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        if (message or "").startswith("transform:"):
            in_transform.set()

    async def call(client) -> None:
        returned.append(await client.call_tool("migrate", {"district": 42}, progress_callback=on_progress))

    async def until(what, done, seconds: float = 600):
        with anyio.fail_after(seconds):
            while not done(result := await what()):
                await anyio.sleep(0.5)
        return result

    async def main():
        async with _session(tmp_path, extra, timeout=840) as client:
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, client)
                await in_transform.wait()
                tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled to the server
            runs = await until(lambda: client.call_tool("list_runs", {}),
                               lambda r: r.structured_content["runs"][0]["status"] != "running")
            run = runs.structured_content["runs"][0]
            # the lock is free once the cancelled work has ended: a validation is no longer refused
            checked = await until(lambda: client.call_tool("validate_migration", {"run_id": run["run_id"]}),
                                  lambda r: "another migrate" not in r.content[0].text, seconds=300)
            report = await client.call_tool("get_report", {"run_id": run["run_id"]})
            return run, checked, report

    run, checked, report = anyio.run(main)
    try:
        assert returned == []
        assert run["status"] == "cancelled"
        phases = {name: p["status"] for name, p in run["phases"].items()}
        assert phases == {"preflight": "done", "extract": "done", "transform": "done", "gate": "pending",
                          "load": "pending", "verify": "pending", "report": "pending"}
        assert checked.is_error and "was never loaded into CERT" in checked.content[0].text
        summary = report.structured_content["summary"]
        assert (summary["status"], summary["failed_phase"]) == ("CANCELLED", "gate")
        assert summary["verdict"] == ("The run of district 42 was cancelled by its caller before gate; the phases "
                                      "before it are done.")
        assert report.structured_content["next_steps"][0] == (
            f"Resume it from the phase it stopped in: `datamig migrate --resume {run['run_id']}`.")
    finally:
        for suffix in ("json", "md", "html"):
            (ROOT / "data" / "reports" / f"{run['run_id']}.{suffix}").unlink(missing_ok=True)


def test_a_session_ended_during_a_migrate_stops_the_run_before_its_next_phase(tiny_estate, tmp_path, monkeypatch):
    """The client closed the session (stdin) while a migrate ran: the server returned from main and
    the interpreter's shutdown broke the running dbt ("cannot schedule new futures after
    interpreter shutdown"), the run failed in transform. Now the server stops it before its next
    phase, as a cancel does, and exits when the phase has ended."""
    from conftest import SALT

    # a host that waits for the server to exit (the SDK's client kills it after 2 s, which leaves
    # the run `interrupted` instead)
    monkeypatch.setattr("mcp.client.stdio.PROCESS_TERMINATION_TIMEOUT", 600)
    extra = {**tiny_estate["env"], "DATAMIG_STATE_DIR": os.environ["DATAMIG_STATE_DIR"], "DATAMIG_SALT": SALT}
    in_transform = anyio.Event()

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        if (message or "").startswith("transform:"):
            in_transform.set()

    async def main():
        with anyio.CancelScope() as session:
            async with _session(tmp_path, extra, timeout=840) as client:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(lambda: client.call_tool("migrate", {"district": 42}, progress_callback=on_progress))
                    await in_transform.wait()
                    session.cancel()  # the host quits with the call in flight
        async with _session(tmp_path, extra) as client:
            run = (await client.call_tool("list_runs", {})).structured_content["runs"][0]
            report = await client.call_tool("get_report", {"run_id": run["run_id"]})
            return run, report

    run, report = anyio.run(main)  # its reports are beside its runs folder: in tmp_path
    assert run["status"] == "cancelled", run
    assert {name: p["status"] for name, p in run["phases"].items()} == {
        "preflight": "done", "extract": "done", "transform": "done", "gate": "pending", "load": "pending",
        "verify": "pending", "report": "pending"}
    assert report.structured_content["summary"]["status"] == "CANCELLED"


def test_every_rollback_result_says_whether_it_rolled_back(tiny_estate, tmp_path):
    """A refused or failed rollback said rolled_back false; a done one had no rolled_back at all."""
    from conftest import SALT

    extra = {**tiny_estate["env"], "DATAMIG_STATE_DIR": os.environ["DATAMIG_STATE_DIR"], "DATAMIG_SALT": SALT}

    async def main():
        async with _session(tmp_path, extra, timeout=840) as client:
            # lax booleans, with the services up: "no" was a migration into CERT, "yes" a rollback
            lax = [await client.call_tool("migrate", {"district": 42, "dry_run": "no"})]
            started = (tmp_path / "runs").exists()
            migrated = await client.call_tool("migrate", {"district": 42, "dry_run": False})
            run_id = migrated.structured_content["run_id"]
            lax.append(await client.call_tool("rollback", {"run_id": run_id, "confirm": "yes"}))
            refused = await client.call_tool("rollback", {"run_id": run_id})
            with psycopg.connect(tiny_estate["env"]["CERT_IDS_URL"], autocommit=True) as db:  # a CERT user's write
                db.execute("UPDATE districts SET name = name WHERE id = 42")
            written = await client.call_tool("rollback", {"run_id": run_id, "confirm": True})
            done = await client.call_tool("rollback", {"run_id": run_id, "confirm": True, "force": True})
            runs = await client.call_tool("list_runs", {})
            return lax, started, migrated, refused, written, done, runs

    lax, started, migrated, refused, written, done, runs = anyio.run(main)  # reports beside its runs: in tmp_path
    assert [r.is_error for r in lax] == [True, True] and not started
    assert "migrate: dry_run: Input should be a JSON boolean" in lax[0].content[0].text
    assert "rollback: confirm: Input should be a JSON boolean" in lax[1].content[0].text
    run_id = migrated.structured_content["run_id"]
    assert migrated.structured_content["status"] == "succeeded", migrated.structured_content
    assert (refused.structured_content["status"], refused.structured_content["rolled_back"]) == ("REFUSED", False)
    assert (written.structured_content["status"], written.structured_content["rolled_back"]) == ("FAILED", False)
    assert 'CERT wrote ids.districts {"id": 42}' in written.structured_content["error"], written.structured_content
    assert not done.is_error, done.content[0].text
    body = done.structured_content
    assert (body["run_id"], body["status"], body["rolled_back"]) == (run_id, "ROLLED_BACK", True)
    assert sum(t["inserted"] for tables in body["stores"].values() for t in tables.values()) > 0
    assert runs.structured_content["runs"][0]["cert"]["status"] == "ROLLED_BACK"


def test_a_call_cancelled_before_its_thread_began_frees_the_lock():
    """anyio can cancel a call while it waits for a worker thread: its work never runs, and the
    lock it took must not stay held for ever."""
    from datamig.mcp_server import _DBT, _DbtSlot

    ran: list[int] = []
    slot = _DbtSlot("migrate", lambda: ran.append(1))
    assert _DBT.locked()
    slot.abandon()
    assert not _DBT.locked()
    assert slot() is None and ran == []
    second = _DbtSlot("migrate", lambda: ran.append(2) or "done")
    assert second() == "done" and ran == [2] and not _DBT.locked()
    second.abandon()  # its work ended: nothing left to release
    assert not _DBT.locked()


def test_datamig_mcp_logs_an_unexpected_failure_to_stderr(tmp_path):
    """Started as `datamig mcp` (the CLI's callback puts a NullHandler on the root logger), the
    server logged nothing at all: the traceback of a tool that failed unexpectedly was lost."""
    from mcp.client.stdio import stdio_client

    _run_state(tmp_path)
    # a folder where get_report writes its report's JSON (a reports folder that is a file is a user's error)
    (tmp_path / "reports" / f"{RUN}.json").mkdir(parents=True)
    params = _params(tmp_path)
    params.args = ["-m", "datamig", "mcp"]
    errlog = tmp_path / "stderr.txt"

    async def main():
        with errlog.open("w") as err:
            async with Client(stdio_client(params, errlog=err)) as client:
                return await client.call_tool("get_report", {"run_id": RUN})

    result = anyio.run(main)
    assert result.is_error and "IsADirectoryError" in result.content[0].text, result.content[0].text
    logged = errlog.read_text()
    assert "tool failed" in logged and "Traceback" in logged and PLANTED not in logged, logged


def test_a_phase_failing_with_a_datamig_error_is_the_runs_failed_result(services, tmp_path):
    """A phase stopped by an error of datamig's own other than MigrationFailed (CERT's writer
    refused mid-run, a run's final/ gone) came back as a bare tool error: the run it had made,
    recorded failed and resumable, went unnamed. It is the run's result, as any failed phase."""
    phases = {p: {"status": "done", "seconds": 1.0, "started_at": None, "error": None, "summary": {}}
              for p in ("preflight", "extract", "transform", "gate")}
    phases.update({p: {"status": "pending", "seconds": None, "started_at": None, "error": None, "summary": {}}
                   for p in ("load", "verify", "report")})
    run = tmp_path / "runs" / RUN
    run.mkdir(parents=True)
    (run / "run-state.json").write_text(json.dumps({
        "run_id": RUN, "district": 42, "options": {"dry_run": True, "strategy": "auto"}, "status": "failed",
        "created_at": "2026-03-01T10:15:00+00:00", "phases": phases}))
    (run / "validation-report.json").write_text(json.dumps({"status": "PASSED"}))  # and no final/ to load
    extra = {**services, "DATAMIG_STATE_DIR": os.environ["DATAMIG_STATE_DIR"]}

    async def main():
        async with _session(tmp_path, extra) as client:
            return await client.call_tool("migrate", {"resume": RUN})

    result = anyio.run(main)
    assert not result.is_error, result.content[0].text
    body = result.structured_content
    assert (body["run_id"], body["status"], body["phases"]["load"]["status"]) == (RUN, "failed", "failed")
    assert body["phases"]["load"]["error"].startswith(f"run {RUN}: no final/ folder")
    assert set(body["reports"]) == {"json", "md", "html"}
