"""The report as one self-contained HTML page: plots are SVG data URIs, no external file or script."""
from __future__ import annotations

import html

from .markdown import METHOD, NOT_MEASURED, TITLES, columns, environment_lines, fmt, ratio_lines, warning_lines

STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 24px; color: #222; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0 16px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
img.plot { display: block; max-width: 100%; margin: 8px 0 24px; }
.env { color: #555; font-size: 13px; }
"""


def render(doc: dict, rows: list[dict], plot_uris: dict) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             f"<title>{e(doc['title'])}</title><style>{STYLE}</style></head><body>",
             f"<h1>{e(doc['title'])}</h1>", "<div class='env'>"]
    parts += [f"<div>{e(line)}</div>" for line in environment_lines(doc)]
    cols = columns(rows)
    parts += ["</div>", "<div class='scroll'><table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for _, h in cols) + "</tr></thead><tbody>"]
    parts += ["<tr>" + "".join(f"<td>{e(fmt(k, r.get(k)))}</td>" for k, _ in cols) + "</tr>" for r in rows]
    parts.append("</tbody></table></div>")
    unmeasured = warning_lines(rows)
    if unmeasured:
        parts += [f"<h2>{NOT_MEASURED}</h2><ul>"] + [f"<li>{e(line)}</li>" for line in unmeasured] + ["</ul>"]
    if doc.get("ratios"):
        parts += ["<h2>int8 speed-up</h2><ul>"] + [f"<li>{e(line)}</li>" for line in ratio_lines(doc)] + ["</ul>"]
    for key, uri in plot_uris.items():
        parts.append(f"<h2>{TITLES[key]}</h2><img class='plot' id='plot-{key}' alt='{TITLES[key]}' src='{uri}'>")
    parts += [f"<h2>Method</h2><p>{e(METHOD)}</p>", "</body></html>"]
    return "\n".join(parts)
