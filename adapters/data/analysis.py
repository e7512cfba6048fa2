"""What a re-ID dataset holds, drawn and written down: ``analyze`` reads a ``ReidDataset`` (any
reader's) and writes one PNG chart per statistic and ``analysis.md`` beside them.

The statistics: identities and images per split; images per identity; per identity, how many
probe and gallery images it has; materials; views by capture side; image sizes; and train
against test side by side. *Test* is query and gallery together. *Probe* and *gallery* are the
record's ``side`` attribute where the dataset gives one (MVB: both splits, train too), else the
split: a query image is a probe, a gallery image a gallery image (test only: train has neither).
Materials and views are drawn only where records carry ``material`` / ``view``; the report says
when they are not there.

Image sizes are read from the file headers (PIL's ``Image.open(path).size`` decodes no pixels),
of at most ``sample`` images per split drawn with a fixed seed, so a large dataset is measured in
seconds and twice the same. A video dataset counts tracklets where an image dataset counts
images, and measures each tracklet's first frame.

Torch-free; matplotlib (its Agg canvas, no pyplot and no display) is imported by ``analyze`` only.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import frozen

from reidkit.domain.errors import one_line
from reidkit.domain.types import ImageRecord, ReidDataset

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SPLITS = ("train", "query", "gallery")
PARTS = ("train", "test")  # test = query + gallery
SIDES = ("probe", "gallery")
REPORT = "analysis.md"
CHARTS = {
    "splits": "splits.png",
    "images_per_identity": "images_per_identity.png",
    "balance": "probe_gallery_balance.png",
    "materials": "materials.png",
    "views": "views.png",
    "sizes": "image_sizes.png",
    "comparison": "split_comparison.png",
}
NO_MATERIAL = "(none)"
_COLOURS = {"train": "#4c72b0", "query": "#dd8452", "gallery": "#55a868", "test": "#c44e52"}
_MARKERS = {"train": "o", "query": "s", "gallery": "^"}  # splits of the same sizes still tell apart
_ANNOTATED_CELLS = 16  # a balance grid up to this many counts a side prints its numbers in the cells
_DPI = 100


@frozen(kw_only=True)
class SplitCount:
    split: str
    identities: int
    images: int  # tracklets for video data


@frozen(kw_only=True)
class AnalysisReport:
    """What ``analyze`` wrote and its headline numbers."""

    title: str
    report: Path  # analysis.md
    charts: tuple[Path, ...]  # in the order of the report's sections
    splits: tuple[SplitCount, ...]  # train, query, gallery
    probe_images: int  # of the test part
    gallery_images: int
    sides_from: str  # "side attribute" or "query/gallery split"
    materials: tuple[tuple[str, int], ...]  # (material, images) over all splits; () without materials
    views: tuple[tuple[str, str, int], ...]  # (side, view, images) over all splits; () without views
    sizes_measured: int  # images whose size was read
    sizes_unreadable: int
    skipped: tuple[str, ...]  # statistics without a chart, each with why
    summary: str  # the report's summary table (Markdown)


def analyze(dataset: ReidDataset, out_dir: Path, *, title: str, sample: int = 2000, seed: int = 0) -> AnalysisReport:
    """Writes the charts and ``analysis.md`` of ``dataset`` into ``out_dir`` (made if missing;
    files of the same names are replaced). ``sample``: at most this many images per split are
    measured for the image sizes, drawn with ``seed``."""
    if sample < 1:
        raise ValueError(f"sample must be at least 1, got {sample}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = {"train": dataset.train, "query": dataset.query, "gallery": dataset.gallery}
    unit = "tracklets" if dataset.is_video else "images"
    facts = _Facts.of(splits)
    draw = _Drawing(out_dir)
    sections: list[str] = []
    skipped: list[str] = []

    counts = [SplitCount(split=s, identities=len(_ids(r)), images=len(r)) for s, r in splits.items()]
    sections.append(_splits_section(counts, unit, draw))
    sections.append(_per_identity_section(splits, unit, draw))
    sections.append(_balance_section(facts, unit, draw))
    if facts.has_material:
        sections.append(_materials_section(splits, unit, draw))
    else:
        skipped.append("materials: no record has a `material` attribute")
    if facts.has_view:
        sections.append(_views_section(facts, unit, draw))
    else:
        skipped.append("views: no record has a `view` attribute")
    sizes = _measure(splits, sample, seed)
    sections.append(_sizes_section(sizes, sample, seed, dataset.is_video, draw))
    comparison = _comparison(splits, facts)
    sections.append(_comparison_section(comparison, unit, facts, draw))

    summary = _summary_table(counts, unit, facts)
    lines = [f"# {_markdown_text(title)}", "", summary, ""]
    if skipped:
        lines += ["Not drawn, for want of metadata:", "", *(f"- {line}" for line in skipped), ""]
    text = "\n".join(lines + ["\n\n".join(sections)]).rstrip() + "\n"
    report = out_dir / REPORT
    report.write_text(text, encoding="utf-8")
    probe, gallery = facts.side_totals("test")
    return AnalysisReport(
        title=title,
        report=report,
        charts=tuple(draw.written),
        splits=tuple(counts),
        probe_images=probe,
        gallery_images=gallery,
        sides_from="side attribute" if facts.has_side else "query/gallery split",
        materials=tuple(sorted(Counter(_material(r) for rs in splits.values() for r in rs).items()))
        if facts.has_material
        else (),
        views=_view_totals(facts),
        sizes_measured=sum(len(v) for v in sizes.measured.values()),
        sizes_unreadable=sum(sizes.unreadable.values()),
        skipped=tuple(skipped),
        summary=summary,
    )


# --- what the records say ------------------------------------------------------------------------


def _attribute(record: Any, name: str) -> str:
    """A record's attribute (tracklets have none: "")."""
    return record.attribute(name) if isinstance(record, ImageRecord) else ""


