"""Small building blocks of a self-contained HTML page (no external assets)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable

import pandas as pd

CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1f2328;background:#fafbfc}
header{background:#17324d;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85;font-size:14px}
nav{padding:8px 32px;background:#e8eef5;font-size:14px} nav a{margin-right:14px;color:#17324d}
main{padding:8px 32px 40px;max-width:1200px}
section{background:#fff;border:1px solid #d8dee4;border-radius:6px;padding:12px 20px;margin:16px 0}
h2{font-size:18px;border-bottom:1px solid #d8dee4;padding-bottom:6px}
h3{font-size:15px;margin-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #d8dee4;padding:4px 8px;text-align:right}
th{background:#f3f5f7} td:first-child,th:first-child{text-align:left}
tr.best td{background:#e6f4ea;font-weight:600}
.figs{display:flex;flex-wrap:wrap;gap:12px} figure{margin:0;width:48%;min-width:360px}
figure img{width:100%} figcaption{font-size:12px;color:#57606a}
.note{font-size:13px;color:#57606a} code{font-size:12px}
"""


def esc(text: object) -> str:
    """HTML-escape any value's text."""
    return html.escape(str(text))


def table(df: pd.DataFrame, *, index: bool = False, highlight: int | None = None,
          floatfmt: str = "{:.3f}") -> str:
    """An HTML table; ``highlight`` marks one row (by position) as the best."""
    cols = ([df.index.name or ""] if index else []) + [str(c) for c in df.columns]
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    rows = []
    for pos, (key, row) in enumerate(df.iterrows()):
        cells = ([key] if index else []) + list(row.values)
        tds = "".join(f"<td>{esc(_fmt(v, floatfmt))}</td>" for v in cells)
        cls = ' class="best"' if highlight is not None and pos == highlight else ""
        rows.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _fmt(value: object, floatfmt: str) -> str:
    if isinstance(value, float):
        return "—" if pd.isna(value) else floatfmt.format(value)
    return "—" if value is None else str(value)


def figure(fig: object, caption: str) -> str:
    """Embed a matplotlib Figure as an inline PNG with a caption (and close nothing: the caller owns it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, sections: Iterable[tuple[str, str, str]]) -> str:
    """A whole page from (anchor, title, body) sections, with a navigation bar."""
    sections = list(sections)
    nav = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t, _ in sections)
    body = "".join(section(a, t, b) for a, t, b in sections)
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><nav>{nav}</nav>"
            f"<main>{body}</main></body></html>")
