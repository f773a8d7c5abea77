"""The HTTP endpoint's logic, independent of Azure: parse a request, run it, answer.

``azure/function_app.py`` only turns an ``HttpRequest`` into a dict of values and a
:class:`Response` back into an ``HttpResponse``. Every answer is JSON (or CSV on request);
errors are ``{"error": ..., "parameter": ...}`` with 400, a generic 503 when the database is
unreachable or too slow, and never a host, user, password or traceback.
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from user_failure_stats import coerce
from user_failure_stats.errors import ConfigError, DatabaseError, PublishError
from user_failure_stats.formats import DEFAULT_FDR, plain
from user_failure_stats.params import (
    DEFAULT_MIN_SESSIONS,
    DEFAULT_TOP_N,
    Parameters,
    choose,
    resolve_window,
)
from user_failure_stats.publish import publish as publish_files
from user_failure_stats.settings import Settings, load_settings
from user_failure_stats.text import bounded, visible
from user_failure_stats.verdict import verdict
from user_failure_stats.window import Window

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 1_000
MAX_LIMIT = 50_000
# Three queries at most per request: each under this, well within Azure's 230 s HTTP limit.
MAX_STATEMENT_SECONDS = 60.0
# What the window and the analysis take (as for the command line), then the endpoint's own.
OPTIONS = ("start", "end", "window", "timezone", "top_n", "min_sessions", "fdr")
PARAMETERS = OPTIONS + ("export_csv", "include_details", "format", "limit")
# Azure passes the function key as ?code=...: it is not ours to read.
IGNORED = ("code",)


@dataclass(frozen=True)
class Response:
    """An HTTP answer: status, body text, media type and extra headers."""

    status: int
    body: str
    mimetype: str = "application/json"
    headers: dict = field(default_factory=dict)

    def json(self):
        """Return the body parsed as JSON."""
        return json.loads(self.body)


ECHO_LIMIT = 300  # an error's characters: a bad value is echoed, bounded


class BadParameter(ConfigError):
    """A request parameter is invalid; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Request:
    """A parsed request."""

    window: Window
    export_csv: bool
    include_details: bool
    format: str
    limit: int
    top_n: int = DEFAULT_TOP_N
    min_sessions: int = DEFAULT_MIN_SESSIONS
    fdr: float = DEFAULT_FDR


def request_values(params: Mapping[str, str] | Iterable[tuple[str, str]], body: bytes) -> dict:
    """Return a request's parameters: the query string's, then a JSON body's fields.

    ``params`` may be the query string's pairs, so a name given twice is seen.

    Raises:
        BadParameter: The body is not a JSON object (``body``), or a name is given twice: in
            the query string, in the body, or in both (that name).
    """
    values = _unique(list(params.items()) if isinstance(params, Mapping) else list(params))
    if body:
        try:
            data = json.loads(body, object_pairs_hook=_unique)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python reads
            data = None
        if not isinstance(data, dict):
            raise BadParameter("body", "the body must be a JSON object of parameters")
        _unique([*values.items(), *data.items()])  # in the query string and the body: twice
        values.update({k: v for k, v in data.items() if v is not None})
    return values


def _unique(pairs: list[tuple[str, object]]) -> dict:
    """Return ``pairs`` as a dict; BadParameter naming the first name given twice."""
    values: dict = {}
    for name, value in pairs:
        if name in values:
            shown = bounded(visible(str(name)), 40)
            raise BadParameter(shown, f"{shown} is given twice")
        values[name] = value
    return values


def _checked(check, *args):
    """Return ``check(*args)``, its ConfigError turned into a BadParameter naming the field."""
    try:
        return check(*args)
    except ConfigError as exc:
        raise BadParameter(exc.field, bounded(str(exc), ECHO_LIMIT)) from None


def parse_request(values: dict, settings: Settings, now=None) -> Request:
    """Validate a request's parameters and resolve its window.

    Layered as for the command line (``params.choose``), with ``DEFAULT_WINDOW`` as the
    fallback window.

    Raises:
        BadParameter: Naming the first invalid parameter.
    """
    unknown = sorted(set(values) - set(PARAMETERS) - set(IGNORED))
    if unknown:
        shown = bounded(visible(str(unknown[0])), 40)  # a name is the sender's text too
        raise BadParameter(shown, f"unknown parameter {shown} (known: {', '.join(PARAMETERS)})")
    given_format = values.get("format", "json")  # absent only when not given: "" is given
    output = given_format.lower() if isinstance(given_format, str) else None
    if output not in ("json", "csv"):
        shown = bounded(repr(given_format), 40)
        raise BadParameter("format", f"format must be json or csv, got {shown}")
    given = {name: values.get(name) for name in OPTIONS}
    try:
        params = choose(settings, given, fallback={"window": settings.default_window})
        resolved = resolve_window(params, settings.db_timezone, now)
    except ConfigError as exc:
        raise BadParameter(exc.field or "start", bounded(str(exc), ECHO_LIMIT)) from None
    export_csv = _checked(coerce.yes_no, _switch(values, "export_csv"), "export_csv")
    if export_csv and not settings.publish_url:
        raise BadParameter(
            "export_csv",
            "export_csv needs a publish target: PUBLISH_URL is not set on the server",
        )
    return Request(
        window=resolved,
        export_csv=export_csv,
        include_details=_checked(
            coerce.yes_no, _switch(values, "include_details"), "include_details"
        ),
        format=output,
        limit=_checked(
            coerce.whole_number, values.get("limit", DEFAULT_LIMIT), "limit", 1, MAX_LIMIT
        ),
        top_n=params.top_n,
        min_sessions=params.min_sessions,
        fdr=params.fdr,
    )