def _material(record: Any) -> str:
    return _attribute(record, "material") or NO_MATERIAL


def _ids(records: Iterable[Any]) -> set[int]:
    return {r.pid for r in records}


def _part(split: str) -> str:
    return "train" if split == "train" else "test"


@frozen
class _Facts:
    """Which metadata the dataset has, and each record's capture side."""

    splits: Mapping[str, Sequence[Any]]
    has_side: bool
    has_material: bool
    has_view: bool

    @classmethod
    def of(cls, splits: Mapping[str, Sequence[Any]]) -> _Facts:
        records = [r for rs in splits.values() for r in rs]

        def present(name: str) -> bool:
            return any(_attribute(r, name) for r in records)

        return cls(splits, present("side"), present("material"), present("view"))

    def side_of(self, split: str, record: Any) -> str:
        """"probe", "gallery", or "" (a training image of a dataset without sides)."""
        side = _attribute(record, "side") if self.has_side else ""
        if side:
            return side
        return {"query": "probe", "gallery": "gallery"}.get(split, "")

    def sided(self, part: str) -> list[tuple[int, str]]:
        """(pid, side) of every record of ``part`` that has a side."""
        out = []
        for split, records in self.splits.items():
            if _part(split) != part:
                continue
            for r in records:
                side = self.side_of(split, r)
                if side:
                    out.append((r.pid, side))
        return out

    def parts_with_sides(self) -> list[str]:
        return [p for p in PARTS if self.sided(p)]

    def side_totals(self, part: str) -> tuple[int, int]:
        sides = Counter(side for _, side in self.sided(part))
        return sides["probe"], sides["gallery"]

    def balance(self, part: str) -> dict[int, tuple[int, int]]:
        """pid -> (probe images, gallery images) of ``part``."""
        counts: dict[int, list[int]] = {}
        for pid, side in self.sided(part):
            counts.setdefault(pid, [0, 0])[0 if side == "probe" else 1] += 1
        return {pid: (p, g) for pid, (p, g) in sorted(counts.items())}


# --- the sections ----------------------------------------------------------------------------------


def _splits_section(counts: Sequence[SplitCount], unit: str, draw: _Drawing) -> str:
    def chart(figure: Figure) -> None:
        axes = figure.subplots(1, 2)
        names = [c.split for c in counts]
        for ax, label, values in (
            (axes[0], "identities", [c.identities for c in counts]),
            (axes[1], unit, [c.images for c in counts]),
        ):
            bars = ax.bar(names, values, color=[_COLOURS[n] for n in names])
            ax.bar_label(bars, labels=[f"{v:,}" for v in values])
            ax.set_title(f"{label} per split")
            ax.set_ylabel(label)
            ax.margins(y=0.15)

    link = draw("splits", chart, size=(8, 3.5))
    rows = [[c.split, f"{c.identities:,}", f"{c.images:,}"] for c in counts]
    return "\n".join([
        f"## Identities and {unit} per split",
        "",
        _table(["split", "identities", unit], rows),
        "",
        link,
    ])


