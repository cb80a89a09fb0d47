"""Identity terms: the shipped lists, user extensions, group membership and term swaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audit.core.errors import ConfigError
from audit.core.policy import load_policy
from audit.text.identity import load_identity_terms, membership, mentions, term_pattern
from audit.text.stage import identity_files
from audit.text.substitution import swapper

CATEGORIES = {
    "gender",
    "religion",
    "nationality_ethnicity",
    "sexual_orientation",
    "age",
    "disability",
    "first_names",
}


def test_shipped_lists_cover_every_category_with_swaps_and_templates() -> None:
    identity = load_identity_terms()
    assert {category.name for category in identity.categories} == CATEGORIES
    for category in identity.categories:
        names = {group.name for group in category.groups}
        assert len(names) >= 2, category.name
        assert category.swaps, category.name
        for swap in category.swaps:
            assert set(swap.groups) <= names
            assert all(a != b for a, b in swap.pairs)
        probes = [term for group in category.groups for term in group.probe_terms]
        assert len(probes) >= 3, category.name
        assert len(identity.templates[category.probe_kind]) >= 10
    assert identity.sources == ("shipped",)


def test_membership_is_whole_word_and_case_insensitive() -> None:
    pattern = term_pattern(["he", "his", "african american", "able-bodied"])
    texts = [
        "He's here",  # the clitic follows a word boundary
        "this is theirs",  # "his" inside "this" is not a mention
        "An African   American director",  # a phrase matches across extra spaces
        "she is able-bodied",
        "ahead of schedule",
        "HIS film",
    ]
    assert mentions(texts, pattern).tolist() == [True, False, True, True, False, True]


def test_membership_per_group_on_shipped_terms() -> None:
    identity = load_identity_terms()
    texts = ["My wife loved it", "my husband loved it", "the same old story", "an old man"]
    rows = membership(texts, identity).rows
    assert rows[("gender", "female")].tolist() == [True, False, False, False]
    assert rows[("gender", "male")].tolist() == [False, True, False, True]
    # "old" alone is not an age mention; "old man" is.
    assert rows[("age", "old")].tolist() == [False, False, False, True]


def test_swap_is_simultaneous_and_keeps_capitalisation() -> None:
    swap = swapper([("she", "he"), ("her", "his"), ("her", "him")])
    assert swap.swap("He told HER that his idea was hers") == "She told HIS that her idea was hers"
    # "her" keeps its first partner ("his"); "him" maps back to "her".
    assert swap.swap("she saw him") == "he saw her"
    assert swap.sides("He told her") == (1, 1)
    assert swap.sides("she and she and he") == (2, 1)
    assert swap.swap("nothing to swap here") == "nothing to swap here"


def test_multi_word_swap() -> None:
    swap = swapper([("white people", "black people")])
    assert swap.swap("White  people and black people") == "Black people and white people"


def test_user_file_extends_groups_and_adds_a_category(tmp_path: Path) -> None:
    extra = tmp_path / "terms.toml"
    extra.write_text(
        """
[gender.groups.female]
terms = ["gal", "she"]

[caste]
label = "caste"
probe_kind = "adjective"

[caste.groups.upper]
terms = ["brahmin"]
probe_terms = ["brahmin"]

[caste.groups.lower]
terms = ["dalit"]
probe_terms = ["dalit"]

[[caste.swaps]]
groups = ["upper", "lower"]
pairs = [["brahmin", "dalit"]]

[templates]
adjective = ["Some {term} friends came over."]
""",
        encoding="utf-8",
    )
    identity = load_identity_terms([extra])
    gender = next(category for category in identity.categories if category.name == "gender")
    female = gender.group("female")
    assert female.terms.count("she") == 1  # a term already there is not added twice
    assert "gal" in female.terms
    caste = next(category for category in identity.categories if category.name == "caste")
    assert [group.name for group in caste.groups] == ["upper", "lower"]
    assert caste.swaps[0].pairs == (("brahmin", "dalit"),)
    assert identity.templates["adjective"][-1] == "Some {term} friends came over."
    assert identity.sources == ("shipped", str(extra))
    rows = membership(["a gal and a dalit"], identity).rows
    assert rows[("gender", "female")].tolist() == [True]
    assert rows[("caste", "lower")].tolist() == [True]
    assert not np.any(rows[("caste", "upper")])


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[gender.groups.female]\nwords = ['x']\n", "unknown key 'words'"),
        ("[gender]\nprobe_kind = 'verb'\n", "probe_kind 'verb'"),
        ("[[gender.swaps]]\ngroups = ['female', 'nobody']\npairs = [['a', 'b']]\n", "'nobody'"),
        ("[[gender.swaps]]\ngroups = ['female']\npairs = []\n", "two group names"),
        ("[templates]\nnoun = ['no slot here']\n", "no {term}"),
        ("[newcat]\nlabel = 'x'\n", "has no groups"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_user_file_is_a_config_error(tmp_path: Path, content: str, needle: str) -> None:
    extra = tmp_path / "bad.toml"
    extra.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml") as raised:
        load_identity_terms([extra])
    assert needle in str(raised.value)


def test_missing_user_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="identity terms file not found"):
        load_identity_terms([tmp_path / "absent.toml"])


def test_policy_identity_files_are_relative_to_the_policy_file(tmp_path: Path) -> None:
    folder = tmp_path / "ci"
    folder.mkdir()
    (folder / "terms.toml").write_text('[gender.groups.female]\nterms = ["gal"]\n', "utf-8")
    config = folder / "rai-audit.toml"
    config.write_text('[text]\nidentity_terms = ["terms.toml"]\n', encoding="utf-8")
    flag = tmp_path / "flag.toml"
    flag.write_text('[gender.groups.male]\nterms = ["bloke"]\n', encoding="utf-8")
    policy = load_policy(config)
    files = identity_files(policy, config, [flag])
    assert files == [folder / "terms.toml", flag]
    identity = load_identity_terms(files)
    gender = next(category for category in identity.categories if category.name == "gender")
    assert "gal" in gender.group("female").terms and "bloke" in gender.group("male").terms


def test_unknown_text_policy_key_names_the_known_ones(tmp_path: Path) -> None:
    config = tmp_path / "rai-audit.toml"
    config.write_text("[text]\nattribution_row = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_policy(config)
    assert "unknown key 'text.attribution_row'" in str(raised.value)
    assert "attribution_rows, attribution_steps" in str(raised.value)
