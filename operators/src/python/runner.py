"""dagctl's runner of a Python callable: one task try, in a subprocess of the user's Python.

dagctl starts `python runner.py REQUEST RESULT`. REQUEST is a JSON file: the callable (a file
and a name, or an import path), its arguments, the paths to put first on `sys.path`, Airflow's
context as data and the XComs of the run. The callable's prints go to the try's log (stdout
and stderr); RESULT receives the return value and the XComs pushed, or the error. No `airflow`
package is needed: the context is what Airflow passes, rebuilt from plain Python values.
"""

import datetime
import importlib
import json
import os
import sys

# `inspect`, `traceback` and `importlib.util` are imported only when needed: `inspect` alone
# costs ~15 ms of start-up, more than the rest of the runner.


def _date(text):
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    try:  # pendulum's DateTime, as Airflow passes, when the user's Python has it
        import pendulum

        return pendulum.instance(value)
    except Exception:
        return value


def _load(spec):
    """The callable: `file` + `name`, or `module` + `name` (an import path)."""
    if spec.get("file"):
        from importlib import util as import_util

        path = spec["file"]
        module_name = os.path.splitext(os.path.basename(path))[0]
        loader = import_util.spec_from_file_location(module_name, path)
        if loader is None:
            raise ImportError(f"cannot import {path}: not a Python file")
        module = import_util.module_from_spec(loader)
        sys.modules.setdefault(module_name, module)
        loader.loader.exec_module(module)
        where = path
    else:
        module = importlib.import_module(spec["module"])
        where = spec["module"]
    name = spec["name"]
    target = module
    for part in name.split("."):
        if not hasattr(target, part):
            raise ImportError(f"{where} has no `{name}`")
        target = getattr(target, part)
    # A function decorated with Airflow's @task keeps the plain function here.
    target = getattr(target, "function", target)
    if not callable(target):
        raise TypeError(f"`{name}` in {where} is not callable")
    return target


class _XComs:
    def __init__(self, request):
        self.values = {}
        for task_id, key, value in request.get("xcoms", []):
            self.values[(task_id, key)] = value
        self.pushed = []

    def get(self, task_id, key, default=None):
        """A task's XCom; a mapped task's is the list of its instances' (`t[0]`, `t[1]`, …) in
        map-index order, as Airflow pulls it."""
        if (task_id, key) in self.values:
            return self.values[(task_id, key)]
        prefix = task_id + "["
        mapped = []
        for (t, k), v in self.values.items():
            index = t[len(prefix):-1]
            if k == key and t.startswith(prefix) and t.endswith("]") and index.isdigit():
                mapped.append((int(index), v))
        if mapped:
            return [v for _, v in sorted(mapped, key=lambda e: e[0])]
        return default


def _task_and_index(task_id):
    """`t[2]` (an instance of a mapped task) as Airflow names it: task `t`, map index 2."""
    name, bracket, rest = task_id.partition("[")
    if bracket and rest.endswith("]") and rest[:-1].isdigit():
        return name, int(rest[:-1])
    return task_id, -1


class TaskInstance:
    """The `ti` / `task_instance` a callable sees: ids, try number, XCom pull and push."""

    def __init__(self, request, xcoms):
        ctx = request["context"]
        self.dag_id = ctx["dag_id"]
        self.task_id, self.map_index = _task_and_index(ctx["task_id"])
        self.run_id = ctx["run_id"]
        self.try_number = ctx["try_number"]
        self.max_tries = ctx["max_tries"]
        self._xcoms = xcoms

    def xcom_pull(self, task_ids=None, key="return_value", dag_id=None, include_prior_dates=False,
                  map_indexes=None, default=None, **_):
        if task_ids is None:
            task_ids = self.task_id
        if isinstance(task_ids, str):
            return self._xcoms.get(task_ids, key, default)
        return [self._xcoms.get(t, key, default) for t in task_ids]

    def xcom_push(self, key, value):
        json.dumps(value)  # refused here, with the caller's line, when not JSON
        self._xcoms.values[(self.task_id, key)] = value  # pulled back by this try
        self._xcoms.pushed.append([key, value])

    def __repr__(self):
        return f"<TaskInstance: {self.dag_id}.{self.task_id} {self.run_id} [running]>"


class _Named:
    def __init__(self, **values):
        self.__dict__.update(values)

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({inner})"


class DagRun(_Named):
    pass


