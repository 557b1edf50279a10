"""The evaluation report: one self-contained HTML file (charts embedded as PNG) and CSVs of the
same figures, for facilitators and whoever funds the programme."""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen on a server
import matplotlib.pyplot as plt  # noqa: E402

from bot.evaluation.results import GROUPS, CohortResults  # noqa: E402
from bot.evaluation.stats import Change  # noqa: E402

ITEM_COLUMNS = ("item", "question", "domain", "group", "n_linked", "median_before", "median_after", "median_change",
                "p_value", "effect_size_r", "note")
NHS_BLUE, PALE = "#005EB8", "#AEB7BD"


def _number(value: float | None) -> str:
    """A median as people write it: 3, 3.5, 0.25."""
    return "" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def _p(change: Change) -> str:
    if change.p_value is None:
        return ""
    return "<0.001" if change.p_value < 0.001 else f"{change.p_value:.3f}"


def item_rows(results: CohortResults) -> list[dict[str, str]]:
    rows = []
    for result in results.items:
        for group in GROUPS:
            change = result.changes[group]
            rows.append({
                "item": result.item.id, "question": result.item.text, "domain": result.domain, "group": group,
                "n_linked": str(change.n), "median_before": _number(change.median_before),
                "median_after": _number(change.median_after), "median_change": _number(change.median_change),
                "p_value": "" if change.p_value is None else f"{change.p_value:.4g}",
                "effect_size_r": "" if change.effect_r is None else f"{change.effect_r:.2f}", "note": change.note,
            })
    return rows


def engagement_rows(results: CohortResults) -> list[dict[str, str]]:
    e = results.engagement
    rows = [("pairs", e.pairs), ("buddy meetings held", e.meetings_held), ("buddy meetings target", e.meetings_target),
            ("pairs where the manager shadowed the clinician", e.shadowing.get("manager_shadows_clinician", 0)),
            ("pairs where the clinician shadowed the manager", e.shadowing.get("clinician_shadows_manager", 0))]
    rows += [(f"workshop '{title}': accepted of invited", f"{yes} of {invited}")
             for title, (yes, invited) in e.workshops.items()]
    rows += [(f"project stage: {stage}", count) for stage, count in e.project_stages.items()]
    rows += [(f"survey '{title}': completed of people", f"{done} of {people}")
             for title, (done, people) in e.survey_completion.items()]
    return [{"measure": m, "value": str(v)} for m, v in rows]


def _write_csv(path: Path, rows: list[dict[str, str]], columns) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def distribution_chart(results: CohortResults) -> str | None:
    """Per domain: how many answers of 1-5 before and after (linked answers only)."""
    domains = [d for d, values in results.distributions.items() if values["before"]]
    if not domains:
        return None
    figure, axes = plt.subplots(1, len(domains), figsize=(4.2 * len(domains), 3.2), squeeze=False)
    for axis, domain in zip(axes[0], domains, strict=True):
        values = results.distributions[domain]
        scores = range(1, 6)
        width = 0.38
        axis.bar([s - width / 2 for s in scores], [values["before"].count(s) for s in scores], width,
                 label="before", color=PALE)
        axis.bar([s + width / 2 for s in scores], [values["after"].count(s) for s in scores], width,
                 label="after", color=NHS_BLUE)
        axis.set_title(domain, fontsize=11)
        axis.set_xticks(list(scores))
        axis.set_xlabel("answer (1-5)")
        axis.set_ylabel("answers")
    axes[0][0].legend(frameon=False)
    return _png(figure)