def _per_identity_section(splits: Mapping[str, Sequence[Any]], unit: str, draw: _Drawing) -> str:
    per_split = {s: sorted(Counter(r.pid for r in rs).values()) for s, rs in splits.items()}

    def chart(figure: Figure) -> None:
        from matplotlib.ticker import MaxNLocator

        axes = figure.subplots(1, len(per_split), squeeze=False)[0]
        for ax, (split, values) in zip(axes, per_split.items()):
            ax.set_title(split)
            ax.set_xlabel(f"{unit} per identity")
            if not values:
                _nothing(ax)
                continue
            ax.hist(values, bins=_integer_bins(values), color=_COLOURS[split], edgecolor="white")
            ax.set_ylabel("identities")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))

    link = draw("images_per_identity", chart, size=(11, 3.5))
    rows = [[s, f"{len(v):,}", *_spread(v)] for s, v in per_split.items()]
    return "\n".join([
        f"## {unit.capitalize()} per identity",
        "",
        _table(["split", "identities", "min", "median", "mean", "max"], rows),
        "",
        link,
    ])


def _balance_section(facts: _Facts, unit: str, draw: _Drawing) -> str:
    where = (
        "each record's `side` attribute (train and test)"
        if facts.has_side
        else "the split: query images are probes, gallery images the gallery (test only)"
    )
    head = ["## Probe/gallery balance per identity", "", f"Probe and gallery are taken from {where}.", ""]
    parts = facts.parts_with_sides()
    if not parts:
        return "\n".join([*head, "No record has a side: nothing to balance."])
    balances = {p: facts.balance(p) for p in parts}

    def chart(figure: Figure) -> None:
        axes = figure.subplots(1, len(balances), squeeze=False)[0]
        for ax, (part, balance) in zip(axes, balances.items()):
            _balance_grid(figure, ax, balance, unit)
            ax.set_title(f"{part}: identities by probe and gallery {unit}")

    link = draw("balance", chart, size=(6 * len(balances), 4.5))
    rows = []
    for part, balance in balances.items():
        pairs = list(balance.values())
        probes, galleries = [p for p, _ in pairs], [g for _, g in pairs]
        rows.append([
            part,
            f"{len(pairs):,}",
            f"{sum(1 for p, g in pairs if p and g):,}",
            f"{sum(1 for p, g in pairs if p and not g):,}",
            f"{sum(1 for p, g in pairs if g and not p):,}",
            f"{sum(probes):,}",
            f"{sum(galleries):,}",
            _number(statistics.fmean(probes)),
            _number(statistics.fmean(galleries)),
        ])
    common = []
    for part, balance in balances.items():
        for (p, g), n in sorted(Counter(balance.values()).items(), key=lambda item: (-item[1], item[0]))[:8]:
            common.append([part, str(p), str(g), f"{n:,}"])
    return "\n".join([
        *head,
        _table(
            ["part", "identities", "both", "probe only", "gallery only", "probe " + unit, "gallery " + unit,
             "probe / identity", "gallery / identity"],
            rows,
        ),
        "",
        "Identities with a probe but no gallery image have no match to find; gallery-only identities are "
        "distractors to every probe.",
        "",
        "The most common (probe, gallery) counts:",
        "",
        _table(["part", "probe", "gallery", "identities"], common),
        "",
        link,
    ])