def _context(request, xcoms):
    ctx = request["context"]
    logical = _date(ctx["logical_date"])
    start = _date(ctx["data_interval_start"])
    end = _date(ctx["data_interval_end"])
    ti = TaskInstance(request, xcoms)
    run = DagRun(
        dag_id=ctx["dag_id"],
        run_id=ctx["run_id"],
        conf=ctx.get("conf") or {},
        logical_date=logical,
        data_interval_start=start,
        data_interval_end=end,
        run_type=ctx.get("run_type"),
    )
    values = {
        "ds": logical.strftime("%Y-%m-%d"),
        "ds_nodash": logical.strftime("%Y%m%d"),
        "ts": logical.isoformat(),
        "ts_nodash": logical.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": logical.isoformat().replace("-", "").replace(":", ""),
        "logical_date": logical,
        "data_interval_start": start,
        "data_interval_end": end,
        "params": ctx.get("params") or {},
        "run_id": ctx["run_id"],
        "dag_run": run,
        "ti": ti,
        "task_instance": ti,
        "task": _Named(task_id=ti.task_id, dag_id=ctx["dag_id"]),
        "dag": _Named(dag_id=ctx["dag_id"]),
        "map_index": ti.map_index,
        "try_number": ctx["try_number"],
    }
    if "templates_dict" in request:
        values["templates_dict"] = request["templates_dict"]
    return values


def _parameters(func):
    """(positional names, keyword-only names, takes **kwargs) of `func`: read from a plain
    function's code object, else through `inspect`."""
    code = getattr(func, "__code__", None)
    if code is not None and not hasattr(func, "__wrapped__"):
        positional = code.co_varnames[: code.co_argcount]
        keyword = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
        return list(positional), list(keyword), bool(code.co_flags & 0x08)
    import inspect

    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keyword = [p.name for p in params if p.kind == p.KEYWORD_ONLY]
    return positional, keyword, any(p.kind == p.VAR_KEYWORD for p in params)


def _kwargs(func, args, kwargs):
    """As Airflow: the context and `op_kwargs` together, only the names `func` accepts (all of
    them when it takes `**kwargs`)."""
    found = _parameters(func)
    if found is None:
        return kwargs
    positional, keyword, var_keyword = found
    for name in positional[: len(args)]:
        if name in kwargs:
            raise ValueError(f"The key {name!r} in args is a part of kwargs and therefore reserved.")
    if var_keyword:
        return kwargs
    accepted = set(positional[len(args):]) | set(keyword)
    return {k: v for k, v in kwargs.items() if k in accepted}


def _write(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


def main():
    request_path, result_path = sys.argv[1], sys.argv[2]
    with open(request_path) as f:
        request = json.load(f)
    for p in reversed(request.get("path", [])):
        if p not in sys.path:
            sys.path.insert(0, p)
    xcoms = _XComs(request)
    try:
        func = _load(request["callable"])
        args = list(request.get("op_args", []))
        kwargs = _context(request, xcoms)
        kwargs.update(request.get("op_kwargs", {}))
        # `number: +some_number`, `value: +collect['key1']`: an upstream's XCom.
        for name, (task_id, key) in request.get("xcom_args", {}).items():
            kwargs[name] = xcoms.get(task_id, key)
        if request.get("callback"):
            # As Airflow calls a callback: the context, then dag-factory's keyword arguments.
            error = request["context"].get("exception")
            context = _context(request, xcoms)
            context["exception"] = Exception(error) if error else None
            value = func(context, *args, **request.get("op_kwargs", {}))
        else:
            value = func(*args, **_kwargs(func, args, kwargs))
        if request.get("show_return_value_in_logs", True):
            print(f"Done. Returned value was: {value}", flush=True)
        try:
            json.dumps(value)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"the callable returned a {type(value).__name__}, which is not JSON ({e}): "
                "return lists, dicts, strings, numbers, booleans or None"
            ) from None
        if request.get("multiple_outputs"):
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                raise TypeError(
                    f"multiple_outputs is set, so the callable must return a dict with string "
                    f"keys, not a {type(value).__name__}"
                )
            xcoms.pushed.extend([k, v] for k, v in value.items())
    except BaseException as e:  # noqa: B036 - every failure is the try's
        import traceback

        # The callable's frames, not the runner's.
        tb = e.__traceback__.tb_next if e.__traceback__ is not None else None
        traceback.print_exception(type(e), e, tb)
        sys.stderr.flush()
        last = traceback.format_exception_only(type(e), e)[-1].strip()
        _write(result_path, {"error": last})
        sys.exit(1)
    _write(result_path, {"return_value": value, "truthy": bool(value), "pushed": xcoms.pushed})


if __name__ == "__main__":
    main()