def engagement_chart(results: CohortResults) -> str | None:
    weeks = results.engagement.meetings_by_week
    if not weeks:
        return None
    figure, axis = plt.subplots(figsize=(7, 2.8))
    span = range(min(weeks), max(weeks) + 1)
    axis.bar(list(span), [weeks.get(w, 0) for w in span], color=NHS_BLUE)
    axis.set_xlabel("programme week")
    axis.set_ylabel("buddy meetings held")
    axis.set_title("Engagement over the weeks", fontsize=11)
    return _png(figure)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(results: CohortResults) -> str:
    e = results.engagement
    item_table = _table(
        ["Question", "Group", "n", "Before", "After", "Change", "p", "r", ""],
        [[r.item.text, group, str(r.changes[group].n), _number(r.changes[group].median_before),
          _number(r.changes[group].median_after), _number(r.changes[group].median_change), _p(r.changes[group]),
          "" if r.changes[group].effect_r is None else f"{r.changes[group].effect_r:.2f}", r.changes[group].note]
         for r in results.items for group in GROUPS])
    charts = ""
    for title, image in (("Before and after, by domain", distribution_chart(results)),
                         ("Buddy meetings held per week", engagement_chart(results))):
        if image:
            charts += f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{image}"></figure>'
    comments = "".join(f"<blockquote><p>{html.escape(text)}</p><cite>{html.escape(question)}</cite></blockquote>"
                       for question, text in results.shared_comments) or "<p>No one chose to share written answers.</p>"
    people = ", ".join(f"{n} {role}s" for role, n in sorted(results.people.items())) or "nobody"
    engagement = _table(["Measure", "Value"], [[r["measure"], r["value"]] for r in engagement_rows(results)])
    return f"""<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evaluation: {html.escape(results.cohort_name)}</title>
<style>
body {{ font-family: Arial, Helvetica, sans-serif; color: #212b32; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
h1, h2 {{ color: {NHS_BLUE}; }}
table {{ border-collapse: collapse; width: 100%; margin: 1rem 0; font-size: 0.9rem; }}
th, td {{ border-bottom: 1px solid #d8dde0; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }}
figure {{ margin: 1rem 0; }} img {{ max-width: 100%; }}
blockquote {{ border-left: 4px solid {NHS_BLUE}; margin: 0.8rem 0; padding: 0.2rem 0.8rem; }}
cite {{ font-size: 0.8rem; color: #4c6272; }}
.note {{ font-size: 0.85rem; color: #4c6272; }}
</style></head>
<body>
<h1>Paired learning evaluation: {html.escape(results.cohort_name)}</h1>
<p>Cohort starting {results.start:%d %B %Y}; {html.escape(people)}.
{e.pairs} pairs held {e.meetings_held} buddy meetings against a target of {e.meetings_target}.</p>
<h2>Before and after</h2>
<p class="note">Each person's answers before and after are linked (n is the number of people who answered
both). p is the Wilcoxon signed-rank test on the differences; r = |Z|/&radic;n is its effect size
(about 0.1 small, 0.3 medium, 0.5 large). With fewer than six linked answers the test is not run.</p>
{item_table}
{charts}
<h2>Engagement</h2>
{engagement}
<h2>In their words</h2>
{comments}
</body></html>
"""


def write_report(results: CohortResults, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.html", out / "items.csv", out / "engagement.csv"]
    written[0].write_text(render_html(results), encoding="utf-8")
    _write_csv(written[1], item_rows(results), ITEM_COLUMNS)
    _write_csv(written[2], engagement_rows(results), ("measure", "value"))
    return written


def summary(results: CohortResults) -> str:
    """The report in a few lines, for chat."""
    e = results.engagement
    tested = [r for r in results.items if r.changes["everyone"].tested]
    improved = [r for r in tested if r.changes["everyone"].p_value < 0.05 and (r.changes["everyone"].median_change or 0) >= 0]
    lines = [f"{results.cohort_name}: {e.pairs} pairs, {e.meetings_held} of {e.meetings_target} buddy meetings held",
             "Shadowing: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in e.shadowing.items())]
    if not tested:
        note = results.items[0].changes["everyone"].note if results.items else "no survey items"
        lines.append(f"Before/after: {note}.")
    else:
        lines.append(f"Before/after: {len(improved)} of {len(tested)} items changed for the better (p < 0.05, "
                     f"everyone), n up to {max(r.changes['everyone'].n for r in tested)} linked people.")
        for result in improved[:5]:
            c = result.changes["everyone"]
            lines.append(f"• {result.item.text}: median {_number(c.median_before)} → {_number(c.median_after)}, "
                         f"r = {c.effect_r:.2f}")
    lines += [f"{title}: {done} of {people} completed" for title, (done, people) in e.survey_completion.items()]
    lines.append("The full report (HTML and CSV): pairbot report COHORT --out DIR at the console.")
    return "\n".join(lines)
