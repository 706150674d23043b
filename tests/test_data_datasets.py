"""Dataset readers on file trees built here: the four layouts, junk/distractors, MSMT lists,
the generic folder, fingerprints, and every bad-input case through `reidkit data`."""

from __future__ import annotations

import json
import shutil

import pytest
from fixtures import make_duke, make_market, make_msmt, market_name, msmt_name, write_image
from typer.testing import CliRunner

from reidkit.commands.app import app
from reidkit.data.datasets import load_dataset
from reidkit.data.image_dataset import ImageDataset
from reidkit.data.transforms import test_transform as eval_transform
from reidkit.errors import ConfigError, DatasetError

runner = CliRunner()


def flat(text: str) -> str:
    """Output without whitespace: rich folds long paths across lines."""
    return "".join(text.split())


def cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("version_folder", [False, True])
def test_market_layouts_junk_and_distractors(tmp_path, version_folder):
    make_market(tmp_path, version_folder=version_folder)
    data = load_dataset("market", tmp_path)
    assert data.root.name == ("Market-1501-v15.09.15" if version_folder else tmp_path.name)
    assert [len(data.train), len(data.query), len(data.gallery)] == [6, 2, 6]
    assert all(r.pid != -1 for r in data.gallery)  # the 2 junk images are dropped
    assert sum(r.pid == 0 for r in data.gallery) == 1  # the distractor is kept
    first = data.train[0]
    assert (first.name, first.pid, first.camid, first.frame, first.session) == (
        "0001_c1s1_000100_01.jpg", 1, 0, 100, "s1")
    assert data.query[0].session == "s2" and data.query[0].split == "query"
    assert {r.camid for r in data.gallery} == {0, 1, 2, 3}


def test_duke_layout(tmp_path):
    make_duke(tmp_path)
    data = load_dataset("duke", tmp_path)
    assert data.root.name == "DukeMTMC-reID"
    assert [r.camid for r in data.train] == [0, 1, 2, 7]
    assert data.train[0].frame == 46182 and data.train[0].session is None
    assert [(r.pid, r.camid) for r in data.gallery] == [(5, 0), (5, 1), (6, 1)]


@pytest.mark.parametrize("version", [1, 2])
def test_msmt_lists_train_is_train_plus_val(tmp_path, version):
    make_msmt(tmp_path, version)
    data = load_dataset("msmt", tmp_path)
    assert data.root.name == f"MSMT17_V{version}"
    assert [r.pid for r in data.train] == [0, 0, 1, 2]  # list_train then list_val
    val = data.train[-1]
    assert (val.camid, val.frame, val.session) == (14, 7, "0302afternoon")
    assert val.name == "0002/0002_000_15_0302afternoon_0007_0.jpg"
    folder = "train" if version == 1 else "mask_train_v2"
    assert val.path == data.root / folder / val.name
    assert [len(data.query), len(data.gallery)] == [2, 4]
    assert data.gallery[0].path.parent.parent.name == ("test" if version == 1 else "mask_test_v2")


def test_fingerprint_changes_with_file_list(tmp_path):
    make_market(tmp_path)
    before = load_dataset("market", tmp_path).fingerprint()
    assert before["counts"] == {"train": 6, "query": 2, "gallery": 6}
    write_image(tmp_path / "bounding_box_train" / market_name(4, 3, 1, 999), 1)
    after = load_dataset("market", tmp_path).fingerprint()
    assert after["sha256"] != before["sha256"] and after["counts"]["train"] == 7


def test_folder_flat_train_only_without_cameras(tmp_path):
    for i, name in enumerate(["0007_a.jpg", "0007_b.jpg", "0003_x.png", "crop.jpg"]):
        write_image(tmp_path / name, i)
    data = load_dataset("folder", tmp_path)
    assert data.query == [] and data.gallery == []
    assert sorted((r.name, r.pid, r.camid) for r in data.train) == [
        ("0003_x.png", 3, 0), ("0007_a.jpg", 7, 0), ("0007_b.jpg", 7, 0), ("crop.jpg", -1, 0)]


def test_folder_splits_identity_folders_and_camera_regex(tmp_path):
    for split, entries in {
        "train": [("anna/cam2_1.jpg", 1), ("bob/cam1_1.jpg", 2), ("bob/cam3_2.jpg", 3)],
        "query": [("anna/cam1_5.jpg", 4)],
        "gallery": [("anna/cam2_6.jpg", 5), ("carl/cam10_7.jpg", 6)],
    }.items():
        for name, seed in entries:
            write_image(tmp_path / split / name, seed)
    data = load_dataset("folder", tmp_path, camera_regex=r"cam(\d+)_")
    records = data.train + data.query + data.gallery
    pids = {r.name.split("/")[0]: r.pid for r in records}
    assert pids == {"anna": 0, "bob": 1, "carl": 2}  # names numbered in sorted order
    cams = {r.name: r.camid for r in records}
    assert cams["anna/cam1_5.jpg"] == 0 and cams["bob/cam3_2.jpg"] == 2
    assert cams["carl/cam10_7.jpg"] == 3  # numeric order: 1, 2, 3, 10


def test_folder_without_regex_keeps_query_and_gallery_apart(tmp_path):
    write_image(tmp_path / "query" / "0001_q.jpg", 1)
    write_image(tmp_path / "gallery" / "0001_g.jpg", 2)
    data = load_dataset("folder", tmp_path)
    assert data.train == []
    assert (data.query[0].camid, data.gallery[0].camid) == (0, 1)