def _materials_section(splits: Mapping[str, Sequence[Any]], unit: str, draw: _Drawing) -> str:
    by_split = {s: Counter(_material(r) for r in rs) for s, rs in splits.items()}
    materials = sorted({m for c in by_split.values() for m in c}, key=lambda m: (m == NO_MATERIAL, m))
    identities = {s: Counter(_identity_material(rs).values()) for s, rs in splits.items()}
    mixed = {s: sum(1 for v in _identity_materials(rs).values() if len(v) > 1) for s, rs in splits.items()}

    def chart(figure: Figure) -> None:
        ax = figure.subplots()
        _grouped_bars(ax, materials, {s: [by_split[s][m] for m in materials] for s in by_split})
        ax.set_ylabel(unit)
        ax.set_title(f"{unit} per material")

    link = draw("materials", chart, size=(8, 4))
    rows = [[m, *(f"{by_split[s][m]:,}" for s in by_split), *(f"{identities[s][m]:,}" for s in by_split)] for m in materials]
    lines = [
        "## Materials",
        "",
        _table(["material", *(f"{s} {unit}" for s in by_split), *(f"{s} identities" for s in by_split)], rows),
        "",
        f"An identity is counted under its most frequent material; `{NO_MATERIAL}`: no material given.",
    ]
    if any(mixed.values()):
        lines.append("Identities with more than one material: " + ", ".join(f"{s} {n:,}" for s, n in mixed.items()) + ".")
    return "\n".join([*lines, "", link])


def _identity_materials(records: Iterable[Any]) -> dict[int, Counter[str]]:
    out: dict[int, Counter[str]] = {}
    for r in records:
        out.setdefault(r.pid, Counter())[_material(r)] += 1
    return out


def _identity_material(records: Iterable[Any]) -> dict[int, str]:
    """pid -> its most frequent material (ties: the first by name)."""
    return {pid: min(c.items(), key=lambda item: (-item[1], item[0]))[0] for pid, c in _identity_materials(records).items()}


def _views_section(facts: _Facts, unit: str, draw: _Drawing) -> str:
    counts: Counter[tuple[str, str, str]] = Counter()  # (side, view, part)
    for split, records in facts.splits.items():
        for r in records:
            view = _attribute(r, "view")
            if view:
                counts[(facts.side_of(split, r) or "(no side)", view, _part(split))] += 1
    sides = sorted({s for s, _, _ in counts}, key=lambda s: (SIDES.index(s) if s in SIDES else len(SIDES), s))
    parts = [p for p in PARTS if any(k[2] == p for k in counts)]

    def chart(figure: Figure) -> None:
        axes = figure.subplots(1, len(sides), squeeze=False)[0]
        for ax, side in zip(axes, sides):
            views = sorted({v for s, v, _ in counts if s == side}, key=_view_order)
            _grouped_bars(ax, views, {p: [counts[(side, v, p)] for v in views] for p in parts})
            ax.set_title(f"{side} side")
            ax.set_xlabel("view")
            ax.set_ylabel(unit)

    link = draw("views", chart, size=(5 * len(sides), 4))
    rows = []
    for side in sides:
        for view in sorted({v for s, v, _ in counts if s == side}, key=_view_order):
            rows.append([side, view, *(f"{counts[(side, view, p)]:,}" for p in parts)])
    return "\n".join(["## Views by capture side", "", _table(["side", "view", *parts], rows), "", link])


def _view_totals(facts: _Facts) -> tuple[tuple[str, str, int], ...]:
    """(side, view, images) over all splits, by side then view; () without views."""
    counts = Counter(
        (facts.side_of(split, r), _attribute(r, "view"))
        for split, records in facts.splits.items()
        for r in records
        if _attribute(r, "view")
    )
    return tuple((side, view, n) for (side, view), n in sorted(counts.items(), key=lambda i: (i[0][0], _view_order(i[0][1]))))


def _view_order(view: str) -> tuple[int, int, str]:
    return (0, int(view), "") if view.isdigit() else (1, 0, view)


@frozen
class _Sizes:
    measured: dict[str, list[tuple[int, int]]]  # split -> (width, height) of each measured image
    drawn: dict[str, int]  # split -> images drawn for measuring
    unreadable: dict[str, int]
    first_unreadable: str  # one file that could not be measured, for the report ("" if none)


def _measure(splits: Mapping[str, Sequence[Any]], sample: int, seed: int) -> _Sizes:
    from PIL import Image

    measured: dict[str, list[tuple[int, int]]] = {}
    drawn: dict[str, int] = {}
    unreadable: dict[str, int] = {}
    first = ""
    for index, (split, records) in enumerate(splits.items()):
        rng = random.Random(seed * 1_000 + index)  # each split its own draw, the same on every run
        picked = sorted(rng.sample(range(len(records)), sample)) if len(records) > sample else range(len(records))
        sizes, bad = [], 0
        for i in picked:
            path = records[i].path
            try:
                with Image.open(path) as image:
                    sizes.append(image.size)
            except (OSError, ValueError, Image.DecompressionBombError):  # not an image, or unreadable
                bad += 1
                first = first or path
        measured[split], drawn[split], unreadable[split] = sizes, len(picked), bad
    return _Sizes(measured, drawn, unreadable, first)


