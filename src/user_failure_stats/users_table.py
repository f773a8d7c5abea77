"""The report's "All users" table: every user, searchable, sortable and paged in a browser."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from user_failure_stats.text import html_text, shown_all

if TYPE_CHECKING:
    import pandas as pd


def display_table(rates: pd.DataFrame, min_sessions: int = 1) -> pd.DataFrame:
    """Return the per-user table as the report shows it: labelled columns, names as ``shown``."""
    import pandas as pd

    from user_failure_stats.analysis import ci_texts
    from user_failure_stats.flags import marks

    table = pd.DataFrame(
        {
            "User": shown_all(rates["user_name"]),
            "Sessions": rates["total_sessions"],
            "Failed": rates["failed_sessions"],
            "Succeeded": rates["success_sessions"],
            "Failure rate": rates["failure_rate_percent"],
            "95% CI": ci_texts(rates["failure_rate_ci_low"], rates["failure_rate_ci_high"]),
            "Marks": marks(rates, min_sessions),
            "User id": rates["user_id"],
        }
    )
    table.index = range(1, len(table) + 1)
    return table


PREVIEW_ROWS = 20
TABLE_SCRIPT = "users_table.js"
TABLE_STYLE = """<style>
.ufs-users-box { max-width: 100%; overflow-x: auto; }
.ufs-users-controls, .ufs-users-pager { display: flex; flex-wrap: wrap; gap: 6px 16px;
  align-items: center; margin: 8px 0; }
.ufs-users-pager { gap: 6px 8px; }
.ufs-users-search { min-width: 14em; }
.ufs-users .ufs-users-table th { padding: 0; }
.ufs-users-table th button { display: block; box-sizing: border-box; width: 100%;
  padding: 0.5em; font: inherit; font-weight: bold; border: 0; background: none;
  cursor: pointer; color: inherit; text-align: inherit; }
