"""Dataset errors name the file and the entry."""

import pytest

from ase_nnxc.train.dataset import DatasetError, load_dataset


def write(tmp_path, text):
    path = tmp_path / "data.yaml"
    path.write_text(text)
    return path


def test_unknown_entry_type(tmp_path):
    path = write(tmp_path, "- {e_type: xyz, true_val: 1.0, systems: [{moldesc: 'H 0 0 0', spin: 1}]}\n")
    with pytest.raises(DatasetError, match=r"data.yaml, entry 0: unknown entry type 'xyz'"):
        load_dataset(path)


def test_malformed_yaml(tmp_path):
    path = write(tmp_path, "- e_type: ae\n  systems: [unclosed\n")
    with pytest.raises(DatasetError, match="data.yaml: malformed YAML"):
        load_dataset(path)


def test_electron_count_inconsistent_with_spin(tmp_path):
    path = write(
        tmp_path,
        "- {e_type: ie, true_val: 0.5, systems: [{moldesc: 'N 0 0 0', spin: 3}, {moldesc: 'N 0 0 0', spin: 3, charge: 1}]}\n",
    )
    with pytest.raises(DatasetError, match="data.yaml, entry 0, system 1: 6 electrons are inconsistent with spin"):
        load_dataset(path)


def test_missing_label_array(tmp_path):
    path = write(tmp_path, "- {e_type: dm, true_val: missing.npy, systems: [{moldesc: 'H 0 0 0; H 0 0 1.4'}]}\n")
    with pytest.raises(DatasetError, match="entry 0: cannot read label array"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # became def2-SVP in one system of the entry, silently
        (
            "- {e_type: ae, true_val: 0.1, systems: [{moldesc: 'H 0 0 0; H 0 0 1.4', basis: 6-31g},"
            " {moldesc: 'H 0 0 0', bsis: 6-31g, spin: 1}]}\n",
            r"data\.yaml, entry 0, system 1: unknown key 'bsis'; did you mean 'basis'\? Known keys: moldesc, basis, spin, charge, number",
        ),
        # became weight 1.0, silently
        (
            "- {e_type: ie, true_val: 0.5, wieght: 100, systems: [{moldesc: 'He 0 0 0'}, {moldesc: 'He 0 0 0', charge: 1, spin: 1}]}\n",
            r"data\.yaml, entry 0: unknown key 'wieght'; did you mean 'weight'\? Known keys: e_type, true_val, systems, weight, name",
        ),
        ("- {e_type: ie, true_val: .nan, systems: [{moldesc: 'He 0 0 0'}, {moldesc: 'He 0 0 0', charge: 1, spin: 1}]}\n", r"true_val nan is not finite"),
        ("- {e_type: ie, true_val: 0.5, weight: -1, systems: [{moldesc: 'He 0 0 0'}, {moldesc: 'He 0 0 0', charge: 1, spin: 1}]}\n", r"weight must be a finite number >= 0, got -1\.0"),
    ],
    ids=["misspelt-system-key", "misspelt-entry-key", "nan-label", "negative-weight"],
)
def test_unknown_keys_and_bad_numbers_are_named(tmp_path, text, message):
    with pytest.raises(DatasetError, match=message):
        load_dataset(write(tmp_path, text))
