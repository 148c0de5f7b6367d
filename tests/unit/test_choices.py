"""Comma lists of names from flags: the one parser behind --methods, --metrics, --datasets."""

import pytest

from smoot_dist.foundations.choices import choose_names, split_names
from smoot_dist.foundations.errors import ConfigError
from smoot_dist.attribution import attribution_methods, parse_methods
from smoot_dist.evaluation.protocol import parse_metrics
from smoot_dist.metrics import metric_names


def test_split_drops_blanks_keeps_order_and_names_a_repeat_once():
    assert split_names(" sgt, smoot,,sgt ,") == ["sgt", "smoot"]
    assert split_names(None) == [] and split_names("") == []


def test_choose_names_the_unknown_ones_the_flag_and_the_choices():
    assert choose_names("b,a", ("a", "b", "c"), "letter", "--letters") == ["b", "a"]
    with pytest.raises(ConfigError) as err:
        choose_names("a,x,y", ("a", "b"), "letter", "--letters", " (or all)")
    assert str(err.value) == "unknown letter(s) x, y in --letters; choose from: a, b (or all)"
    with pytest.raises(ConfigError, match=r"\(none given\) in --letters"):
        choose_names(" , ", ("a",), "letter", "--letters")


def test_attribution_and_metric_lists():
    assert parse_methods("all") == parse_methods("") == list(attribution_methods())
    assert parse_methods(["random", "grad"]) == ["random", "grad"]
    with pytest.raises(ConfigError, match=r"attribution method\(s\) lime in --attributions"):
        parse_methods("grad,lime", "--attributions")
    # metrics come back in table order (drop curves first), each once
    assert parse_metrics("pgd, lerf,morf,lerf") == ("morf", "lerf", "pgd")
    assert parse_metrics("all") == metric_names()
    with pytest.raises(ConfigError, match=r"unknown metric\(s\) sideways in --metrics; choose "
                                          r"from: morf, lerf, mprt, "):
        parse_metrics("morf,sideways")