def _sizes_section(sizes: _Sizes, sample: int, seed: int, video: bool, draw: _Drawing) -> str:
    def chart(figure: Figure) -> None:
        ax = figure.subplots()
        any_point = False
        for split, points in sizes.measured.items():
            if points:
                any_point = True
                spread = Counter(points)
                xs, ys = zip(*spread)
                weights = [12 + 60 * (n / max(spread.values())) for n in spread.values()]
                ax.scatter(xs, ys, s=weights, alpha=0.5, color=_COLOURS[split], marker=_MARKERS[split],
                           label=f"{split} ({len(points):,})", edgecolors="none")
        if any_point:
            ax.legend(title="split (images measured)")
        else:
            _nothing(ax)
        ax.set_xlabel("width (px)")
        ax.set_ylabel("height (px)")
        ax.set_title("image sizes (marker area: how many share a size)")

    link = draw("sizes", chart, size=(7, 5))
    rows = []
    for split, points in sizes.measured.items():
        widths, heights = [w for w, _ in points], [h for _, h in points]
        common = Counter(points).most_common(1)
        rows.append([
            split,
            f"{sizes.drawn[split]:,}",
            f"{sizes.unreadable[split]:,}",
            _range(widths),
            _range(heights),
            f"{common[0][0][0]}x{common[0][0][1]} ({common[0][1]:,})" if common else "—",
        ])
    frames = " (each tracklet's first frame)" if video else ""
    lines = [
        "## Image sizes",
        "",
        f"Sizes are read from the file headers of at most {sample:,} images per split{frames}, drawn at random "
        f"(seed {seed}); a split with fewer is measured whole.",
        "",
        _table(["split", "measured", "unreadable", "width min–median–max", "height min–median–max", "most common"], rows),
    ]
    if sizes.first_unreadable:
        lines += ["", f"Unreadable files are left out; the first: `{one_line(sizes.first_unreadable)}`."]
    return "\n".join([*lines, "", link])


@frozen
class _Comparison:
    rows: dict[str, dict[str, float | int | None]]  # part -> statistic -> value (None: not defined)


_COMPARED = ("identities", "images", "images per identity", "probe", "gallery")


def _comparison(splits: Mapping[str, Sequence[Any]], facts: _Facts) -> _Comparison:
    rows: dict[str, dict[str, float | int | None]] = {}
    for part in PARTS:
        records = [r for s, rs in splits.items() if _part(s) == part for r in rs]
        ids = len(_ids(records))
        sided = facts.sided(part)
        probe, gallery = facts.side_totals(part)
        rows[part] = {
            "identities": ids,
            "images": len(records),
            "images per identity": len(records) / ids if ids else None,
            "probe": probe if sided else None,
            "gallery": gallery if sided else None,
        }
    return _Comparison(rows)


def _comparison_section(comparison: _Comparison, unit: str, facts: _Facts, draw: _Drawing) -> str:
    labels = {k: k.replace("images", unit) for k in _COMPARED}
    labels["probe"], labels["gallery"] = f"probe {unit}", f"gallery {unit}"

    def chart(figure: Figure) -> None:
        axes = figure.subplots(1, len(_COMPARED))
        for ax, key in zip(axes, _COMPARED):
            values = [comparison.rows[p][key] for p in PARTS]
            shown = [0 if v is None else v for v in values]
            bars = ax.bar(PARTS, shown, color=[_COLOURS[p] for p in PARTS])
            ax.bar_label(bars, labels=["—" if v is None else _number(v) for v in values])
            ax.set_title(labels[key], fontsize=10)
            ax.margins(y=0.2)

    link = draw("comparison", chart, size=(14, 3.5))
    rows = [[labels[k], *("—" if comparison.rows[p][k] is None else _number(comparison.rows[p][k]) for p in PARTS)]
            for k in _COMPARED]
    note = (
        ""
        if facts.has_side
        else "\n\nTrain has no probe/gallery sides in this layout: its images are neither (—)."
    )
    return "\n".join([
        "## Train against test",
        "",
        "Test is query and gallery together; an identity in both counts once.",
        "",
        _table(["", *PARTS], rows) + note,
        "",
        link,
    ])


