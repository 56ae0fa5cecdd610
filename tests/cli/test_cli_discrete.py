"""``curvsym discrete``: the table, fitted orders, envelope and JSON; bad η and divergence; the paper's experiment
on digits and MNIST IDX files with its one-line errors.  About 6 s."""

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


# --------------------------------------------------------------------------- the paper's experiment on real data

def test_data_experiment_on_digits_prints_distances_and_the_law(tmp_path, capsys):
    out = tmp_path / "e.json"
    assert main(["discrete", "--digits-examples", "40", "--activation", "softplus(4)", "--loss", "cross_entropy",
                 "--hidden", "8,8", "--steps", "20", "--log", "4", "--ratios", "2,5,10", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "64-8-8-10 softplus" in text and "cross_entropy" in text and "D_r / (C(1 − 1/r))" in text
    assert "∝ 1 − r^−1: residual" in text and "verified" in text and "FAILED" in text   # the 1 − 1/r² control
    data = json.loads(out.read_text())
    assert data["ratios"] == [2, 5, 10] and data["steps"] == [0, 5, 10, 15, 20] and data["widths"] == [64, 8, 8, 10]
    assert len(data["distance"]["10"]) == 5 and data["indices"] == list(range(40))
    checks = {c["name"]: c for c in data["checks"]}
    assert [c["passed"] for c in data["checks"]] == [True, True, False] and len(checks) == 3
    assert max(abs(x - 1) for x in data["ratio_scaling"]["normalised"]) < 0.01


def test_data_experiment_on_mnist_idx_files(tmp_path, capsys):
    import numpy as np

    from curvsym.data.datasets import write_idx
    rng = np.random.default_rng(0)
    img = write_idx(tmp_path / "img.idx", rng.integers(0, 256, size=(101, 28, 28), dtype=np.uint8))
    lab = write_idx(tmp_path / "lab.idx", (np.arange(101) % 10).astype(np.uint8))
    out = tmp_path / "m.json"
    assert main(["discrete", "--mnist", str(img), str(lab), "--mnist-examples", "3", "--activation", "relu",
                 "--hidden", "4,4", "--eta", "1e-4", "--steps", "4", "--ratios", "2", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["indices"] == [0, 50, 100] and data["normalization"] == [0.1307, 0.3081]
    assert data["widths"] == [784, 4, 4, 10] and data["activation"] == "relu" and data["steps"] == [0, 1, 2, 3, 4]
    assert "784-4-4-10 relu" in capsys.readouterr().out


def test_a_diverging_data_experiment_reports_step_and_loss(capsys):
    assert main(["discrete", "--digits-examples", "40", "--activation", "tanh", "--loss", "mse", "--hidden", "8,8",
                 "--eta", "4", "--steps", "20", "--log", "4", "--ratios", "2"]) == 1   # a failed check: exit 1
    text = capsys.readouterr().out
    assert "diverged: η = 4 left the finite range at step" in text and "loss at step" in text
    assert "not available" not in text and "nan" not in text.lower() and "FAILED" in text


def test_the_exit_status_follows_the_verdicts(capsys):
    """0: claims verified and control rejected; 3: a residual within the margin of its tolerance (undecided)."""
    argv = ["discrete", "--digits-examples", "40", "--activation", "softplus(4)", "--loss", "cross_entropy",
            "--hidden", "8,8", "--steps", "20", "--log", "4", "--ratios", "2,5,10"]
    assert main(argv) == 0
    assert "verdict: verified (control rejected) (exit status 0)" in capsys.readouterr().out
    assert main(argv + ["--margin", "200"]) == 3     # no residual clears its tolerance by 200×
    assert "verdict: UNDECIDED" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["--activation", "relu"], "--activation applies only to the data experiment"),
    (["--digits-examples", "5"], "--digits-examples must be in 20 … 1797"),
    (["--digits-examples", "40", "--activation", "swish"], "unknown activation 'swish'"),
    (["--digits-examples", "40", "--loss", "hinge"], "unknown loss 'hinge'"),
    (["--digits-examples", "40", "--eta", "1e-3,2e-3"], "takes one η₀"),
    (["--digits-examples", "40", "--eta", "-1"], "step size η must be a finite positive number"),
    (["--digits-examples", "40", "--steps", "10", "--log", "3"], "--log 3 must divide --steps 10"),
    (["--digits-examples", "40", "--rule", "ngd"], "runs gradient descent"),
    (["--digits-examples", "40", "--stride", "2"], "apply to --mnist"),
    (["--mnist", "/nonexistent/images", "/nonexistent/labels"], "no such IDX file"),
    (["--digits-examples", "40", "--ratios", "2,x"], "--ratios must be comma-separated positive integers"),
    (["--digits-examples", "40", "--hidden", "0"], "--hidden must be positive integers"),
    (["--widths", "3,0,3"], "every width must be a positive integer, got 0"),
])
def test_bad_data_experiment_input_is_one_line(argv, words, capsys):
    try:
        code = main(["discrete", *argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_file_that_is_not_idx_is_one_line(tmp_path, capsys):
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x01\x02 not an idx file")
    assert main(["discrete", "--mnist", str(junk), str(junk)]) == 2
    err = capsys.readouterr().err
    assert "is not an IDX file" in err and len(err.strip().splitlines()) == 1
