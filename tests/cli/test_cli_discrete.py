"""``curvsym discrete``: the table, fitted orders, envelope and JSON; bad η and divergence. About 4 s."""

import json

import pytest

from curvsym.cli import main


def test_discrete_prints_distances_orders_and_envelope(tmp_path, capsys):
    out = tmp_path / "d.json"
    assert main(["discrete", "--widths", "2,3,2", "--rule", "gd", "--eta", "2e-2,1e-2,5e-3", "--t-end", "0.4",
                 "--dps", "20", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fitted order of max_t" in text and "Elkabetz–Cohen envelope" in text and "dense output" in text
    data = json.loads(out.read_text())
    assert abs(data["order_max"]["order"] - 1) < 0.05 and data["envelope_ratio_limit"] <= 1
    assert [r["eta"] for r in data["runs"]] == [0.02, 0.01, 0.005] and data["rule_key"] == "gd"


def test_other_rules_and_a_double_precision_reference(capsys):
    assert main(["discrete", "--widths", "2,2,2", "--rule", "kfac", "--init", "conditioned", "--eta", "2e-2,1e-2",
                 "--t-end", "0.2", "--double", "--rows", "3"]) == 0
    text = capsys.readouterr().out
    assert "K-FAC" in text and "DOP853" in text and "λ_min" in text


@pytest.mark.parametrize("eta", ["1e-2,-1e-3", "0", "nan", "1e-2,inf", "abc"])
def test_bad_step_sizes_are_an_error_naming_eta(eta, capsys):
    assert main(["discrete", "--eta", eta]) == 2
    err = capsys.readouterr().err
    assert "curvsym: error:" in err and ("η" in err or "--eta" in err)


def test_a_diverging_step_size_is_reported_not_tabulated_as_nan(capsys):
    assert main(["discrete", "--widths", "3,3,3", "--eta", "0.5,1,2", "--t-end", "10", "--scale", "1.5", "--rows",
                 "4"]) == 0
    text = capsys.readouterr().out
    assert "diverged: η = 1 left the finite range at step" in text and "loss at step" in text
    assert "nan" not in text.lower()