def _summary_table(counts: Sequence[SplitCount], unit: str, facts: _Facts) -> str:
    probe, gallery = facts.side_totals("test")
    test_ids = len(_ids(r for s in ("query", "gallery") for r in facts.splits[s]))
    test_images = sum(c.images for c in counts if c.split != "train")
    rows = [[c.split, f"{c.identities:,}", f"{c.images:,}"] for c in counts]
    rows.append(["test (query + gallery)", f"{test_ids:,}", f"{test_images:,}"])
    lines = [_table(["split", "identities", unit], rows), ""]
    lines.append(f"Test: {probe:,} probe and {gallery:,} gallery {unit}"
                 + (" (by side)." if facts.has_side else " (query and gallery)."))
    return "\n".join(lines)


# --- drawing -----------------------------------------------------------------------------------------


class _Drawing:
    """Draws charts into ``out_dir``: ``draw(key, paint, size)`` returns the Markdown image link."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.written: list[Path] = []

    def __call__(self, key: str, paint: Callable[[Figure], None], *, size: tuple[float, float]) -> str:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=size, dpi=_DPI, layout="constrained")
        FigureCanvasAgg(figure)  # the Agg canvas, explicitly: no pyplot, no display needed
        paint(figure)
        path = self.out_dir / CHARTS[key]
        # no Software entry: the same data gives the same file whatever matplotlib drew it
        figure.savefig(path, format="png", metadata={"Software": None})
        self.written.append(path)
        return f"![{key.replace('_', ' ')}]({path.name})"


def _grouped_bars(ax: Any, categories: Sequence[str], series: Mapping[str, Sequence[int]]) -> None:
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(categories))]
        ax.bar(xs, values, width=width, label=name, color=_COLOURS.get(name))
    ax.set_xticks(range(len(categories)), categories)
    ax.legend()


def _balance_grid(figure: Figure, ax: Any, balance: Mapping[int, tuple[int, int]], unit: str) -> None:
    """A grid of identities by (gallery count, probe count)."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    pairs = list(balance.values())
    top_p, top_g = max(p for p, _ in pairs), max(g for _, g in pairs)
    grid = np.zeros((top_p + 1, top_g + 1), dtype=int)
    for p, g in pairs:
        grid[p, g] += 1
    shown = np.ma.masked_equal(grid, 0)
    image = ax.imshow(shown, origin="lower", cmap="viridis", aspect="auto", interpolation="nearest")
    figure.colorbar(image, ax=ax, label="identities", ticks=MaxNLocator(integer=True))
    ax.set_xlabel(f"gallery {unit}")
    ax.set_ylabel(f"probe {unit}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if top_p < _ANNOTATED_CELLS and top_g < _ANNOTATED_CELLS:
        bright = grid.max() / 2  # viridis is light at the top: dark numbers there
        for p, g in zip(*np.nonzero(grid)):
            colour = "black" if grid[p, g] > bright else "white"
            ax.text(g, p, str(grid[p, g]), ha="center", va="center", fontsize=8, color=colour)


def _nothing(ax: Any) -> None:
    ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _integer_bins(values: Sequence[int]) -> list[float]:
    low, high = min(values), max(values)
    step = max(1, (high - low + 1) // 60)  # at most about 60 bars
    return [b - 0.5 for b in range(low, high + step + 1, step)]


# --- text ---------------------------------------------------------------------------------------------


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _spread(values: Sequence[int]) -> list[str]:
    if not values:
        return ["—"] * 4
    return [str(min(values)), _number(statistics.median(values)), _number(statistics.fmean(values)), str(max(values))]


def _range(values: Sequence[int]) -> str:
    if not values:
        return "—"
    return f"{min(values)}–{_number(statistics.median(values))}–{max(values)}"


def _number(value: float | int | None) -> str:
    if value is None:
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _markdown_text(text: str) -> str:
    return one_line(text).replace("|", "\\|")