.ufs-users-table th button:hover { background: #eef1f5; }
.ufs-users-table th button:focus-visible { outline: 2px solid #1a5fb4; outline-offset: -2px; }
.ufs-users-print-note { display: none; }
@media print {
  .ufs-users-print-note { display: block; }
  .ufs-users[data-state="ready"] .ufs-users-note { display: none; }
}
.ufs-users-table th[aria-sort="ascending"] button::after { content: " \\2191"; }
.ufs-users-table th[aria-sort="descending"] button::after { content: " \\2193"; }
.ufs-users-table tr.ufs-flagged td:nth-child(8) { color: #c0392b; }
.ufs-users-table th, .ufs-users-table td { white-space: nowrap; overflow-wrap: normal; }
.ufs-users-table td:nth-child(2) { white-space: normal; overflow-wrap: anywhere;
  min-width: 9em; max-width: 24em; }
.ufs-users .ufs-users-table :is(th, td) { text-align: left; }
.ufs-users .ufs-users-table :is(th, td):is(:nth-child(1), :nth-child(3), :nth-child(4),
  :nth-child(5), :nth-child(6)) { text-align: right; }
</style>"""


def users_table_html(
    rates: pd.DataFrame,
    csv_name: str,
    preview: int = PREVIEW_ROWS,
    min_sessions: int = 1,
    exported: bool = True,
) -> str:
    """Return the "All users" table: every user, searchable, sortable and paged in a browser.

    The rows are embedded once (:func:`users_json`) for ``assets/users_table.js``; nothing is
    loaded from anywhere. Where scripts do not run (a notebook reopened in JupyterLab), the
    first ``preview`` rows show, with a note naming the CSV file, which holds every user.
    """
    count = len(rates)
    if count == 0:
        return '<p class="ufs-users-note">No users had sessions in this window.</p>'
    head = rates.head(preview)
    users = "1 user" if count == 1 else f"{count:,} users"
    every = f"<code>{html_text(csv_name)}</code> holds every user" if exported else ""
    static = (
        f"The first {len(head):,} of {users}, worst first. The HTML report's table "
        "searches, sorts and pages through all of them" + (f", and {every}." if every else ".")
        if count > len(head)
        else f"{users}, worst first" + (f"; {every}." if every else ".")
    )
    ready = (
        f"{users}, worst first. Search by name or id, sort by a column (its heading, again "
        "to reverse), and page through them" + (f"; {csv_name} holds every user." if every else ".")
    )
    csv = f' data-csv="{html_text(csv_name)}"' if exported else ""
    table = display_table(head, min_sessions)
    header = "".join(f"<th>{html_text(c)}</th>" for c in ["#", *table.columns])
    body = "".join(
        "<tr>" + "".join(f"<td>{html_text(v)}</td>" for v in (position, *row)) + "</tr>"
        for position, row in zip(table.index, table.itertuples(index=False), strict=True)
    )
    return (
        f'<div class="ufs-users" data-ufs-table data-state="static" '
        f'data-ready-note="{html_text(ready)}"{csv}>{TABLE_STYLE}'
        f'<p class="ufs-users-note">{static}</p>'
        f'<div class="ufs-users-box ufs-table-box ufs-users-preview">'
        f'<table class="ufs-users-table">'
        f"<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>"
        f'<script type="application/gzip" class="ufs-users-data" data-encoding="base64">'
        f"{users_json(rates, min_sessions)}</script>"
        f"<script>{table_script()}</script></div>"
    )


# Rows written to the compressor at a time, and how (compact, UTF-8 as it is).
JSON_ROWS = 50_000
JSON_FORM = {"ensure_ascii": False, "separators": (",", ":")}


def users_json(rates: pd.DataFrame, min_sessions: int = 1) -> str:
    """Return the per-user rows for :func:`users_table_html`: gzip-compressed JSON, base64.

    One object of column lists, in the table's order; ``id`` is text (exact however large),
    ``marks`` are ``flags.mark_codes``. Compressed :data:`JSON_ROWS` rows at a time, never as
    one big string or list.
    """
    import base64
    import gzip
    import io

    import pandas as pd

    from user_failure_stats.analysis import ci_texts
    from user_failure_stats.flags import MARK_TEXTS, mark_codes

    def ids(part: pd.DataFrame) -> list:
        text = pd.Series(part["user_id"].to_numpy(dtype=object), dtype="string")
        return text.to_numpy(dtype=object, na_value=None).tolist()

    columns = {
        "user": lambda part: shown_all(part["user_name"]),
        "id": ids,
        "sessions": lambda part: part["total_sessions"].tolist(),
        "failed": lambda part: part["failed_sessions"].tolist(),
        "rate": lambda part: part["failure_rate_percent"].tolist(),
        "ci": lambda part: ci_texts(part["failure_rate_ci_low"], part["failure_rate_ci_high"]),
        "flagged": lambda part: part["flagged"].to_numpy(dtype="int8").tolist(),
        "marks": lambda part: mark_codes(part, min_sessions).tolist(),
    }
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as packed:
        for name, values in columns.items():
            packed.write(b"{" if name == "user" else b",")
            packed.write(json.dumps(name).encode() + b":[")
            for start in range(0, len(rates), JSON_ROWS):
                items = json.dumps(values(rates.iloc[start : start + JSON_ROWS]), **JSON_FORM)
                packed.write((b"," if start else b"") + items[1:-1].encode())
            packed.write(b"]")
        texts = json.dumps(list(MARK_TEXTS), **JSON_FORM)
        packed.write(b',"mark_texts":' + texts.encode() + b"}")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def table_script() -> str:
    """Return the table's script (``assets/users_table.js``), safe inside a ``<script>``."""
    from importlib.resources import files

    script = files("user_failure_stats").joinpath("assets", TABLE_SCRIPT).read_text("utf-8")
    if any(bad in script.lower() for bad in ("</", "<!--", "<script")):  # pragma: no cover
        raise ValueError(f"{TABLE_SCRIPT} must not hold '</', '<!--' or '<script'")
    return script