def test_image_dataset_items(tmp_path):
    make_market(tmp_path)
    records = load_dataset("market", tmp_path).query
    dataset = ImageDataset(records, eval_transform((24, 12)))
    image, index = dataset[1]
    assert index == 1 and tuple(image.shape) == (3, 24, 12)
    assert -3 < float(image.min()) and float(image.max()) < 3  # ImageNet-normalised


def test_library_raises_typed_errors(tmp_path):
    with pytest.raises(DatasetError):
        load_dataset("market", tmp_path / "missing")
    with pytest.raises(ConfigError):
        load_dataset("cuhk", tmp_path)
    with pytest.raises(ConfigError):
        load_dataset("folder", tmp_path, camera_regex="(a)(b)")


def test_data_command_table_and_json(tmp_path):
    make_market(tmp_path)
    result = cli("data", "--dataset", "market", "--data-root", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["splits"][2] == {"split": "gallery", "images": 6, "ids": 3, "cameras": 4}
    assert report["fingerprint"]["counts"]["query"] == 2
    table = cli("data", "--dataset", "market", "--data-root", tmp_path)
    assert table.exit_code == 0 and "gallery" in table.stdout


def _market_without(tmp_path, folder):
    make_market(tmp_path)
    shutil.rmtree(tmp_path / folder)
    return tmp_path / folder


def _market_emptied(tmp_path):
    make_market(tmp_path)
    shutil.rmtree(tmp_path / "bounding_box_test")
    (tmp_path / "bounding_box_test").mkdir()
    return tmp_path / "bounding_box_test"


def _market_bad_names(tmp_path):
    make_market(tmp_path)
    write_image(tmp_path / "bounding_box_train" / "holiday.jpg", 1)
    write_image(tmp_path / "bounding_box_train" / "0001_x.jpg", 1)
    return tmp_path / "bounding_box_train"


def _msmt_no_list(tmp_path):
    make_msmt(tmp_path)
    (tmp_path / "MSMT17_V1" / "list_val.txt").unlink()
    return tmp_path / "MSMT17_V1" / "list_val.txt"


def _msmt_missing_image(tmp_path):
    make_msmt(tmp_path)
    (tmp_path / "MSMT17_V1" / "test" / msmt_name(1, 1, 5, "0113noon", 40)).unlink()
    return tmp_path / "MSMT17_V1" / "test"


def _msmt_bad_line(tmp_path):
    make_msmt(tmp_path)
    with open(tmp_path / "MSMT17_V1" / "list_query.txt", "a") as handle:
        handle.write("0001/garbage.jpg 1\n")
    return tmp_path / "MSMT17_V1" / "list_query.txt"


def _folder_query_only(tmp_path):
    write_image(tmp_path / "query" / "0001_a.jpg", 1)
    return tmp_path / "gallery"


def _folder_unlabelled_gallery(tmp_path):
    write_image(tmp_path / "query" / "0001_a.jpg", 1)
    write_image(tmp_path / "gallery" / "nolabel.jpg", 2)
    return tmp_path / "gallery"


def _folder_regex_miss(tmp_path):
    write_image(tmp_path / "train" / "c1_a.jpg", 1)
    write_image(tmp_path / "train" / "nocam.jpg", 2)
    return tmp_path / "train"


BAD_TREES = {
    "missing root": ("market", lambda p: p / "nowhere", (), "dataset root not found"),
    "not market": ("market", lambda p: p, (), "not a market folder"),
    "missing split": ("market", lambda p: _market_without(p, "query"), (), "missing query"),
    "empty split": ("market", _market_emptied, (), "no images"),
    "bad names": ("market", _market_bad_names, (), "2 of 8 file names"),
    "duke as market": ("market", lambda p: make_duke(p) / "DukeMTMC-reID" / "bounding_box_train",
                       (), "not a market folder"),
    "msmt no list": ("msmt", _msmt_no_list, (), "missing list file"),
    "msmt missing image": ("msmt", _msmt_missing_image, (), "1 of 4 images listed"),
    "msmt bad line": ("msmt", _msmt_bad_line, (), "1 of 3 lines"),
    "folder no gallery": ("folder", _folder_query_only, (), "missing gallery"),
    "folder no identity": ("folder", _folder_unlabelled_gallery, (), "have no identity"),
    "folder regex miss": ("folder", _folder_regex_miss, ("--camera-regex", r"c(\d)_"),
                          "1 of 2 names"),
}


@pytest.mark.parametrize("case", sorted(BAD_TREES))
def test_bad_dataset_exits_2_naming_the_path(tmp_path, case):
    dataset, build, extra, message = BAD_TREES[case]
    tmp_path.mkdir(exist_ok=True)
    named = build(tmp_path)
    root = tmp_path / "nowhere" if case == "missing root" else tmp_path
    if case == "duke as market":
        root = named
    result = cli("data", "--dataset", dataset, "--data-root", root, *extra)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert flat(str(named)) in flat(result.output)
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (("--dataset", "cuhk"), "unknown dataset"),
        (("--dataset", "folder", "--camera-regex", "c(\\d"), "not a valid regular expression"),
        (("--dataset", "folder", "--camera-regex", "c\\d"), "needs exactly 1"),
        (("--dataset", "market", "--camera-regex", "c(\\d)"), "folder only"),
    ],
)
def test_bad_options_exit_2(tmp_path, args, message):
    write_image(tmp_path / "0001_a.jpg", 1)
    result = cli("data", "--data-root", tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
