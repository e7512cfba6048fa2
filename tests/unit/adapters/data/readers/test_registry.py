"""The registry: names listed without importing, each module's READER, one line per unknown name."""

from __future__ import annotations

import subprocess
import sys

import attrs
import pytest

from reidkit.adapters.data.readers import DatasetReader, dataset_reader, reader_names

from tests.support.dataset_trees import IMAGE_READERS

EXPECTED = list(IMAGE_READERS)


def test_reader_names_lists_the_modules_sorted_without_private_ones() -> None:
    names = reader_names()
    assert names == sorted(names)
    assert set(EXPECTED) <= set(names)
    assert not [n for n in names if n.startswith("_")]


def test_listing_the_readers_imports_no_reader_module() -> None:
    code = (
        "import sys\n"
        "from reidkit.adapters.data.readers import reader_names\n"
        "names = reader_names()\n"
        "loaded = [m for m in sys.modules if m.startswith('reidkit.adapters.data.readers.')]\n"
        "assert loaded == [], loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_reader_imports_torch_or_pil() -> None:
    code = (
        "import sys\n"
        "from reidkit.adapters.data.readers import reader_names, dataset_reader\n"
        "[dataset_reader(n) for n in reader_names()]\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PIL', 'torchvision'))\n"
        "assert heavy == [], heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", EXPECTED)
def test_each_reader_is_named_after_its_module_with_a_one_line_summary_and_layout(name: str) -> None:
    reader = dataset_reader(name)
    assert isinstance(reader, DatasetReader)
    assert reader.name == name
    assert reader.summary and "\n" not in reader.summary
    assert reader.layout and "\n" not in reader.layout
    assert callable(reader.read)


@pytest.mark.parametrize("name", [n for n in EXPECTED if dataset_reader(n).options is not None])
def test_options_are_frozen_keyword_only_attrs_classes_with_defaults(name: str) -> None:
    options = dataset_reader(name).options
    assert attrs.has(options)
    default = options()  # every field has a default
    assert all(f.kw_only for f in attrs.fields(options))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(default, attrs.fields(options)[0].name, None)


def test_options_validate_their_values() -> None:
    cuhk03 = dataset_reader("cuhk03").options
    with pytest.raises(ValueError):
        cuhk03(boxes="hand")
    with pytest.raises(ValueError):
        dataset_reader("vehicleid").options(test_size=1000)
    with pytest.raises(TypeError):
        dataset_reader("msmt17").options(combineall="yes")


def test_an_unknown_name_is_a_key_error_listing_the_readers() -> None:
    with pytest.raises(KeyError, match="no dataset reader 'duke'.*dukemtmc.*msmt17"):
        dataset_reader("duke")


def test_the_market_reader_reads_what_read_market_reads(tmp_path) -> None:
    from reidkit.adapters.data.market import read_market
    from tests.support.market_folders import market_layout

    root = market_layout(tmp_path / "m", {
        "bounding_box_train": ["0002_c1s1_000001_00.jpg"],
        "query": ["0003_c1s1_000001_00.jpg"],
        "bounding_box_test": ["0003_c2s1_000001_00.jpg"],
    })
    assert dataset_reader("market").read(root, domain="d", options=None) == read_market(root, domain="d")


def test_options_of_another_kind_are_refused_by_name(tmp_path) -> None:
    with pytest.raises(TypeError, match="options must be a Msmt17Options .*got dict"):
        dataset_reader("msmt17").read(tmp_path, domain="", options={"combineall": True})
