#!/usr/bin/env python3
"""Renders every expression of a template corpus with real Apache Airflow (3.3.2): the oracle
that dagctl's template rendering is compared with.

    airflow_render.py CORPUS.yaml OUT.json [--jobs N]

Run it with the Python of a venv that has apache-airflow installed (scripts/airflow-venv.sh
makes one and prints DAGCTL_TEST_AIRFLOW_PYTHON). CORPUS.yaml is a list of {id, expr}
(tests/corpus/templates.yaml). OUT.json gets, with the ids in corpus order,

    {"airflow_version": "3.3.2",
     "outputs": {ID: {"ok": true, "text": RENDERED} | {"ok": false, "error": "Type: message"}}}

How each expression is rendered: the way a manual run renders a BashOperator's bash_command.
A throwaway AIRFLOW_HOME (in a temporary folder, deleted at the end; SQLite metadata DB) gets
a DAG file in its dags folder, written by this script: DAG `tpl`, schedule @daily, start_date
2026-01-01 UTC, catchup False, params {"x": "px", "num": 7}, and one BashOperator `t` whose
bash_command *is* the expression (no wrapper, so whitespace control and the dropped trailing
newline are Airflow's). For each entry the previous `tpl` run is deleted, so every entry sees a
first run (try_number 1, no previous success), then Airflow's own
`dag.test(logical_date=2026-03-15T00:00:00+00:00, run_after=<same>, run_conf={"k": "vk", "n": 3})`
runs (what `airflow dags test` does): Airflow creates the manual DagRun
manual__2026-03-15T00:00:00+00:00, starts its in-process Execution API, builds the task context
from what that API returns, renders the template fields with the DAG's Jinja environment and
stores them as RenderedTaskInstanceFields. The rendered text is read back from that row. The
task's `pre_execute` hook raises AirflowSkipException, so the rendered text is never executed.
A template error writes no such row: the exception that the task's failure callback receives
is the result, as "Type: message".

Time: about 0.15 s per expression after a setup of about 8 s (importing Airflow, creating its
DB, and the first dag.test, which builds the Execution API app). --jobs N (default: 2, or 1 on
a single CPU) splits the corpus over N worker processes, each with its own AIRFLOW_HOME.

Stdout gets one summary line only. Airflow's own log goes to a file per worker in the temporary
folder (DAGCTL_AIRFLOW_LOG_LEVEL sets its level, default WARNING); its tail is printed on
stderr when something goes wrong. Exit status: 0 when every entry has a result (a template
error is a result); 1 when Airflow could not be set up (OUT.json is not written) or when an
entry gave no result at all: neither rendered fields nor an exception, or it ran past
ENTRY_TIMEOUT_S (OUT.json is written, with an error starting with "NoResult:" for that entry);
2 on bad usage or a bad corpus.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

LOGICAL_ISO = "2026-03-15T00:00:00+00:00"
RUN_CONF = {"k": "vk", "n": 3}
EXPR_ENV = "DAGCTL_TPL_EXPR"
SETUP_TIMEOUT_S = 300  # importing Airflow and creating its DB
ENTRY_TIMEOUT_S = 120  # one dag.test (the first one builds the Execution API app)

# The DAG file, written into the throwaway dags folder. Airflow parses it (dag.test syncs the
# dags folder to the metadata DB on every call, with the current expression from the
# environment) and the worker imports the same file for build().
DAG_FILE = '''\
"""DAG `tpl` of the template oracle (written by tests/python/airflow_render.py)."""
import datetime
import os

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowSkipException

CAPTURED = []  # (rendered bash_command, exception) per callback, read by the render script


def _capture(context):
    exc = context.get("exception")
    CAPTURED.append((getattr(context["task"], "bash_command", None), exc))


def _skip_before_bash(context):
    # Called after the template fields are rendered and stored, before execute(): the
    # rendered text is never run.
    raise AirflowSkipException("template oracle: rendered, not executed")


def build(expr):
    with DAG(
        dag_id="tpl",
        schedule="@daily",
        start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
        catchup=False,
        params={"x": "px", "num": 7},
    ) as dag:
        BashOperator(
            task_id="t",
            bash_command=expr,
            pre_execute=_skip_before_bash,
            on_success_callback=_capture,
            on_failure_callback=_capture,
            on_skipped_callback=_capture,
        )
    return dag


dag = build(os.environ.get("''' + EXPR_ENV + '''", "{{ ds }}"))
'''


def load_corpus(path: str) -> list[tuple[str, str]]:
    import yaml

    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of {{id, expr}} entries")
    entries, seen = [], set()
    for i, e in enumerate(data):
        if not isinstance(e, dict) or not isinstance(e.get("id"), str) or not isinstance(e.get("expr"), str):
            raise ValueError(f"{path}: entry {i} needs a string `id` and a string `expr`: {e!r}")
        if e["id"] in seen:
            raise ValueError(f"{path}: duplicate id {e['id']!r}")
        seen.add(e["id"])
        entries.append((e["id"], e["expr"]))
    return entries


def log_tail(path: str, since: int = 0, lines: int = 40) -> str:
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        with open(path, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


# --- worker: one AIRFLOW_HOME, renders entries.json into results.jsonl ----------------------

def worker(work: str) -> int:
    """Runs with stdout and stderr sent to work/airflow.log by the parent.

    Writes work/results.jsonl, one line as soon as it is known: {"setup": {...}} or
    {"setup_failed": why}, then {"id", "out", "problem"} per entry. A hang is cut by faulthandler's
    watchdog (no signals: Airflow's DAG importer takes SIGALRM for itself), which writes every
    thread's stack to the log and exits; the parent then reports the entry that was running.
    """
    import faulthandler

    with open(os.path.join(work, "entries.json"), encoding="utf-8") as fh:
        corpus = json.load(fh)
    log_path = os.path.join(work, "airflow.log")
    results = open(os.path.join(work, "results.jsonl"), "w", encoding="utf-8")

    def emit(record: dict) -> None:
        results.write(json.dumps(record, ensure_ascii=False) + "\n")
        results.flush()

    home, dags = os.path.join(work, "home"), os.path.join(work, "dags")
    os.makedirs(home)
    os.makedirs(dags)
    dag_file = os.path.join(dags, "tpl_dag.py")
    with open(dag_file, "w", encoding="utf-8") as fh:
        fh.write(DAG_FILE)
    # Airflow's settings come from the environment: only ours count.
    for name in [n for n in os.environ if n.startswith("AIRFLOW_")]:
        del os.environ[name]
    os.environ.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__DAGS_FOLDER=dags,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        # dagctl's cron schedules are data intervals (a run's logical date starts its
        # interval, Airflow 2's CronDataIntervalTimetable); Airflow 3 keeps that meaning
        # with this setting, which also gives a manual run the interval dagctl gives it.
        AIRFLOW__SCHEDULER__CREATE_CRON_DATA_INTERVALS="True",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{os.path.join(home, 'airflow.db')}",
        # INFO logging costs about 12% more time.
        AIRFLOW__LOGGING__LOGGING_LEVEL=os.environ.get("DAGCTL_AIRFLOW_LOG_LEVEL", "WARNING"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    os.environ[EXPR_ENV] = "{{ ds }}"

    t0 = time.perf_counter()
    faulthandler.dump_traceback_later(SETUP_TIMEOUT_S, exit=True)
    try:
        import importlib.util

        import airflow
        import pendulum
        from airflow.models.dagrun import DagRun
        from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.db import initdb
        from airflow.utils.session import create_session

        initdb()  # an empty SQLite DB: tables from the ORM, stamped at the migration head
        spec = importlib.util.spec_from_file_location("dagctl_tpl_oracle_dag", dag_file)
        tpl = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tpl)
        logical = pendulum.parse(LOGICAL_ISO)
    except Exception as exc:
        faulthandler.cancel_dump_traceback_later()
        traceback.print_exc()
        emit({"setup_failed": f"importing Airflow or creating its metadata DB failed: "
                              f"{type(exc).__name__}: {exc}\n"
                              f"--- Airflow log (tail) ---\n{log_tail(log_path)}\n---"})
        return 0
    faulthandler.cancel_dump_traceback_later()
    emit({"setup": {"airflow_version": airflow.__version__, "seconds": round(time.perf_counter() - t0, 2)}})

    for eid, expr in corpus:
        since = os.path.getsize(log_path)
        rendered, failure = None, None
        tpl.CAPTURED.clear()
        faulthandler.dump_traceback_later(ENTRY_TIMEOUT_S, exit=True)
        try:
            with create_session() as s:  # every entry gets a first, fresh run
                s.query(RTIF).filter(RTIF.dag_id == "tpl").delete()
                s.query(TaskInstance).filter(TaskInstance.dag_id == "tpl").delete()
                for dr in s.query(DagRun).filter(DagRun.dag_id == "tpl"):
                    s.delete(dr)
            os.environ[EXPR_ENV] = expr  # what Airflow parses from the dags folder
            dag = tpl.build(expr)
            try:
                dag.test(logical_date=logical, run_after=logical, run_conf=dict(RUN_CONF))
            except Exception as exc:  # dag.test itself failing, not the task
                failure = f"dag.test raised {type(exc).__name__}: {exc}"
                traceback.print_exc()
            with create_session() as s:
                row = s.query(RTIF).filter(RTIF.dag_id == "tpl", RTIF.task_id == "t").one_or_none()
                rendered = None if row is None else row.rendered_fields.get("bash_command")
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        finally:
            faulthandler.cancel_dump_traceback_later()
        exc = next((e for _, e in reversed(tpl.CAPTURED) if e is not None), None)
        problem = None
        if rendered is not None:
            out = {"ok": True, "text": rendered}
        elif exc is not None:
            out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        else:
            why = failure or "neither rendered fields nor an exception"
            out = {"ok": False, "error": f"NoResult: {why}"}
            problem = (f"entry {eid!r} ({expr!r}) gave no result: {why}\n"
                       f"--- Airflow log of that entry (tail) ---\n{log_tail(log_path, since)}\n---")
        emit({"id": eid, "out": out, "problem": problem})
        if problem and eid == corpus[0][0]:
            return 0  # not even the first entry: this Airflow does not work, don't try the rest
    return 0


# --- parent: splits the corpus over workers, merges their results -----------------------------

def collect(work: str, rc: int, entries: list, problems: list[str]) -> tuple[dict | None, dict]:
    """A worker's setup record (None when it failed) and outputs; problems gets what went wrong."""
    name = os.path.basename(work)
    setup, outputs = None, {}
    try:
        with open(os.path.join(work, "results.jsonl"), encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.endswith("\n")]
    except (OSError, ValueError) as exc:
        records = []
        problems.append(f"worker {name}: unreadable results ({type(exc).__name__}: {exc})")
    for rec in records:
        if "setup" in rec:
            setup = rec["setup"]
        elif "setup_failed" in rec:
            problems.append(f"worker {name}: {rec['setup_failed']}")
        else:
            outputs[rec["id"]] = rec["out"]
            if rec["problem"]:
                problems.append(f"worker {name}: {rec['problem']}")
    missing = [eid for eid, _ in entries if eid not in outputs]
    if setup is not None and missing:
        why = f"the worker exited with status {rc} while rendering it"
        if rc == 1 and "Timeout (0:" in log_tail(os.path.join(work, "airflow.log"), lines=10**6):
            why = f"ran past {ENTRY_TIMEOUT_S} s (the worker was stopped)"
        for eid in missing:
            outputs[eid] = {"ok": False, "error": f"NoResult: {why}" if eid == missing[0]
                            else "NoResult: not rendered (an earlier entry stopped the worker)"}
        problems.append(f"worker {name}: entry {missing[0]!r} gave no result: {why}; "
                        f"{len(missing) - 1} later entries were not rendered\n"
                        f"--- its log (tail) ---\n{log_tail(os.path.join(work, 'airflow.log'), lines=80)}\n---")
    elif setup is None and not any(p.startswith(f"worker {name}:") for p in problems):
        problems.append(f"worker {name} exited with status {rc} before Airflow was set up\n"
                        f"--- its log (tail) ---\n{log_tail(os.path.join(work, 'airflow.log'))}\n---")
    return setup, outputs


def main(argv: list[str]) -> int:
    args, jobs = [], None
    it = iter(argv[1:])
    for a in it:
        if a == "--jobs":
            jobs = next(it, None)
        elif a.startswith("--jobs="):
            jobs = a.split("=", 1)[1]
        else:
            args.append(a)
    try:
        jobs = max(1, int(jobs)) if jobs is not None else min(2, os.cpu_count() or 1)
    except ValueError:
        args = []
    if len(args) != 2:
        print("usage: airflow_render.py CORPUS.yaml OUT.json [--jobs N]", file=sys.stderr)
        return 2
    corpus_path, out_path = args
    t_start = time.perf_counter()
    try:
        corpus = load_corpus(corpus_path)
    except Exception as exc:
        print(f"airflow_render.py: cannot read the corpus: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    jobs = max(1, min(jobs, len(corpus)))
    import importlib.util

    if importlib.util.find_spec("airflow") is None:
        print(f"airflow_render.py: {sys.executable} has no `airflow` module: run this script with the "
              "Python of an Airflow venv (scripts/airflow-venv.sh prints DAGCTL_TEST_AIRFLOW_PYTHON)",
              file=sys.stderr)
        return 1

    tmp = tempfile.mkdtemp(prefix="dagctl-airflow-render-")
    workers = []
    try:
        for w in range(jobs):
            work = os.path.join(tmp, f"w{w}")
            os.makedirs(work)
            entries = corpus[w::jobs]  # interleaved, so that the workers take about as long
            with open(os.path.join(work, "entries.json"), "w", encoding="utf-8") as fh:
                json.dump(entries, fh)
            with open(os.path.join(work, "airflow.log"), "wb") as log:
                proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", work],
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            workers.append((work, proc, entries))
        problems, setups, merged = [], [], {}
        for work, proc, entries in workers:
            setup, outputs = collect(work, proc.wait(), entries, problems)
            setups.append(setup)
            merged.update(outputs)
        for p in problems:
            print(f"airflow_render.py: {p}", file=sys.stderr)
        # A worker that could not render even its first entry has no working Airflow.
        if any(s is None for s in setups) or any(
                merged[entries[0][0]]["error"].startswith("NoResult")
                for _, _, entries in workers if not merged[entries[0][0]]["ok"]):
            print("airflow_render.py: Airflow could not be set up; OUT.json not written", file=sys.stderr)
            return 1

        outputs = {eid: merged[eid] for eid, _ in corpus}
        versions = sorted({s["airflow_version"] for s in setups})
        version = ",".join(versions)
        if version != "3.3.2":
            print(f"airflow_render.py: warning: this is Airflow {version}; the corpus is for 3.3.2",
                  file=sys.stderr)
        with open(out_path, "w", encoding="utf-8") as fh:
            json.dump({"airflow_version": version, "outputs": outputs}, fh, indent=1, ensure_ascii=False)
            fh.write("\n")
        ok = sum(1 for r in outputs.values() if r["ok"])
        no_result = sum(1 for r in outputs.values() if r.get("error", "").startswith("NoResult:"))
        print(f"airflow {version}: {len(outputs)} expressions, {ok} rendered, {len(outputs) - ok} errors, "
              f"{no_result} without result; {jobs} worker(s), setup {max(s['seconds'] for s in setups):.1f}s, "
              f"total {time.perf_counter() - t_start:.1f}s", flush=True)
        return 1 if no_result else 0
    finally:
        for _, proc, _ in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.exit(worker(sys.argv[2]))
    sys.exit(main(sys.argv))
