"""Dataset readers: one module per folder layout, each defining ``READER = DatasetReader(...)``.

A reader turns a dataset root into the ``ReidDataset`` every method consumes: train relabelled
0..N-1 in sorted order of the dataset's pids, query and gallery with their raw pids, camids
0-based, junk (pid -1) dropped, distractors (pid 0) kept in the gallery. Images are never decoded:
only names and list files are read. A root of another layout ends in one ``DatasetError`` line
that names the layout the reader expected. docs/datasets.md has every layout and its statistics.

Torch- and PIL-free: the profile schema lists the readers (``reader_names``, by listing this
package, importing nothing) before torch is imported; ``dataset_reader`` imports one module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from attrs import frozen

from reidkit.domain.types import ReidDataset


@frozen(kw_only=True)
class DatasetReader:
    """One folder layout. ``read(root, *, domain, options)``: ``options`` is an instance of the
    ``options`` class (None = its defaults), or None for a reader without options."""

    name: str  # the data kind in profiles, e.g. "msmt17"
    summary: str  # one line: what it is, with the official train/query/gallery ids and images
    layout: str  # the expected tree under the root, one line, used in errors
    read: Callable[..., ReidDataset]
    options: type | None = None  # a frozen attrs class of the reader's own settings; None = none
    video: bool = False  # its splits hold Tracklets (video re-ID), not ImageRecords
    # gallery ids that are not people to learn (Market's and GRID's pid 0 distractors): combineall
    # leaves them out of training, as Torchreid's _junk_pids do
    junk_pids: tuple[int, ...] = ()


def reader_names() -> list[str]:
    """The registered data kinds, sorted: this package's public modules, listed, not imported."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_") and not m.ispkg)


def dataset_reader(name: str) -> DatasetReader:
    """The reader of the data kind ``name`` (imports its module); KeyError listing the kinds."""
    names = reader_names()
    if name not in names:
        raise KeyError(f"no dataset reader {name!r}; the readers are: {', '.join(names)}")
    reader = importlib.import_module(f"{__name__}.{name}").READER
    if not isinstance(reader, DatasetReader) or reader.name != name:
        raise TypeError(f"{__name__}.{name}.READER must be a DatasetReader named {name!r}")
    return reader