def _switch(values: dict, name: str):
    """A true-or-false parameter as given: absent or null is false, ``{}`` is not."""
    value = values.get(name)
    return False if value is None else value


def records(frame) -> list[dict]:
    """Return a DataFrame's rows as plain dicts, in column order."""
    columns = list(frame.columns)
    return [
        {c: plain(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _answer(status: int, payload: dict) -> Response:
    return Response(status, json.dumps(payload, allow_nan=False, default=str))


def failure_analysis(values: dict, settings: Settings | None = None, now=None) -> Response:
    """Answer one request (its query string and JSON body's values); see docs/endpoint.md."""
    try:
        settings = settings or load_settings()
        settings.require_db_url()
    except ConfigError as exc:
        log.error("failure_analysis is misconfigured: %s", visible(str(exc)))
        return _answer(500, {"error": "the endpoint is not configured correctly"})
    try:
        request = parse_request(values, settings, now)
    except BadParameter as exc:
        return _answer(400, {"error": str(exc), "parameter": exc.parameter})
    settings = replace(
        settings,
        statement_timeout_seconds=min(settings.statement_timeout_seconds, MAX_STATEMENT_SECONDS),
    )
    try:
        return _run(request, settings)
    except PublishError as exc:
        log.warning("failure_analysis: %s", visible(str(exc)))
        return _answer(502, {"error": "the CSV could not be published; try again later"})
    except DatabaseError as exc:
        log.warning("failure_analysis: %s", visible(str(exc)))
        return _answer(
            503, {"error": "the database is unavailable or too slow right now; try again later"}
        )
    except Exception as exc:  # noqa: BLE001 - never a traceback in a response
        log.error("failure_analysis failed: %s", exc.__class__.__name__)
        return _answer(500, {"error": "internal error"})


def _export_csv(rates, settings: Settings) -> tuple[str, str]:
    """Publish the CSV to ``PUBLISH_URL``; return its name and link.

    A random part in the name keeps requests in the same second apart; nothing stays on disk.
    """
    from user_failure_stats import outputs
    from user_failure_stats.names import csv_name, new_stamp

    target = settings.publish_target()
    name = csv_name(f"{new_stamp()}_{secrets.token_hex(4)}")
    with tempfile.TemporaryDirectory(prefix="ufs-csv-") as folder:
        path = outputs.write_csv(rates, Path(folder) / name)
        (link,) = publish_files(target, [path])
    return name, link


def _run(request: Request, settings: Settings) -> Response:
    from user_failure_stats import database, outputs, pipeline, queries

    options = Parameters(top_n=request.top_n, min_sessions=request.min_sessions, fdr=request.fdr)
    engine = database.make_engine(settings)
    try:
        data = pipeline.compute(engine, request.window, options)
        quality = queries.fetch_data_quality(engine, request.window)
        details = (
            queries.fetch_session_details(engine, request.window, request.limit)
            if request.include_details
            else None
        )
    finally:
        engine.dispose()
    rates, summary, previous, top = data.rates, data.summary, data.previous, data.top
    csv_file = csv_url = None
    if request.export_csv:
        csv_file, csv_url = _export_csv(rates, settings)
    if request.format == "csv":
        name = csv_file or "user_failure_stats.csv"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if csv_url is not None:  # where the published copy is
            headers["Content-Location"] = csv_url
        return Response(200, outputs.csv_text(rates), "text/csv", headers)
    payload = {
        "window": request.window.as_dict() | {"notes": list(data.notes)},
        "alert": verdict(summary).alert,
        "summary": {k: plain(v) for k, v in summary.as_dict().items()},
        "previous_window": {k: plain(v) for k, v in previous.as_dict().items()},
        "data_quality": quality
        | {"sessions_without_user_record": summary.sessions_without_user_record},
        "flagged": records(data.flagged),
        "worsened": records(data.worsened),
        "top": records(top),
        "users": records(rates),
        "csv_file": csv_file,
        "csv_url": csv_url,
    }
    if details is not None:
        rows, truncated = details
        payload["details"] = [{k: plain(v) for k, v in row.items()} for row in rows]
        payload["details_truncated"] = truncated
        payload["limit"] = request.limit
    return _answer(200, payload)
